"""tools/weight_drift.py: the relative distance per module, and the run's own initialisation rebuilt."""


import jax
import numpy as np
import pytest

import repo_files
from selfgait_jax import workdir as workdir_lib
from selfgait_jax.train import experiment

weight_drift, finetune = repo_files.tool("weight_drift"), repo_files.config("finetune")


def test_relative_drift_by_hand():
    start = {"backbone": {"w": np.array([3.0, 4.0])}, "fc_bins": {"w": np.array([[1.0, 0.0]])}}
    end = {"backbone": {"w": np.array([3.0, 7.0])}, "fc_bins": {"w": np.array([[1.0, 1.0]])}}
    drift = weight_drift.relative_drift(end, start)
    assert drift["backbone"] == pytest.approx(3.0 / 5.0)  # |(0, 3)| / |(3, 4)|
    assert drift["fc_bins"] == pytest.approx(1.0)
    assert drift["all"] == pytest.approx(np.sqrt(9.0 + 1.0) / np.sqrt(25.0 + 1.0))
    with pytest.raises(ValueError, match="different modules"):
        weight_drift.relative_drift({"backbone": start["backbone"]}, start)


def _save(path, exp, state, config, step):
    ckpts = workdir_lib.Checkpoints(str(path))
    ckpts.save(step, state, 0, config)
    ckpts.wait_until_finished()
    ckpts.close()


@pytest.mark.slow
def test_initialisation_is_rebuilt_and_scaling_is_measured(tmp_path, capsys):
    config = finetune.get_config("tiny")
    config.seed = 3
    exp = experiment.build_experiment(config)
    init = exp.init_state(jax.random.PRNGKey(config.seed))  # as the training loop draws it
    _save(tmp_path / "init", exp, init, config, 0)
    scaled = init.replace(params=jax.tree.map(lambda p: p * 1.25, init.params))
    _save(tmp_path / "scaled", exp, scaled, config, 5)

    rebuilt = weight_drift.initial_params(config)
    _, saved = weight_drift.trained_params(str(tmp_path / "init"))
    assert all(v == 0.0 for v in weight_drift.relative_drift(saved, rebuilt).values())
    _, end = weight_drift.trained_params(str(tmp_path / "scaled"))
    drift = weight_drift.relative_drift(end, rebuilt)
    assert set(drift) >= {"backbone", "fc_bins", "all"}
    assert all(v == pytest.approx(0.25, rel=1e-6) for v in drift.values())

    assert weight_drift.main([f"--end={tmp_path / 'scaled'}", f"--start={tmp_path / 'init'}"]) == 0
    assert "  all          0.250" in capsys.readouterr().out
