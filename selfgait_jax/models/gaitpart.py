"""GaitPart baseline (Fan et al. 2020, OpenGait's layout): FocalConv backbone on every frame, HPM
with the single scale of 16 strips (mean + max), the MTB per part (bias-free, leaky ReLU), separate
FCs 128 → ``d1`` (128)."""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from selfgait_jax.models import backbone as backbone_lib
from selfgait_jax.models import contract
from selfgait_jax.models import heads
from selfgait_jax.models import hpm
from selfgait_jax.models import mtb as mtb_lib


class GaitPart(nn.Module):
    """``frames [N, T, H, W]``, ``mask [N, T]`` → embedding ``[N, sum(bins), d1]`` (float32)."""
    channels: Sequence[int] = (32, 64, 128)
    d1: int = 128
    bins: Sequence[int] = hpm.GAITPART_BINS
    focal_strips: Sequence[int] = (4, 8)
    mtb_bias: bool = False
    mtb_activation: str = "leaky_relu"
    mtb_squeeze: int = 4
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"  # how the convolutions are computed (conv.py)

    @nn.compact
    def __call__(self, frames, mask, train: bool = False):
        del train  # no BatchNorm / dropout
        contract.check_inputs(frames, mask, "GaitPart")
        net = backbone_lib.GaitPartBackbone(tuple(self.channels), tuple(self.focal_strips),
                                            self.dtype, self.conv_formulation, name="backbone")
        x = backbone_lib.per_frame(net, frames[..., None].astype(self.dtype))
        x = hpm.horizontal_pyramid(x, tuple(self.bins))
        x = mtb_lib.MTB(sum(self.bins), self.mtb_squeeze, self.mtb_bias, self.mtb_activation,
                        self.dtype, name="mtb")(x, mask)
        return heads.SeparateFCs(self.d1, self.dtype, name="fc_bins")(x).astype(jnp.float32)
