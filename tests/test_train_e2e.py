"""End to end on the tiny configs: pretrain → fine-tune from it → embeddings, and exact resume of
a run killed with SIGKILL (a real ``python -m selfgait_jax.main`` subprocess)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfgait_jax.train import checkpointing, loop, steps

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # configs/ import configs.base
from configs import quickstart  # noqa: E402  pylint: disable=g-import-not-at-top

PRETRAIN_STEPS, CHECKPOINT_EVERY = 12, 4


def _overrides(cache_dir):
    """The tiny quickstart chain, pretraining only, as flags and as config edits (kept in sync)."""
    return {"stages": "pretrain", "evaluate": "", "pretrain.total_steps": PRETRAIN_STEPS,
            "pretrain.checkpoint_every": CHECKPOINT_EVERY, "pretrain.log_every": 2,
            "pretrain.data.cache_dir": str(cache_dir), "finetune.data.cache_dir": str(cache_dir),
            "finetune.total_steps": 4, "finetune.log_every": 2}


def _apply(config, overrides):
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The tiny quickstart chain (no evaluation) run in-process: DIR/pretrain and DIR/finetune."""
    base = tmp_path_factory.mktemp("e2e")
    config = _apply(quickstart.get_config("tiny"), _overrides(base / "data"))
    config.stages = "pretrain,finetune"
    results = loop.run(config, str(base / "chain"))
    return base, config, results


def _metrics(workdir):
    return [json.loads(line) for line in (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def _final_state_params(workdir):
    ckpts = checkpointing.Checkpoints(str(workdir), read_only=True)
    try:
        step = ckpts.latest_step()
        config = ckpts.restore_config(step)
    finally:
        ckpts.close()
    _, _, variables, _ = checkpointing.load_for_inference(str(workdir), step)
    return step, config, variables


def test_pretrain_then_finetune_then_embeddings(chain):
    base, config, results = chain
    workdir = base / "chain"
    pre = _metrics(workdir / "pretrain")
    assert [r["step"] for r in pre] == list(range(2, PRETRAIN_STEPS + 1, 2))
    assert {"loss", "lr", "tau", "steps_per_sec", "grad_norm"} <= set(pre[0])
    assert pre[-1]["loss"] < pre[0]["loss"]  # BYOL's loss goes down
    assert list((workdir / "pretrain" / "tensorboard").glob("events.out.tfevents.*"))
    fine = _metrics(workdir / "finetune")
    assert fine[-1]["step"] == 4 and all(np.isfinite(r["loss"]) for r in fine)
    assert results["finetune"]["step"] == 4

    pre_step, _, pre_vars = _final_state_params(workdir / "pretrain")
    config_ft, model, variables, step = checkpointing.load_for_inference(str(workdir / "finetune"))
    assert pre_step == PRETRAIN_STEPS and step == 4
    assert config_ft.init_from == str(workdir / "pretrain")
    # Fine-tuning started from the pretrained weights: 4 Adam steps of lr 1e-4 move each weight by
    # at most ~4e-4, far less than the distance between two random initialisations.
    lr = config.finetune.optimizer.lr
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=10 * 4 * lr),
                 pre_vars["params"], variables["params"])

    from selfgait_jax.data import sources  # pylint: disable=g-import-not-at-top

    source = sources.open_source(config_ft.data)
    frames = np.stack([source.load(i)[:16] for i in range(4)]).astype(np.float32) / 255.0
    mask = np.ones(frames.shape[:2], bool)
    mask[1, 10:] = False
    embeddings = model.apply(variables, jnp.asarray(frames), jnp.asarray(mask), train=False)
    assert embeddings.shape == (4, sum(config_ft.model.bins), config_ft.model.d1)
    assert np.all(np.isfinite(np.asarray(embeddings)))


def _main_command(workdir, cache_dir):
    flags = [f"--config.{k}={v}" for k, v in _overrides(cache_dir).items()]
    return [sys.executable, "-m", "selfgait_jax.main", "--config=configs/quickstart.py:tiny",
            f"--workdir={workdir}", *flags]


def _finalized_steps(checkpoint_dir):
    if not checkpoint_dir.is_dir():
        return []
    return sorted(int(p.name) for p in checkpoint_dir.iterdir() if p.name.isdigit())


def test_exact_resume_after_sigkill(chain, tmp_path):
    base, _, _ = chain
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"))
    workdir = tmp_path / "killed"
    command = _main_command(workdir, base / "data")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    checkpoints = workdir / "pretrain" / "checkpoints"
    deadline = time.time() + 300
    while not _finalized_steps(checkpoints) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-3000:]
    killed_at = _finalized_steps(checkpoints)
    assert killed_at and max(killed_at) < PRETRAIN_STEPS

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    logged = [r["step"] for r in _metrics(workdir / "pretrain")]
    assert logged[-1] == PRETRAIN_STEPS and min(s for s in logged if s > max(killed_at)) > max(killed_at)

    ref = checkpointing.Checkpoints(str(base / "chain" / "pretrain"), read_only=True)
    res = checkpointing.Checkpoints(str(workdir / "pretrain"), read_only=True)
    try:
        assert ref.latest_step() == res.latest_step() == PRETRAIN_STEPS
        from selfgait_jax.train import experiment  # pylint: disable=g-import-not-at-top

        exp = experiment.build_experiment(ref.restore_config(PRETRAIN_STEPS))
        mesh = steps.data_mesh()
        abstract = checkpointing.with_sharding(
            jax.eval_shape(exp.init_state, jax.random.PRNGKey(0)), steps.replicated(mesh))
        expected, expected_batch = ref.restore(PRETRAIN_STEPS, abstract)
        resumed, resumed_batch = res.restore(PRETRAIN_STEPS, abstract)
    finally:
        ref.close()
        res.close()
    assert expected_batch == resumed_batch == PRETRAIN_STEPS
    # Bit-identical: the resumed run replays the same batches with the same rng from the state.
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(expected), jax.device_get(resumed))
