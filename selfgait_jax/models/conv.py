"""2-D "same" convolution (NHWC input, HWIO kernel, stride 1, no bias) with a fast CPU backward.

Why: XLA:CPU lowers the weight gradient of ``lax.conv_general_dilated`` as a convolution whose
"kernel" is the whole output gradient (e.g. 64×44); for the GaitSet stack that costs 5-10× the
forward pass and dominated the training step (docs/performance.md). On CPU, :func:`conv2d` keeps
XLA's forward and input-gradient convolutions (both fast) but computes the weight gradient as an
im2col matrix product, in chunks of frames small enough for the patches to stay in cache. On every
other platform (GPU/TPU: cuDNN etc. are fine) it is plain ``lax.conv_general_dilated``. Both give the
same numbers as ``flax.linen.Conv(padding="SAME", use_bias=False)`` up to float reassociation.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
# Patches of one chunk of frames (bytes): a few MB keeps the im2col product in the L2/L3 caches.
PATCH_CHUNK_BYTES = 2 * 2**20
# Read when a function is traced. "auto": im2col weight gradient on CPU, XLA's convolution elsewhere;
# "lax": XLA's convolution everywhere (the reference; tools/benchmark.py uses it for XLA's cost
# analysis, which counts the body of the weight gradient's loop only once).
FORMULATION = "auto"
FORMULATIONS = ("auto", "lax")


# XLA:CPU (jax 0.10) hands convolutions and dots to YNNPACK by default; on the 2-core AVX2 machine
# the full-size training step ran 1.6x faster without it (XLA's own Eigen kernels; measured
# interleaved, docs/performance.md). Pass these when compiling for CPU, e.g.
# ``jax.jit(step, compiler_options=cpu_compiler_options())``.
XLA_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def cpu_compiler_options(platform=None):
    """:data:`XLA_CPU_OPTIONS` when compiling for CPU (``platform``, default: JAX's default
    backend), else ``{}`` (GPU/TPU compilers reject CPU options)."""
    platform = platform or jax.default_backend()
    return dict(XLA_CPU_OPTIONS) if platform == "cpu" else {}


def _same_padding(kernel_shape):
    # flax/TF "SAME" for stride 1: (k - 1) // 2 before, the rest after.
    return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_shape[:2]]


def lax_conv2d(x, kernel):
    """The reference: XLA's convolution, differentiated by XLA's own rules."""
    return lax.conv_general_dilated(x, kernel, (1, 1), _same_padding(kernel.shape),
                                    dimension_numbers=DIMENSION_NUMBERS)


def patches(x, kernel_hw):
    """im2col: ``[B, H, W, C] -> [B, H, W, kh·kw·C]``, ordered (row, column, channel) like HWIO."""
    kh, kw = kernel_hw
    (top, bottom), (left, right) = _same_padding(kernel_hw)
    _, h, w, _ = x.shape
    xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    return jnp.concatenate([xp[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)], axis=-1)


def frames_per_chunk(x_shape, kernel_shape, itemsize, budget=None):
    """The largest divisor of the batch whose patches fit in ``budget`` bytes (default
    :data:`PATCH_CHUNK_BYTES`; at least 1)."""
    budget = PATCH_CHUNK_BYTES if budget is None else budget
    b, h, w, c = x_shape
    per_frame = h * w * kernel_shape[0] * kernel_shape[1] * c * itemsize
    fitting = [d for d in range(1, b + 1) if b % d == 0 and d * per_frame <= budget]
    return max(fitting, default=1)


def weight_grad(x, grad_out, kernel_shape):
    """``d/dkernel`` of ``sum(grad_out * conv(x, kernel))`` as Σ_chunks (grad_outᵀ · patches(x))ᵀ.

    A loop over chunks of frames keeps each chunk's patches small. ``grad_outᵀ · patches`` is the
    plain ``[M, K] · [K, N]`` product that Eigen runs fastest (``patchesᵀ · grad_out`` contracts
    both operands' leading axes and ran 1.3-1.5x slower). The chunks are sliced from ``x`` inside
    the loop rather than scanned over a reshaped copy, which XLA would copy once more into the
    loop's state. The sum is accumulated in float32 whatever the compute dtype."""
    kh, kw, cin, cout = kernel_shape
    b = x.shape[0]
    chunk = frames_per_chunk(x.shape, kernel_shape, x.dtype.itemsize)

    def add_chunk(i, total):
        x_chunk = lax.dynamic_slice_in_dim(x, i * chunk, chunk)
        g_chunk = lax.dynamic_slice_in_dim(grad_out, i * chunk, chunk)
        columns = patches(x_chunk, (kh, kw)).reshape(-1, kh * kw * cin)
        return total + jnp.dot(g_chunk.reshape(-1, cout).T, columns,
                               preferred_element_type=jnp.float32)

    total = lax.fori_loop(0, b // chunk, add_chunk, jnp.zeros((cout, kh * kw * cin), jnp.float32))
    return total.T.reshape(kernel_shape)


@jax.custom_vjp
def cpu_conv2d(x, kernel):
    """:func:`lax_conv2d` with the im2col weight gradient (:func:`weight_grad`)."""
    return lax_conv2d(x, kernel)


def _cpu_conv2d_fwd(x, kernel):
    return lax_conv2d(x, kernel), (x, kernel)


def _cpu_conv2d_bwd(residuals, grad_out):
    x, kernel = residuals
    # The input gradient is XLA's own (a convolution with the flipped kernel: fast on CPU). When x
    # needs no gradient (the first layer, whose input is data) jit drops it as dead code.
    _, input_vjp = jax.vjp(lambda inputs: lax_conv2d(inputs, kernel), x)
    (grad_x,) = input_vjp(grad_out)
    grad_kernel = weight_grad(x, grad_out, kernel.shape).astype(kernel.dtype)
    return grad_x, grad_kernel


cpu_conv2d.defvjp(_cpu_conv2d_fwd, _cpu_conv2d_bwd)


def conv2d(x, kernel):
    """"SAME" convolution, stride 1, no bias: ``x [B, H, W, C]``, ``kernel [kh, kw, C, F]``.

    The formulation is picked when the computation is lowered for a platform: the im2col weight
    gradient on CPU, XLA's convolution elsewhere."""
    if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
        raise ValueError(f"conv2d: expected x [B, H, W, C] and kernel [kh, kw, C, F], got "
                         f"{x.shape} and {kernel.shape}")
    if FORMULATION not in FORMULATIONS:
        raise ValueError(f"conv.FORMULATION={FORMULATION!r}: expected one of {FORMULATIONS}")
    if FORMULATION == "lax":
        return lax_conv2d(x, kernel)
    return lax.platform_dependent(x, kernel, cpu=cpu_conv2d, default=lax_conv2d)


class Conv(nn.Module):
    """Drop-in for ``nn.Conv(features, kernel_size, padding="SAME", use_bias=False, dtype=dtype)``:
    the same parameter (``kernel [kh, kw, C, F]``, float32, LeCun normal init, so the same values
    from the same rng) and the same outputs, computed by :func:`conv2d`."""
    features: int
    kernel_size: Sequence[int]
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (kh, kw, x.shape[-1], self.features), jnp.float32)
        return conv2d(x.astype(self.dtype), kernel.astype(self.dtype))
