"""SelfGait's three networks. They share submodule names (``backbone``, ``part_fcs``, ``mtb``,
``fc_bins``, ``projector``, ``predictor``) so weights move between them by name and the target's
EMA is a tree map over its keys:

- :class:`SelfGaitEmbed`: frames → backbone → pyramid → part FCs → MTB → FC bins
  → ẑ ``[N, P, d1]`` (fine-tuning and test);
- :class:`SelfGaitOnline`: the same, then projector and predictor (pretext task);
- :class:`SelfGaitTarget`: one frame → backbone → pyramid → part FCs → FC bins → projector;
- :class:`SelfGaitClipTarget`: the target of the two-clip pretexts (``train/pretexts.py``): a clip →
  the online network's path without the predictor (``clip_temporal="mtb"``, MoCo-style), or with a
  plain max over time instead of the MTB (``"max"``, the authors' released code).
  It has no MTB because the paper's target branch, P_j'(FCs(E_o'(fm_k))), has no transition model:
  the MTB is not the identity on one frame (its convolutions and attention still act), it is simply
  not part of the target.

The ablations only swap pieces: ``bins=(1,)`` (w/o HPM: global pooling instead of the pyramid, same
conv stack) and ``temporal="tcn"`` (w/o MTB); the slot names stay the same.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from selfgait_jax.models import backbone as backbone_lib
from selfgait_jax.models import contract
from selfgait_jax.models import heads
from selfgait_jax.models import hpm
from selfgait_jax.models import masking
from selfgait_jax.models import mtb as mtb_lib


class _SelfGaitBase(nn.Module):
    """Fields and the per-frame spatial stage shared by the three networks."""
    channels: Sequence[int] = (32, 64, 128)
    d1: int = 128
    d2: int = 128
    head_hidden: int = 256
    head_bn_per_part: bool = False  # BYOL heads' BatchNorm statistics per part (heads.MLPHead)
    head_part_fcs: bool = False  # BYOL heads with a linear map per part (heads.MLPHead)
    bins: Sequence[int] = hpm.SELFGAIT_BINS
    use_part_fcs: bool = True
    temporal: str = "mtb"  # "mtb" or "tcn" (w/o MTB ablation)
    mtb_bias: bool = False
    mtb_activation: str = "leaky_relu"
    mtb_squeeze: int = 4
    dtype: Any = jnp.float32
    conv_formulation: str = "auto"  # how the backbone's convolutions are computed (conv.py)

    def setup(self):
        self.backbone = backbone_lib.GaitSetBackbone(tuple(self.channels), self.dtype,
                                                     self.conv_formulation)
        if self.use_part_fcs:
            self.part_fcs = heads.SeparateFCs(self.channels[-1], self.dtype)
        self.fc_bins = heads.SeparateFCs(self.d1, self.dtype)

    def frame_parts(self, images):
        """``[B, H, W]`` frames → part features ``[B, P, C]`` (backbone, pyramid, part FCs)."""
        x = self.backbone(images[..., None].astype(self.dtype))
        x = hpm.horizontal_pyramid(x, tuple(self.bins))
        return self.part_fcs(x) if self.use_part_fcs else x

    def sequence_embedding(self, frames, mask):
        """``frames [N, T, H, W]``, ``mask [N, T]`` → ẑ ``[N, P, d1]``."""
        return self.fc_bins(self.mtb(backbone_lib.per_frame(self.frame_parts, frames), mask))

    def make_head(self):
        return heads.MLPHead(self.head_hidden, self.d2, self.dtype, self.head_bn_per_part,
                             self.head_part_fcs)

    def make_temporal(self):
        num_parts = sum(self.bins)
        if self.temporal == "mtb":
            return mtb_lib.MTB(num_parts, self.mtb_squeeze, self.mtb_bias, self.mtb_activation,
                               self.dtype)
        if self.temporal == "tcn":
            return mtb_lib.PlainTCN(self.mtb_bias, self.mtb_activation, self.dtype)
        raise ValueError(f"temporal={self.temporal!r}: expected 'mtb' or 'tcn'")


class SelfGaitEmbed(_SelfGaitBase):
    """Identity embedding ẑ ``[N, P, d1]`` (float32) of padded sequences."""

    def setup(self):
        super().setup()
        self.mtb = self.make_temporal()

    def __call__(self, frames, mask, train: bool = False):
        del train  # no BatchNorm / dropout in the embedding network
        contract.check_inputs(frames, mask, "SelfGaitEmbed")
        return self.sequence_embedding(frames, mask).astype(jnp.float32)


class SelfGaitOnline(_SelfGaitBase):
    """Online network: dict of ``embedding [N, P, d1]``, ``projection`` and ``prediction`` ``[N, P, d2]``
    (all float32)."""

    def setup(self):
        super().setup()
        self.mtb = self.make_temporal()
        self.projector = self.make_head()
        self.predictor = self.make_head()

    def __call__(self, frames, mask, train: bool = True):
        contract.check_inputs(frames, mask, "SelfGaitOnline")
        embedding = self.sequence_embedding(frames, mask)
        projection = self.projector(embedding, train)
        prediction = self.predictor(projection, train)
        return {"embedding": embedding.astype(jnp.float32),
                "projection": projection.astype(jnp.float32),
                "prediction": prediction.astype(jnp.float32)}


class SelfGaitTarget(_SelfGaitBase):
    """Target network: one frame ``[N, H, W]`` → projection ``[N, P, d2]`` (float32)."""

    def setup(self):
        super().setup()
        self.projector = self.make_head()

    def __call__(self, frame, train: bool = True):
        if frame.ndim != 3:
            raise ValueError(f"SelfGaitTarget: frame must be [N, H, W], got shape {frame.shape}")
        embedding = self.fc_bins(self.frame_parts(frame))
        return self.projector(embedding, train).astype(jnp.float32)


class SelfGaitClipTarget(_SelfGaitBase):
    """Target network of the two-clip pretexts: a clip ``[N, T, H, W]`` with ``mask`` → projection
    ``[N, P, d2]`` (float32).

    ``clip_temporal="mtb"``: the embedding network's path, then the projector (the online network
    without its predictor, as in MoCo v3 / GaitSSB). ``"max"``: the MTB is left out and the part
    features are max-pooled over time (the authors' released code's target branch).
    """
    clip_temporal: str = "mtb"

    def setup(self):
        super().setup()
        if self.clip_temporal == "mtb":
            self.mtb = self.make_temporal()
        elif self.clip_temporal != "max":
            raise ValueError(f"clip_temporal={self.clip_temporal!r}: expected 'mtb' or 'max'")
        self.projector = self.make_head()

    def __call__(self, frames, mask, train: bool = True):
        contract.check_inputs(frames, mask, "SelfGaitClipTarget")
        if self.clip_temporal == "mtb":
            embedding = self.sequence_embedding(frames, mask)
        else:
            parts = backbone_lib.per_frame(self.frame_parts, frames)
            embedding = self.fc_bins(masking.masked_max(parts, mask))
        return self.projector(embedding, train).astype(jnp.float32)
