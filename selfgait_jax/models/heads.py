"""Per-part linear maps and the BYOL MLP head, on part features ``[..., P, C]``."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class SeparateFCs(nn.Module):
    """One bias-free ``[C, features]`` matrix per part (GaitSet's "FC bins"), all parts in one einsum.

    Used for the part FCs before the MTB and for the FC bins that give the embedding."""
    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        parts, channels = x.shape[-2:]
        kernel = self.param("kernel", nn.initializers.xavier_uniform(batch_axis=(0,)),
                            (parts, channels, self.features))
        # Parts moved to the front for the product: a batched matmul with a leading batch axis.
        # Batched over the part axis in place, XLA:CPU fused the MTB's backward into a transposing
        # copy that took ~4 % of the training step (docs/performance.md).
        parts_first = jnp.moveaxis(x.astype(self.dtype), -2, 0)
        y = jnp.einsum("p...c,pcf->p...f", parts_first, kernel.astype(self.dtype))
        return jnp.moveaxis(y, 0, -2)


class MLPHead(nn.Module):
    """BYOL projection / prediction head: Linear → BatchNorm → ReLU → Linear. BatchNorm's statistics
    live in collection ``batch_stats``; under ``jit`` with a sharded batch they are the global batch's.

    ``bn_per_part=False`` (the authors' code: BatchNorm1d over [N, C, parts]): statistics over
    batch × parts. A projection constant over the batch but different per part then passes BatchNorm
    unchanged, so BYOL can collapse part by part (docs/reproduction.md). ``True``: statistics, scale
    and bias per part, over the batch only, on ``[N, parts, C]`` inputs.
    """
    hidden: int
    features: int
    dtype: Any = jnp.float32
    bn_per_part: bool = False
    # True: a separate bias-free linear map per part for both layers (GaitSSB's heads), always with
    # per-part BatchNorm; False: one Dense shared by all parts (the authors' SelfGait heads).
    part_fcs: bool = False

    @nn.compact
    def __call__(self, x, train: bool):
        if self.part_fcs:
            dense1, dense2 = SeparateFCs(self.hidden, self.dtype, name="dense1"), SeparateFCs(
                self.features, self.dtype, name="dense2")
        else:
            dense1 = nn.Dense(self.hidden, dtype=self.dtype, name="dense1")
            dense2 = nn.Dense(self.features, dtype=self.dtype, name="dense2")
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis=(-2, -1) if self.bn_per_part or self.part_fcs else -1,
                         dtype=self.dtype, name="bn")(dense1(x))
        return dense2(nn.relu(x))
