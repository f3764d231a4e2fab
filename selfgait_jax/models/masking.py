"""Mask-aware operations over time.

Every sequence-level tensor is laid out ``[N, T, ...]`` with a boolean ``mask [N, T]`` that is True
for real frames. Masks are prefixes: the real frames come first and the padding after, which is what
bucketed padding produces. The helpers below give, for the real frames, exactly the numbers the
unpadded sequence would give, so padded frames (whatever garbage they hold) change nothing. The
temporal window helpers rely on the prefix layout: a window reaching past the last real frame then
sees the same zeros / -inf that ordinary "same" padding of the unpadded sequence would supply.
"""

import functools

import jax.numpy as jnp


def broadcast_mask(mask, x):
    """Reshapes ``mask [N, T]`` so that it broadcasts against ``x [N, T, ...]``."""
    return mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))


def zero_padded(x, mask):
    """Sets padded frames of ``x [N, T, ...]`` to zero (``where``, so NaN/inf garbage is removed too)."""
    return jnp.where(broadcast_mask(mask, x), x, jnp.zeros((), x.dtype))


def masked_max(x, mask):
    """Max over time of ``x [N, T, ...]`` using real frames only -> ``[N, ...]``.

    A row without any real frame (a padding row of a batch) gives zeros rather than -inf, so padding
    rows stay finite.
    """
    m = broadcast_mask(mask, x)
    out = jnp.max(jnp.where(m, x, jnp.array(-jnp.inf, x.dtype)), axis=1)
    return jnp.where(jnp.any(m, axis=1), out, jnp.zeros((), x.dtype))


def temporal_shifts(x, size, pad_value):
    """The ``size`` (odd) frames of a window centred on each frame, as ``size`` arrays ``[N, T, ...]``
    (offsets -size//2 .. size//2); positions outside ``[0, T)`` read ``pad_value`` ("same" padding,
    stride 1).

    A list rather than one stacked ``[N, T, size, ...]`` array: sums and products over the window
    then stay elementwise, and their gradients are slices, not a large transpose (docs/performance.md).
    """
    if size % 2 != 1:
        raise ValueError(f"temporal window size must be odd, got {size}")
    half = size // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (half, half)
    xp = jnp.pad(x, pad, constant_values=pad_value)
    steps = x.shape[1]
    return [xp[:, j:j + steps] for j in range(size)]


def masked_avg_pool(x, mask, size):
    """Temporal average pool (stride 1, zero "same" padding counted in the mean, like PyTorch's
    ``AvgPool1d(size, 1, size // 2)``); padded frames are treated as that zero padding and the output
    is zero on them."""
    total = functools.reduce(jnp.add, temporal_shifts(zero_padded(x, mask), size, 0))
    return zero_padded(total / size, mask)


def masked_max_pool(x, mask, size):
    """Temporal max pool (stride 1, -inf "same" padding, like PyTorch's ``MaxPool1d``); padded frames
    never win and the output is zero on them."""
    neg_inf = jnp.array(-jnp.inf, x.dtype)
    shifts = temporal_shifts(jnp.where(broadcast_mask(mask, x), x, neg_inf), size, neg_inf)
    return zero_padded(functools.reduce(jnp.maximum, shifts), mask)
