"""GaitSet baseline (Chao et al. 2019, OpenGait's layout): frames as an unordered set.

Three set blocks run on every frame; set pooling is the max over the real frames after each
block. A global branch (copies of blocks 2 and 3) runs on the set-pooled maps and adds the next
pooled output. HPM (bins 16, 8, 4, 2, 1, mean + max) on the last set-pooled map and on the global
map gives 2 × 31 = 62 parts; separate FCs map each to ``d1`` (256). Because every frame-level
result is max-pooled over the set, the output does not depend on the order of the frames.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from selfgait_jax.models import backbone
from selfgait_jax.models import contract
from selfgait_jax.models import heads
from selfgait_jax.models import hpm
from selfgait_jax.models import masking


class GaitSet(nn.Module):
    """``frames [N, T, H, W]``, ``mask [N, T]`` → embedding ``[N, 2·sum(bins), d1]`` (float32)."""
    channels: Sequence[int] = (32, 64, 128)
    d1: int = 256
    bins: Sequence[int] = hpm.GAITSET_BINS
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"  # how the convolutions are computed (conv.py)

    @nn.compact
    def __call__(self, frames, mask, train: bool = False):
        del train  # no BatchNorm / dropout
        contract.check_inputs(frames, mask, "GaitSet")
        c1, c2, c3 = self.channels

        def block(features, name, **kwargs):
            return backbone.SetBlock(features, dtype=self.dtype,
                                     conv_formulation=self.conv_formulation, name=name, **kwargs)

        per_frame = backbone.per_frame  # x [N, T, h, w, c]: the block on every frame
        x = frames[..., None].astype(self.dtype)
        x = per_frame(block(c1, "set_block1", first_kernel=5), x)
        gl = block(c2, "gl_block2")(masking.masked_max(x, mask))
        x = per_frame(block(c2, "set_block2"), x)
        gl = block(c3, "gl_block3", pool=False)(gl + masking.masked_max(x, mask))
        x = masking.masked_max(per_frame(block(c3, "set_block3", pool=False), x), mask)
        gl = gl + x
        bins = tuple(self.bins)
        parts = jnp.concatenate([hpm.horizontal_pyramid(x, bins), hpm.horizontal_pyramid(gl, bins)],
                                axis=-2)
        return heads.SeparateFCs(self.d1, self.dtype, name="fc_bins")(parts).astype(jnp.float32)
