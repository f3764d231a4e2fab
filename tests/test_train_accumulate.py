"""Gradient accumulation (optimizer.accumulate, optax.MultiSteps) and the linear lr scaling rule.

The maths: a loss that is a mean over independent samples has a big-batch gradient equal to the
mean of its equal-sized micro-batches' gradients, so N accumulated micro-batches must give the
big-batch update. That holds for BYOL's loss when no BatchNorm couples the rows (the stand-in heads
below have none; with BatchNorm each micro-batch is normalised over its own rows, so it cannot
hold). Batch-all triplet mining couples the rows of a batch, so there the accumulated update is the
one of the mean of the micro-batches' own triplet-loss gradients, and differs from the big batch's.
"""


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import repo_files
from selfgait_jax import sharding, workdir as workdir_lib
from selfgait_jax.data.batching import to_global
from selfgait_jax.models.contract import frames_to_float
from selfgait_jax.train import config_checks, experiment, loop, losses, optim, state as state_lib, steps
from selfgait_jax.train.state import TrainState
from tiny_models import TinyEmbed, TinyOnline, TinyTarget

finetune, pretrain = repo_files.config("finetune"), repo_files.config("pretrain")

H, W, K, B, N = 8, 6, 3, 8, 2  # micro-batch B rows, N micro-batches per update
TAU = 0.75


# BYOL heads without BatchNorm: every row's output depends on that row only.
ONLINE, TARGET = TinyOnline(head_batch_norm=False), TinyTarget(head_batch_norm=False)


def _opt(accumulate=1, **kw):
    # SGD with momentum: linear in the gradient, so the tolerances mean what they say (Adam's 1/√v
    # would magnify float noise on gradients that are zero in exact arithmetic).
    base = dict(name="sgd", lr=0.05, schedule="constant", warmup_steps=0, boundaries=(),
                decay_factor=0.1, momentum=0.9, weight_decay=1e-3, accumulate=accumulate,
                lr_scaling="none", lr_base_batch=0, lr_multipliers="", frozen="")
    base.update(kw)
    return ml_collections.ConfigDict(base)


def _pretext(rows, seed):
    rng = np.random.default_rng(seed)
    return {"frames": (rng.random((rows, K, H, W)) > 0.5).astype(np.uint8) * 255,
            "target_frame": (rng.random((rows, H, W)) > 0.5).astype(np.uint8) * 255,
            "mask": np.arange(K)[None, :] < rng.integers(1, K + 1, size=(rows, 1))}


def _triplet(rows, seed):
    rng = np.random.default_rng(seed)
    return {"frames": (rng.random((rows, 4, H, W)) > 0.5).astype(np.uint8) * 255,
            "mask": np.arange(4)[None, :] < rng.integers(1, 5, size=(rows, 1)),
            "label": np.repeat(np.arange(rows // 4), 4).astype(np.int32)}


def _split(big):
    """A big batch of N·B rows as N micro-batches stacked on axis 1 (micro-batch i = rows i·B..)."""
    micro = [{k: v[i * B:(i + 1) * B] for k, v in big.items()} for i in range(N)]
    return next(experiment.stack_micro_batches(iter(micro), N))


def _pretrain(accumulate, mesh):
    tx, schedule = optim.make_optimizer(_opt(accumulate), total_steps=10)
    cfg = ml_collections.ConfigDict({"k": K, "tau": TAU, "tau_schedule": "constant",
                                     "share_target_fcs": False, "flip": False})
    step = steps.make_pretrain_step(ONLINE, TARGET, tx, schedule, cfg, total_steps=10)
    if accumulate > 1:
        step = experiment.accumulate_step(step, accumulate)
    init = lambda rng: state_lib.init_pretrain_state(ONLINE, TARGET, tx, rng, K, (H, W))
    return steps.init_on_mesh(init, jax.random.PRNGKey(0), mesh), steps.jit_step(step, mesh)


def _inner_opt_state(state):
    opt_state = state.opt_state
    return opt_state.inner_opt_state if isinstance(opt_state, optax.MultiStepsState) else opt_state


def _assert_close(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)


@pytest.mark.slow  # over 5 s
def test_accumulated_byol_update_equals_the_big_batch_update():
    """Two updates: N·B-row batches in one step vs the same rows as N micro-batches of B."""
    mesh = sharding.data_mesh()
    big_state, big_step = _pretrain(1, mesh)
    acc_state, acc_step = _pretrain(N, mesh)
    for update in range(2):
        big = _pretext(N * B, seed=update)
        big_state, big_metrics = big_step(big_state, to_global(big, mesh))
        acc_state, acc_metrics = acc_step(acc_state, to_global(_split(big), mesh))
        assert int(acc_state.step) == int(big_state.step) == update + 1
        _assert_close((big_state.params, big_state.target_params, _inner_opt_state(big_state)),
                      (acc_state.params, acc_state.target_params, _inner_opt_state(acc_state)))
        np.testing.assert_allclose(acc_metrics["loss"], big_metrics["loss"], rtol=1e-5)
        assert float(acc_metrics["lr"]) == pytest.approx(0.05) and float(acc_metrics["tau"]) == TAU
    assert int(acc_state.opt_state.gradient_step) == 2 and int(acc_state.opt_state.mini_step) == 0


@pytest.mark.slow  # over 5 s
def test_accumulated_triplet_update_averages_the_micro_batches_own_mining():
    mesh = sharding.data_mesh()
    tx, schedule = optim.make_optimizer(_opt(N), total_steps=10)
    step = experiment.accumulate_step(steps.make_triplet_step(TinyEmbed(), tx, schedule, 0.2), N)
    init = lambda rng: state_lib.init_triplet_state(TinyEmbed(), tx, rng, 4, (H, W))
    state = steps.init_on_mesh(init, jax.random.PRNGKey(0), mesh)
    params0 = jax.device_get(state.params)
    big = _triplet(N * B, seed=3)
    big["label"] = np.repeat(np.arange(N * B // 4), 4).astype(np.int32)
    new, _ = steps.jit_step(step, mesh)(state, to_global(_split(big), mesh))

    def loss(params, rows):
        frames = frames_to_float(jnp.asarray(big["frames"][rows]))
        embedding = TinyEmbed().apply({"params": params}, frames, jnp.asarray(big["mask"][rows]))
        return losses.batch_all_triplet_loss(embedding, jnp.asarray(big["label"][rows]), 0.2)[0]

    micro = [jax.grad(loss)(params0, slice(i * B, (i + 1) * B)) for i in range(N)]
    mean_grad = jax.tree.map(lambda *g: sum(g) / N, *micro)
    plain = optax.chain(optax.add_decayed_weights(1e-3), optax.sgd(0.05, momentum=0.9))
    updates, _ = plain.update(mean_grad, plain.init(params0), params0)
    _assert_close(new.params, optax.apply_updates(params0, updates))
    big_grad = jax.grad(loss)(params0, slice(0, N * B))  # mining over all rows: another gradient
    assert not np.allclose(big_grad["fc_bins"]["kernel"], mean_grad["fc_bins"]["kernel"], atol=1e-4)


def test_linear_lr_scaling_and_config_checks(tmp_path):
    _, schedule = optim.make_optimizer(_opt(4, lr_scaling="linear", lr_base_batch=16), 10,
                                       global_batch=8)
    assert float(schedule(0)) == pytest.approx(0.05 * 8 * 4 / 16)
    assert optim.effective_batch(_opt(4), 8) == 32
    _, schedule = optim.make_optimizer(_opt(4), 10, global_batch=8)
    assert float(schedule(0)) == pytest.approx(0.05)  # "none": lr as given
    for changes, key in (({"accumulate": 0}, "optimizer.accumulate"),
                         ({"lr_scaling": "sqrt"}, "optimizer.lr_scaling"),
                         ({"lr_scaling": "linear"}, "optimizer.lr_base_batch")):
        config = pretrain.get_config("tiny")
        config.optimizer.update(changes)
        with pytest.raises(ValueError, match=f"config.{key}:"):
            config_checks.check_config(config, 4)
    config = finetune.get_config("tiny")
    config.init_from = ""
    config.optimizer.accumulate = 2
    exp = experiment.build_experiment(config)
    opt_state = jax.eval_shape(exp.init_state, jax.random.PRNGKey(0)).opt_state
    assert isinstance(opt_state, optax.MultiStepsState)


def test_loop_feeds_micro_batches_in_order_and_saves_the_micro_batch_position(tmp_path, monkeypatch):
    """The loop stacks `accumulate` consecutive batches per step; the checkpoint's data position
    counts micro-batches, so a resumed run continues with the next one."""
    seen = []

    def init_state(rng):
        params = {"w": jnp.zeros(())}
        return TrainState(jnp.int32(0), params, {}, {}, {}, optax.sgd(1.0).init(params), rng)

    def micro_step(state, batch):
        return (state.replace(step=state.step + 1, params={"w": state.params["w"] * 10 + batch["i"][0]}),
                {"loss": jnp.float32(1.0), "grad_norm": jnp.float32(1.0), "lr": jnp.float32(0.1)})

    fake = experiment.Experiment(embed_model=None, schedule=lambda s: 0.1, init_state=init_state,
                                 step=experiment.accumulate_step(micro_step, 3), global_batch=4)
    monkeypatch.setattr(experiment, "build_experiment", lambda config: fake)

    def numbered(config, start_batch):
        seen.append(start_batch)
        i = start_batch
        while True:
            yield {"i": np.full(4, i, np.float32)}
            i += 1

    monkeypatch.setattr(loop, "make_batches", numbered)
    config = pretrain.get_config("tiny")
    config.optimizer.accumulate = 3
    config.total_steps, config.log_every, config.checkpoint_every = 2, 1, 1
    loop.train(config, str(tmp_path))
    config.total_steps = 3
    loop.train(config, str(tmp_path))  # resumes at update 2 = micro-batch 6
    assert seen == [0, 6]
    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    try:
        abstract = sharding.with_sharding(jax.eval_shape(init_state, jax.random.PRNGKey(0)),
                                          sharding.replicated(sharding.data_mesh()))
        state, next_batch = ckpts.restore(3, abstract)
    finally:
        ckpts.close()
    assert next_batch == 9 and int(state.step) == 3
    assert float(state.params["w"]) == 12345678  # micro-batches 0..8 in order, 0 first
