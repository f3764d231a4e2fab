"""The reproduction study: every row of the paper's Tables 1 and 3 at the scale of
selfgait_jax/study/rows.py, several seeds each, then docs/reproduction.md with the table, a bar
chart and the pretraining curves.

    python3 tools/reproduce.py --out=runs/study              # run what is missing, then report
    python3 tools/reproduce.py --out=runs/study --report     # only rewrite the report
    python3 tools/reproduce.py --out=runs/study --rows=wo_pt,sg6 --max_seeds=1

Resumable: a run whose evaluation exists is skipped, and an interrupted one resumes from its last
checkpoint (each run is `python3 -m selfgait_jax.main --config=configs/study.py:ROW,SEED`). A finished
run's results.json and pretraining metrics are also copied into the repository
(docs/reproduction/runs/ROW/seedSEED/), which counts as finished too: commit that folder and the
study continues in another checkout or session without redoing those runs. The report is rewritten
after every finished run. Runs go seed by seed (every row's seed 0 first), so a partial study
already compares all rows.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from selfgait_jax.study import report, runner
from selfgait_jax.study.rows import ROWS
from selfgait_jax.study.runs import Runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "docs" / "reproduction" / "runs"  # finished runs' results, kept in the repository


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of the study's runs (one per row and seed)")
    parser.add_argument("--doc", default=str(ROOT / "docs" / "reproduction.md"),
                        help="the report whose generated section is rewritten (default: docs/reproduction.md)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated rows to run (default: all, %(default)s)")
    parser.add_argument("--max_seeds", type=int, default=None,
                        help="run at most this many seeds a row (default: every seed the study lists)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--archive", default=str(ARCHIVE),
                        help="where finished runs' results are kept in the repository (default: "
                             "docs/reproduction/runs)")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        print(f"error: unknown rows {unknown}; rows are {sorted(ROWS)}", file=sys.stderr)
        return 2
    runs, doc = Runs(pathlib.Path(args.out), pathlib.Path(args.archive)), pathlib.Path(args.doc)
    if args.report:
        report.write_report(runs, doc)
        return 0
    failed = runner.run_study(runs, rows, ROOT, doc, args.max_seeds)
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
