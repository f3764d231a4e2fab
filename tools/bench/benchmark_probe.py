"""Time the probe of a trained network (tools/evaluate.py --data=...): data, embedding, ranking.

    python3 tools/bench/benchmark_probe.py --workdir=DIR [--data=synthgait_b] [--max_length=40]
        [--views=000,054,090,144] [--batch_size=N] [--repeats=2] [--out=FILE.json] [--append-docs]

Embeds the test split of --data with the workdir's latest checkpoint, as the evaluation does, and
times each part in one process, so that settings are compared under the same machine load:

- opening the data (rendering SynthGait into the cache on first use; "warm" when it was there);
- embedding the test split with the default padding buckets, and with the powers of two that
  were the default before (16, 32, 64, 128: --max_length=40 padded every sequence to 64 frames);
  the two alternate --repeats times and the fastest of each counts;
- embedding and ranking the test sequences of --views only (the cheaper setting of
  docs/evaluation.md), beside ranking all of them.

Prints a JSON record (and writes it to --out); --append-docs appends one line to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

BENCHMARKS_MD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
POWERS_OF_TWO = (16, 32, 64, 128, 256)  # the default buckets before the 1.5x ladder


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="a training workdir (its latest checkpoint)")
    parser.add_argument("--data", default="synthgait_b", help="a labelled dataset, NAME or NAME:SIZE")
    parser.add_argument("--max_length", type=int, default=40, help="frames per sequence (0: all)")
    parser.add_argument("--views", default="000,054,090,144", help="the cheaper setting's views")
    parser.add_argument("--batch_size", type=int, default=0, help="global batch (0: the evaluation's default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="JSON file to write")
    parser.add_argument("--append-docs", action="store_true", help="append a line to docs/benchmarks.md")
    args = parser.parse_args(argv)

    import jax

    import selfgait_jax
    from selfgait_jax import workdir as workdir_lib
    from selfgait_jax.data import inference, sources, splits
    from selfgait_jax.data.datasets import DATASETS
    from selfgait_jax.data.synthgait import dataset as synthgait
    from selfgait_jax.evaluation import embed, ranking
    from selfgait_jax.models import contract

    selfgait_jax.configure_jax()
    load_before = round(os.getloadavg()[0], 2)
    config, model, variables, step = workdir_lib.load_for_inference(args.workdir, None)
    embed_fn = contract.make_embed_fn(model)
    data = sources.named_data_config(args.data)
    cached = None  # for generated data: whether every subject was in the cache already
    if DATASETS[data.name].generated:
        spec = sources.synthgait_spec(data)
        cached = not synthgait.missing_subjects(spec, synthgait.cache_folder(spec, data.cache_dir or None))
    source, open_s = _timed(lambda: sources.open_source(data))
    split = splits.protocol_of(data, source.metas)
    indices = np.unique(np.concatenate([split.gallery, *split.probes.values()]))
    views = tuple(args.views.split(",")) if args.views else ()
    max_length = args.max_length or None
    kwargs = dict(batch_size=args.batch_size or None, max_length=max_length)

    def run_embedding(which, buckets):
        return _timed(lambda: embed.embed_source(embed_fn, variables, source, indices=which,
                                                 bucket_lengths=buckets, **kwargs))

    # compile every bucket length first (one sequence per bucket: the compile is not the probe's cost)
    lengths = np.minimum(source.lengths[indices], max_length or np.inf)
    for buckets in (None, POWERS_OF_TWO):
        ladder = buckets or inference.default_buckets(int(lengths.max()), max_length=max_length)
        sample = {int(np.searchsorted(ladder, n)): int(i) for i, n in zip(indices, lengths)}
        run_embedding(sorted(sample.values()), buckets)
    times = {"default": [], "powers_of_two": []}
    for _ in range(args.repeats):
        embeddings, seconds = run_embedding(indices, None)
        times["default"].append(round(seconds, 2))
        times["powers_of_two"].append(round(run_embedding(indices, POWERS_OF_TWO)[1], 2))

    metas = [source.metas[i] for i in indices]
    position = {int(i): k for k, i in enumerate(indices)}

    def rank(keep):
        gallery = [position[int(i)] for i in split.gallery if keep(i)]
        probes = {c: [position[int(i)] for i in p if keep(i)] for c, p in split.probes.items()}
        return ranking.evaluate_embeddings(embeddings, [m.subject for m in metas], [m.view for m in metas],
                                            gallery, probes)

    rank(lambda i: True)  # compile
    _, rank_s = _timed(lambda: rank(lambda i: True))
    in_views = [int(i) for i in indices if source.metas[i].view in views]
    subset = {}
    if in_views:
        _, subset_embed_s = run_embedding(in_views, None)
        rank(lambda i: source.metas[i].view in views)  # compile
        _, subset_rank_s = _timed(lambda: rank(lambda i: source.metas[i].view in views))
        subset = {"views": list(views), "sequences": len(in_views), "embed_s": round(subset_embed_s, 2),
                  "rank_s": round(subset_rank_s, 2)}
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind} x{jax.device_count()}",
        "jax_version": jax.__version__,
        "load_average": [load_before, round(os.getloadavg()[0], 2)],
        "network": {"model": config.model.name, "channels": list(config.model.get("channels", ())),
                    "checkpoint_step": int(step)},
        "data": args.data, "open_s": round(open_s, 2), "cache_was_warm": cached,
        "sequences": len(indices), "frames": int(lengths.sum()), "max_length": max_length,
        "batch_size": args.batch_size or None,
        "embed_s": {k: min(v) for k, v in times.items()}, "embed_s_all": times,
        "rank_s": round(rank_s, 2), "views_subset": subset,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.append_docs:
        _append_line(result, args)
    return result


def _append_line(r: dict, args) -> None:
    e = r["embed_s"]
    command = (f"python3 tools/bench/benchmark_probe.py --workdir=WORKDIR --data={args.data} "
               f"--max_length={args.max_length} --views={args.views}")
    line = (f"- {r['date'][:10]} `{command}` ({r['machine']}, {r['device']}, jax {r['jax_version']}, load "
            f"average {r['load_average'][0]}→{r['load_average'][1]}): probe of a {r['network']['model']} "
            f"of channels {r['network']['channels']} on the {r['sequences']} test sequences of {r['data']} "
            f"({r['frames']} frames at max_length {r['max_length']}): data opened in {r['open_s']} s "
            f"(cache {'warm' if r['cache_was_warm'] else 'cold: rendered'}); embedding **{e['default']} s** "
            f"with the 1.5x bucket ladder vs {e['powers_of_two']} s with powers of two "
            f"(**{e['powers_of_two'] / e['default']:.2f}x**); ranking {r['rank_s']} s")
    s = r["views_subset"]
    if s:
        line += (f"; views {','.join(s['views'])} only: {s['sequences']} sequences, embedding "
                 f"{s['embed_s']} s, ranking {s['rank_s']} s")
    with BENCHMARKS_MD.open("a") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main()
