"""Running the study: every (row, seed) in order, each as ``python -m selfgait_jax.main
--config=configs/study.py:ROW,SEED``, the report rewritten after every finished run.

Resumable: a run whose evaluation exists (in its workdir or the archive) is skipped, and an
interrupted one resumes from its last checkpoint. Runs go seed by seed (every row's seed 0 first),
so a partial study already compares all rows.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

from selfgait_jax.study import report, rows
from selfgait_jax.study.runs import Runs


def plan(names, max_seeds=None) -> list[tuple[str, int]]:
    """(row, seed) in the order they run: seed 0 of every row, then seed 1, ..."""
    most = max(rows.seeds(r) for r in names)
    out = []
    for seed in range(most if max_seeds is None else min(most, max_seeds)):
        out += [(row, seed) for row in names if seed < rows.seeds(row)]
    return out


def run_one(runs: Runs, row: str, seed: int, repository: pathlib.Path) -> bool:
    """Runs (or resumes) one row and seed with the repository's configs/study.py; True once it is
    finished and archived. A finished run is not run again."""
    if runs.results(row, seed) is not None:
        return True
    workdir = runs.workdir(row, seed)
    command = [sys.executable, "-m", "selfgait_jax.main",
               f"--config={repository / 'configs' / 'study.py'}:{row},{seed}", f"--workdir={workdir}"]
    done = run_logged(command, repository, workdir, f"{row} seed {seed}", "reproduce")
    return done and runs.archive_run(row, seed)


def run_logged(command: list[str], repository: pathlib.Path, workdir: pathlib.Path, what: str,
               tag: str) -> bool:
    """Runs ``command`` in the repository, its output appended to ``workdir``/log.txt, with a line
    before and after (``[tag] what``, the exit status and the minutes it took). True if it exited 0."""
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[{tag}] {what} → {workdir}", flush=True)
    start = time.time()
    with open(workdir / "log.txt", "a", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=repository, stdout=log, stderr=subprocess.STDOUT)
    print(f"[{tag}] {what}: exit {done.returncode} after {(time.time() - start) / 60:.1f} min", flush=True)
    return done.returncode == 0


def run_study(runs: Runs, names, repository: pathlib.Path, doc: pathlib.Path, max_seeds=None) -> list[str]:
    """Runs what is missing of ``names`` (at most ``max_seeds`` seeds a row), rewriting ``doc``'s
    report after each run and at the end. Returns the failed runs, each with its log file."""
    failed = []
    todo = plan(names, max_seeds)
    for k, (row, seed) in enumerate(todo, 1):
        print(f"[reproduce] run {k}/{len(todo)}", flush=True)
        if not run_one(runs, row, seed, repository):
            failed.append(f"{row} seed {seed} (see {runs.workdir(row, seed) / 'log.txt'})")
        report.write_report(runs, doc)
    report.write_report(runs, doc)
    return failed
