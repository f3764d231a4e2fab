"""Embedding every sequence of a source once, with all its frames, batches sharded over the devices.

The inference batches (data/inference.py) pad each sequence to a bucket length with a mask; the
model ignores padded frames, so an embedding does not depend on the bucket or on its batch-mates.
One compile per bucket length; the variables are replicated and the batch split over "data".
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from selfgait_jax.data import batching, inference
from selfgait_jax.models import conv

DEFAULT_ROWS_PER_DEVICE = 4


def make_embed_fn(embed_model):
    """jit(variables, frames uint8 [B, T, 64, 44], mask bool [B, T]) -> float32 [B, parts, dim]."""

    def embed(variables, frames, mask):
        frames = frames.astype(jnp.float32) / 255.0
        return embed_model.apply(variables, frames, mask, train=False).astype(jnp.float32)

    # On CPU without YNNPACK, like the training steps: the forward convolutions ran 1.57x faster
    # with XLA's Eigen kernels (full-size model, 256 frames; docs/performance.md).
    return jax.jit(embed, compiler_options=conv.cpu_compiler_options())


def embed_source(
    embed_model,
    variables,
    source,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int | None = None,
    bucket_lengths: Sequence[int] | None = None,
    max_length: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
    embed_fn=None,
) -> np.ndarray:
    """Embeddings float32 [len(indices), parts, dim] of `indices` (default: all of `source`), in order.

    `batch_size` is global (default 4 rows per device) and must divide over the devices.
    `embed_fn` lets a caller reuse one jitted function (and its compiles) across calls.
    """
    mesh = mesh if mesh is not None else batching.data_mesh()
    batch_size = batch_size or DEFAULT_ROWS_PER_DEVICE * mesh.size
    indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    embed_fn = embed_fn or make_embed_fn(embed_model)
    variables = jax.device_put(variables, NamedSharding(mesh, PartitionSpec()))
    position = {int(i): row for row, i in enumerate(indices)}
    known = getattr(source, "lengths", None)  # saves a reading pass when the source knows them
    lengths = None if known is None else np.asarray(known)[indices]
    out = None
    for batch in inference.inference_batches(
        source, batch_size, indices=indices, lengths=lengths, bucket_lengths=bucket_lengths,
        max_length=max_length, device_count=mesh.size,
    ):
        arrays = batching.to_global({"frames": batch["frames"], "mask": batch["mask"]}, mesh)
        emb = embed_fn(variables, arrays["frames"], arrays["mask"])
        emb, index = _gather(emb, batch["index"])
        if out is None:
            out = np.zeros((len(indices), *emb.shape[1:]), np.float32)
        real = index >= 0
        out[[position[int(i)] for i in index[real]]] = emb[real]
    if out is None:
        raise ValueError(f"{getattr(source, 'name', 'source')}: no sequences to embed")
    return out


def _gather(emb: jax.Array, local_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole global batch on this host (all processes' rows), with the matching source indices."""
    if jax.process_count() == 1:
        return np.asarray(emb), local_index
    from jax.experimental import multihost_utils

    emb = multihost_utils.process_allgather(emb, tiled=True)
    index = multihost_utils.process_allgather(local_index, tiled=True)
    return np.asarray(emb), np.asarray(index)
