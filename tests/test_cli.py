"""The command line explains itself: --help, and config mistakes as one line with a suggestion.

Every command here fails (or prints help) before any data is generated or anything is compiled.
"""

import os
import pathlib
import subprocess
import sys

import ml_collections
import pytest

import repo_files
from selfgait_jax import main as main_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _main(*args, timeout=120):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "selfgait_jax.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_short_error(done) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    assert len(done.stderr.splitlines()) <= 3, done.stderr
    return lines[0]


def test_help_explains_config_files_and_overrides():
    done = _main("--help")
    assert done.returncode == 0, done.stderr
    assert "--config=FILE[:ARG]" in done.stdout
    assert "--config.KEY=VALUE" in done.stdout
    assert "python -m selfgait_jax.main --config=configs/pretrain.py:tiny --config.total_steps=" in done.stdout


@pytest.mark.slow
def test_a_typod_key_names_the_closest_one(tmp_path):
    line = _one_short_error(_main("--config=configs/pretrain.py:tiny", "--config.total_step=5",
                                  f"--workdir={tmp_path}"))
    assert "total_step" in line and "did you mean total_steps?" in line
    line = _one_short_error(_main("--config=configs/pretrain.py:tiny", "--config.optimizer.lrr=1",
                                  f"--workdir={tmp_path}"))
    assert "config.optimizer has no key 'lrr'; did you mean lr?" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_wrong_size_or_missing_file_is_one_line(tmp_path):
    line = _one_short_error(_main("--config=configs/pretrain.py:huge", f"--workdir={tmp_path}"))
    assert "config size 'huge' is not one of full, tiny" in line
    line = _one_short_error(_main("--config=configs/no_such_config.py", f"--workdir={tmp_path}"))
    assert "no_such_config.py" in line


@pytest.mark.slow  # imports TensorFlow and starts JAX first: about 6 s
def test_a_check_of_validate_is_one_line(tmp_path):
    """An undivisible batch fails in train/validate.py, before data or compilation: one line."""
    line = _one_short_error(_main("--config=configs/pretrain.py:tiny", "--config.byol.batch_size=6",
                                  f"--workdir={tmp_path}"))
    assert "config.byol.batch_size: the global batch 6 is not divisible by the device count 4" in line


def test_unknown_key_message_walks_the_config_levels():
    config = ml_collections.ConfigDict({"total_steps": 1, "optimizer": {"lr": 0.1, "name": "adam"}})
    assert main_lib.unknown_key_message(config, "optimizer.lr") is None
    assert main_lib.unknown_key_message(config, "totl_steps") == (
        "config has no key 'totl_steps'; did you mean total_steps?")
    assert main_lib.unknown_key_message(config, "optimiser.lr").endswith("did you mean optimizer?")
    assert main_lib.unknown_key_message(config, "optimizer.zzz") == (
        "config.optimizer has no key 'zzz'; its keys are lr, name")
    assert "is a float" in main_lib.unknown_key_message(config, "optimizer.lr.x")


def test_evaluate_on_a_chains_root_names_its_stages(tmp_path, capsys):
    evaluate_tool = repo_files.tool("evaluate")

    for stage in ("pretrain", "finetune"):
        (tmp_path / stage / "checkpoints").mkdir(parents=True)
    assert evaluate_tool.main([f"--workdir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: {tmp_path} is a chain; evaluate one of its stages: "
                           f"{tmp_path / 'finetune'}, {tmp_path / 'pretrain'}")
