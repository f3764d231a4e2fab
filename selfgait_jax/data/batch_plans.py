"""What training batch i is, as rows of an in-memory frame store: the part of the training input
pipelines that both of their back ends share (``pipelines.py`` chooses one). NumPy only.

- The needed sequences are loaded from the SequenceSource once, into memory (`FrameStore`). Binary
  silhouettes are bit-packed (np.packbits: 352 bytes a 64x44 frame, 8x smaller), so a whole
  SynthGait-B / CASIA-B training split takes a few hundred MB; a source with other values than 0/255
  is kept as raw uint8, never altered. A prepared TFDS dataset (data.tfds_dir) is loaded the same way,
  record by record (tfds_source.py); streaming its records with a shuffle buffer instead could not
  give "batch i is a pure function of (seed, i)"; in memory we index directly.
- Which frames make up batch i is decided by the numpy samplers of `sampling.py` (pure in (seed, i),
  see there for short sequences: triplet windows read them cyclically; pretext windows never wrap, so
  a short sequence gives a shorter, masked online window, and one too short for any window is
  skipped, counted in one INFO line when the plan is built). A `BatchPlan` turns a batch number into
  this process's rows of the store (int64 arrays) and the batch's small arrays (mask, label, views);
  a back end only gathers and unpacks the frames (`BatchPlan.batch` is the numpy one).
- Each process produces its rows of the global batch (`batching.process_rows`); the global batch must
  divide by the device count and the process count (a ValueError naming the config key otherwise).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Sequence

import numpy as np

from selfgait_jax.data import batching, sampling
from selfgait_jax.data.sequence import FRAME_SHAPE, describe_sequence, load_sequence
from selfgait_jax.errors import ConfigError
from selfgait_jax.progress import progress as progress_bar

_log = logging.getLogger(__name__)

# Byte value -> its 8 pixels (0/255), most significant bit first, as np.packbits writes them (the
# tf.data back end's unpacking; np.unpackbits gives the same pixels).
UNPACK_TABLE = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1) * np.uint8(255)

PRETEXT_BATCH_KEY = "byol.batch_size"
TRIPLET_BATCH_KEY = "triplet.P*triplet.K"


def _is_binary(frames: np.ndarray) -> bool:
    return bool(np.all((frames == 0) | (frames == 255)))


@dataclasses.dataclass(frozen=True)
class FrameStore:
    """The frames of `indices` of a source, concatenated in memory; bit-packed if all are binary."""

    indices: np.ndarray  # int64 [N] source indices, in store order
    frames: np.ndarray  # uint8 [total, 352] if packed else [total, 64, 44]
    offsets: np.ndarray  # int64 [N] first row of each sequence in `frames`
    lengths: np.ndarray  # int64 [N]
    packed: bool

    @classmethod
    def load(cls, source, indices: Sequence[int], *, progress: bool = True) -> "FrameStore":
        """Load every sequence once. A sequence with a wrong shape, dtype or no frames is an error."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1 or indices.size == 0:
            raise ValueError(f"no sequences of {source.name} to load (indices shape {indices.shape})")
        chunks, packed = [], True
        for i in progress_bar(indices.tolist(), desc=f"loading {len(indices)} sequences of {source.name}",
                              unit="seq", enabled=progress):
            frames = load_sequence(source, i)
            if packed and not _is_binary(frames):
                _log.info("%s is not binary (0/255); keeping raw uint8 frames",
                             describe_sequence(source, i))
                chunks, packed = [_unpack_rows(c) for c in chunks], False
            chunks.append(_pack_rows(frames) if packed else frames)
        lengths = np.array([len(c) for c in chunks], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(indices, np.concatenate(chunks), offsets, lengths, packed)

    def sequence(self, j: int) -> np.ndarray:
        """The frames uint8 [T, 64, 44] of the j-th stored sequence (source index `indices[j]`)."""
        return self.gather(np.arange(self.offsets[j], self.offsets[j] + self.lengths[j]))

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Frame rows int64 [...] -> uint8 frames [..., 64, 44] (a fresh array)."""
        rows = np.asarray(rows)
        picked = self.frames[rows]
        return _unpack_rows(picked.reshape(-1, picked.shape[-1])).reshape(*rows.shape, *FRAME_SHAPE) \
            if self.packed else picked

    def __len__(self) -> int:
        return len(self.indices)


def _pack_rows(frames: np.ndarray) -> np.ndarray:
    return np.packbits(frames.reshape(len(frames), -1) > 0, axis=1)


def _unpack_rows(rows: np.ndarray) -> np.ndarray:
    pixels = np.unpackbits(rows, axis=1)
    pixels *= np.uint8(255)  # in place: several times faster than a lookup table here
    return pixels.reshape(len(rows), *FRAME_SHAPE)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """A pipeline's batches as numbers: ``rows(i)`` gives this process's part of global batch i as
    ``{key: array}``. The arrays of ``frame_keys`` are int64 rows of ``store``, which a back end
    gathers into uint8 frames [..., 64, 44]; the others are the batch's own values, passed as they
    are. ``outputs`` holds the shape and dtype of every array ``rows(i)`` returns (a back end checks
    them)."""

    store: FrameStore
    rows: Callable[[int], dict[str, np.ndarray]]
    frame_keys: tuple[str, ...]
    outputs: dict[str, tuple[tuple[int, ...], np.dtype]]

    def batch(self, number: int) -> dict[str, np.ndarray]:
        """Batch ``number`` with numpy: the frames gathered and unpacked, the rest as planned."""
        planned = self.rows(number)
        for key, (shape, dtype) in self.outputs.items():
            if planned[key].shape != shape or planned[key].dtype != dtype:
                raise ValueError(f"batch {number}: {key} planned as {planned[key].dtype} "
                                 f"{planned[key].shape}, expected {np.dtype(dtype)} {shape}")
        return {key: self.store.gather(value) if key in self.frame_keys else value
                for key, value in planned.items()}


def _load_store(source, indices, store: FrameStore | None, progress: bool) -> FrameStore:
    if store is None:
        return FrameStore.load(source, indices, progress=progress)
    if not np.array_equal(store.indices, np.asarray(indices)):
        raise ValueError("the given FrameStore holds other sequences than `indices`")
    return store


def _view_groups(views: np.ndarray, batch_by: str) -> np.ndarray | None:
    """The group each stored sequence's batches are drawn by: with ``batch_by="view"`` its camera
    view (``views``, `_view_indices`), else none."""
    if batch_by not in sampling.PRETEXT_BATCH_BY:
        raise ConfigError("byol.batch_by", f"{batch_by!r}: expected one of {sampling.PRETEXT_BATCH_BY}")
    return views if batch_by == "view" else None


def _view_indices(source, store: FrameStore) -> np.ndarray:
    """int32 per stored sequence: its camera view's index among the stored views, sorted (so the
    indices keep the views' order)."""
    names = np.array([source.metas[i].view for i in store.indices.tolist()])
    return np.searchsorted(np.unique(names), names).astype(np.int32)


def _other_views_of_each_walk(source, store: FrameStore) -> tuple:
    """Per stored sequence: the store positions of the same walk (subject, type) at other views."""
    metas = [source.metas[i] for i in store.indices.tolist()]
    walks: dict = {}
    for j, m in enumerate(metas):
        walks.setdefault((m.subject, m.type), []).append(j)
    return tuple(np.array([o for o in walks[(m.subject, m.type)] if metas[o].view != m.view], np.int64)
                 for m in metas)


def pretext_plan(source, indices: Sequence[int], *, batch_size: int, k: int = 30, seed: int = 0,
                 min_online_frames: int = 1, batch_by: str = "", target: str = "next_frame",
                 process_index: int | None = None, process_count: int | None = None,
                 device_count: int | None = None, store: FrameStore | None = None,
                 progress: bool = True) -> BatchPlan:
    """Unlabeled pretext batches: {"frames": uint8 [b, k, 64, 44], "mask": bool [b, k],
    "target_frame": uint8 [b, 64, 44]}.

    `batch_size` is the global batch; b = batch_size / process_count rows come from this process.
    Row r: m consecutive frames of one sequence online (m = k when the sequence has more than k
    frames, else its length - 1; slots m..k-1 repeat frame m-1 with mask False) and the frame right
    after them as the target, never one of the online frames. Sequences with fewer than
    `min_online_frames` + 1 frames are skipped (logged); a ValueError names the key if none is left.
    `batch_by="view"`: every batch comes from one camera view (`sampling.PretextSampler.groups`).
    `target="other_view"` (an extension, not the paper): the target frame is a random frame of the same
    walk (subject and type) seen by another camera; sequences with no other view are skipped.
    """
    p_index, p_count, d_count = batching.resolve_topology(process_index, process_count, device_count)
    local = batching.check_global_batch(batch_size, PRETEXT_BATCH_KEY, d_count, p_count)
    rows = batching.process_rows(batch_size, p_index, p_count)
    store = _load_store(source, indices, store, progress)
    groups = _view_groups(_view_indices(source, store), batch_by)
    if target not in sampling.PRETEXT_TARGETS:
        raise ConfigError("pretext.name", f"pretext windows {target!r}: expected one of {sampling.PRETEXT_TARGETS}")
    partners = _other_views_of_each_walk(source, store) if target == "other_view" else None
    sampler = sampling.PretextSampler(store.lengths, batch_size=batch_size, k=k, seed=seed,
                                      min_online_frames=min_online_frames, name=source.name,
                                      groups=groups, partners=partners)
    if sampler.too_short or sampler.shortened:
        _log.info("pretext windows of %s: %d of %d sequences skipped (fewer than %s + 1 = %d "
                  "frames); %d shorter than k + 1 = %d frames give masked, shorter online windows",
                  source.name, sampler.too_short, len(store), sampling.MIN_ONLINE_KEY,
                  min_online_frames + 1, sampler.shortened, k + 1)
    offsets = store.offsets

    def plan(i):
        chosen = sampler(int(i))
        flat = offsets[chosen["sequence"][rows], None] + chosen["frame"][rows]
        if "target_sequence" in chosen:
            flat[:, -1] = offsets[chosen["target_sequence"][rows]] + chosen["frame"][rows, -1]
        return {"frames": np.ascontiguousarray(flat[:, :k]), "mask": chosen["mask"][rows],
                "target_frame": flat[:, k].copy()}

    return BatchPlan(store, plan, ("frames", "target_frame"),
                     {"frames": ((local, k), np.int64), "mask": ((local, k), np.bool_),
                      "target_frame": ((local,), np.int64)})


def clip_pair_plan(source, indices: Sequence[int], *, batch_size: int, frames: int = 16,
                   span: int = 20, pairs: str = "two_clips", batch_by: str = "", seed: int = 0,
                   process_index: int | None = None, process_count: int | None = None,
                   device_count: int | None = None, store: FrameStore | None = None,
                   progress: bool = True) -> BatchPlan:
    """Unlabeled clip pairs of the two-clip pretexts: {"clip_a", "clip_b": uint8 [b, frames, 64, 44]},
    two clips of the same sequence, or with pairs="other_view_clips" of the same walk (subject and
    type) at two camera views (see `sampling.ClipPairSampler` for `pairs` and `span`);
    `batch_by="view"`: every batch from one camera view. "views": int32 [b, 2], the camera views
    of clip a and clip b as indices among the pool's sorted views (metadata, not labels: a queue
    of negatives can keep to a view).

    Every slot holds a real frame (a short sequence repeats frames), so there is no mask; the
    augmentations are applied in the train step (`train/augment.py`).
    """
    p_index, p_count, d_count = batching.resolve_topology(process_index, process_count, device_count)
    local = batching.check_global_batch(batch_size, PRETEXT_BATCH_KEY, d_count, p_count)
    rows = batching.process_rows(batch_size, p_index, p_count)
    store = _load_store(source, indices, store, progress)
    partners = _other_views_of_each_walk(source, store) if pairs == "other_view_clips" else None
    views = _view_indices(source, store)
    sampler = sampling.ClipPairSampler(store.lengths, batch_size, frames, span, pairs, seed,
                                       groups=_view_groups(views, batch_by), partners=partners)
    offsets = store.offsets

    def plan(i):
        chosen = sampler(int(i))
        seq_a, seq_b = chosen["sequence"][rows], chosen["sequence_b"][rows]
        return {"clip_a": offsets[seq_a, None] + chosen["frame_a"][rows],
                "clip_b": offsets[seq_b, None] + chosen["frame_b"][rows],
                "views": np.stack([views[seq_a], views[seq_b]], axis=1)}

    return BatchPlan(store, plan, ("clip_a", "clip_b"),
                     {"clip_a": ((local, frames), np.int64), "clip_b": ((local, frames), np.int64),
                      "views": ((local, 2), np.int32)})


def triplet_plan(source, indices: Sequence[int], *, subjects_per_batch: int = 8,
                 sequences_per_subject: int = 16, frames: int = 30, ordered: bool = True,
                 seed: int = 0, process_index: int | None = None,
                 process_count: int | None = None, device_count: int | None = None,
                 store: FrameStore | None = None, progress: bool = True) -> BatchPlan:
    """Labeled P x K batches: {"frames": uint8 [b, frames, 64, 44], "mask": bool [b, frames], "label": int32 [b]}.

    `indices` is the labeled set (e.g. the label-fraction subset). Labels number the distinct subjects
    of that set in sorted order. Every frame slot holds a real frame (short sequences are read
    cyclically or with repetition, see `sampling`), so the mask is all True; it is there so that
    triplet batches and inference batches share one model signature.
    """
    p_index, p_count, d_count = batching.resolve_topology(process_index, process_count, device_count)
    global_batch = subjects_per_batch * sequences_per_subject
    local = batching.check_global_batch(global_batch, TRIPLET_BATCH_KEY, d_count, p_count)
    rows = batching.process_rows(global_batch, p_index, p_count)
    store = _load_store(source, indices, store, progress)
    subjects = [source.metas[i].subject for i in store.indices.tolist()]
    _, labels = np.unique(np.array(subjects), return_inverse=True)
    sampler = sampling.TripletSampler(labels, store.lengths, subjects_per_batch, sequences_per_subject,
                                      frames, ordered, seed)
    offsets = store.offsets

    def plan(i):
        chosen = sampler(int(i))
        return {"frames": offsets[chosen["sequence"][rows], None] + chosen["frame"][rows],
                "mask": np.ones((local, frames), bool), "label": chosen["label"][rows]}

    return BatchPlan(store, plan, ("frames",),
                     {"frames": ((local, frames), np.int64), "mask": ((local, frames), np.bool_),
                      "label": ((local,), np.int32)})
