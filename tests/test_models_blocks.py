"""Building blocks checked against hand-computed values and naive loops written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfgait_jax.models import backbone
from selfgait_jax.models import heads
from selfgait_jax.models import hpm
from selfgait_jax.models import masking
from selfgait_jax.models import mtb


def prefix_mask(lengths, steps):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


# ---------------------------------------------------------------- masking


def test_masked_max_uses_real_frames_only():
    x = np.array([[1.0, 5.0, 100.0], [-3.0, -1.0, -2.0], [7.0, 8.0, 9.0]], np.float32)
    mask = prefix_mask([2, 3, 0], 3)
    x, mask = jnp.asarray(x), jnp.asarray(mask)
    np.testing.assert_allclose(masking.masked_max(x, mask), [5.0, -1.0, 0.0])


def test_temporal_pools_match_pytorch_conventions_on_the_unpadded_sequence():
    # Real frames 1, 4, 2 then garbage. PyTorch AvgPool1d(3, 1, 1) counts the zero padding:
    # [(0+1+4)/3, (1+4+2)/3, (4+2+0)/3]; MaxPool1d(3, 1, 1) pads with -inf: [4, 4, 4].
    x = jnp.asarray([[1.0, 4.0, 2.0, 50.0, -50.0]])[..., None]
    mask = jnp.asarray(prefix_mask([3], 5))
    avg = masking.masked_avg_pool(x, mask, 3)[0, :, 0]
    mx = masking.masked_max_pool(x, mask, 3)[0, :, 0]
    np.testing.assert_allclose(avg, [5 / 3, 7 / 3, 2.0, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(mx, [4.0, 4.0, 4.0, 0.0, 0.0])
    avg5 = masking.masked_avg_pool(x, mask, 5)[0, :, 0]
    np.testing.assert_allclose(avg5, [7 / 5, 7 / 5, 7 / 5, 0.0, 0.0], rtol=1e-6)


# ---------------------------------------------------------------- HPM


def test_hpm_against_hand_computed_values():
    # One 4×2 map, channel 0 = 0..7 row-major, channel 1 = its negative.
    v = np.arange(8, dtype=np.float32).reshape(4, 2)
    x = jnp.asarray(np.stack([v, -v], axis=-1))[None]
    out = np.asarray(hpm.horizontal_pyramid(x, (1, 2, 4)))
    assert out.shape == (1, 7, 2)
    # mean + max of each strip: whole map; rows 0-1, 2-3; each row.
    np.testing.assert_allclose(
        out[0, :, 0], [3.5 + 7, 1.5 + 3, 5.5 + 7, 0.5 + 1, 2.5 + 3, 4.5 + 5, 6.5 + 7])
    np.testing.assert_allclose(
        out[0, :, 1], [-3.5 + 0, -1.5 + 0, -5.5 - 4, -0.5 + 0, -2.5 - 2, -4.5 - 4, -6.5 - 6])


def test_hpm_full_size_gives_31_parts_and_rejects_uneven_strips():
    x = jnp.zeros((2, 3, 16, 11, 8))
    assert hpm.horizontal_pyramid(x, hpm.SELFGAIT_BINS).shape == (2, 3, 31, 8)
    with pytest.raises(ValueError, match="cannot be split into 3"):
        hpm.horizontal_pyramid(x, (3,))


def flat_pyramid(x, bins):
    """The definition, level by level: every strip pooled from its own pixels."""
    *lead, h, w, c = x.shape
    return jnp.concatenate([jnp.mean(x.reshape(*lead, b, -1, c), -2) + jnp.max(x.reshape(*lead, b, -1, c), -2)
                            for b in bins], axis=-2)


@pytest.mark.parametrize("bins", [hpm.SELFGAIT_BINS, hpm.GAITSET_BINS, (2, 3)])
def test_hpm_pooled_from_finest_strips_equals_the_definition(bins):
    # (2, 3) on 6 rows is not nested (3 is not a multiple of 2): the level-by-level path.
    h = 16 if max(bins) == 16 else 6
    x = jax.random.normal(jax.random.key(1), (3, h, 5, 4))  # continuous values: no ties
    weights = jax.random.normal(jax.random.key(2), (3, sum(bins), 4))
    np.testing.assert_allclose(hpm.horizontal_pyramid(x, bins), flat_pyramid(x, bins), rtol=1e-6, atol=1e-6)
    grad = jax.grad(lambda v: jnp.sum(weights * hpm.horizontal_pyramid(v, bins)))(x)
    expected = jax.grad(lambda v: jnp.sum(weights * flat_pyramid(v, bins)))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_hpm_gradient_at_ties_keeps_each_strips_total():
    x = jnp.zeros((1, 16, 11, 2))  # all tied, like an empty background
    grad = jax.grad(lambda v: jnp.sum(hpm.horizontal_pyramid(v, hpm.SELFGAIT_BINS)))(x)
    expected = jax.grad(lambda v: jnp.sum(flat_pyramid(v, hpm.SELFGAIT_BINS)))(x)
    np.testing.assert_allclose(grad.sum(), expected.sum(), rtol=1e-5)
    np.testing.assert_allclose(grad.sum(), 31 * 2 * 2, rtol=1e-5)  # 31 parts x (mean + max) x 2 channels
    assert np.all(np.asarray(grad) > 0)  # every tied pixel gets a share


# ---------------------------------------------------------------- MTB vs a naive per-part loop


def naive_conv1d(x, kernel, bias):
    """PyTorch Conv1d(padding=k//2) on one unpadded sequence: x [T, C], kernel [k, C, F]."""
    k = kernel.shape[0]
    xp = np.pad(x, ((k // 2, k // 2), (0, 0)))
    y = sum(xp[j:j + len(x)] @ kernel[j] for j in range(k))
    return y + (0 if bias is None else bias)


def naive_pool(x, size, reduce):
    half = size // 2
    fill = 0.0 if reduce == "avg" else -np.inf
    xp = np.pad(x, ((half, half), (0, 0)), constant_values=fill)
    windows = np.stack([xp[j:j + len(x)] for j in range(size)])
    return windows.sum(0) / size if reduce == "avg" else windows.max(0)


def naive_mtb(x, params, use_bias, act):
    """Loop over parts of one unpadded sequence x [T, P, C] -> [P, C]."""
    sig = lambda z: 1 / (1 + np.exp(-z))

    def conv(name, part, z):
        p = params[name]
        return naive_conv1d(z, p["kernel"][part], p["bias"][part] if use_bias else None)

    outs = []
    for part in range(x.shape[1]):
        xp = x[:, part]
        att1 = sig(conv("branch1_conv_b", part, act(conv("branch1_conv_a", part, xp))))
        att2 = sig(conv("branch2_conv_b", part, act(conv("branch2_conv_a", part, xp))))
        t1 = naive_pool(xp, 3, "avg") + naive_pool(xp, 3, "max")
        t2 = naive_pool(xp, 5, "avg") + naive_pool(xp, 5, "max")
        outs.append((t1 * att1 + t2 * att2).max(0))
    return np.stack(outs)


def random_params(abstract, rng):
    return jax.tree_util.tree_map(
        lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32), abstract)


@pytest.mark.parametrize("use_bias,act_name", [(False, "leaky_relu"), (True, "relu")])
def test_mtb_matches_naive_per_part_loop(use_bias, act_name):
    rng = np.random.default_rng(0)
    n, steps, parts, channels = 2, 6, 3, 8
    lengths = [6, 4]
    x = rng.normal(size=(n, steps, parts, channels)).astype(np.float32)
    x[1, 4:] = 1e3 * rng.normal(size=(2, parts, channels))  # garbage in the padding
    mask = prefix_mask(lengths, steps)
    module = mtb.MTB(parts, squeeze=4, use_bias=use_bias, activation=act_name)
    abstract = jax.eval_shape(module.init, jax.random.key(0), x, mask)["params"]
    assert abstract["branch2_conv_a"]["kernel"].shape == (parts, 3, channels, 2)
    assert abstract["branch1_conv_b"]["kernel"].shape == (parts, 1, 2, channels)
    assert ("bias" in abstract["branch1_conv_a"]) == use_bias
    params = random_params(abstract, rng)
    got = np.asarray(jax.jit(module.apply)({"params": params}, x, mask))
    if act_name == "relu":
        np_act = lambda z: np.maximum(z, 0)
    else:
        np_act = lambda z: np.where(z > 0, z, 0.01 * z)
    for i, length in enumerate(lengths):
        want = naive_mtb(x[i, :length], params, use_bias, np_act)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-5)


def test_mtb_gradients_are_finite_and_zero_on_padding():
    """-inf padding inside the pools must not leak NaNs into gradients, even for a row with no
    real frame; padded frames get exactly zero gradient."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 6, 3, 8)).astype(np.float32)
    mask = prefix_mask([6, 2, 0], 6)
    module = mtb.MTB(3, use_bias=True)
    params = random_params(jax.eval_shape(module.init, jax.random.key(0), x, mask)["params"], rng)

    def loss(p, frames):
        return jnp.sum(module.apply({"params": p}, frames, mask) ** 2)

    grad_params, grad_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grad_params))
    assert np.isfinite(grad_x).all()
    assert np.abs(grad_x[~mask]).max() == 0 and np.abs(grad_x[mask]).max() > 0


def test_plain_tcn_matches_naive_convolutions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)
    mask = prefix_mask([5, 2], 5)
    x[1, 2:] = 1e3
    module = mtb.PlainTCN(use_bias=True)
    params = random_params(jax.eval_shape(module.init, jax.random.key(0), x, mask)["params"], rng)
    got = np.asarray(module.apply({"params": params}, x, mask))
    lrelu = lambda z: np.where(z > 0, z, 0.01 * z)
    for i, length in enumerate([5, 2]):
        for part in range(3):  # weights are shared across parts
            a, b = params["conv_a"], params["conv_b"]
            h = lrelu(naive_conv1d(x[i, :length, part], a["kernel"], a["bias"]))
            h = lrelu(naive_conv1d(h, b["kernel"], b["bias"]))
            np.testing.assert_allclose(got[i, part], h.max(0), rtol=1e-5, atol=1e-5)


def test_mtb_rejects_wrong_part_count_and_unknown_activation():
    x, mask = jnp.zeros((1, 3, 4, 8)), jnp.ones((1, 3), bool)
    with pytest.raises(ValueError, match="built for 5 parts got 4"):
        jax.eval_shape(mtb.MTB(5).init, jax.random.key(0), x, mask)
    with pytest.raises(ValueError, match="model.mtb_activation='gelu'"):
        jax.eval_shape(mtb.MTB(4, activation="gelu").init, jax.random.key(0), x, mask)


# ---------------------------------------------------------------- convolutions and heads


def test_focal_conv_convolves_each_strip_on_its_own():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 8, 5, 3)).astype(np.float32)
    focal = backbone.FocalConv(4, 3, strips=4)
    params = random_params(jax.eval_shape(focal.init, jax.random.key(0), x)["params"], rng)
    got = np.asarray(focal.apply({"params": params}, x))
    conv = backbone.ConvLReLU(4, 3)
    for s in range(4):
        strip = x[:, 2 * s:2 * s + 2]
        want = conv.apply({"params": params["conv"]}, strip)
        np.testing.assert_allclose(got[:, 2 * s:2 * s + 2], want, rtol=1e-5, atol=1e-6)


def test_separate_fcs_uses_one_matrix_per_part():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    kernel = rng.normal(size=(3, 4, 5)).astype(np.float32)
    got = heads.SeparateFCs(5).apply({"params": {"kernel": kernel}}, x)
    want = np.stack([x[:, p] @ kernel[p] for p in range(3)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mlp_head_batch_norm_is_over_batch_and_parts():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    head = heads.MLPHead(hidden=6, features=2)
    abstract = jax.eval_shape(lambda: head.init(jax.random.key(0), x, train=False))
    assert set(abstract) == {"params", "batch_stats"}
    variables = {"params": random_params(abstract["params"], rng),
                 "batch_stats": {"bn": {"mean": np.zeros(6, np.float32),
                                        "var": np.ones(6, np.float32)}}}
    out, updates = head.apply(variables, x, train=True, mutable=["batch_stats"])
    p = variables["params"]
    h = x @ np.asarray(p["dense1"]["kernel"]) + np.asarray(p["dense1"]["bias"])
    mean, var = h.reshape(-1, 6).mean(0), h.reshape(-1, 6).var(0)
    bn = p["bn"]
    h = np.maximum((h - mean) / np.sqrt(var + 1e-5) * bn["scale"] + bn["bias"], 0)
    want = h @ np.asarray(p["dense2"]["kernel"]) + np.asarray(p["dense2"]["bias"])
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    new_mean = updates["batch_stats"]["bn"]["mean"]  # momentum 0.9 from a zero start
    np.testing.assert_allclose(new_mean, 0.1 * mean, rtol=1e-4, atol=1e-6)


def test_mlp_head_per_part_batch_norm_normalises_each_part_over_the_batch():
    rng = np.random.default_rng(5)
    # Part 1 is offset and scaled: shared statistics would mix it with part 0, per-part ones do not.
    x = rng.normal(size=(8, 2, 4)).astype(np.float32)
    x[:, 1] = 50.0 + 7.0 * x[:, 1]
    head = heads.MLPHead(hidden=6, features=3, bn_per_part=True)
    abstract = jax.eval_shape(lambda: head.init(jax.random.key(0), x, train=False))
    assert abstract["params"]["bn"]["scale"].shape == (2, 6)  # scale and bias per part
    assert abstract["batch_stats"]["bn"]["mean"].shape == (2, 6)
    variables = {"params": random_params(abstract["params"], rng),
                 "batch_stats": {"bn": {"mean": np.zeros((2, 6), np.float32),
                                        "var": np.ones((2, 6), np.float32)}}}
    out, _ = head.apply(variables, x, train=True, mutable=["batch_stats"])
    p = variables["params"]
    h = x @ np.asarray(p["dense1"]["kernel"]) + np.asarray(p["dense1"]["bias"])  # [8, 2, 6]
    h = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-5) * p["bn"]["scale"] + p["bn"]["bias"]
    want = np.maximum(h, 0) @ np.asarray(p["dense2"]["kernel"]) + np.asarray(p["dense2"]["bias"])
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
