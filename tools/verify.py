"""Check an exported model file (tools/export.py) and recompute the table it stores.

    python3 tools/verify.py --model=model.npz [--data=NAME] [--data_root=PATH] [--partition=FILE]
                           [--tolerance=0.5]

1. Reads the file without pickle and checks its fingerprint (sha256 of the parameters, of the
   serialized function and of the metadata): a file changed, truncated or damaged after export is
   reported and the exit status is 1.
2. Prints what the file says it is: model, parameter count, step, training data, config hash,
   pretreatment, library versions, stored evaluations.
3. Recomputes the stored table with the file's own function on the data (the evaluation's data
   config from the file; ``--data_root`` for a dataset read from disk and ``--partition`` for an
   OpenGait split file, which the file never names for you (the partition's sha256 must match);
   SynthGait is regenerated), with the stored protocol, metric, frames and missing-gallery rule,
   and says per condition and per number (rank-1, rank-5, mAP means) whether it matches the stored
   one within ``--tolerance`` percentage points. Exit status 0 when everything matches.

``--data=NAME`` picks the stored evaluation of dataset NAME (default: the first, the run's own).
The tolerance exists because a different machine, library version or platform sums floats in
another order, which can flip a near tie between two gallery sequences; one flipped probe moves a
pair by 100 / (its probes) points and a condition's mean by that over the number of pairs.
The checks are ``selfgait_jax.evaluation.exported.verify``.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.evaluation import exported


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="file written by tools/export.py")
    parser.add_argument("--data", default=None,
                        help="the stored evaluation to recompute, by dataset name (default: the first one)")
    parser.add_argument("--data_root", "--data.root", dest="data_root", default="",
                        help="dataset folder for casia_b / ou_mvlp / opengait_pkl (default: none, for SynthGait)")
    parser.add_argument("--partition", default="",
                        help="your copy of the OpenGait partition file the stored table used, if any "
                             "(default: none)")
    parser.add_argument("--cache_dir", default="", help="SynthGait cache (default: $SELFGAIT_DATA_DIR "
                                                        "or ~/.cache/selfgait_jax)")
    parser.add_argument("--tolerance", type=float, default=0.5,
                        help="largest difference, in percentage points, that still matches (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        ok = exported.verify(args.model, data=args.data, data_root=args.data_root, cache_dir=args.cache_dir,
                             partition=args.partition, tolerance=args.tolerance)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
