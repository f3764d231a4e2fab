"""End to end on the tiny configs, through ``python -m selfgait_jax.main`` subprocesses:
pretrain → fine-tune from it → embeddings, and exact resume of a run killed with SIGKILL.

Cost control: the network is the tiny one with a 3-part pyramid (``model.bins=(1,2)``), and the
three subprocesses share the suite's JAX compilation cache (conftest.py), so the train steps are
compiled once.
"""

import json
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfgait_jax import sharding, workdir as workdir_lib
from selfgait_jax.models import contract
from selfgait_jax.train import experiment

pytestmark = pytest.mark.slow  # subprocesses: the full suite's tier (pytest -m "not slow" skips it)

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRETRAIN_STEPS, CHECKPOINT_EVERY, FINETUNE_STEPS = 12, 4, 4


def _command(workdir, cache_dir, stages):
    overrides = {
        "stages": stages, "evaluate": "",
        "pretrain.total_steps": PRETRAIN_STEPS, "pretrain.checkpoint_every": CHECKPOINT_EVERY,
        "pretrain.log_every": 2, "finetune.total_steps": FINETUNE_STEPS, "finetune.log_every": 2,
    }
    for stage in ("pretrain", "finetune"):
        overrides[f"{stage}.data.cache_dir"] = str(cache_dir / "data")
        overrides[f"{stage}.model.bins"] = "(1,2)"
    return [sys.executable, "-m", "selfgait_jax.main", "--config=configs/quickstart.py:tiny",
            f"--workdir={workdir}", *[f"--config.{k}={v}" for k, v in overrides.items()]]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir):
    """The uninterrupted tiny chain: DIR/pretrain (BYOL) then DIR/finetune (init from it)."""
    workdir = tmp_path_factory.mktemp("reference")
    done = subprocess.run(_command(workdir, cache_dir, "pretrain,finetune"), cwd=ROOT,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    return workdir


def _metrics(workdir):
    text = (pathlib.Path(workdir) / "metrics.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_pretrain_then_finetune_then_embeddings(reference):
    pre = _metrics(reference / "pretrain")
    assert [r["step"] for r in pre] == list(range(2, PRETRAIN_STEPS + 1, 2))
    assert {"loss", "lr", "tau", "steps_per_sec", "grad_norm"} <= set(pre[0])
    assert pre[-1]["loss"] < pre[0]["loss"]  # BYOL's loss goes down
    assert list((reference / "pretrain" / "tensorboard").glob("events.out.tfevents.*"))
    fine = _metrics(reference / "finetune")
    assert fine[-1]["step"] == FINETUNE_STEPS and all(np.isfinite(r["loss"]) for r in fine)

    _, _, pre_vars, pre_step = workdir_lib.load_for_inference(str(reference / "pretrain"))
    config, model, variables, step = workdir_lib.load_for_inference(str(reference / "finetune"))
    assert (pre_step, step) == (PRETRAIN_STEPS, FINETUNE_STEPS)
    assert config.init_from == str(reference / "pretrain")
    assert set(pre_vars["params"]) == set(variables["params"]) == {"backbone", "part_fcs", "mtb", "fc_bins"}
    # Fine-tuning started from the pretrained weights: a few Adam steps of lr 1e-4 move a weight by
    # ~1e-4 each, far less than the distance between two random initialisations.
    bound = 10 * FINETUNE_STEPS * config.optimizer.lr
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=bound),
                 pre_vars["params"], variables["params"])

    from selfgait_jax.data import sources  # pylint: disable=g-import-not-at-top

    source = sources.open_source(config.data)
    frames = np.stack([source.load(i)[:12] for i in range(4)])
    mask = np.ones(frames.shape[:2], bool)
    mask[1, 8:] = False
    embed = contract.make_embed_fn(model)
    embeddings = np.asarray(embed(variables, jnp.asarray(frames), jnp.asarray(mask)))
    assert embeddings.shape == (4, sum(config.model.bins), config.model.d1)
    assert np.all(np.isfinite(embeddings)) and np.std(embeddings) > 0


def _finalized_steps(checkpoint_dir):
    if not checkpoint_dir.is_dir():
        return []
    return sorted(int(p.name) for p in checkpoint_dir.iterdir() if p.name.isdigit())


def test_exact_resume_after_sigkill(reference, cache_dir, tmp_path):
    command = _command(tmp_path, cache_dir, "pretrain")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    checkpoints = tmp_path / "pretrain" / "checkpoints"
    deadline = time.time() + 600
    while not _finalized_steps(checkpoints) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-4000:]
    killed_at = max(_finalized_steps(checkpoints))
    assert killed_at < PRETRAIN_STEPS
    logged_before = len(_metrics(tmp_path / "pretrain"))

    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    after_restart = [r["step"] for r in _metrics(tmp_path / "pretrain")][logged_before:]
    # The restart went on from the last finalized checkpoint, not from scratch.
    assert after_restart == list(range(killed_at + 2, PRETRAIN_STEPS + 1, 2))

    ref = workdir_lib.Checkpoints(str(reference / "pretrain"), read_only=True)
    res = workdir_lib.Checkpoints(str(tmp_path / "pretrain"), read_only=True)
    try:
        assert ref.latest_step() == res.latest_step() == PRETRAIN_STEPS
        exp = experiment.build_experiment(ref.restore_config(PRETRAIN_STEPS))
        abstract = sharding.with_sharding(
            jax.eval_shape(exp.init_state, jax.random.PRNGKey(0)),
            sharding.replicated(sharding.data_mesh()))
        expected, expected_batch = ref.restore(PRETRAIN_STEPS, abstract)
        resumed, resumed_batch = res.restore(PRETRAIN_STEPS, abstract)
    finally:
        ref.close()
        res.close()
    assert expected_batch == resumed_batch == PRETRAIN_STEPS
    # Bit-identical: the resumed run replays the same batches with the rng carried in the state.
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(expected), jax.device_get(resumed))
