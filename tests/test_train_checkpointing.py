"""Checkpoints (round trip, unfinished steps never restored), weight transfer errors, config
errors raised before compiling, the non-finite-loss stop keeping the last good checkpoint, and
one writer per workdir."""

import json
import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import repo_files
from selfgait_jax import sharding, workdir as workdir_lib
from selfgait_jax.train import config_checks, experiment, loop, steps
from selfgait_jax.train import state as state_lib
from selfgait_jax.train.state import TrainState

finetune, pretrain, quickstart = (repo_files.config(n) for n in ("finetune", "pretrain", "quickstart"))


def _state(value: float, step: int = 3) -> TrainState:
    params = {"backbone": {"w": jnp.full((2, 3), value)}, "fc_bins": {"b": jnp.arange(4.0)}}
    return TrainState(step=jnp.int32(step), params=params, target_params={}, batch_stats={},
                      target_batch_stats={}, opt_state=optax.sgd(0.1, momentum=0.9).init(params),
                      rng=jax.random.PRNGKey(7))


def _abstract(mesh):
    return sharding.with_sharding(jax.eval_shape(lambda: _state(0.0)), sharding.replicated(mesh))


def test_round_trip_and_unfinished_checkpoint_is_ignored(tmp_path):
    config = pretrain.get_config("tiny")
    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    ckpts.save(2, _state(1.5, step=2), next_batch=2, config=config)
    ckpts.wait_until_finished()
    ckpts.close()
    # What a crash mid-save leaves behind: orbax's temporary folder for a later step.
    final = tmp_path / "checkpoints" / "2"
    shutil.copytree(final, tmp_path / "checkpoints" / "6.orbax-checkpoint-tmp-1795616000")
    (tmp_path / "checkpoints" / "9.orbax-checkpoint-tmp-1795616001").mkdir()

    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    try:
        assert ckpts.all_steps() == [2] and ckpts.latest_step() == 2
        mesh = sharding.data_mesh()
        state, next_batch = ckpts.restore(2, _abstract(mesh))
        restored_config = ckpts.restore_config(2)
    finally:
        ckpts.close()
    assert next_batch == 2 and int(state.step) == 2
    np.testing.assert_array_equal(state.params["backbone"]["w"], np.full((2, 3), 1.5))
    np.testing.assert_array_equal(state.rng, jax.random.PRNGKey(7))
    assert state.params["backbone"]["w"].sharding.is_equivalent_to(sharding.replicated(mesh), 2)
    assert restored_config == config  # tuples survive the JSON round trip
    assert restored_config.model.channels == config.model.channels


def test_loading_a_checkpoint_logs_no_orbax_warning(tmp_path, caplog):
    """Resuming (restore), inference (restore_state) and init_from read a step's items the way
    orbax's manager opens them: nothing warns, e.g. of a missing ``_CHECKPOINT_METADATA``."""
    config = pretrain.get_config("tiny")
    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    ckpts.save(2, _state(1.5, step=2), next_batch=2, config=config)
    ckpts.wait_until_finished()
    ckpts.close()
    with caplog.at_level(logging.INFO):
        for read_only in (False, True):
            ckpts = workdir_lib.Checkpoints(str(tmp_path), read_only=read_only)
            try:
                state, _ = ckpts.restore(2, _abstract(sharding.data_mesh()))
                plain = ckpts.restore_state(2)
                ckpts.restore_config(2)
            finally:
                ckpts.close()
    np.testing.assert_array_equal(state.params["backbone"]["w"], plain["params"]["backbone"]["w"])
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warned, warned
    assert not [r for r in caplog.records if "_CHECKPOINT_METADATA" in r.getMessage()]


def test_a_checkpoint_written_before_the_queue_field_restores_with_it_empty(tmp_path):
    """States were saved without ``TrainState.queue`` before the queue existed: resuming such a run
    restores every other field and leaves the queue empty; a state with a queue round-trips it."""
    config = pretrain.get_config("tiny")
    old = _state(2.5, step=4)
    old_layout = {f: getattr(old, f) for f in ("step", "params", "target_params", "batch_stats",
                                               "target_batch_stats", "opt_state", "rng")}
    ckpts = workdir_lib.Checkpoints(str(tmp_path / "old"))
    ckpts.save(4, old_layout, next_batch=4, config=config)
    ckpts.wait_until_finished()
    mesh = sharding.data_mesh()
    try:
        state, next_batch = ckpts.restore(4, _abstract(mesh))
    finally:
        ckpts.close()
    assert isinstance(state, TrainState) and state.queue == {} and next_batch == 4
    np.testing.assert_array_equal(state.params["backbone"]["w"], np.full((2, 3), 2.5))
    np.testing.assert_array_equal(state.opt_state[0].trace["fc_bins"]["b"], np.zeros(4))

    queued = _state(1.0).replace(queue=state_lib.enqueue(state_lib.init_queue(3, (2,)), jnp.ones((2, 2)),
                                                                jnp.array([4, 7])))
    ckpts = workdir_lib.Checkpoints(str(tmp_path / "new"))
    ckpts.save(3, queued, next_batch=3, config=config)
    ckpts.wait_until_finished()
    abstract = sharding.with_sharding(jax.eval_shape(lambda: queued), sharding.replicated(mesh))
    try:
        state, _ = ckpts.restore(3, abstract)
    finally:
        ckpts.close()
    np.testing.assert_array_equal(state.queue["keys"], [[1, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(state.queue["views"], [4, 7, -1])
    assert int(state.queue["next"]) == 2 and int(state.queue["filled"]) == 2


def test_copy_by_name_errors_name_the_parameter():
    wanted = {"backbone": {"conv": {"kernel": jax.ShapeDtypeStruct((3, 3, 1, 4), jnp.float32)}},
              "fc_bins": {"kernel": jax.ShapeDtypeStruct((31, 4, 8), jnp.float32)}}
    good = {"backbone": {"conv": {"kernel": np.ones((3, 3, 1, 4))}},
            "fc_bins": {"kernel": np.zeros((31, 4, 8))}, "predictor": {"w": np.ones(2)}}
    copied = workdir_lib.copy_by_name(wanted, good)
    assert set(copied) == {"backbone", "fc_bins"}
    with pytest.raises(ValueError, match="params/fc_bins/kernel has shape"):
        workdir_lib.copy_by_name(wanted, {**good, "fc_bins": {"kernel": np.zeros((31, 4, 16))}})
    with pytest.raises(ValueError, match="no parameter params/backbone/conv/kernel"):
        workdir_lib.copy_by_name(wanted, {"fc_bins": good["fc_bins"]})


def _bad_configs(tmp_path):
    def with_(base, **changes):
        config = base.copy_and_resolve_references()
        for key, value in changes.items():
            node = config
            *parents, leaf = key.split(".")
            for p in parents:
                node = node[p]
            node[leaf] = value
        return config

    pre, fine = pretrain.get_config("tiny"), finetune.get_config("tiny")
    return [
        (with_(pre, **{"byol.batch_size": 6}), "byol.batch_size"),
        (with_(fine, **{"triplet.P": 3, "triplet.K": 3}), "triplet.P*triplet.K"),
        (with_(pre, **{"byol.k": pre.data.max_frames}), "byol.k"),
        (with_(pre, **{"byol.min_online_frames": 0}), "byol.min_online_frames"),
        (with_(pre, **{"byol.min_online_frames": pre.byol.k + 1}), "byol.min_online_frames"),
        (with_(pre, **{"data.name": "casia_c"}), "data.name"),
        (with_(fine, **{"data.name": "casia_b", "data.root": str(tmp_path / "missing")}), "data.root"),
        # a root for a generated dataset: the run would train on SynthGait, not on what it names
        (with_(fine, **{"data.root": str(tmp_path)}), "data.root"),
        (with_(pre, **{"model.name": "gaitnet"}), "model.name"),
        (with_(pre, **{"model.name": "gaitset"}), "model.name"),  # no BYOL form
        (with_(pre, **{"model.conv_formulation": "winograd"}), "model.conv_formulation"),
        (with_(fine, init_from=str(tmp_path / "nowhere")), "init_from"),
        (with_(pre, **{"optimizer.schedule": "poly"}), "optimizer.schedule"),
        (with_(fine, **{"data.partition": str(tmp_path / "none.json")}), "data.partition"),
    ]


def test_config_errors_are_raised_before_compiling(tmp_path, monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("compilation started before the config was checked")

    monkeypatch.setattr(steps, "jit_step", no_compile)
    monkeypatch.setattr(steps, "init_on_mesh", no_compile)
    monkeypatch.setattr(loop, "make_batches", no_compile)
    for config, key in _bad_configs(tmp_path):
        with pytest.raises(ValueError, match=re.escape(f"config.{key}:")):
            loop.train(config, str(tmp_path / "run"))
    # A chain checks every stage before the first one starts.
    chain = quickstart.get_config("tiny")
    chain.finetune.triplet.K = 3
    with pytest.raises(ValueError, match=re.escape("config.finetune.triplet.P*finetune.triplet.K:")):
        loop.run(chain, str(tmp_path / "chain"))
    chain = quickstart.get_config("tiny")
    chain.evaluate = "pretest"
    with pytest.raises(ValueError, match="config.evaluate: 'pretest' names no stage"):
        loop.run(chain, str(tmp_path / "chain"))
    assert not os.path.exists(tmp_path / "chain" / "pretrain")
    config_checks.check_config(pretrain.get_config("tiny"), 4)  # the shipped configs are valid
    fine = finetune.get_config("tiny")
    fine.init_from = "PRETRAIN_WORKDIR"  # finetune.py requires one (tests/test_configs.py)
    config_checks.check_config(fine, 4, check_init_from=False)
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")


def test_pretrain_batches_mask_short_sequences_and_skip_unusable_ones(monkeypatch, caplog):
    """loop.make_batches passes byol.min_online_frames: too-short sequences are skipped (one INFO
    line), short ones give masked windows; a dataset with no usable sequence is a ValueError."""
    from selfgait_jax.data import sources
    from selfgait_jax.data.sequence import SequenceMeta

    lengths = [1, 3, 4, 9]
    source = sources.ArraySource(
        "synthgait_pool", [SequenceMeta(f"u{i:05d}", "nm-01", "000") for i in range(len(lengths))],
        [np.full((n, 64, 44), 255, np.uint8) for n in lengths])
    monkeypatch.setattr(sources, "open_source", lambda data_config: source)
    config = pretrain.get_config("tiny")  # k = 4, batch 8
    config.byol.min_online_frames = 3
    with caplog.at_level("INFO"):
        batch = next(loop.make_batches(config, start_batch=0))
    assert any("2 of 4 sequences skipped" in r.getMessage() for r in caplog.records)
    assert batch["mask"].shape == (8, 4) and set(batch["mask"].sum(axis=1).tolist()) == {3, 4}
    config.byol.min_online_frames = 4  # the 9-frame sequence left out: none has 5 frames
    short = sources.ArraySource("synthgait_pool", source.metas[:3], [source.load(i) for i in range(3)])
    monkeypatch.setattr(sources, "open_source", lambda data_config: short)
    with pytest.raises(ValueError, match=r"config\.byol\.min_online_frames: .*synthgait_pool"):
        loop.make_batches(config, start_batch=0)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A stand-in experiment whose loss turns NaN at step 5 exercises the loop's guard."""

    def init_state(rng):
        params = {"w": jnp.zeros(3)}
        return TrainState(jnp.int32(0), params, {}, {}, {}, optax.sgd(1.0).init(params), rng)

    def step(state, batch):
        loss = jnp.where(state.step >= 4, jnp.nan, 1.0 / (state.step + 1.0))
        params = {"w": state.params["w"] + jnp.mean(batch["x"])}
        return (state.replace(step=state.step + 1, params=params),
                {"loss": loss, "grad_norm": jnp.float32(1.0), "lr": jnp.float32(0.1)})

    fake = experiment.Experiment(embed_model=None, schedule=lambda s: 0.1, init_state=init_state,
                                 step=step, global_batch=4)
    monkeypatch.setattr(experiment, "build_experiment", lambda config: fake)
    monkeypatch.setattr(loop, "make_batches",
                        lambda config, start_batch: iter([{"x": np.ones(4, np.float32)}] * 100))
    config = pretrain.get_config("tiny")
    config.total_steps, config.log_every, config.checkpoint_every = 10, 3, 2
    with pytest.raises(FloatingPointError, match=r"at step 5; stopping: the last good checkpoint \(step 4\)"):
        loop.train(config, str(tmp_path))
    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    try:
        assert ckpts.all_steps() == [2, 4]
        abstract = sharding.with_sharding(jax.eval_shape(init_state, jax.random.PRNGKey(0)),
                                          sharding.replicated(sharding.data_mesh()))
        state, next_batch = ckpts.restore(4, abstract)
    finally:
        ckpts.close()
    assert int(state.step) == 4 and next_batch == 4
    np.testing.assert_array_equal(state.params["w"], np.full(3, 4.0))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"step": 3' in lines[0]  # step 6's log never happened


_HOLD_LOCK = """
import sys, time
from selfgait_jax.workdir import WorkdirLock
lock = WorkdirLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_second_run_on_a_workdir_in_use_stops_and_a_killed_run_leaves_no_lock(tmp_path, monkeypatch):
    """A real second process holds the workdir: training (and a chain) here stop before building
    anything, naming it; once it is SIGKILLed the lock is free again."""
    workdir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(workdir)], stdout=subprocess.PIPE,
                              text=True, cwd=pathlib.Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "locked"

        def no_build(config):
            raise AssertionError("the run started although the workdir is in use")

        monkeypatch.setattr(experiment, "build_experiment", no_build)
        expected = rf"workdir {re.escape(str(workdir))} is in use by another run \(pid {holder.pid} on "
        with pytest.raises(workdir_lib.WorkdirInUseError, match=expected):
            loop.train(pretrain.get_config("tiny"), str(workdir))
        with pytest.raises(workdir_lib.WorkdirInUseError, match=expected):
            loop.run(quickstart.get_config("tiny"), str(workdir))
        assert not (workdir / "checkpoints").exists() and not (workdir / "pretrain").exists()
        # From the command line: one line naming the other run, no traceback, exit 1.
        cli = subprocess.run([sys.executable, "-m", "selfgait_jax.main", "--config=configs/pretrain.py:tiny",
                              f"--workdir={workdir}"], capture_output=True, text=True, timeout=300,
                             cwd=pathlib.Path(__file__).resolve().parents[1])
        assert cli.returncode == 1 and "Traceback" not in cli.stderr
        assert f"is in use by another run (pid {holder.pid}" in cli.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    with workdir_lib.WorkdirLock(str(workdir)) as lock:  # not stuck after the kill
        assert json.loads(pathlib.Path(lock.path).read_text())["pid"] == os.getpid()
        # Processes of one multi-host job lock their own files and do not exclude each other.
        with workdir_lib.WorkdirLock(str(workdir), process_index=1):
            pass
    with workdir_lib.WorkdirLock(str(workdir)):  # released on exit
        pass
