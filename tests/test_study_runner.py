"""selfgait_jax.study.runner and runs on the reproduction's rows: the run order, skipping finished runs,
and the archive that lets a fresh checkout continue the study."""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from selfgait_jax.study import report, rows, runner
from selfgait_jax.study.rows import Row
from selfgait_jax.study.runs import Runs
from study_fixtures import fake_result


def test_plan_runs_every_rows_first_seed_before_any_second_seed():
    order = report.SYNTHGAIT.plan()
    first = order[:len(rows.ROWS)]
    assert first == [Row(row, 0) for row in rows.ROWS]
    assert len(order) == sum(rows.seeds(r) for r in rows.ROWS)
    assert all(run.seed < rows.seeds(run.row) for run in order)
    assert report.SYNTHGAIT.plan(["sg6", "gaitset"]) == [Row("sg6", 0), Row("gaitset", 0), Row("sg6", 1),
                                                         Row("gaitset", 1), Row("sg6", 2)]


def test_finished_run_is_skipped_without_running_anything(tmp_path, monkeypatch):
    runs = Runs(tmp_path, tmp_path / "archive")
    fake_result(runs, "sg6", 0, 50, 40, 30)
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: pytest.fail("ran a finished run"))
    assert runner.run_one(runs, Row("sg6", 0), tmp_path)


def test_a_run_is_main_on_the_study_config_and_counts_once_archived(tmp_path, monkeypatch):
    """run_one starts ``python -m selfgait_jax.main`` on the repository's configs/study.py:ROW,SEED in the
    run's workdir; a run that exits 0 and left its evaluation is archived, one that failed is not."""
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    started = []
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)

    def fake_main(command, cwd, env, **_):
        started.append((command, cwd, env))
        if "sg6,0" in command[3]:  # seed 0 finishes; seed 1 crashes before evaluating
            fake_result(runs, "sg6", 0, 55, 50, 45)
        return runner.subprocess.CompletedProcess(command, 0 if "sg6,0" in command[3] else 1)

    monkeypatch.setattr(runner.subprocess, "run", fake_main)
    assert runner.run_one(runs, Row("sg6", 0), tmp_path / "repo")
    assert not runner.run_one(runs, Row("sg6", 1), tmp_path / "repo")
    (command, cwd, env), _ = started
    assert command[1:] == ["-m", "selfgait_jax.main", f"--config={tmp_path / 'repo' / 'configs' / 'study.py'}:sg6,0",
                           f"--workdir={runs.workdir(Row('sg6', 0))}"]
    assert cwd == tmp_path / "repo"
    # in this environment, with the runs' compilation cache in the runs folder, unless one is set
    assert env == {**os.environ, "JAX_COMPILATION_CACHE_DIR": str((tmp_path / "runs" / "jax_cache").resolve())}
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert runner.environment(runs) == dict(os.environ)
    assert (runs.archived(Row("sg6", 0)) / "results.json").is_file()
    assert not runs.archived(Row("sg6", 1)).exists()


def test_archived_runs_count_as_finished_in_a_fresh_checkout(tmp_path, monkeypatch):
    # A finished run (with its pretraining curve) is archived by the report ...
    old = Runs(tmp_path / "old", tmp_path / "archive")
    fake_result(old, "sg6", 0, 55, 50, 45)
    metrics = old.workdir(Row("sg6", 0)) / "pretrain" / "metrics.jsonl"
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"step": 50, "loss": 1.0, "projection_std": 0.1}) + "\n")
    doc = tmp_path / "reproduction.md"
    doc.write_text(f"{report.REPORT_BEGIN}\n{report.REPORT_END}\n")
    report.write_report(old, doc)
    assert (old.archive / "sg6" / "seed0" / "results.json").is_file()
    assert (old.archive / "sg6" / "seed0" / "pretrain_metrics.jsonl").read_text() == metrics.read_text()
    # ... and a new session with an empty runs folder neither reruns it nor loses it.
    new = Runs(tmp_path / "new", old.archive)
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: pytest.fail("reran an archived run"))
    assert runner.run_one(new, Row("sg6", 0), tmp_path)
    table = report.write_report(new, doc)
    assert table["sg6"] == [(0, {"NM": 55, "BG": 50, "CL": 45})]
    assert (tmp_path / "images" / "reproduction_curves.png").stat().st_size > 0


def test_run_study_runs_the_plan_and_reports_after_each_run(tmp_path, monkeypatch):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    doc = tmp_path / "reproduction.md"
    doc.write_text(f"{report.REPORT_BEGIN}\n{report.REPORT_END}\n")
    fake_result(runs, "wo_pt", 0, 45, 40, 35)  # finished before: not run again
    started, reports = [], []

    def fake_main(command, **_):
        row, seed = command[3].rsplit(":", 1)[1].split(",")
        started.append((row, int(seed)))
        if row == "sg6":  # w/o PT's seed 1 fails
            fake_result(runs, row, int(seed), 55, 50, 45)
        return runner.subprocess.CompletedProcess(command, 0 if row == "sg6" else 1)

    monkeypatch.setattr(runner.subprocess, "run", fake_main)
    failed = runner.run_study(runs, report.SYNTHGAIT.plan(["wo_pt", "sg6"]), tmp_path,
                              lambda: reports.append(report.write_report(runs, doc)), max_seeds=2)
    assert started == [("sg6", 0), ("wo_pt", 1), ("sg6", 1)]
    assert failed == [f"wo_pt seed 1 (see {runs.workdir(Row('wo_pt', 1)) / 'log.txt'})"]
    assert len(reports) == 3  # after each run made (w/o PT's seed 1 failed), and at the end
    assert [len(t.get("sg6", [])) for t in reports] == [1, 2, 2]
    assert "3 of 23 runs finished" in doc.read_text()


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie (an orphan's zombie may wait for a reaper)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the death signal is Linux's")
def test_a_study_killed_takes_its_training_with_it(tmp_path):
    """SIGKILL the study while a run trains: the training stops too, instead of going on in its
    workdir where the study started again would find it in use."""
    pid_file = tmp_path / "training.pid"
    training = [sys.executable, "-c", "import os, pathlib, time; "
                f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(120)"]
    study = subprocess.Popen([sys.executable, "-c", "import pathlib, sys; from selfgait_jax.study import runner; "
                              f"runner.run_logged({training!r}, pathlib.Path('.'), pathlib.Path({str(tmp_path)!r}), "
                              "'a run', 'test')"])
    deadline = time.time() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline and study.poll() is None, "the study never started its training"
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    study.kill()
    study.wait()
    deadline = time.time() + 10
    while _running(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _running(pid), "the training outlived the study that started it"
