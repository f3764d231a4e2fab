"""Export a trained embedding network as one portable, self-describing file (StableHLO + params).

    python3 tools/export.py --workdir=DIR [--step=N] --out=FILE [--platforms=cpu,cuda] [--results=R.json ...]

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
the stored tables. The format, its writer and its reader: ``selfgait_jax.evaluation.exported``.
"""

from __future__ import annotations

import argparse
import sys

import selfgait_jax
from selfgait_jax.evaluation import exported


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
    from selfgait_jax.workdir import checkpoint_to_read

    try:
        step, note = checkpoint_to_read(args.workdir, args.step)  # fixed now: a run may add more
        if note:
            print(note, file=sys.stderr)
        meta, skipped = exported.export_checkpoint(
            args.workdir, step, args.out, results=args.results,
            platforms=[p.strip() for p in args.platforms.split(",") if p.strip()])
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for reason in skipped:
        print(f"skipped {reason}", file=sys.stderr)
    tables = "; ".join(
        f"{e['results']['dataset']} " + ", ".join(f"{c} {v['mean']:.1f}" for c, v in e["results"]["conditions"].items()
                                                if v["mean"] is not None)
        for e in meta["evaluations"]) or "none (run tools/evaluate.py first to store one)"
    print(f"wrote {args.out}: {meta['model']} step {meta['step']}, {meta['parameter_count']:,} parameters, "
          f"output {meta['output']}, platforms {','.join(meta['platforms'])}\n"
          f"fingerprint (params sha256): {meta['fingerprint']['params']}\n"
          f"evaluations stored: {tables}")
    entry = meta["open_set"]
    print(f"open-set threshold: {entry['threshold']:.6g} ({entry['metric']} distance, false-accept rate "
          f"{100 * entry['far']:.2f} % on {entry['dataset']} {entry['source']})" if entry else
          "open-set threshold: none (tools/evaluate.py stores one; tools/identify.py then answers \"unknown\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
