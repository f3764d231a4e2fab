"""Measure the triplet pipeline's throughput (sequences/s) on this machine.

    python3 tools/bench/benchmark_input.py --out /tmp/input.json [--append-docs]

The source is an in-memory set of random binary silhouette sequences of realistic CASIA-B lengths
(50-120 frames; content does not change the cost of bit-packed gathering), or `--synthgait` for the
tiny SynthGait-B. Prints a JSON record and writes it to --out; --append-docs also appends one line
to docs/benchmarks.md. The issue asks for at least 3x the sequences/s the training step consumes (a
full-size step on a 2-core CPU takes ~1-2 s for 8 sequences, i.e. < 10 sequences/s).
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

from selfgait_jax.data import pipelines
from selfgait_jax.data.random_sequences import RandomSequences
from selfgait_jax.data.sequence import SequenceMeta

BENCHMARKS_MD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=40, help="subjects of the random data (default: %(default)s)")
    parser.add_argument("--per-subject", type=int, default=20, help="sequences per subject (default: %(default)s)")
    parser.add_argument("--min-len", type=int, default=50, help="shortest sequence, frames (default: %(default)s)")
    parser.add_argument("--max-len", type=int, default=120, help="longest sequence, frames (default: %(default)s)")
    parser.add_argument("--P", type=int, default=8, help="subjects per batch (default: %(default)s)")
    parser.add_argument("--K", type=int, default=16, help="sequences per subject in a batch (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence in a batch (default: %(default)s)")
    parser.add_argument("--unordered", action="store_true", help="GaitSet-style random frame sets")
    parser.add_argument("--batches", type=int, default=40,
                        help="timed batches (after 3 warm-up ones; default: %(default)s)")
    parser.add_argument("--synthgait", action="store_true", help="use the tiny SynthGait-B instead")
    parser.add_argument("--with-step", action="store_true",
                        help="also time the full-size SelfGait triplet step on a 2x4 batch of the same "
                             "pipeline, and report the ratio (the issue asks for >= 3)")
    parser.add_argument("--backend", choices=pipelines.BACKENDS, default=None,
                        help="the pipelines' back end (default: as training picks it, "
                             "pipelines.resolve_backend)")
    parser.add_argument("--out", help="write the result as JSON here (default: print it only)")
    parser.add_argument("--append-docs", action="store_true",
                        help="also append the result's line to docs/benchmarks.md (a tracked file)")
    args = parser.parse_args(argv)

    if args.synthgait:
        from selfgait_jax.data.sources import data_config, open_source
        source = open_source(data_config("synthgait_b", "tiny"))
    else:
        metas = [SequenceMeta(f"{s:03d}", f"nm-{j:02d}", "090") for s in range(args.subjects)
                 for j in range(args.per_subject)]
        source = RandomSequences(metas, args.min_len, args.max_len)
    indices = np.arange(len(source))

    start = time.perf_counter()
    store = pipelines.FrameStore.load(source, indices, progress=False)
    load_s = time.perf_counter() - start

    it = pipelines.make_triplet_pipeline(
        source, indices, subjects_per_batch=args.P, sequences_per_subject=args.K, frames=args.frames,
        ordered=not args.unordered, store=store, process_index=0, process_count=1, device_count=1,
        backend=args.backend)
    for _ in range(3):
        next(it)
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(it)
    elapsed = time.perf_counter() - start
    sequences = args.batches * args.P * args.K
    result = {
        "benchmark": "triplet_input_pipeline",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "load_average_1min": round(os.getloadavg()[0], 2),  # other work on the machine skews timings
        "source": source.name, "sequences_in_source": len(source),
        "frames_in_source": int(store.lengths.sum()), "packed": store.packed,
        "store_mb": round(store.frames.nbytes / 2**20, 1), "load_s": round(load_s, 2),
        "batch_shape": list(batch["frames"].shape), "ordered": not args.unordered,
        "backend": pipelines.resolve_backend(args.backend),
        "batches": args.batches, "seconds": round(elapsed, 3),
        "sequences_per_s": round(sequences / elapsed, 1),
    }
    if args.with_step:
        step_seconds = _time_triplet_step(source, indices, store, args.frames, not args.unordered)
        result["step"] = {"model": "selfgait full size", "batch": [8, args.frames, 64, 44],
                          "seconds_per_step": round(step_seconds, 3),
                          "sequences_per_s": round(8 / step_seconds, 2)}
        result["pipeline_over_step"] = round(result["sequences_per_s"] * step_seconds / 8, 1)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.append_docs:
        _append_line(result)


def _time_triplet_step(source, indices, store, frames: int, ordered: bool, steps: int = 3) -> float:
    """Seconds per full-size SelfGait triplet step (P x K = 2 x 4) fed by this pipeline, after compiling."""
    import jax

    import selfgait_jax
    from selfgait_jax import config_defaults, sharding
    from selfgait_jax.data import batching
    from selfgait_jax.train import experiment, steps as steps_lib

    selfgait_jax.configure_jax()

    config = config_defaults.finetune_config("full")  # configs/finetune.py
    config.triplet.P, config.triplet.K, config.triplet.frames = 2, 4, frames
    exp = experiment.build_experiment(config)
    mesh = sharding.data_mesh()
    state = steps_lib.init_on_mesh(exp.init_state, jax.random.PRNGKey(0), mesh)
    train_step = steps_lib.jit_step(exp.step, mesh)
    it = pipelines.make_triplet_pipeline(
        source, indices, subjects_per_batch=2, sequences_per_subject=4, frames=frames, ordered=ordered,
        store=store, process_index=0, process_count=1, device_count=jax.device_count())
    state, metrics = train_step(state, batching.to_global(next(it), mesh))  # compile
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = train_step(state, batching.to_global(next(it), mesh))
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / steps


def _append_line(r: dict) -> None:
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text("# Benchmarks\n\nOne line per measurement: date, tool, machine, shapes, figure.\n\n")
    line = (f"- {r['date'][:10]} `tools/bench/benchmark_input.py --backend={r['backend']}` "
            f"({r['machine']}, load average {r['load_average_1min']}): triplet pipeline "
            f"({r['backend']} back end), "
            f"batch {'x'.join(map(str, r['batch_shape']))} uint8, {'ordered' if r['ordered'] else 'unordered'}, "
            f"{r['source']} source of {r['sequences_in_source']} sequences ({r['store_mb']} MB bit-packed in "
            f"memory, loaded in {r['load_s']} s): **{r['sequences_per_s']:.0f} sequences/s**")
    if "step" in r:
        line += (f"; the full-size SelfGait triplet step on 8 sequences takes {r['step']['seconds_per_step']} s "
                 f"({r['step']['sequences_per_s']} sequences/s), so the pipeline delivers "
                 f"**{r['pipeline_over_step']:.0f}x** what training consumes")
    line += "\n"
    with BENCHMARKS_MD.open("a") as f:
        f.write(line)


if __name__ == "__main__":
    main()
