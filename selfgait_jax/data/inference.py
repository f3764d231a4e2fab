"""Inference batches: every frame of every sequence exactly once, padded to a few bucket lengths.

NumPy only, by design: evaluation, export and identification run on accelerator hosts that have JAX
but no TensorFlow, and embedding a fixed list once needs no shuffling, prefetch graph or randomness.

The plan is global and deterministic: each sequence goes to the smallest bucket length that holds it,
each bucket is cut into global batches of `batch_size` rows in index order, the last one padded with
index -1 rows (mask all False, frames 0). Process p of n takes rows [p*B/n, (p+1)*B/n) of every global
batch, so every process runs the same number of batches with the same shapes (needed for a global
jax.Array) and every sequence lands in exactly one row of one process. Masks are a prefix: True for
the sequence's real frames. By default all frames are used (`max_length=None`); with `max_length` a
longer sequence keeps its first `max_length` frames.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from selfgait_jax.data import batching
from selfgait_jax.data.sequence import FRAME_SHAPE, describe_sequence, load_sequence

BATCH_KEY = "eval.batch_size"
SMALLEST_BUCKET = 16


@dataclasses.dataclass(frozen=True)
class PlannedBatch:
    """One global inference batch: its padded length and the source index of each row (-1: padding)."""

    length: int
    indices: np.ndarray  # int32 [batch_size]


def default_buckets(longest: int, smallest: int = SMALLEST_BUCKET, max_length: int | None = None) -> list[int]:
    """Bucket lengths that hold sequences of up to `longest` frames with at most 1.5x padding.

    A fixed ladder, `smallest` x 1, 1.5, 2, 3, 4, 6, 8, ... (16, 24, 32, 48, 64, 96, 128, ...), up to
    the first length that holds `longest`: the same set of sequences always gets the same buckets,
    and a shorter one (e.g. a probe) reuses their compiles. With `max_length` (the sequences were cut
    to it) a rung above it is replaced by `max_length` itself: e.g. 40 frames are not padded to 48.
    """
    buckets = [smallest]
    while buckets[-1] < longest:
        k = len(buckets)  # rung k: smallest x 2^(k // 2), times 1.5 when k is odd
        buckets.append(smallest * 2 ** (k // 2) * (3 if k % 2 else 2) // 2)
    if max_length is not None:
        buckets = sorted({min(b, max_length) for b in buckets})
    return buckets


def sequence_lengths(source, indices: Sequence[int]) -> np.ndarray:
    """Frame counts of `indices`: the source's `lengths` when it knows them, else by loading each."""
    known = getattr(source, "lengths", None)
    if known is not None:
        return np.asarray(known, dtype=np.int64)[np.asarray(indices, dtype=np.int64)]
    return np.array([len(source.load(i)) for i in indices], dtype=np.int64)


def plan_inference(indices: Sequence[int], lengths: Sequence[int], batch_size: int, *,
                   bucket_lengths: Sequence[int] | None = None,
                   max_length: int | None = None) -> list[PlannedBatch]:
    """The global batches that embed `indices` (source indices; `lengths` aligned with them) once each."""
    indices = np.asarray(indices, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if indices.shape != lengths.shape or indices.ndim != 1:
        raise ValueError(f"indices {indices.shape} and lengths {lengths.shape} must be equal 1-D shapes")
    if len(np.unique(indices)) != len(indices):
        raise ValueError("indices repeat a sequence; each sequence is embedded once")
    if np.any(lengths < 1):
        raise ValueError(f"sequence {int(indices[np.argmax(lengths < 1)])} has no frames")
    if max_length is not None:
        if max_length < 1:
            raise ValueError(f"eval.max_length must be >= 1 or None, got {max_length}")
        lengths = np.minimum(lengths, max_length)
    if len(indices) == 0:
        return []
    buckets = (sorted(bucket_lengths) if bucket_lengths
               else default_buckets(int(lengths.max()), max_length=max_length))
    if lengths.max() > buckets[-1]:
        i = int(indices[np.argmax(lengths)])
        raise ValueError(f"sequence {i} has {int(lengths.max())} frames, more than the largest of "
                         f"eval.bucket_lengths {list(buckets)}; add a bucket or set eval.max_length")
    bucket_of = np.searchsorted(buckets, lengths)  # smallest bucket >= length
    plan = []
    for b, length in enumerate(buckets):
        members = indices[bucket_of == b]
        for start in range(0, len(members), batch_size):
            rows = np.full(batch_size, -1, dtype=np.int32)
            chunk = members[start:start + batch_size]
            rows[:len(chunk)] = chunk
            plan.append(PlannedBatch(int(length), rows))
    return plan


def inference_batches(source, batch_size: int, *, indices: Sequence[int] | None = None,
                      lengths: Sequence[int] | None = None,
                      bucket_lengths: Sequence[int] | None = None, max_length: int | None = None,
                      process_index: int | None = None, process_count: int | None = None,
                      device_count: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """This process's share of the batches that embed `indices` (default: all of the source) once.

    Yields {"frames": uint8 [b, Tb, 64, 44], "mask": bool [b, Tb], "index": int32 [b]} with
    b = batch_size / process_count; `index` is the source index (metadata: source.metas[index]),
    -1 for padding rows. Every process plans from the lengths of all of `indices`: `lengths` (aligned
    with `indices`), else the source's `lengths`, else one reading pass over the sequences.
    """
    p_index, p_count, d_count = batching.resolve_topology(process_index, process_count, device_count)
    batching.check_global_batch(batch_size, BATCH_KEY, d_count, p_count)
    rows = batching.process_rows(batch_size, p_index, p_count)
    indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    if lengths is None:
        lengths = sequence_lengths(source, indices)
    plan = plan_inference(indices, lengths, batch_size, bucket_lengths=bucket_lengths, max_length=max_length)
    for planned in plan:
        yield _assemble(source, planned.indices[rows], planned.length, max_length)


def _assemble(source, indices: np.ndarray, length: int, max_length: int | None) -> dict[str, np.ndarray]:
    frames = np.zeros((len(indices), length, *FRAME_SHAPE), dtype=np.uint8)
    mask = np.zeros((len(indices), length), dtype=bool)
    for row, i in enumerate(indices.tolist()):
        if i < 0:
            continue
        seq = load_sequence(source, i)[:max_length]
        if len(seq) > length:
            raise ValueError(f"{describe_sequence(source, i)} has {len(seq)} frames, more than the length it was "
                             f"planned with; the lengths given (or the source's `lengths`) are wrong")
        frames[row, :len(seq)] = seq
        mask[row, :len(seq)] = True
    return {"frames": frames, "mask": mask, "index": indices.astype(np.int32)}
