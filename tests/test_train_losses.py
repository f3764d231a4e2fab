"""Losses, EMA and schedules against hand computations and brute-force loops."""

import itertools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from selfgait_jax.train import losses, optim, state as state_lib


def test_byol_loss_equals_hand_computation():
    # One sequence, two parts. Part 0: cos((1,0),(1,1)) = 1/√2; part 1: cos((0,2),(0,-1)) = -1.
    prediction = jnp.array([[[1.0, 0.0], [0.0, 2.0]]])
    target = jnp.array([[[1.0, 1.0], [0.0, -1.0]]])
    expected = ((2 - 2 / math.sqrt(2)) + (2 + 2)) / 2
    assert float(losses.byol_loss(prediction, target)) == pytest.approx(expected, rel=1e-6)


def test_byol_loss_is_zero_for_parallel_vectors_and_scale_free():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 5))
    assert float(losses.byol_loss(x, 7.0 * x)) == pytest.approx(0.0, abs=1e-6)


def test_collapse_monitor_is_zero_when_collapsed_and_matches_hand_computation():
    # Collapsed: every row the same direction (any scale) -> 0.
    row = jnp.array([[3.0, 4.0]])
    assert float(losses.normalized_std(jnp.stack([row, 2 * row, 5 * row]))) == pytest.approx(0, abs=1e-7)
    # Two rows, one part: unit vectors (1,0) and (0,1) -> per-dimension std 0.5 each, mean 0.5.
    spread = jnp.array([[[2.0, 0.0]], [[0.0, 0.5]]])
    assert float(losses.normalized_std(spread)) == pytest.approx(0.5, rel=1e-6)
    # Random directions in d dims: about 1/sqrt(d).
    x = jax.random.normal(jax.random.PRNGKey(1), (4096, 2, 64))
    assert float(losses.normalized_std(x)) == pytest.approx(1 / 8, rel=0.02)


def _brute_force_triplet(emb, labels, margin):
    n, parts, _ = emb.shape
    per_part = []
    for p in range(parts):
        total, nonzero = 0.0, 0
        for a, pos, neg in itertools.product(range(n), repeat=3):
            if a == pos or labels[a] != labels[pos] or labels[a] == labels[neg]:
                continue
            d_ap = np.linalg.norm(emb[a, p] - emb[pos, p])
            d_an = np.linalg.norm(emb[a, p] - emb[neg, p])
            value = max(d_ap - d_an + margin, 0.0)
            total += value
            nonzero += value > 0
        per_part.append(total / nonzero if nonzero else 0.0)
    return float(np.mean(per_part))


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_triplet_loss_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(7, 3, 4)).astype(np.float32) * 0.3
    labels = np.array([0, 0, 1, 1, 1, 2, 2], np.int32)
    loss, aux = losses.batch_all_triplet_loss(jnp.asarray(emb), jnp.asarray(labels), 0.2)
    assert float(loss) == pytest.approx(_brute_force_triplet(emb, labels, 0.2), rel=1e-5)
    assert 0.0 < float(aux["nonzero_fraction"]) <= 1.0


def test_triplet_loss_means_over_all_and_over_non_zero_triplets_by_hand():
    # Four sequences of two subjects, two parts, 8 valid triplets (each anchor: 1 positive x 2
    # negatives). Part 0 in 1-D at 0, 0.1 | 0.25, 2.0; relu(d(a,p) - d(a,n) + 0.2) per triplet:
    #   a=0: 0.1-0.25+0.2 = 0.05, 0.1-2.0+0.2 -> 0;   a=1: 0.1-0.15+0.2 = 0.15, 0.1-1.9+0.2 -> 0
    #   a=2: 1.75-0.25+0.2 = 1.7, 1.75-0.15+0.2 = 1.8; a=3: 1.75-2.0+0.2 -> 0, 1.75-1.9+0.2 = 0.05
    # sum 3.75, 5 non-zero: over all 3.75/8 = 0.46875, over the non-zero 0.75.
    # Part 1: every sequence at the same point: each triplet is the margin, 0.2, all 8 non-zero.
    part0 = np.array([0.0, 0.1, 0.25, 2.0], np.float32)
    emb = np.stack([part0, np.zeros(4, np.float32)], axis=1)[:, :, None]  # [4, 2 parts, 1]
    labels = np.array([0, 0, 1, 1], np.int32)
    loss, aux = losses.batch_all_triplet_loss(jnp.asarray(emb), jnp.asarray(labels), 0.2)
    assert float(loss) == pytest.approx((0.75 + 0.2) / 2, rel=1e-5)  # BA+, the loss optimised
    assert float(aux["mean_over_all"]) == pytest.approx((0.46875 + 0.2) / 2, rel=1e-5)
    assert float(aux["nonzero_fraction"]) == pytest.approx((5 + 8) / 2 / 8, rel=1e-6)


@pytest.mark.slow
def test_batch_all_triplet_loss_is_zero_when_classes_are_separated():
    # Subjects 10 apart, sequences of one subject 0.01 apart: no triplet violates the margin.
    emb = np.array([[[0.0]], [[0.01]], [[10.0]], [[10.01]]], np.float32)
    labels = np.array([0, 0, 1, 1], np.int32)
    loss, aux = losses.batch_all_triplet_loss(jnp.asarray(emb), jnp.asarray(labels), 0.2)
    assert float(loss) == 0.0 and float(aux["nonzero_fraction"]) == 0.0
    grads = jax.grad(lambda e: losses.batch_all_triplet_loss(e, jnp.asarray(labels), 0.2)[0])(
        jnp.asarray(emb))
    assert np.all(np.isfinite(np.asarray(grads)))


def test_ema_update_equals_formula_and_share_fcs():
    rng = np.random.default_rng(0)
    keys = ("backbone", "fc_bins", "projector")
    target = {k: {"w": rng.normal(size=(2, 3)).astype(np.float32)} for k in keys}
    online = {k: {"w": rng.normal(size=(2, 3)).astype(np.float32)} for k in keys + ("predictor",)}
    tau = 0.9
    new = state_lib.ema_update(target, online, jnp.float32(tau))
    assert set(new) == set(keys)  # the predictor has no target counterpart
    for k in keys:
        np.testing.assert_allclose(new[k]["w"], tau * target[k]["w"] + (1 - tau) * online[k]["w"],
                                   rtol=1e-5, atol=1e-6)  # float32 vs float64
    shared = state_lib.ema_update(target, online, jnp.float32(tau), share_fcs=True)
    np.testing.assert_array_equal(shared["fc_bins"]["w"], online["fc_bins"]["w"])
    np.testing.assert_allclose(shared["backbone"]["w"], new["backbone"]["w"])


def test_tau_schedules():
    assert float(state_lib.ema_tau(5, 0.996, "constant", 100)) == pytest.approx(0.996)
    cosine = lambda k: float(state_lib.ema_tau(k, 0.99, "cosine", 100))
    assert cosine(0) == pytest.approx(0.99)
    assert cosine(50) == pytest.approx(1 - 0.01 * 0.5, rel=1e-6)
    assert cosine(100) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="byol.tau_schedule"):
        state_lib.ema_tau(0, 0.99, "linear", 100)


def _opt(**kw):
    base = dict(name="adam", lr=1e-3, schedule="constant", warmup_steps=0, boundaries=(),
                decay_factor=0.1, momentum=0.9, weight_decay=0.0, accumulate=1, lr_scaling="none",
                lr_base_batch=0, lr_multipliers="", frozen="")
    base.update(kw)
    return ml_collections.ConfigDict(base)


def test_schedules_values():
    multistep = optim.make_schedule(_opt(schedule="multistep", boundaries=(10, 20)), 30)
    assert [float(multistep(s)) for s in (0, 9, 10, 19, 20)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    cosine = optim.make_schedule(_opt(schedule="warmup_cosine", warmup_steps=10), 110)
    assert float(cosine(0)) == 0.0
    assert float(cosine(10)) == pytest.approx(1e-3)
    assert float(cosine(60)) == pytest.approx(5e-4, rel=1e-5)
    with pytest.raises(ValueError, match="optimizer.schedule"):
        optim.make_schedule(_opt(schedule="step"), 10)
    with pytest.raises(ValueError, match="optimizer.name"):
        optim.make_optimizer(_opt(name="lamb"), 10)


def test_gentle_fine_tune_freezes_and_scales_by_parameter_path():
    """Plain SGD (lr 1, gradient 1 everywhere): the update is −lr × factor per parameter."""
    params = {"backbone": {"block1": {"k": jnp.ones(2)}, "block2": {"k": jnp.ones(2)}},
              "fc_bins": {"k": jnp.ones(2)}}
    cfg = _opt(name="sgd", lr=1.0, momentum=0.0, lr_multipliers="backbone=0.1", frozen="backbone/block1")
    tx, _ = optim.make_optimizer(cfg, 10)
    updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
    np.testing.assert_allclose(updates["backbone"]["block1"]["k"], 0.0)  # frozen beats the multiplier
    np.testing.assert_allclose(updates["backbone"]["block2"]["k"], -0.1)
    np.testing.assert_allclose(updates["fc_bins"]["k"], -1.0)


def test_a_gentle_fine_tune_path_that_matches_nothing_names_its_key():
    params = {"backbone": {"k": jnp.ones(2)}}
    tx, _ = optim.make_optimizer(_opt(frozen="backbone/block9"), 10)
    with pytest.raises(ValueError, match="optimizer.frozen.*backbone/block9"):
        tx.init(params)
    with pytest.raises(ValueError, match="optimizer.lr_multipliers"):
        optim.parse_lr_multipliers("backbone:0.1")


def test_a_gentle_fine_tune_typo_stops_at_the_config_check_before_any_training():
    from selfgait_jax import config_defaults
    from selfgait_jax.errors import ConfigError
    from selfgait_jax.train import config_checks

    config = config_defaults.finetune_config("tiny")
    config.require_init_from = False
    config.optimizer.lr_multipliers = "backbone=0.1"
    config_checks.check_config(config, 1)  # a real prefix passes
    config.optimizer.frozen = "backbone/blockX"
    with pytest.raises(ConfigError, match="optimizer.frozen.*blockX"):
        config_checks.check_config(config, 1)
