"""The command line explains itself: --help, and config mistakes as one line with a suggestion.

Every command here fails (or prints help) before any data is generated or anything is compiled.
The commands run with TF_ENABLE_ONEDNN_OPTS=1, which makes TensorFlow print its oneDNN notice as it
loads (on CPUs where oneDNN has custom operations, e.g. AVX-512 ones): a one-line error stays one
line because it comes before TensorFlow loads.
"""

import argparse
import os
import pathlib
import subprocess
import sys

import ml_collections
import pytest

import repo_files
from selfgait_jax import main as main_lib
from selfgait_jax.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[1]
_ENV = dict(XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
            TF_ENABLE_ONEDNN_OPTS="1")

# Runs main as `python -m selfgait_jax.main ARGS` does, then says on stdout whether TensorFlow loaded.
_MAIN_SAYING_IF_TF_LOADED = """
import runpy, sys
sys.argv = ["selfgait_jax.main", *sys.argv[1:]]
try:
    runpy.run_module("selfgait_jax.main", run_name="__main__", alter_sys=True)
finally:
    print("tensorflow loaded:", "tensorflow" in sys.modules)
"""


def _main(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "selfgait_jax.main", *args], cwd=ROOT,
                          env=dict(os.environ, **_ENV), capture_output=True, text=True, timeout=timeout)


def _one_short_error(done) -> str:
    """The one line of stderr: "error: ...", and nothing else."""
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    return done.stderr.strip()


def test_help_explains_config_files_and_overrides():
    done = _main("--help")
    assert done.returncode == 0, done.stderr
    assert "--config=FILE[:ARG]" in done.stdout
    assert "--config.KEY=VALUE" in done.stdout
    assert "python3 -m selfgait_jax.main --config=configs/pretrain.py:tiny --config.total_steps=" in done.stdout
    assert "--config.finetune.total_steps=" in done.stdout  # a chain's keys start with the stage
    # Each of main's flags is explained once, with no list of absl's under a file's path.
    for flag in ("--config=FILE[:ARG]", "--config.KEY=VALUE", "--workdir=DIR"):
        assert sum(line.startswith(flag) for line in done.stdout.splitlines()) == 1, flag
    assert "--workdir:" not in done.stdout and "main.py" not in done.stdout
    assert str(ROOT) not in done.stdout and "/tmp" not in done.stdout and "/home" not in done.stdout
    assert _main("-h").stdout == done.stdout


@pytest.mark.slow
def test_a_typod_key_names_the_closest_one(tmp_path):
    line = _one_short_error(_main("--config=configs/pretrain.py:tiny", "--config.total_step=5",
                                  f"--workdir={tmp_path}"))
    assert "total_step" in line and "did you mean total_steps?" in line
    line = _one_short_error(_main("--config=configs/pretrain.py:tiny", "--config.optimizer.lrr=1",
                                  f"--workdir={tmp_path}"))
    assert "config.optimizer has no key 'lrr'; did you mean lr?" in line
    # On a chain, a stage's key without its stage names the stage-prefixed key.
    line = _one_short_error(_main("--config=configs/ablation_no_pt.py:tiny", "--config.total_steps=5",
                                  f"--workdir={tmp_path}"))
    assert line.startswith("error: --config.total_steps: config has no key 'total_steps'")
    assert "did you mean finetune.total_steps?" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_wrong_size_or_missing_file_is_one_line(tmp_path):
    line = _one_short_error(_main("--config=configs/pretrain.py:huge", f"--workdir={tmp_path}"))
    assert "config size 'huge' is not one of full, tiny" in line
    line = _one_short_error(_main("--config=configs/no_such_config.py", f"--workdir={tmp_path}"))
    assert "no_such_config.py" in line


@pytest.mark.slow  # a subprocess that starts JAX and imports the training code: 2-6 s
def test_a_config_check_is_one_line_before_tensorflow_loads(tmp_path):
    """An undivisible batch fails in train/config_checks.py, before data, compilation or TensorFlow:
    stderr is that one line, even where TensorFlow would print its oneDNN notice."""
    done = subprocess.run(
        [sys.executable, "-c", _MAIN_SAYING_IF_TF_LOADED, "--config=configs/pretrain.py:tiny",
         "--config.byol.batch_size=6", f"--workdir={tmp_path}"], cwd=ROOT,
        env=dict(os.environ, **_ENV), capture_output=True, text=True, timeout=120)
    assert _one_short_error(done) == (
        "error: config.byol.batch_size: the global batch 6 is not divisible by the device count 4")
    assert done.stdout.strip() == "tensorflow loaded: False"
    assert not any(tmp_path.iterdir())


def test_main_stops_on_a_config_error_by_its_class(tmp_path, monkeypatch, capsys):
    """A ConfigError from anywhere in training is one line naming its key; any other ValueError is
    a bug and keeps its traceback, whatever its message says."""
    config = repo_files.config("quickstart").get_config("tiny")
    config.finetune.data.name = "nope"
    with pytest.raises(SystemExit) as exit_:
        main_lib.train(config, str(tmp_path / "run"))
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (  # a chain's stage key, as --config.finetune.data.name sets it
        "error: config.finetune.data.name: unknown dataset 'nope'; known: synthgait_b, synthgait_mv, "
        "synthgait_pool, casia_b, ou_mvlp, opengait_pkl, casia_b_pkl\n")

    from selfgait_jax.train import loop  # pylint: disable=g-import-not-at-top

    def raise_(error):
        def run(*args):
            raise error
        return run

    monkeypatch.setattr(loop, "run", raise_(ConfigError("byol.min_online_frames", "none long enough")))
    with pytest.raises(SystemExit):
        main_lib.train(config, str(tmp_path / "run"))
    assert capsys.readouterr().err == "error: config.byol.min_online_frames: none long enough\n"
    monkeypatch.setattr(loop, "run", raise_(ValueError("config.looks_like_one: but is a bug")))
    with pytest.raises(ValueError, match="looks_like_one"):
        main_lib.train(config, str(tmp_path / "run"))


def test_importing_selfgait_jax_sets_tensorflows_env_defaults_unless_set():
    """TensorFlow's start-up notices are off by default for every entry point (they all import the
    package first); a user's own setting is kept."""
    code = ("import os, sys\n"
            "import selfgait_jax\n"
            "assert 'tensorflow' not in sys.modules\n"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "0"]
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(env, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0"))
    assert done.stdout.split() == ["0", "1"]


@pytest.mark.slow  # loads TensorFlow: about 5 s
def test_tensorflow_loads_silently_under_the_packages_defaults():
    """Where TensorFlow prints its oneDNN notice (AVX-512 CPUs), the package's defaults stop it, and
    the absl "InitializeLog" warning that precedes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run([sys.executable, "-c", "import selfgait_jax.data.tf_input"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_unknown_key_message_walks_the_config_levels():
    config = ml_collections.ConfigDict({"total_steps": 1, "optimizer": {"lr": 0.1, "name": "adam"}})
    assert main_lib.unknown_key_message(config, "optimizer.lr") is None
    assert main_lib.unknown_key_message(config, "totl_steps") == (
        "config has no key 'totl_steps'; did you mean total_steps?")
    assert main_lib.unknown_key_message(config, "optimiser.lr").endswith("did you mean optimizer?")
    assert main_lib.unknown_key_message(config, "optimizer.zzz") == (
        "config.optimizer has no key 'zzz'; its keys are lr, name")
    assert "is a float" in main_lib.unknown_key_message(config, "optimizer.lr.x")


def test_on_a_chain_a_stage_key_is_addressed_through_its_stage():
    """One addressing for every config file: a single training config takes its keys bare, a chain
    (one-stage ablation_no_pt too) takes them after the stage; a bare key on a chain suggests that."""
    quickstart, ablation_no_pt, gaitset = (repo_files.config(n) for n in ("quickstart", "ablation_no_pt", "gaitset"))
    for config in (quickstart.get_config("tiny"), ablation_no_pt.get_config("tiny")):
        for stage in config.stages.split(","):
            assert main_lib.unknown_key_message(config, f"{stage}.total_steps") is None
    assert main_lib.unknown_key_message(gaitset.get_config("tiny"), "total_steps") is None
    assert main_lib.unknown_key_message(ablation_no_pt.get_config("tiny"), "total_steps") == (
        "config has no key 'total_steps': a chain's training settings belong to its stages (finetune), "
        "as --config.STAGE.KEY; did you mean finetune.total_steps?")
    chain = repo_files.config("quickstart").get_config("tiny")
    assert main_lib.unknown_key_message(chain, "seed").endswith(
        "did you mean pretrain.seed or finetune.seed?")
    assert main_lib.unknown_key_message(chain, "total_step").endswith(  # a typo as well
        "did you mean pretrain.total_steps or finetune.total_steps?")
    assert main_lib.unknown_key_message(chain, "optimizer.lrr").endswith(
        "did you mean pretrain.optimizer.lr or finetune.optimizer.lr?")
    assert main_lib.unknown_key_message(chain, "finetune.optimizer.lrr") == (
        "config.finetune.optimizer has no key 'lrr'; did you mean lr?")
    assert main_lib.unknown_key_message(chain, "zzz") == (  # nothing close: the chain's own keys
        "config has no key 'zzz'; its keys are evaluate, finetune, name, pretrain, size, stages")


STABLE_KEYS = ("total_steps", "log_every", "checkpoint_every", "seed", "init_from", "data.name")


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.py")), ids=lambda p: p.stem)
def test_the_stable_keys_hold_for_every_config_file(path):
    """The README's stable keys exist in every config file, bare or after each stage of a chain."""
    if path.stem in ("__init__", "study", "label_study"):  # the studies build their runs from the other files' recipes
        return
    config = repo_files.config(path.stem).get_config("tiny")
    prefixes = [f"{s}." for s in config.stages.split(",")] if "stages" in config else [""]
    for prefix in prefixes:
        for key in STABLE_KEYS:
            assert main_lib.unknown_key_message(config, prefix + key) is None, (path.stem, prefix + key)


def _tool(name):
    bench = (ROOT / "tools" / "bench" / f"{name}.py").exists()
    return repo_files.bench_tool(name) if bench else repo_files.tool(name)


def test_evaluate_on_a_chains_root_names_its_stages(tmp_path, capsys):
    evaluate_tool = _tool("evaluate")
    for stage in ("pretrain", "finetune"):
        (tmp_path / stage / "checkpoints").mkdir(parents=True)
    assert evaluate_tool.main([f"--workdir={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: {tmp_path} is a chain; evaluate one of its stages: "
                           f"{tmp_path / 'finetune'}, {tmp_path / 'pretrain'}")


def test_evaluate_and_export_on_a_missing_workdir_say_it_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "runs" / "ft"
    assert _tool("evaluate").main([f"--workdir={missing}"]) == 1
    assert capsys.readouterr().err == f"error: workdir {missing} does not exist\n"
    assert _tool("export").main([f"--workdir={missing}", f"--out={tmp_path / 'm.npz'}"]) == 1
    assert capsys.readouterr().err == f"error: workdir {missing} does not exist\n"
    assert not (tmp_path / "runs").exists()


class _Parsed(Exception):
    pass


def _parser_of(tool, monkeypatch) -> argparse.ArgumentParser:
    """The parser a tool's main builds, caught as it parses."""
    caught = []

    def catch(parser, *args, **kwargs):
        caught.append(parser)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Parsed):
        (tool.parse_args if tool.__name__ == "benchmark" else tool.main)([])
    return caught[0]


def _flags(parser, command=""):
    for action in parser._actions:  # pylint: disable=protected-access
        if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
            for name, sub in action.choices.items():
                yield from _flags(sub, f"{command}{name} ")
        elif not isinstance(action, argparse._HelpAction):  # pylint: disable=protected-access
            yield command, action, parser


TOOLS = ("compare", "contact_sheet", "evaluate", "export", "gallery", "identify", "params", "pretreat",
         "reproduce", "silhouettes", "verify", "weight_drift", "benchmark", "benchmark_input", "peer_pytorch",
         "convert_pphumanseg", "benchmark_video", "embedding_structure")


@pytest.mark.parametrize("name", TOOLS)
def test_every_flag_of_every_tool_has_help_and_shows_its_default(name, monkeypatch):
    """A flag that takes a value and may be left out says what it is when left out; a required one
    (alone or one of a required group) needs none; a switch is off unless given."""
    if name == "peer_pytorch":
        pytest.importorskip("torch")
    parser = _parser_of(_tool(name), monkeypatch)
    missing = []
    for command, action, owner in _flags(parser):
        flag = command + "/".join(action.option_strings or [action.dest])
        text = owner._get_formatter()._expand_help(action) if action.help else ""  # pylint: disable=protected-access
        required = action.required or any(action in group._group_actions and group.required  # pylint: disable=protected-access
                                           for group in owner._mutually_exclusive_groups)  # pylint: disable=protected-access
        if not text.strip():
            missing.append(f"{flag}: no help")
        elif action.option_strings and action.nargs != 0 and not required and "default" not in text:
            missing.append(f"{flag}: no default in {text!r}")
    assert not missing, "\n".join(missing)
