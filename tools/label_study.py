"""The label-efficiency study (docs/label_efficiency.md): does pretraining pay for itself when labels
are few? Pretraining with the paper's pretext and one other, their zero-shot probe, then fine-tuning
from each (and from random initialisation) on 5, 10, 20 and 40 % of the labels, three seeds.

    python3 tools/label_study.py --out=runs/labels             # run what is missing, then report
    python3 tools/label_study.py --out=runs/labels --report    # only rewrite the report
    python3 tools/label_study.py --out=runs/labels --max_seeds=1
    python3 tools/label_study.py --out=/tmp/labels --tiny --max_seeds=1   # a smoke run of the whole plan
    python3 tools/label_study.py --data=casia_b --data_root=PKL_ROOT --out=runs/labels_casia_b   # real CASIA-B

Resumable: a run whose results exist is skipped, and an interrupted one resumes from its last
checkpoint (each training is `python3 -m selfgait_jax.main --config=configs/label_study.py:SPEC`, each
zero-shot probe `python3 tools/evaluate.py --data=synthgait_b`). What a finished run leaves (test and
zero-shot tables, pretraining metrics) is also copied into the repository
(docs/label_efficiency/runs/), which counts as finished too: commit that folder and the study
continues in another checkout. The report is rewritten after every run. The order puts the most
informative runs first (seed 0's pretraining and zero-shot probe, its fine-tuning at 5 % for every
start, then 10 %, 20 %; 40 % after every seed's scarce fractions), so a partial study already
answers something.

On real CASIA-B (`--data=casia_b`, OpenGait's pkl tree at `--data_root`; docs/casia_b.md) the same
engine runs the plan of `label_rows.casia_b_plan` (the yardstick, 10 % of the labels on three
seeds, first; then 5 %, the scale's checks at 100 % and the other fractions; the reproduction's
other rows last), keeps its archive in
docs/casia_b/runs/ and rewrites docs/casia_b.md (both of its generated sections).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from selfgait_jax.study import label_report, label_rows, report, runner
from selfgait_jax.study.runs import Runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Per dataset: where finished runs' results are kept in the repository, and the report.
ARCHIVE = {"synthgait": ROOT / "docs" / "label_efficiency" / "runs", "casia_b": ROOT / "docs" / "casia_b" / "runs"}
DOC = {"synthgait": ROOT / "docs" / "label_efficiency.md", "casia_b": ROOT / "docs" / "casia_b.md"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    runner.add_flags(parser)
    parser.add_argument("--max_seeds", type=int, default=label_rows.SEEDS,
                        help="run seeds 0 .. N-1 only; the report still lists every seed "
                             "(default: %(default)s, the whole study)")
    parser.add_argument("--tiny", action="store_true",
                        help="every run at the tiny size (seconds each; a smoke run of the whole plan), "
                             "its report and archive under OUT (OUT/archive), never the repository's")
    args = parser.parse_args(argv)
    if not 1 <= args.max_seeds <= label_rows.SEEDS:
        print(f"error: --max_seeds={args.max_seeds} must be in [1, {label_rows.SEEDS}]", file=sys.stderr)
        return 2
    real = args.data == "casia_b"
    out = pathlib.Path(args.out)
    doc = pathlib.Path(args.doc) if args.doc else (out / DOC[args.data].name if args.tiny else DOC[args.data])
    archive = pathlib.Path(args.archive) if args.archive else (out / "archive" if args.tiny else ARCHIVE[args.data])
    runs = Runs(out, archive, args.data_root)
    # the report covers every seed, run or not
    plan = label_rows.plan(tiny=args.tiny, data=label_rows.CASIA_B if real else "")

    def write_report():
        label_report.write_report(runs, doc, plan)
        if real and not args.tiny:  # the reproduction's rows on CASIA-B: their own section of the doc
            report.write_report(runs, doc, report.CASIA_B)

    return runner.main(args, runs, plan, ROOT, write_report, args.max_seeds, tag="labels")


if __name__ == "__main__":
    sys.exit(main())
