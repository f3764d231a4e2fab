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
        return jnp.einsum("...pc,pcf->...pf", x.astype(self.dtype), kernel.astype(self.dtype))


class MLPHead(nn.Module):
    """BYOL projection / prediction head, shared across parts:
    Linear → BatchNorm → ReLU → Linear. BatchNorm statistics are taken over batch × parts (under
    ``jit`` with a sharded batch that is the global batch); they live in collection ``batch_stats``."""
    hidden: int
    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.Dense(self.hidden, dtype=self.dtype, name="dense1")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, name="bn")(x)
        x = nn.relu(x)
        return nn.Dense(self.features, dtype=self.dtype, name="dense2")(x)
