"""Horizontal pyramid mapping (GaitSet's HPM, parameter-free part): strips of rows pooled by
mean + max over their pixels."""

from typing import Sequence

import jax.numpy as jnp

SELFGAIT_BINS = (1, 2, 4, 8, 16)  # 31 parts, coarse to fine
GAITSET_BINS = (16, 8, 4, 2, 1)  # OpenGait's order
GAITPART_BINS = (16,)


def horizontal_pyramid(x, bins: Sequence[int]):
    """``x [..., H, W, C] -> [..., sum(bins), C]``.

    For each ``b`` in ``bins`` (in that order) the H rows are split into ``b`` equal strips, top to
    bottom; each strip becomes mean + max over its pixels. ``bins=(1,)`` is global mean+max pooling.
    """
    *lead, h, w, c = x.shape
    parts = []
    for b in bins:
        if b < 1 or h % b:
            raise ValueError(
                f"HPM: {h} rows cannot be split into {b} equal strips (bins={tuple(bins)})")
        strips = x.reshape(*lead, b, (h // b) * w, c)
        parts.append(jnp.mean(strips, axis=-2) + jnp.max(strips, axis=-2))
    return jnp.concatenate(parts, axis=-2)
