"""The convolution's formulations equal XLA's / flax's convolution (values, gradients, parameters),
and ``model.conv_formulation`` chooses one for every convolution of a network."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from selfgait_jax.models import backbone
from selfgait_jax.models import conv
from selfgait_jax.models import registry
from selfgait_jax.models import xla_cpu


def naive_same_conv(x, kernel):
    """Direct loops over kernel taps with numpy ("same" zero padding, stride 1)."""
    kh, kw = kernel.shape[:2]
    b, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    out = np.zeros((b, h, w, kernel.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("bhwc,cf->bhwf", xp[:, i:i + h, j:j + w], kernel[i, j])
    return out


# (batch, height, width, in, out, kernel); batch 6 splits into several scan chunks below.
SHAPES = [(6, 8, 6, 1, 4, 5), (6, 8, 5, 3, 5, 3), (4, 4, 3, 6, 2, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_values_and_gradients_match_lax_and_a_naive_loop(shape):
    b, h, w, cin, cout, k = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((b, h, w, cin)).astype(np.float32)
    kernel = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
    cotangent = rng.standard_normal((b, h, w, cout)).astype(np.float32)

    np.testing.assert_allclose(conv.conv2d(x, kernel), naive_same_conv(x, kernel),
                               rtol=1e-5, atol=1e-4)

    def grads(fn):
        return jax.jit(jax.grad(lambda x, k: jnp.sum(fn(x, k) * cotangent), argnums=(0, 1)))(
            x, kernel)

    fast_x, fast_k = grads(conv.im2col_conv2d)
    ref_x, ref_k = grads(conv.lax_conv2d)
    scale_k = np.abs(ref_k).max()
    np.testing.assert_allclose(fast_x, ref_x, rtol=1e-5, atol=1e-5 * np.abs(ref_x).max())
    np.testing.assert_allclose(fast_k, ref_k, rtol=1e-5, atol=1e-5 * scale_k)
    # the public entry point (platform dispatch) gives the same on this CPU
    np.testing.assert_allclose(grads(conv.conv2d)[1], ref_k, rtol=1e-5, atol=1e-5 * scale_k)
    for formulation in conv.FORMULATIONS:  # and so does every formulation named explicitly
        chosen = grads(lambda x, k: conv.conv2d(x, k, formulation))
        np.testing.assert_allclose(chosen[1], ref_k, rtol=1e-5, atol=1e-5 * scale_k)


def test_weight_grad_is_the_same_for_every_chunk_size():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((12, 5, 4, 3)), jnp.float32)
    g = jnp.asarray(rng.standard_normal((12, 5, 4, 2)), jnp.float32)
    shape = (3, 3, 3, 2)
    per_frame = 5 * 4 * 9 * 3 * 4
    assert xla_cpu.frames_per_chunk(x.shape, shape, 4, budget=per_frame * 5) == 4  # divisor of 12
    assert xla_cpu.frames_per_chunk(x.shape, shape, 4, budget=1) == 1
    whole = xla_cpu.weight_grad(x, g, shape)
    original = xla_cpu.PATCH_CHUNK_BYTES
    try:
        xla_cpu.PATCH_CHUNK_BYTES = per_frame * 3  # 3 frames per chunk -> 4 scan steps
        assert xla_cpu.frames_per_chunk(x.shape, shape, 4) == 3
        chunked = xla_cpu.weight_grad(x, g, shape)
    finally:
        xla_cpu.PATCH_CHUNK_BYTES = original
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


def test_module_is_a_drop_in_for_flax_conv():
    x = jnp.asarray(np.random.default_rng(1).random((2, 8, 6, 3)), jnp.float32)
    ours = conv.Conv(4, (3, 3))
    flax_conv = nn.Conv(4, (3, 3), padding="SAME", use_bias=False)
    params = ours.init(jax.random.key(7), x)
    reference = flax_conv.init(jax.random.key(7), x)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    np.testing.assert_array_equal(params["params"]["kernel"], reference["params"]["kernel"])
    np.testing.assert_allclose(ours.apply(params, x), flax_conv.apply(reference, x),
                               rtol=1e-5, atol=1e-6)


def test_bfloat16_module_computes_in_bfloat16_and_keeps_float32_params():
    x = jnp.ones((2, 4, 3, 2))
    module = conv.Conv(3, (3, 3), dtype=jnp.bfloat16)
    params = module.init(jax.random.key(0), x)
    assert params["params"]["kernel"].dtype == jnp.float32
    assert module.apply(params, x).dtype == jnp.bfloat16
    grad = jax.grad(lambda p: jnp.sum(module.apply(p, x).astype(jnp.float32)))(params)
    assert grad["params"]["kernel"].dtype == jnp.float32


def test_backbone_layer_keeps_flax_parameter_path():
    params = backbone.ConvLReLU(4, 3).init(jax.random.key(0), jnp.zeros((1, 4, 4, 2)))
    assert params["params"]["conv"]["kernel"].shape == (3, 3, 2, 4)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="conv2d: expected x"):
        conv.conv2d(jnp.zeros((2, 4, 4, 3)), jnp.zeros((3, 3, 2, 5)))
    with pytest.raises(ValueError, match=r"model.conv_formulation='fast': expected one of"):
        conv.conv2d(jnp.zeros((2, 4, 4, 3)), jnp.zeros((3, 3, 3, 5)), "fast")


def _convolutions(jaxpr, inside_custom_vjp=False) -> dict:
    """How many convolutions a jaxpr runs, nested ones included: {True: inside a custom-VJP call
    (the im2col formulation), False: plain XLA convolutions}."""
    counts = {True: 0, False: 0}
    for eqn in jaxpr.eqns:
        counts[inside_custom_vjp] += eqn.primitive.name == "conv_general_dilated"
        inside = inside_custom_vjp or "custom_vjp" in eqn.primitive.name
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    for key, n in _convolutions(inner, inside).items():
                        counts[key] += n
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("name", ["selfgait", "gaitset", "gaitpart"])
def test_the_config_key_chooses_the_formulation_of_every_convolution(name):
    """``model.conv_formulation`` reaches every convolution of a network: "lax" has no im2col
    weight gradient, "im2col" has one per convolution, both give the same embedding."""
    cfg = registry.model_config(name, "tiny")
    assert cfg.conv_formulation == "auto"  # declared, with its default
    frames, mask = jnp.zeros((1, 2, 64, 44)), jnp.ones((1, 2), bool)
    outputs, convolutions = {}, {}
    for formulation in ("lax", "im2col"):
        cfg.conv_formulation = formulation
        model = registry.build_embed_model(cfg)
        variables = jax.eval_shape(lambda m=model: m.init(jax.random.key(0), frames, mask))
        variables = jax.tree.map(lambda s: jnp.full(s.shape, 0.01, s.dtype), variables)
        convolutions[formulation] = _convolutions(
            jax.make_jaxpr(lambda v, m=model: m.apply(v, frames + 1.0, mask))(variables).jaxpr)
        outputs[formulation] = model.apply(variables, frames + 1.0, mask)
    layers = sum(jax.tree_util.keystr(path).endswith("['conv']['kernel']")  # conv.Conv's parameter
                 for path, _ in jax.tree_util.tree_flatten_with_path(variables)[0])
    assert convolutions["lax"] == {True: 0, False: layers} and layers > 0
    assert convolutions["im2col"] == {True: layers, False: 0}
    np.testing.assert_allclose(outputs["im2col"], outputs["lax"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 8, 6, 4), (2, 7, 5, 3)])
def test_max_pool2_matches_flax_max_pool_values_and_gradients_with_ties(shape):
    rng = np.random.default_rng(shape[1])
    x = rng.integers(-2, 3, shape).astype(np.float32)  # small integers: many tied maxima
    x[0] = 0.0  # an all-zero frame, like silhouette background after a conv and leaky ReLU
    out_shape = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
    cotangent = rng.standard_normal(out_shape).astype(np.float32)

    def reference(x):
        return nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")

    np.testing.assert_array_equal(backbone.max_pool2(x), reference(x))
    ours = jax.jit(jax.grad(lambda x: jnp.sum(backbone.max_pool2(x) * cotangent)))(x)
    theirs = jax.grad(lambda x: jnp.sum(reference(x) * cotangent))(x)
    np.testing.assert_array_equal(ours, theirs)  # the first maximum of a window takes it all


def test_gradients_with_the_batch_sharded_over_devices_match_lax():
    # conftest forces 4 CPU devices; the training step shards the frames' batch like this.
    mesh = jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4 * jax.device_count(), 6, 5, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)

    def grads(fn, **jit_kwargs):
        loss = lambda k, x: jnp.sum(jnp.tanh(fn(x, k)))  # noqa: E731
        return jax.jit(jax.grad(loss, argnums=(0, 1)), **jit_kwargs)(kernel, x)

    sharded = grads(conv.conv2d, in_shardings=(None, rows))
    reference = grads(conv.lax_conv2d)
    for ours, ref in zip(sharded, reference):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_cpu_compiler_options_compile_and_change_no_numbers():
    assert xla_cpu.compiler_options("gpu") == {}
    options = xla_cpu.compiler_options("cpu")
    assert options == xla_cpu.XLA_CPU_OPTIONS
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal((3, 6, 5, 2)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32)
    loss = lambda k, x: jnp.sum(jnp.tanh(conv.conv2d(x, k)))  # noqa: E731
    plain = jax.jit(jax.value_and_grad(loss))(kernel, x)
    tuned = jax.jit(jax.value_and_grad(loss), compiler_options=options)(kernel, x)
    for a, b in zip(plain, tuned):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
