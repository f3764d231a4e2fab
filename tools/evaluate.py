"""Evaluate a training workdir: the paper's cross-view tables for its test set.

    python3 tools/evaluate.py --workdir=DIR [--step=N] [--out=OUT] [--metric=euclidean|cosine]
                             [--keep_missing_gallery] [--data=NAME [--data_root=PATH] [--partition=FILE]
                             [--validation_subjects=N] [--views=V,V,...]]
                             [--max_length=T]
                             [--far=0.01]

`--data` evaluates on another labelled dataset than the run's own: with a pretraining workdir it
gives the cross-view table of the pretrained embedding without fine-tuning (the standard probe of a
self-supervised representation), e.g. `--workdir=runs/pt --data=synthgait_b`.

Writes OUT (default DIR/eval/<step>/, DIR/eval/<step>-<NAME>/ with --data): results.json,
results.md, results.csv, heatmap_<COND>.png, open_set_roc.png (the open-set threshold at
false-accept rate --far, which tools/export.py stores with the model) and embeddings.npz, and prints
the table. See docs/evaluation.md for the protocol and the file formats.
"""

from __future__ import annotations

import argparse
import sys

import selfgait_jax
from selfgait_jax.data.datasets import labelled_names
from selfgait_jax.evaluation import ranking


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="training workdir (holds checkpoints/)")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--out", default=None, help="output folder (default: WORKDIR/eval/STEP)")
    parser.add_argument("--metric", default="euclidean", choices=ranking.METRICS,
                        help="distance the gallery is ranked by (default: %(default)s)")
    parser.add_argument(
        "--keep_missing_gallery", action="store_true",
        help="count probes whose subject has no gallery sequence at a view as misses (default: drop)",
    )
    parser.add_argument("--data", default=None,
                        help="a labelled dataset to evaluate on instead of the run's own: NAME or NAME:tiny "
                             f"({', '.join(labelled_names())}) (default: the run's own)")
    parser.add_argument("--data_root", default="",
                        help="dataset folder for --data=casia_b/ou_mvlp/... (default: none, for SynthGait)")
    parser.add_argument("--partition", default="",
                        help="with --data: an OpenGait partition file (TRAIN_SET/TEST_SET JSON) for the split "
                             "(default: the dataset's own split)")
    parser.add_argument("--validation_subjects", type=int, default=0,
                        help="with --data: evaluate on the last N *training* subjects instead of the "
                             "test split (the validation probe of docs/reproduction.md; default: 0, the test split)")
    parser.add_argument("--views", default="",
                        help="with --data=<a SynthGait set>: only these views, e.g. 000,054,090,144 (a "
                             "cheaper probe: fewer sequences and view pairs; default: all)")
    parser.add_argument("--max_length", type=int, default=None,
                        help="embed at most this many frames of each sequence (default: all; 40 is "
                             "the cheaper probe of docs/evaluation.md)")
    parser.add_argument("--far", type=float, default=0.01,
                        help="false-accept rate of the open-set threshold (\"unknown\" above it; "
                             "default: %(default)s)")
    args = parser.parse_args(argv)
    if args.views and not args.data:
        parser.error("--views chooses views of --data=NAME (a SynthGait set)")
    selfgait_jax.configure_jax()
    from selfgait_jax.data import sources
    from selfgait_jax.evaluation.api import evaluate_workdir
    from selfgait_jax.workdir import chain_stages, checkpoint_to_read

    stages = chain_stages(args.workdir)
    if stages:  # a chain's root holds its stages' workdirs, not checkpoints of its own
        print(f"error: {args.workdir} is a chain; evaluate one of its stages: {', '.join(stages)}",
              file=sys.stderr)
        return 1
    try:
        # The step is fixed now: a run still training here may finish another one meanwhile.
        step, note = checkpoint_to_read(args.workdir, args.step)
        if note:
            print(note, file=sys.stderr)
        data = None
        if args.data:
            data = sources.named_data_config(args.data, views=[v for v in args.views.split(",") if v])
            data.root = args.data_root
            data.validation_subjects = args.validation_subjects
            data.partition = args.partition
        evaluate_workdir(args.workdir, step, args.out, args.metric,
                         drop_missing_gallery=not args.keep_missing_gallery, data=data,
                         max_length=args.max_length, far=args.far)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
