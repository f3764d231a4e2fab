"""Running the label-efficiency study: every run of the plan in order, the report rewritten after
each one.

A pretraining run is ``python -m selfgait_jax.main --config=configs/label_study.py:SPEC``, then its
zero-shot probe, ``python tools/evaluate.py --data=synthgait_b`` on the validation subjects and on
the test split (the frozen network, the first `rows.EVAL_FRAMES` frames). A fine-tuning run is main
on its spec, with ``--config.finetune.init_from=`` the pretraining's workdir for a pretrained start
(trained first if its checkpoint is not there). Each step is skipped when what it makes exists, and
an interrupted training resumes from its checkpoint, so the study can stop and go on at any time.
"""

from __future__ import annotations

import pathlib
import sys

from selfgait_jax.study import label_report, label_rows, rows
from selfgait_jax.study.label_rows import FineTuning, Pretraining
from selfgait_jax.study.label_runs import LabelRuns, Run
from selfgait_jax.study.runner import run_logged

TAG = "labels"


def _main(runs: LabelRuns, run: Run, repository: pathlib.Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "selfgait_jax.main",
            f"--config={repository / 'configs' / 'label_study.py'}:{run.spec}", f"--workdir={runs.workdir(run)}",
            *label_rows.data_overrides(run, runs.data_root), *overrides]


def pretrain(runs: LabelRuns, run: Pretraining, repository: pathlib.Path) -> bool:
    """Trains (or resumes) the pretraining unless its last checkpoint exists; True once it does."""
    if runs.pretrained(run):
        return True
    done = run_logged(_main(runs, run, repository), repository, runs.workdir(run), str(run), TAG)
    return done and runs.pretrained(run)


def zero_shot(runs: LabelRuns, run: Pretraining, split: str, repository: pathlib.Path) -> bool:
    """Evaluates the pretrained network, frozen, on ``split`` unless that table exists."""
    if runs.zero_shot(run, split) is not None:
        return True
    if run.data == label_rows.CASIA_B:
        data = [f"--data={label_rows.CASIA_B_DATASET}", f"--data_root={runs.data_root}"]
    else:
        data = [f"--data=synthgait_b{':tiny' if run.tiny else ''}"]
    command = [sys.executable, str(repository / "tools" / "evaluate.py"), f"--workdir={runs.workdir(run)}",
               *data, f"--max_length={rows.EVAL_FRAMES}", f"--out={runs.zero_shot_folder(run, split)}"]
    if split == "validation":
        command.append(f"--validation_subjects={label_rows.validation_subjects(run.tiny)}")
    done = run_logged(command, repository, runs.workdir(run), f"{run}: zero-shot on {split}", TAG)
    return done and runs.zero_shot(run, split) is not None


def finetune(runs: LabelRuns, run: FineTuning, repository: pathlib.Path) -> bool:
    """Fine-tunes (or resumes) from the run's start, then its test table; True once that exists."""
    overrides = []
    if run.pretraining is not None:
        if not pretrain(runs, run.pretraining, repository):
            return False
        overrides.append(f"--config.finetune.init_from={runs.workdir(run.pretraining)}")
    workdir = runs.workdir(run)
    done = run_logged(_main(runs, run, repository, *overrides), repository, workdir, str(run), TAG)
    return done and runs.results(run) is not None


def run_one(runs: LabelRuns, run: Run, repository: pathlib.Path) -> bool:
    """Runs what is missing of one run of the plan; True once it is finished and archived."""
    if not runs.finished(run):
        if isinstance(run, Pretraining):
            ok = pretrain(runs, run, repository) and all(
                zero_shot(runs, run, split, repository) for split in label_rows.SPLITS)
        else:
            ok = finetune(runs, run, repository)
        if not ok:
            return False
    return runs.archive_run(run)


def run_study(runs: LabelRuns, plan: list[Run], repository: pathlib.Path, doc: pathlib.Path,
              max_seeds: int | None = None) -> list[str]:
    """Runs what is missing of ``plan`` (only its seeds below ``max_seeds``, if given), rewriting
    ``doc``'s report of the whole plan after each run it made and at the end. A fine-tuning run whose
    pretraining failed in this session is not tried (it would fail again). Returns the failed and
    left-out runs, each with its log file."""
    todo = [run for run in plan if max_seeds is None or run.seed < max_seeds]
    failed, broken = [], set()
    for k, run in enumerate(todo, 1):
        if runs.finished(run):
            runs.archive_run(run)
            continue
        print(f"[{TAG}] run {k}/{len(todo)}: {run}", flush=True)
        if isinstance(run, FineTuning) and run.pretraining in broken:
            failed.append(f"{run} (left out: {run.pretraining} failed)")
            continue
        if run_one(runs, run, repository):
            label_report.write_report(runs, doc, plan)
            continue
        failed.append(f"{run} (see {runs.workdir(run) / 'log.txt'})")
        pretraining = run if isinstance(run, Pretraining) else run.pretraining
        if pretraining is not None and not runs.pretrained(pretraining):
            broken.add(pretraining)
    label_report.write_report(runs, doc, plan)
    return failed
