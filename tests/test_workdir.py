"""Reading a workdir: which finished step inference reads, what is missing, and a run in progress."""

import os
import re

import ml_collections
import numpy as np
import pytest

from selfgait_jax import workdir as workdir_lib


def _workdir_with_steps(path, steps):
    ckpts = workdir_lib.Checkpoints(str(path))
    for step in steps:
        ckpts.save(step, {"w": np.full((2,), step, np.float32)}, step, ml_collections.ConfigDict({"seed": 0}))
    ckpts.wait_until_finished()
    ckpts.close()
    return str(path)


def test_what_is_missing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"workdir {tmp_path / 'nope'} does not exist")):
        workdir_lib.checkpoint_to_read(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoints/ folder: not a training workdir"):
        workdir_lib.checkpoint_to_read(str(tmp_path / "empty"))
    for stage in ("pretrain", "finetune"):
        (tmp_path / "chain" / stage / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="chain; use one of its stages: .*finetune, .*pretrain"):
        workdir_lib.checkpoint_to_read(str(tmp_path / "chain"))
    assert not (tmp_path / "nope").exists()  # reading creates nothing


def test_the_latest_or_the_named_finished_step_is_read(tmp_path):
    workdir = _workdir_with_steps(tmp_path / "run", [3, 5])
    assert workdir_lib.checkpoint_to_read(workdir) == (5, "")
    assert workdir_lib.checkpoint_to_read(workdir, 3) == (3, "")
    with pytest.raises(FileNotFoundError, match=r"no finalized checkpoint for step 4 .* \(available: \[3, 5\]\)"):
        workdir_lib.checkpoint_to_read(workdir, 4)


def test_a_run_in_progress_is_named_with_the_step_read(tmp_path):
    """While a training run holds the workdir's lock, a reader learns which finished step it reads
    and that the run goes on; once the run ends, nothing is said."""
    workdir = _workdir_with_steps(tmp_path / "run", [3, 5])
    assert workdir_lib.run_in_progress(workdir) is None
    with workdir_lib.WorkdirLock(workdir):  # another open of the lock file: as another process
        running = workdir_lib.run_in_progress(workdir)
        assert running.startswith(f"pid {os.getpid()} on ")
        step, note = workdir_lib.checkpoint_to_read(workdir)
        assert (step, note) == (5, f"note: a run is still training in {workdir} ({running}); reading its "
                                   f"latest finished step 5, not the run's end")
        assert "reading finished step 3," in workdir_lib.checkpoint_to_read(workdir, 3)[1]
    assert workdir_lib.run_in_progress(workdir) is None
    assert workdir_lib.checkpoint_to_read(workdir) == (5, "")
    with workdir_lib.WorkdirLock(workdir):  # the probe left the lock free for the next run
        pass


def test_a_run_that_has_not_finished_a_checkpoint_yet_says_so(tmp_path):
    started = tmp_path / "run"
    with workdir_lib.WorkdirLock(str(started)):
        with pytest.raises(FileNotFoundError, match=f"{re.escape(str(started))} has no finished checkpoint "
                                                    f"yet: a run is training there \\(pid {os.getpid()} on "):
            workdir_lib.checkpoint_to_read(str(started))
