"""Per-frame convolutional stacks (NHWC): GaitSet's and GaitPart's FocalConv variant. All
convolutions are bias-free, "same" padded and followed by leaky ReLU 0.01, as in GaitSet/GaitPart.
Sequences are handled by folding time into the batch (:func:`per_frame`). ``conv_formulation``
says how the convolutions are computed (``conv.py``), never what."""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from selfgait_jax.models import conv as conv_lib

LEAKY_SLOPE = 0.01


def per_frame(fn, x):
    """Runs ``fn`` (``[B, ...] -> [B, ...]``) on every frame of ``x [N, T, ...]``: time folded into
    the batch, then unfolded."""
    n, t = x.shape[:2]
    out = fn(x.reshape((n * t,) + x.shape[2:]))
    return out.reshape((n, t) + out.shape[1:])


@jax.custom_vjp
def max_pool2(x):
    """2×2 max pooling, stride 2 (odd sizes are floored, like PyTorch's ``MaxPool2d(2)``).

    Same values and gradient as ``nn.max_pool(x, (2, 2), strides=(2, 2))`` (the gradient goes to
    the first maximum of each window in row-major order, also on ties such as all-zero background),
    but written as a reshape + max and an elementwise backward: XLA:CPU expands the
    select-and-scatter of ``nn.max_pool``'s gradient into index maps and a scatter."""
    # That scatter cost ~15 % of the CPU training step (docs/performance.md).
    return _window_max(_window_view(x))


def _window_view(x):
    # [B, H, W, C] -> [B, H/2, 2, W/2, 2, C] (odd trailing row / column dropped)
    b, h, w, c = x.shape
    x = x[:, :h - h % 2, :w - w % 2]
    return x.reshape(b, h // 2, 2, w // 2, 2, c)


def _window_max(windows):
    return jnp.max(windows, axis=(2, 4))


def _max_pool2_fwd(x):
    windows = _window_view(x)
    out = _window_max(windows)
    return out, (windows, out, x.shape)


def _max_pool2_bwd(residuals, grad_out):
    windows, out, shape = residuals
    taken = jnp.zeros(out.shape, bool)
    grads = []
    for i in range(2):  # window positions in row-major order: the first maximum takes the gradient
        row = []
        for j in range(2):
            first = (windows[:, :, i, :, j] == out) & ~taken
            taken = taken | first
            row.append(jnp.where(first, grad_out, jnp.zeros((), grad_out.dtype)))
        grads.append(jnp.stack(row, axis=3))
    grad = jnp.stack(grads, axis=2).reshape(windows.shape[0], windows.shape[1] * 2,
                                            windows.shape[3] * 2, windows.shape[5])
    b, h, w, c = shape
    return (jnp.pad(grad, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)


max_pool2.defvjp(_max_pool2_fwd, _max_pool2_bwd)


class ConvLReLU(nn.Module):
    """Bias-free "same" convolution followed by leaky ReLU 0.01.

    The convolution is :class:`conv.Conv` (same parameter as ``nn.Conv``)."""
    features: int
    kernel: int
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        x = conv_lib.Conv(self.features, (self.kernel, self.kernel), self.dtype,
                          self.conv_formulation, name="conv")(x)
        return nn.leaky_relu(x, LEAKY_SLOPE)


class FocalConv(nn.Module):
    """GaitPart's FocalConv: the height is cut into ``strips`` horizontal strips and each strip is
    convolved on its own (zero padding at strip borders) with the same weights; then leaky ReLU."""
    features: int
    kernel: int
    strips: int
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        b, h, w, c = x.shape
        if h % self.strips:
            raise ValueError(f"FocalConv: height {h} is not divisible into {self.strips} strips")
        x = x.reshape(b * self.strips, h // self.strips, w, c)
        x = ConvLReLU(self.features, self.kernel, self.dtype, self.conv_formulation, name="conv")(x)
        return x.reshape(b, h, w, self.features)


class SetBlock(nn.Module):
    """Two convolutions (first ``first_kernel``×, then 3×3) of width ``features``, optional 2×2 pool.

    GaitSet's building block; its global branch reuses it on set-pooled maps."""
    features: int
    first_kernel: int = 3
    pool: bool = True
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(ConvLReLU, dtype=self.dtype, conv_formulation=self.conv_formulation)
        x = conv(self.features, self.first_kernel, name="conv_a")(x)
        x = conv(self.features, 3, name="conv_b")(x)
        return max_pool2(x) if self.pool else x


class GaitSetBackbone(nn.Module):
    """conv5×5 1→c1, conv3×3 c1→c1, pool, conv3×3 c1→c2, c2→c2, pool, conv3×3 c2→c3, c3→c3
    (each conv bias-free + leaky ReLU).

    ``[B, 64, 44, 1] -> [B, 16, 11, c3]`` with ``channels = (c1, c2, c3)`` (paper: 32, 64, 128)."""
    channels: Sequence[int] = (32, 64, 128)
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        c1, c2, c3 = self.channels
        block = functools.partial(SetBlock, dtype=self.dtype, conv_formulation=self.conv_formulation)
        x = block(c1, first_kernel=5, name="block1")(x)
        x = block(c2, name="block2")(x)
        return block(c3, pool=False, name="block3")(x)


class GaitPartBackbone(nn.Module):
    """conv5×5 1→c1, conv3×3 c1→c1, pool, FocalConv3×3 c1→c2, c2→c2 (``strips[0]`` strips),
    pool, FocalConv3×3 c2→c3, c3→c3 (``strips[1]`` strips).

    Same parameter count as GaitSet's stack: strips share their conv weights."""
    channels: Sequence[int] = (32, 64, 128)
    strips: Sequence[int] = (4, 8)
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        c1, c2, c3 = self.channels
        s2, s3 = self.strips
        kw = dict(dtype=self.dtype, conv_formulation=self.conv_formulation)
        x = ConvLReLU(c1, 5, name="conv1", **kw)(x)
        x = max_pool2(ConvLReLU(c1, 3, name="conv2", **kw)(x))
        x = FocalConv(c2, 3, s2, name="focal3", **kw)(x)
        x = max_pool2(FocalConv(c2, 3, s2, name="focal4", **kw)(x))
        x = FocalConv(c3, 3, s3, name="focal5", **kw)(x)
        return FocalConv(c3, 3, s3, name="focal6", **kw)(x)
