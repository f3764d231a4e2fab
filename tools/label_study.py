"""The label-efficiency study (docs/label_efficiency.md): does pretraining pay for itself when labels
are few? Pretraining with the paper's pretext and one other, their zero-shot probe, then fine-tuning
from each (and from random initialisation) on 5, 10, 20 and 40 % of the labels, three seeds.

    python3 tools/label_study.py --out=runs/labels             # run what is missing, then report
    python3 tools/label_study.py --out=runs/labels --report    # only rewrite the report
    python3 tools/label_study.py --out=runs/labels --max_seeds=1
    python3 tools/label_study.py --out=/tmp/labels --tiny --max_seeds=1   # a smoke run of the whole plan

Resumable: a run whose results exist is skipped, and an interrupted one resumes from its last
checkpoint (each training is `python3 -m selfgait_jax.main --config=configs/label_study.py:SPEC`, each
zero-shot probe `python3 tools/evaluate.py --data=synthgait_b`). What a finished run leaves (test and
zero-shot tables, pretraining metrics) is also copied into the repository
(docs/label_efficiency/runs/), which counts as finished too: commit that folder and the study
continues in another checkout. The report is rewritten after every run. The order puts the most
informative runs first (seed 0's pretraining and zero-shot probe, its fine-tuning at 5 % for every
start, then 10 %, 20 %; 40 % after every seed's scarce fractions), so a partial study already
answers something.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from selfgait_jax.study import label_report, label_runner, label_rows, label_runs
from selfgait_jax.study.label_runs import LabelRuns

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "docs" / "label_efficiency" / "runs"  # finished runs' results, kept in the repository
DOC = ROOT / "docs" / "label_efficiency.md"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the study's runs (one workdir per run)")
    parser.add_argument("--doc", default=None,
                        help="the report whose generated section is rewritten (default: "
                             "docs/label_efficiency.md; with --tiny, OUT/label_efficiency.md)")
    parser.add_argument("--archive", default=None,
                        help="where finished runs' results are kept (default: docs/label_efficiency/runs; "
                             "with --tiny, OUT/archive)")
    parser.add_argument("--max_seeds", type=int, default=label_rows.SEEDS,
                        help="run seeds 0 .. N-1 only; the report still lists every seed "
                             "(default: %(default)s, the whole study)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--tiny", action="store_true",
                        help="every run at the tiny size (seconds each; a smoke run of the whole plan), "
                             "its report and archive under OUT, never the repository's")
    args = parser.parse_args(argv)
    if not 1 <= args.max_seeds <= label_rows.SEEDS:
        print(f"error: --max_seeds={args.max_seeds} must be in [1, {label_rows.SEEDS}]", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    doc = pathlib.Path(args.doc) if args.doc else (out / "label_efficiency.md" if args.tiny else DOC)
    archive = pathlib.Path(args.archive) if args.archive else (out / "archive" if args.tiny else ARCHIVE)
    runs = LabelRuns(out, archive)
    plan = label_runs.plan(tiny=args.tiny)  # the report covers every seed, run or not
    if args.report:
        label_report.write_report(runs, doc, plan)
        return 0
    failed = label_runner.run_study(runs, plan, ROOT, doc, args.max_seeds)
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
