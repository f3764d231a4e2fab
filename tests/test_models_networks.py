"""Assembled networks: shapes, mask invariance, order invariance, parameter counts, contracts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfgait_jax import models

H, W = 64, 44
SELFGAIT = ("selfgait", "selfgait_no_hpm", "selfgait_no_mtb")


def expected_parts(name):
    return {"selfgait_no_hpm": 1, "gaitset": 62, "gaitpart": 16}.get(name, 31)


def fan_in(path, shape):
    keys = [getattr(p, "key", "") for p in path]
    if "fc_bins" in keys or "part_fcs" in keys:  # [P, C, F]
        return shape[1]
    if "mtb" in keys and len(shape) == 4:  # per-part temporal kernel [P, k, C, F]
        return shape[1] * shape[2]
    return math.prod(shape[:-1])


def numpy_variables(abstract, seed=0):
    """Random variables shaped like ``abstract`` without compiling the model's init (jitted init is
    slow on a 2-core CI box). Kernels ~ N(0, 1/fan_in); biases small; BN scale/var 1."""
    rng = np.random.default_rng(seed)

    def make(path, leaf):
        name = path[-1].key
        if name in ("scale", "var"):
            return np.ones(leaf.shape, np.float32)
        if name in ("bias", "mean"):
            return 0.1 * rng.normal(size=leaf.shape).astype(np.float32)
        return (rng.normal(size=leaf.shape) / np.sqrt(fan_in(path, leaf.shape))).astype(np.float32)

    return jax.tree_util.tree_map_with_path(make, abstract)


def sequences(rng, lengths, steps):
    """Batch with real frames in [0, 1] first, large random garbage in the padding."""
    frames = rng.random((len(lengths), steps, H, W), dtype=np.float32)
    mask = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
    frames[~mask] = 10 * rng.normal(size=(int((~mask).sum()), H, W))
    return frames, mask


def abstract_init(model, *args, **kwargs):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), *args, **kwargs))


def count(tree):
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("size", ["full", "tiny"])
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_shapes(name, size):
    cfg = models.model_config(name, size)
    parts, dim = models.parts_and_dim(cfg)
    assert parts == expected_parts(name)
    frames, mask = jnp.zeros((3, 5, H, W)), jnp.ones((3, 5), bool)
    embed = models.build_embed_model(cfg)
    variables = abstract_init(embed, frames, mask)
    assert jax.eval_shape(embed.apply, variables, frames, mask).shape == (3, parts, dim)
    if name in SELFGAIT:
        online, target = models.build_byol_models(cfg)
        v_on = abstract_init(online, frames, mask, train=False)
        out = jax.eval_shape(lambda v: online.apply(v, frames, mask, train=False), v_on)
        assert {k: o.shape for k, o in out.items()} == {
            "embedding": (3, parts, dim), "projection": (3, parts, cfg.d2),
            "prediction": (3, parts, cfg.d2)}
        v_t = abstract_init(target, frames[:, 0], train=False)
        assert jax.eval_shape(lambda v: target.apply(v, frames[:, 0], train=False), v_t).shape == (
            3, parts, cfg.d2)


# ---------------------------------------------------------------- parameter counts


def conv(k, cin, cout):
    return k * k * cin * cout


def gaitset_stack(c1, c2, c3):
    """conv5×5 1→c1, 3×3 c1→c1 | 3×3 c1→c2, c2→c2 | 3×3 c2→c3, c3→c3."""
    return (conv(5, 1, c1) + conv(3, c1, c1) + conv(3, c1, c2) + conv(3, c2, c2) + conv(3, c2, c3)
            + conv(3, c3, c3))


def mtb(parts, c, squeeze=4, bias=False):
    h = c // squeeze
    # branch 1: conv3 C→h, conv1 h→C; branch 2: conv3 C→h, conv3 h→C.
    weights = 3 * c * h + 1 * h * c + 3 * c * h + 3 * h * c
    return parts * (weights + (2 * (h + c) if bias else 0))


def mlp_head(d_in, hidden, d_out):  # Linear(+bias) → BN(scale, bias) → ReLU → Linear(+bias)
    return d_in * hidden + hidden + 2 * hidden + hidden * d_out + d_out


def expected_counts(name):
    """(embed, online, target) parameter counts of the full-size model, from the layer list."""
    c1, c2, c3 = 32, 64, 128
    d1, d2, hid = (256 if name == "gaitset" else 128), 128, 256
    if name == "gaitset":  # plus the global branch: copies of blocks 2 and 3; 62 parts → 256
        return (gaitset_stack(c1, c2, c3) + conv(3, c1, c2) + conv(3, c2, c2) + conv(3, c2, c3)
                + conv(3, c3, c3) + 62 * c3 * d1), None, None
    if name == "gaitpart":  # FocalConv keeps the conv weights; 16 parts
        return gaitset_stack(c1, c2, c3) + mtb(16, c3) + 16 * c3 * d1, None, None
    parts = 1 if name == "selfgait_no_hpm" else 31
    spatial = gaitset_stack(c1, c2, c3)  # w/o HPM keeps the conv stack; only the pyramid goes
    temporal = 2 * 3 * c3 * c3 if name == "selfgait_no_mtb" else mtb(parts, c3)
    shared = spatial + parts * c3 * c3 + parts * c3 * d1  # backbone, part FCs, FC bins
    embed = shared + temporal
    online = embed + mlp_head(d1, hid, d2) + mlp_head(d2, hid, d2)
    return embed, online, shared + mlp_head(d1, hid, d2)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_full_size_parameter_counts_match_the_layer_list(name):
    cfg = models.model_config(name, "full")
    frames, mask = jnp.zeros((2, 3, H, W)), jnp.ones((2, 3), bool)
    want_embed, want_online, want_target = expected_counts(name)
    assert count(abstract_init(models.build_embed_model(cfg), frames, mask)["params"]) == want_embed
    if name in SELFGAIT:
        online, target = models.build_byol_models(cfg)
        assert count(abstract_init(online, frames, mask, train=False)["params"]) == want_online
        assert count(abstract_init(target, frames[:, 0], train=False)["params"]) == want_target


def test_authors_code_configuration_reproduces_published_counts():
    """ARCHITECTURE.md: online 2,206,944 / target 860,832 (no part FCs, biased MTB convs);
    GaitSet 2,594,592; OpenGait GaitPart 1,204,000."""
    cfg = models.model_config("selfgait")
    cfg.part_fcs, cfg.mtb_bias, cfg.mtb_activation = False, True, "relu"
    online, target = models.build_byol_models(cfg)
    frames, mask = jnp.zeros((2, 3, H, W)), jnp.ones((2, 3), bool)
    params = abstract_init(online, frames, mask, train=False)["params"]
    assert {k: count(v) for k, v in params.items()} == {
        "backbone": 286_496, "mtb": 1_279_680, "fc_bins": 507_904, "projector": 66_432,
        "predictor": 66_432}
    assert count(params) == 2_206_944
    assert count(abstract_init(target, frames[:, 0], train=False)["params"]) == 860_832
    for name, published in [("gaitset", 2_594_592), ("gaitpart", 1_204_000)]:
        embed = models.build_embed_model(models.model_config(name))
        assert count(abstract_init(embed, frames, mask)["params"]) == published


def test_no_hpm_ablation_changes_only_the_pyramid():
    """w/o HPM = SelfGait with global pooling (bins (1,)) instead of the pyramid; nothing else
    changes: same config keys, and the backbone's parameters have the same names and shapes."""
    full, ablated = models.model_config("selfgait"), models.model_config("selfgait_no_hpm")
    assert {k for k in full if k != "name" and full[k] != ablated[k]} == {"bins"}
    assert tuple(ablated.bins) == (1,)
    frames, mask = jnp.zeros((2, 3, H, W)), jnp.ones((2, 3), bool)
    shapes = [jax.tree_util.tree_map(lambda x: x.shape, abstract_init(
        models.build_embed_model(c), frames, mask)["params"]["backbone"]) for c in (full, ablated)]
    assert shapes[0] == shapes[1]


# ---------------------------------------------------------------- contracts between networks


@pytest.mark.parametrize("part_fcs", [True, False])
def test_target_and_embed_share_online_structure_by_name(part_fcs):
    cfg = models.model_config("selfgait", "tiny")
    cfg.part_fcs = part_fcs
    online, target = models.build_byol_models(cfg)
    frames, mask = jnp.zeros((2, 3, H, W)), jnp.ones((2, 3), bool)
    v_on = abstract_init(online, frames, mask, train=False)
    v_t = abstract_init(target, frames[:, 0], train=False)
    v_e = abstract_init(models.build_embed_model(cfg), frames, mask)
    core = {"backbone", "fc_bins"} | ({"part_fcs"} if part_fcs else set())
    assert set(v_t["params"]) == core | {"projector"}
    assert set(v_e["params"]) == core | {"mtb"}
    assert set(v_on["params"]) == core | {"mtb", "projector", "predictor"}
    assert set(v_t["batch_stats"]) == {"projector"} and "batch_stats" not in v_e
    for key, sub in v_t["params"].items():  # the EMA is a tree map over the target's keys
        assert jax.tree_util.tree_map(lambda a: a.shape, sub) == jax.tree_util.tree_map(
            lambda a: a.shape, v_on["params"][key])


def test_bfloat16_computes_in_bfloat16_with_float32_params():
    cfg = models.model_config("selfgait", "tiny")
    cfg.dtype = "bfloat16"
    online, _ = models.build_byol_models(cfg)
    frames, mask = jnp.zeros((2, 3, H, W)), jnp.ones((2, 3), bool)
    variables = abstract_init(online, frames, mask, train=False)
    assert {x.dtype for x in jax.tree_util.tree_leaves(variables)} == {jnp.dtype(jnp.float32)}
    out = jax.eval_shape(lambda v: online.apply(v, frames, mask, train=False), variables)
    assert all(o.dtype == jnp.float32 for o in out.values())


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="model.name='gaitset'.*no BYOL form"):
        models.build_byol_models(models.model_config("gaitset", "tiny"))
    with pytest.raises(ValueError, match="model.name='resnet'"):
        models.model_config("resnet")
    cfg = models.model_config("selfgait", "tiny")
    cfg.dtype = "float16"
    with pytest.raises(ValueError, match="model.dtype='float16'"):
        models.build_embed_model(cfg)
    embed = models.build_embed_model(models.model_config("selfgait", "tiny"))
    with pytest.raises(ValueError, match="mask shape"):
        abstract_init(embed, jnp.zeros((2, 3, H, W)), jnp.ones((2, 4), bool))


# ---------------------------------------------------------------- behaviour on real numbers


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    short, _ = sequences(rng, [3], 3)  # an unpadded sequence of 3 frames
    padded, mask = sequences(rng, [3, 5], 6)
    padded[0, :3] = short[0]  # the same 3 frames, then garbage
    return short, padded, mask


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_embedding_ignores_padded_frames(name, data):
    short, padded, mask = data
    model = models.build_embed_model(models.model_config(name, "tiny"))
    variables = numpy_variables(abstract_init(model, padded, mask))
    apply = jax.jit(model.apply)
    out_padded = np.asarray(apply(variables, padded, mask))
    out_short = np.asarray(apply(variables, short, np.ones((1, 3), bool)))
    assert out_padded.shape == (2, expected_parts(name), 16)
    assert np.isfinite(out_padded).all() and np.abs(out_short).max() > 1e-3
    np.testing.assert_allclose(out_padded[0], out_short[0], rtol=0, atol=1e-5)
    # Row 1's five real frames reordered, rows swapped (same [2, 6] shape: no new compile).
    order = np.array([4, 1, 3, 0, 2, 5])
    out_perm = np.asarray(apply(variables, np.stack([padded[1, order], padded[0]]), mask[::-1]))
    np.testing.assert_allclose(out_perm[1], out_padded[0], rtol=0, atol=1e-5)
    if name == "gaitset":  # a set: the order of the frames does not matter
        np.testing.assert_allclose(out_perm[0], out_padded[1], rtol=0, atol=1e-5)
    else:  # a sequence: it does (guards against a model that ignores time)
        assert np.abs(out_perm[0] - out_padded[1]).max() > 1e-4


def test_online_network_ignores_padded_frames(data):
    """train=True (BN statistics over batch × parts): same batch, more padding, other garbage.

    The ablations' online networks differ only in the pieces their embedding tests cover."""
    name = "selfgait"
    _, padded, mask = data
    online, target = models.build_byol_models(models.model_config(name, "tiny"))
    variables = numpy_variables(abstract_init(online, padded, mask, train=False))
    apply = jax.jit(lambda v, f, m: online.apply(v, f, m, train=True, mutable=["batch_stats"]))
    rng = np.random.default_rng(5)
    longer = np.concatenate([padded, 5 * rng.normal(size=(2, 3, H, W)).astype(np.float32)], axis=1)
    longer[0, 3:6] = -7.0  # overwrite the old garbage too
    longer_mask = np.concatenate([mask, np.zeros((2, 3), bool)], axis=1)
    out_a, stats_a = apply(variables, padded, mask)
    out_b, stats_b = apply(variables, longer, longer_mask)
    for key in ("embedding", "projection", "prediction"):
        assert out_a[key].shape[:2] == (2, expected_parts(name))
        np.testing.assert_allclose(out_a[key], out_b[key], rtol=0, atol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(stats_a), jax.tree_util.tree_leaves(stats_b)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # Target: one frame, projection with the target's (shared-structure) weights.
    t_vars = {"params": {k: variables["params"][k] for k in abstract_init(
        target, padded[:, 0], train=False)["params"]},
              "batch_stats": {"projector": variables["batch_stats"]["projector"]}}
    proj = jax.jit(lambda v, f: target.apply(v, f, train=False))(t_vars, padded[:, 0])
    assert proj.shape == (2, expected_parts(name), 16) and np.isfinite(proj).all()
