"""A classical gait embedding exported like a trained network, for testing the tools around models.

The gait energy image (the mean silhouette over a walk; Han & Bhanu, 2006) needs no training and
tells SynthGait's walkers apart at one view, so the gallery and identification tools can be tested
end to end in seconds. Its 16 horizontal strips are the parts (4 rows x 22 column pairs = 88 dims).
"""

import jax.numpy as jnp

from selfgait_jax.evaluation import exported


class GaitEnergyImage:
    """``apply(variables, frames [N, T, 64, 44] in [0, 1], mask [N, T]) -> [N, 16, 88]``."""

    def apply(self, variables, frames, mask, train=False):
        del train
        weights = mask.astype(frames.dtype)[:, :, None, None]
        gei = (frames * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1.0)  # [N, 64, 44]
        pooled = gei.reshape(gei.shape[0], 64, 22, 2).mean(axis=-1)  # [N, 64, 22]
        return pooled.reshape(gei.shape[0], 16, 4 * 22) * variables["params"]["scale"]


def export_gei(path, scale=1.0, open_set=None):
    """Writes the GEI embedding as an exported model file (cpu only) with an evaluation that holds
    ``open_set`` (an open-set entry with its "source" and "dataset"), if given; returns its metadata."""
    variables = {"params": {"scale": jnp.full((), scale, jnp.float32)}}
    evaluations = [] if open_set is None else [
        {"source": open_set["source"], "results": {"dataset": open_set["dataset"], "open_set": open_set}}]
    return exported.export_embedding(GaitEnergyImage(), variables, path, platforms=("cpu",), model="gei",
                                     step=0, evaluations=evaluations)
