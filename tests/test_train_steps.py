"""Train steps on a device mesh: 1 vs 4 devices, no recompiles, BYOL's target gets no gradient.

The tiny networks of tiny_models.py stand in for SelfGait's (same calling contract and parameter
names as models.registry's), so each jit compiles quickly.
"""

import jax
import ml_collections
import numpy as np
import optax
import pytest

from selfgait_jax.data.batching import to_global
from selfgait_jax import sharding
from selfgait_jax.sharding import data_mesh
from selfgait_jax.train import state as state_lib, steps
from tiny_models import TinyEmbed, TinyOnline, TinyTarget

H, W, K, B = 8, 6, 3, 8


def _byol_cfg(tau=0.996, share=False):
    return ml_collections.ConfigDict(
        {"k": K, "tau": tau, "tau_schedule": "constant", "share_target_fcs": share, "flip": False})


# Plain SGD: the update is linear in the gradient, so the tolerance below means what it says
# (Adam divides by √v and would blow up the ~1e-9 float noise of gradients that are zero in
# exact arithmetic, e.g. the FC biases, which a distance-based loss cannot see).
TX = optax.sgd(0.02)
SCHEDULE = optax.constant_schedule(0.02)
TAU = 0.75  # far from 1, so the EMA step is visible


def _pretext_batches(n, seed=0):
    """Pretext batches; a short sequence's window has fewer than K online frames (mask False after)."""
    rng = np.random.default_rng(seed)
    return [{"frames": (rng.random((B, K, H, W)) > 0.5).astype(np.uint8) * 255,
             "target_frame": (rng.random((B, H, W)) > 0.5).astype(np.uint8) * 255,
             "mask": np.arange(K)[None, :] < np.r_[K, 1, rng.integers(1, K + 1, size=B - 2)][:, None]}
            for _ in range(n)]


def _triplet_batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{"frames": (rng.random((B, 4, H, W)) > 0.5).astype(np.uint8) * 255,
             "mask": np.arange(4)[None, :] < rng.integers(1, 5, size=(B, 1)),
             "label": np.repeat(np.arange(B // 4), 4).astype(np.int32)}
            for _ in range(n)]


def _pretrain_state(mesh):
    init = lambda rng: state_lib.init_pretrain_state(TinyOnline(), TinyTarget(), TX, rng, K, (H, W))
    return steps.init_on_mesh(init, jax.random.PRNGKey(0), mesh)


def _triplet_state(mesh):
    init = lambda rng: state_lib.init_triplet_state(TinyEmbed(), TX, rng, 4, (H, W))
    return steps.init_on_mesh(init, jax.random.PRNGKey(0), mesh)


def _pretrain_step(share=False):
    return steps.make_pretrain_step(TinyOnline(), TinyTarget(), TX, SCHEDULE,
                                    _byol_cfg(TAU, share), total_steps=10)


def _run(step_fn, state, batches, mesh):
    """Runs the jitted step over ``batches``; returns host copies of every state and the traces."""
    traces = []

    def counted(state, batch):
        traces.append(1)  # runs once per trace, not per call
        return step_fn(state, batch)

    train_step = steps.jit_step(counted, mesh)
    history = [jax.device_get(state)]
    for batch in batches:
        state, metrics = train_step(state, to_global(batch, mesh))
        history.append(jax.device_get(state))
    return history, jax.device_get(metrics), len(traces)


PRETEXT_BATCHES = _pretext_batches(3)


@pytest.fixture(scope="module")
def pretrain_runs():
    one, four = data_mesh(jax.devices()[:1]), data_mesh()
    return {name: _run(_pretrain_step(), _pretrain_state(mesh), PRETEXT_BATCHES, mesh)
            for name, mesh in (("one", one), ("four", four))}


def _assert_same_states(a, b):
    # Tolerance atol 2e-6 + rtol 1e-5: float32 sums are reassociated across devices (about 1e-7
    # after one step).
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=2e-6),
                 (a.params, a.target_params, a.batch_stats, a.target_batch_stats, a.opt_state),
                 (b.params, b.target_params, b.batch_stats, b.target_batch_stats, b.opt_state))


def _steps_from_the_same_states(step_fn, history, batches, mesh):
    """Each step of a 1-device ``history`` run again on ``mesh`` from the very state it started
    from: the rounding of one step, which does not compound. (Over three chained steps, how far the
    runs drift depends on the CPU's vector width: 4e-7 on one machine, 5e-6 on an AVX-512 one.)"""
    train_step = steps.jit_step(step_fn, mesh)
    return [jax.device_get(train_step(jax.device_put(state, sharding.replicated(mesh)),
                                      to_global(batch, mesh))[0])
            for state, batch in zip(history[:-1], batches)]


@pytest.mark.slow  # 1-vs-4-device comparison
def test_pretrain_same_on_one_and_four_devices(pretrain_runs):
    assert jax.device_count() == 4
    (hist1, metrics1, _), (hist4, metrics4, _) = pretrain_runs["one"], pretrain_runs["four"]
    for one_device, four_devices in zip(hist1[1:], _steps_from_the_same_states(
            _pretrain_step(), hist1, PRETEXT_BATCHES, data_mesh())):
        _assert_same_states(one_device, four_devices)
    np.testing.assert_allclose(metrics1["loss"], metrics4["loss"], rtol=1e-5)
    assert int(hist4[-1].step) == 3
    assert not np.allclose(hist4[0].params["fc_bins"]["kernel"], hist4[-1].params["fc_bins"]["kernel"])
    assert hist4[-1].batch_stats  # the BYOL heads' BatchNorm statistics were updated
    assert not np.allclose(hist4[0].batch_stats["projector"]["BatchNorm_0"]["mean"],
                           hist4[-1].batch_stats["projector"]["BatchNorm_0"]["mean"])


def test_no_recompilation_after_the_first_step(pretrain_runs):
    for name in ("one", "four"):
        history, metrics, traces = pretrain_runs[name]
        assert traces == 1, name
        assert len(history) == 4 and np.isfinite(metrics["loss"])


def test_ema_update_inside_the_step(pretrain_runs):
    history, _, _ = pretrain_runs["four"]
    for old, new in zip(history[:-1], history[1:]):
        assert set(new.target_params) == {"backbone", "part_fcs", "fc_bins", "projector"}
        for key in new.target_params:  # τ·old target + (1 − τ)·the updated online params
            jax.tree.map(lambda t, t_old, o: np.testing.assert_allclose(
                t, TAU * t_old + (1 - TAU) * o, rtol=1e-5, atol=1e-7),
                new.target_params[key], old.target_params[key], new.params[key])


def test_online_gradient_does_not_touch_target_params():
    mesh = data_mesh()
    batch = to_global(_pretext_batches(1)[0], mesh)
    state = _pretrain_state(mesh)
    step_fn = _pretrain_step()

    def loss_wrt_target(target_params):
        return step_fn(state.replace(target_params=target_params), batch)[1]["loss"]

    target_grad = jax.jit(jax.grad(loss_wrt_target))(state.target_params)
    leaves = jax.tree.leaves(target_grad)
    assert leaves and all(np.all(np.asarray(g) == 0) for g in leaves)


@pytest.mark.slow  # over 5 s
def test_pretrain_step_ignores_masked_online_frames():
    """The online network gets the batch's mask: padding slots of a short window change nothing."""
    mesh = data_mesh()
    batch = _pretext_batches(1)[0]
    assert not batch["mask"].all()
    other = dict(batch, frames=np.where(batch["mask"][:, :, None, None], batch["frames"],
                                        255 - batch["frames"]))
    runs = [_run(_pretrain_step(), _pretrain_state(mesh), [b], mesh) for b in (batch, other)]
    (hist_a, metrics_a, _), (hist_b, metrics_b, _) = runs
    assert float(metrics_a["loss"]) == float(metrics_b["loss"])
    jax.tree.map(np.testing.assert_array_equal, hist_a[-1].params, hist_b[-1].params)
    changed = dict(batch, frames=255 - batch["frames"])  # the valid frames do matter
    _, metrics_c, _ = _run(_pretrain_step(), _pretrain_state(mesh), [changed], mesh)
    assert float(metrics_c["loss"]) != float(metrics_a["loss"])


@pytest.mark.slow
def test_share_target_fcs_uses_online_fc_bins():
    mesh = data_mesh()
    history, _, _ = _run(_pretrain_step(share=True), _pretrain_state(mesh), _pretext_batches(1), mesh)
    np.testing.assert_array_equal(history[-1].target_params["fc_bins"]["kernel"],
                                  history[-1].params["fc_bins"]["kernel"])


@pytest.mark.slow  # 1-vs-4-device comparison
def test_triplet_same_on_one_and_four_devices():
    step_fn = steps.make_triplet_step(TinyEmbed(), TX, SCHEDULE, margin=0.2)
    batches = _triplet_batches(2)
    one, four = data_mesh(jax.devices()[:1]), data_mesh()
    hist1, metrics1, _ = _run(step_fn, _triplet_state(one), batches, one)
    hist4, metrics4, traces = _run(step_fn, _triplet_state(four), batches, four)
    _assert_same_states(hist1[-1], hist4[-1])
    np.testing.assert_allclose(metrics1["loss"], metrics4["loss"], rtol=1e-5)
    assert traces == 1 and metrics4["loss"] > 0


def test_the_triplet_step_logs_the_mean_over_all_triplets_as_its_loss():
    """``loss`` is the mean over all valid triplets (what falls as it learns; the hand-computed
    case is in test_train_losses.py), the optimised BA+ mean over the non-zero ones is
    ``loss_nonzero_mean``: never smaller."""
    step_fn = steps.make_triplet_step(TinyEmbed(), TX, SCHEDULE, margin=0.2)
    mesh = data_mesh()
    _, metrics, _ = _run(step_fn, _triplet_state(mesh), _triplet_batches(1), mesh)
    assert {"loss", "nonzero_fraction", "loss_nonzero_mean", "mean_distance"} <= set(metrics)
    assert 0 < metrics["nonzero_fraction"] <= 1
    assert 0 < metrics["loss"] <= metrics["loss_nonzero_mean"]


def test_random_flips_mirror_whole_windows_and_target_frames_independently():
    rng = np.random.default_rng(0)
    frames = rng.random((64, 3, 5, 4)).astype(np.float32)
    target = rng.random((64, 5, 4)).astype(np.float32)
    got_frames, got_target = steps._random_flips(jax.random.key(3), frames, target)
    got_frames, got_target = np.asarray(got_frames), np.asarray(got_target)
    online_flipped = [np.array_equal(g, f[..., ::-1]) for g, f in zip(got_frames, frames)]
    target_flipped = [np.array_equal(g, t[..., ::-1]) for g, t in zip(got_target, target)]
    for row in range(64):  # every row is either untouched or mirrored as a whole
        assert online_flipped[row] or np.array_equal(got_frames[row], frames[row])
        assert target_flipped[row] or np.array_equal(got_target[row], target[row])
    assert 10 < sum(online_flipped) < 54 and 10 < sum(target_flipped) < 54
    assert online_flipped != target_flipped  # drawn independently
