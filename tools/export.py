"""Export a trained embedding network as one portable, self-describing file (StableHLO + params).

    python tools/export.py --workdir=DIR [--step=N] --out=FILE [--platforms=cpu,cuda] [--results=R.json ...]

The batch and sequence-length dimensions are symbolic, so one file embeds any number of sequences of
any length. Load it without the training code:

    from selfgait_jax.evaluation.exported import load_exported
    embed = load_exported("model.npz")
    embeddings = embed(frames_uint8_NT6444, mask_bool_NT)   # float32 [N, parts, dim]

Beside the function and its parameters the file holds (JSON, no pickle): the training config and its
sha256, the pretreatment, the model name and parameter count, the checkpoint step, every evaluation
of that step found in DIR/eval/ (dataset, protocol, table; or given with --results), the open-set
threshold where an evaluation has one (tools/evaluate.py's, at its --far; tools/identify.py answers
"unknown" above it), the jax/flax/... versions, and a fingerprint (sha256 of the
params, the function and the metadata). ``tools/verify.py --model=FILE`` checks it and recomputes
the stored tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import selfgait_jax
from selfgait_jax.evaluation import exported


def stored_evaluations(workdir, step: int, config_hash: str, extra=()) -> tuple[list, list]:
    """``(evaluations, skipped)``: results.json files of checkpoint ``step`` in WORKDIR/eval/<step>
    and WORKDIR/eval/<step>-<dataset> (plus ``extra`` paths), each as {"source", "results"}; files of
    another step or another config are skipped with the reason."""
    eval_dir = Path(workdir) / "eval"
    paths = [eval_dir / str(step) / "results.json"]
    paths += sorted(eval_dir.glob(f"{step}-*/results.json"))
    paths += [Path(p) for p in extra]
    found, skipped = [], []
    for path in paths:
        if not path.is_file():
            if path in [Path(p) for p in extra]:
                skipped.append(f"{path}: no such file")
            continue
        results = json.loads(path.read_text())
        checkpoint = results.get("checkpoint", {})
        if checkpoint.get("step") != step:
            skipped.append(f"{path}: evaluates step {checkpoint.get('step')}, not {step}")
        elif checkpoint.get("config_sha256", config_hash) != config_hash:
            skipped.append(f"{path}: evaluates another config (sha256 {checkpoint['config_sha256'][:16]}…)")
        else:
            found.append({"source": str(path.parent.name), "results": results})
    return found, skipped


def open_set_threshold(evaluations):
    """The first evaluation's open-set threshold (results.json "open_set": {"threshold": x}, written by
    tools/evaluate.py at its --far), or None when no evaluation defines one."""
    return (open_set_summary(evaluations) or {}).get("threshold")


def open_set_summary(evaluations):
    """The first evaluation's open-set entry without its curve, with the evaluation it came from
    (tools/identify.py reads the metric and the rates from it), or None."""
    for evaluation in evaluations:
        entry = evaluation["results"].get("open_set") or {}
        if entry.get("threshold") is not None:
            keep = ("threshold", "target_far", "far", "tar", "eer", "metric", "decision", "distance", "identification")
            return {"source": evaluation["source"], "dataset": evaluation["results"].get("dataset"),
                    **{k: entry[k] for k in keep if k in entry}}
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="training workdir (holds checkpoints/)")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--out", required=True, help="file to write (a .npz)")
    parser.add_argument("--platforms", default=",".join(exported.DEFAULT_PLATFORMS),
                        help="comma-separated jax.export platforms (cpu, cuda, rocm, tpu; default: %(default)s)")
    parser.add_argument("--results", action="append", default=[],
                        help="a results.json of this checkpoint written elsewhere (--out of evaluate.py); "
                             "repeatable (default: only those in WORKDIR/eval/)")
    args = parser.parse_args(argv)
    selfgait_jax.configure_jax()
    from selfgait_jax.evaluation.api import config_sha256
    from selfgait_jax.workdir import checkpoint_to_read, config_to_json, load_for_inference

    try:
        step, note = checkpoint_to_read(args.workdir, args.step)  # fixed now: a run may add more
        if note:
            print(note, file=sys.stderr)
        config, embed_model, variables, step = load_for_inference(args.workdir, step)
        config_hash = config_sha256(config)
        evaluations, skipped = stored_evaluations(args.workdir, step, config_hash, args.results)
        meta = exported.export_embedding(
            embed_model, variables, args.out,
            platforms=[p.strip() for p in args.platforms.split(",") if p.strip()],
            extra_meta={"model": config.model.name, "dataset": config.data.name, "step": step,
                        "config": config_to_json(config), "config_sha256": config_hash,
                        "evaluations": evaluations,
                        "open_set_threshold": open_set_threshold(evaluations),
                        "open_set": open_set_summary(evaluations)},
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    tables = "; ".join(
        f"{e['results']['dataset']} " + ", ".join(f"{c} {v['mean']:.1f}" for c, v in e["results"]["conditions"].items()
                                                if v["mean"] is not None)
        for e in evaluations) or "none (run tools/evaluate.py first to store one)"
    print(f"wrote {args.out}: {meta['model']} step {step}, {meta['parameter_count']:,} parameters, "
          f"output {meta['output']}, platforms {','.join(meta['platforms'])}\n"
          f"fingerprint (params sha256): {meta['fingerprint']['params']}\n"
          f"evaluations stored: {tables}")
    entry = meta.get("open_set")
    print(f"open-set threshold: {entry['threshold']:.6g} ({entry['metric']} distance, false-accept rate "
          f"{100 * entry['far']:.2f} % on {entry['dataset']} {entry['source']})" if entry else
          "open-set threshold: none (tools/evaluate.py stores one; tools/identify.py then answers \"unknown\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
