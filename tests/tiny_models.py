"""Tiny flax networks that stand in for SelfGait's in the training-step tests: the same calling
contract and sub-network names as models.registry's (``backbone``, ``part_fcs``, ``mtb``,
``fc_bins``, ``projector``, ``predictor``), so a jit of a step compiles quickly."""

import flax.linen as nn
import jax.numpy as jnp


class Features(nn.Module):
    """Per frame: rows split into 2 parts → [..., 2, 3]."""

    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[:-2] + (2, -1))
        return nn.Dense(3, name="dense")(x)


class Head(nn.Module):
    """BYOL head: Dense → (BatchNorm) → tanh → Dense. tanh, not ReLU: with a few ReLU units a row
    can go all-dead, leaving the output ≈ the near-zero bias, whose direction (all the cosine loss
    sees) then flips on 1e-9 noise. Without BatchNorm every row's output depends on that row only."""
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train):
        if not self.batch_norm:  # (flax names layers as they are built: Dense_0 is the output here)
            return nn.Dense(3)(nn.tanh(nn.Dense(16)(x)))
        x = nn.Dense(16)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)
        return nn.Dense(3)(nn.tanh(x))


class TinyEmbed(nn.Module):
    def setup(self):
        self.backbone = Features()
        self.part_fcs = nn.Dense(3)
        self.mtb = nn.Dense(3)
        self.fc_bins = nn.Dense(3)

    def embed(self, frames, mask):
        x = self.mtb(self.part_fcs(self.backbone(frames)))  # [N, T, 2, 3]
        x = jnp.max(jnp.where(mask[:, :, None, None], x, -jnp.inf), axis=1)
        return self.fc_bins(x)

    def __call__(self, frames, mask, train=False):
        return self.embed(frames, mask)


class TinyOnline(TinyEmbed):
    head_batch_norm: bool = True

    def setup(self):
        super().setup()
        self.projector = Head(self.head_batch_norm)
        self.predictor = Head(self.head_batch_norm)

    def __call__(self, frames, mask, train=False):
        embedding = self.embed(frames, mask)
        projection = self.projector(embedding, train)
        return {"embedding": embedding, "projection": projection,
                "prediction": self.predictor(projection, train)}


class TinyTarget(nn.Module):
    head_batch_norm: bool = True

    def setup(self):
        self.backbone = Features()
        self.part_fcs = nn.Dense(3)
        self.fc_bins = nn.Dense(3)
        self.projector = Head(self.head_batch_norm)

    def __call__(self, frame, train=False):
        return self.projector(self.fc_bins(self.part_fcs(self.backbone(frame))), train)
