"""Evaluate a training workdir: the paper's cross-view tables for its test set.

    python tools/evaluate.py --workdir=DIR [--step=N] [--out=OUT] [--metric=euclidean|cosine]
                             [--keep_missing_gallery]

Writes OUT (default DIR/eval/<step>/): results.json, results.md, results.csv, heatmap_<COND>.png and
embeddings.npz, and prints the table. See docs/evaluation.md for the protocol and the file formats.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.evaluation import protocol


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="training workdir (holds checkpoints/)")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--out", default=None, help="output folder (default: WORKDIR/eval/STEP)")
    parser.add_argument("--metric", default="euclidean", choices=protocol.METRICS)
    parser.add_argument(
        "--keep_missing_gallery", action="store_true",
        help="count probes whose subject has no gallery sequence at a view as misses (default: drop)",
    )
    args = parser.parse_args(argv)
    from selfgait_jax.evaluation.api import evaluate_workdir

    try:
        evaluate_workdir(args.workdir, args.step, args.out, args.metric,
                         drop_missing_gallery=not args.keep_missing_gallery)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
