"""The reproduction study: every row of the paper's Tables 1 and 3 at the scale of
selfgait_jax/study/rows.py, several seeds each, then docs/reproduction.md with the table, a bar
chart and the pretraining curves.

    python3 tools/reproduce.py --out=runs/study              # run what is missing, then report
    python3 tools/reproduce.py --out=runs/study --report     # only rewrite the report
    python3 tools/reproduce.py --out=runs/study --rows=wo_pt,sg6 --max_seeds=1
    python3 tools/reproduce.py --data=casia_b --data_root=PKL_ROOT --out=runs/labels_casia_b   # real CASIA-B

Resumable: a run whose evaluation exists is skipped, and an interrupted one resumes from its last
checkpoint (each run is `python3 -m selfgait_jax.main --config=configs/study.py:ROW,SEED`). A finished
run's results.json and pretraining metrics are also copied into the repository
(docs/reproduction/runs/ROW/seedSEED/), which counts as finished too: commit that folder and the
study continues in another checkout or session without redoing those runs. The report is rewritten
after every finished run. Runs go seed by seed (every row's seed 0 first), so a partial study
already compares all rows.

On real CASIA-B (`--data=casia_b`, OpenGait's pkl tree at `--data_root`; docs/casia_b.md) the rows
are runs of the label study's CASIA-B plan (`report.CASIA_B`: w/o PT and SelfGait at 40 % of the
labels, Table 3's ablations, GaitSet and GaitPart at 100 %), kept in docs/casia_b/runs/ and reported
in docs/casia_b.md: give it the label study's --out and no run is trained twice.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from selfgait_jax.study import report, runner
from selfgait_jax.study.runs import Runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Per dataset: where finished runs' results are kept in the repository, and the report.
ARCHIVE = {"synthgait": ROOT / "docs" / "reproduction" / "runs", "casia_b": ROOT / "docs" / "casia_b" / "runs"}
DOC = {"synthgait": ROOT / "docs" / "reproduction.md", "casia_b": ROOT / "docs" / "casia_b.md"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    runner.add_flags(parser)
    parser.add_argument("--rows", default="", help="comma-separated rows to run (default: all)")
    parser.add_argument("--max_seeds", type=int, default=None,
                        help="run at most this many seeds a row (default: every seed the study lists)")
    args = parser.parse_args(argv)
    study = report.STUDIES[args.data]
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] or list(study.rows)
    unknown = sorted(set(rows) - set(study.rows))
    if unknown:
        print(f"error: unknown rows {unknown}; rows are {sorted(study.rows)}", file=sys.stderr)
        return 2
    runs = Runs(pathlib.Path(args.out), pathlib.Path(args.archive or ARCHIVE[args.data]), args.data_root)
    doc = pathlib.Path(args.doc or DOC[args.data])
    return runner.main(args, runs, study.plan(rows), ROOT, lambda: report.write_report(runs, doc, study),
                       args.max_seeds, tag="reproduce")


if __name__ == "__main__":
    sys.exit(main())
