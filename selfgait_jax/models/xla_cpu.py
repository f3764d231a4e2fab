"""What XLA:CPU needs to run these networks fast: a convolution weight gradient and compiler options.

Nothing here changes what is computed, only how; the networks reach it through the
``model.conv_formulation`` config key (``conv.conv2d``), and jitted steps and embedding functions
through :func:`compiler_options`. docs/performance.md has the measurements behind both.

Weight gradient: XLA:CPU lowers the weight gradient of ``lax.conv_general_dilated`` as a
convolution whose "kernel" is the whole output gradient (e.g. 64×44); for the GaitSet stack that
costs 5-10× the forward pass and dominated the training step. :func:`with_im2col_weight_grad`
keeps XLA's forward and input-gradient convolutions (both fast) but computes the weight gradient
as an im2col matrix product, in chunks of frames small enough for the patches to stay in cache.
The numbers equal XLA's up to float reassociation.

Compiler options: XLA:CPU (jax 0.10) hands convolutions and dots to YNNPACK by default; XLA's own
Eigen kernels ran faster here (:data:`XLA_CPU_OPTIONS`).
"""

import jax
import jax.numpy as jnp
from jax import lax

# Patches of one chunk of frames (bytes): a few MB keeps the im2col product in the L2/L3 caches.
PATCH_CHUNK_BYTES = 2 * 2**20

# Without YNNPACK, on the 2-core AVX2 machine: the full-size training step ran 1.6x faster
# (measured interleaved), the embedding's forward convolutions 1.57x (full-size model, 256 frames).
XLA_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def compiler_options(platform=None) -> dict:
    """:data:`XLA_CPU_OPTIONS` when compiling for CPU (``platform``, default: JAX's default
    backend), else ``{}`` (GPU/TPU compilers reject CPU options). Pass as
    ``jax.jit(fn, compiler_options=compiler_options(platform))``."""
    platform = platform or jax.default_backend()
    return dict(XLA_CPU_OPTIONS) if platform == "cpu" else {}


def same_padding(kernel_hw):
    """flax/TF "SAME" padding for stride 1: (k - 1) // 2 before, the rest after, per axis."""
    return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_hw[:2]]


def patches(x, kernel_hw):
    """im2col: ``[B, H, W, C] -> [B, H, W, kh·kw·C]``, ordered (row, column, channel) like HWIO."""
    kh, kw = kernel_hw
    (top, bottom), (left, right) = same_padding(kernel_hw)
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
    plain ``[M, K] · [K, N]`` product that Eigen runs fastest. The chunks are sliced from ``x``
    inside the loop rather than scanned over a reshaped copy, which XLA would copy once more into
    the loop's state. The sum is accumulated in float32 whatever the compute dtype."""
    # patchesᵀ · grad_out contracts both operands' leading axes and ran 1.3-1.5x slower.
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


def with_im2col_weight_grad(conv2d):
    """``conv2d(x, kernel)`` (a "SAME", stride-1 convolution ``[B, H, W, C] × [kh, kw, C, F]``)
    with the same forward and input gradient, and the weight gradient of :func:`weight_grad`."""

    @jax.custom_vjp
    def conv(x, kernel):
        return conv2d(x, kernel)

    def forward(x, kernel):
        return conv2d(x, kernel), (x, kernel)

    def backward(residuals, grad_out):
        x, kernel = residuals
        # The input gradient is conv2d's own (for XLA's convolution: a convolution with the flipped
        # kernel, fast on CPU). When x needs no gradient (the first layer, whose input is data) jit
        # drops it as dead code.
        _, input_vjp = jax.vjp(lambda inputs: conv2d(inputs, kernel), x)
        (grad_x,) = input_vjp(grad_out)
        grad_kernel = weight_grad(x, grad_out, kernel.shape).astype(kernel.dtype)
        return grad_x, grad_kernel

    conv.defvjp(forward, backward)
    return conv
