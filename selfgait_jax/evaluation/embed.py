"""Embedding every sequence of a source once, with all its frames, batches sharded over the devices.

The inference batches (data/inference.py) pad each sequence to a bucket length with a mask; the
model ignores padded frames, so an embedding does not depend on the bucket or on its batch-mates.
One compile per bucket length; the variables are replicated and the batch split over "data". The
host assembles the next batch while the device embeds the current one (one batch in flight).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from selfgait_jax import sharding
from selfgait_jax.data import batching, inference
from selfgait_jax.progress import progress

DEFAULT_ROWS_PER_DEVICE = 4


def embed_source(
    embed_fn,
    variables,
    source,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int | None = None,
    bucket_lengths: Sequence[int] | None = None,
    max_length: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> np.ndarray:
    """Embeddings float32 [len(indices), parts, dim] of `indices` (default: all of `source`), in order.

    `embed_fn(variables, frames uint8 [B, T, 64, 44], mask bool [B, T]) -> [B, parts, dim]` is
    ``models.contract.make_embed_fn(model)``, or an exported model's function
    (``ExportedEmbedder.embed_fn``). `batch_size` is global (default 4 rows per device) and must
    divide over the devices of `mesh` (default: all devices of all processes; a mesh of this
    process's devices embeds everything here, without the other processes).
    """
    mesh = mesh if mesh is not None else sharding.data_mesh()
    process_index, process_count = sharding.mesh_processes(mesh)
    batch_size = batch_size or DEFAULT_ROWS_PER_DEVICE * mesh.size
    indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    variables = jax.device_put(variables, sharding.replicated(mesh))
    position = {int(i): row for row, i in enumerate(indices)}
    known = getattr(source, "lengths", None)  # saves a reading pass when the source knows them
    lengths = None if known is None else np.asarray(known)[indices]
    batches = inference.inference_batches(
        source, batch_size, indices=indices, lengths=lengths, bucket_lengths=bucket_lengths,
        max_length=max_length, process_index=process_index, process_count=process_count,
        device_count=mesh.size,
    )
    out = None
    name = getattr(source, "name", "source")
    with progress(total=len(indices), desc=f"embedding {len(indices)} sequences of {name}", unit="seq",
                  enabled=process_index == 0) as bar:
        in_flight = None  # the batch the device is embedding while the host assembles the next one
        for batch in batches:
            arrays = batching.to_global(batch, mesh)
            dispatched = (embed_fn(variables, arrays["frames"], arrays["mask"]), arrays["index"])
            if in_flight is not None:
                out = _store(out, *in_flight, position, len(indices), bar)
            in_flight = dispatched
        if in_flight is not None:
            out = _store(out, *in_flight, position, len(indices), bar)
    if out is None:
        raise ValueError(f"{name}: no sequences to embed")
    return out


def embed_exported(embedder, source, *, indices=None, max_length=None, batch_size: int = 8) -> np.ndarray:
    """``embed_source`` with an exported model (an ``evaluation.exported.ExportedEmbedder``: its
    ``embed_fn`` and ``params``), in bucketed batches on this process's first device: the exported
    function is compiled for one device."""
    return embed_source(embedder.embed_fn, embedder.params, source, indices=indices,
                        batch_size=batch_size, max_length=max_length,
                        mesh=sharding.data_mesh(jax.local_devices()[:1]))


def _store(out, embeddings, index, position, count, bar):
    """Copies a finished batch's real rows into ``out`` (made on the first batch: [count, parts, dim])."""
    emb, index = sharding.to_host(embeddings), sharding.to_host(index)
    if out is None:
        out = np.zeros((count, *emb.shape[1:]), np.float32)
    real = index >= 0
    out[[position[int(i)] for i in index[real]]] = emb[real]
    bar.update(int(real.sum()))
    return out
