"""Which sequences and frames make up training batch i: pure numpy functions of (seed, i).

Batch i depends only on the seed and i, never on what came before, so the data position a checkpoint
stores is just the next batch number and a resumed run sees exactly the batches an uninterrupted run
would have seen. The samplers return *indices* for the whole global batch (cheap); every process
computes the same plan and keeps its own rows (`batching.process_rows`). The frames themselves are
gathered by the input pipelines (batch_plans.py, pipelines.py).

Short sequences:
- Triplet windows: never dropped. Gait is periodic, so a sequence shorter than the window is read
  cyclically: the window starts at a random frame and wraps around to frame 0 (frames repeat, all
  real, so every mask entry stays True).
- Pretext windows never wrap: the target frame must be held out of the online frames, and a wrapped
  window of a sequence of <= k frames would contain it. A sequence of L <= k frames gives a shorter
  window, its first m = L-1 frames online and frame L-1 as the target; the k online slots are filled
  with those m frames, then the last of them repeated, and the mask is False on the repeats. A
  sequence with fewer than `min_online_frames` + 1 frames has no window and is never sampled.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from selfgait_jax.errors import ConfigError

# Separate random streams so that changing one choice never shifts the others.
_STREAM_EPOCH_ORDER = 0
_STREAM_BATCH = 1
_STREAM_GROUPED = 2
_STREAM_PARTNER = 3
_STREAM_CLIPS = 4

# The pretext's options, declared once (pipelines and the config checks read them).
PRETEXT_TARGETS = ("next_frame", "other_view")  # the paper's target frame, or the other_view extension's
# How a two-clip pretext draws its pair (pretext registry, train/pretexts.py): two clips of one
# sequence from independent windows (GaitSSB), or two copies of one window (the authors' code).
# "other_view_clips" (an extension): the second clip from the same walk seen by another camera.
CLIP_PAIRS = ("two_clips", "two_copies", "other_view_clips")
PRETEXT_BATCH_BY = ("", "view")  # byol.batch_by: "" = any sequences together; "view": one view a batch
MIN_ONLINE_KEY = "byol.min_online_frames"


def _check_lengths(lengths: np.ndarray) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"need a non-empty 1-D array of sequence lengths, got shape {lengths.shape}")
    if np.any(lengths < 1):
        bad = int(np.flatnonzero(lengths < 1)[0])
        raise ValueError(f"sequence at position {bad} has no frames")
    return lengths


@functools.lru_cache(maxsize=4)
def _epoch_order(seed: int, n: int, epoch: int) -> np.ndarray:
    """The order in which epoch `epoch` visits n sequences (cached: consecutive batches share it)."""
    return np.random.default_rng([seed, _STREAM_EPOCH_ORDER, epoch]).permutation(n)


def window_frames(rng: np.random.Generator, lengths: np.ndarray, window: int) -> np.ndarray:
    """Consecutive frame numbers [B, window] at a random start; short sequences wrap around (triplets)."""
    n_starts = np.where(lengths >= window, lengths - window + 1, lengths)
    start = rng.integers(0, n_starts)
    return (start[:, None] + np.arange(window)[None, :]) % lengths[:, None]


def unordered_frames(rng: np.random.Generator, lengths: np.ndarray, count: int) -> np.ndarray:
    """A random set of frame numbers [B, count] per sequence (GaitSet's view of a gait as a set).

    Without repetition when the sequence is long enough, otherwise drawn with repetition. Sorted, so
    the rows read in time order even though set models ignore the order.
    """
    rows = [np.sort(rng.choice(n, size=count, replace=bool(n < count))) for n in lengths.tolist()]
    return np.stack(rows).astype(np.int64)


def _pick(rng: np.random.Generator, members: np.ndarray, count: int) -> np.ndarray:
    """`count` of `members`: distinct if there are enough, else whole shuffled rounds then a partial one."""
    rounds = -(-count // len(members))
    return np.concatenate([rng.permutation(members) for _ in range(rounds)])[:count]


def pretext_frames(rng: np.random.Generator, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pretext windows: frame numbers int64 [B, k+1] (k online slots, then the target) and mask bool [B, k].

    Never wraps. A sequence of L > k frames: k+1 consecutive frames from a uniform random start. One
    of L <= k frames (L >= 2): its m = L-1 first frames online, frame L-1 the target; online slots
    m..k-1 repeat frame m-1 and are masked out. The target frame is never among the online frames.
    """
    if np.any(lengths < 2):
        raise ValueError("a pretext window needs a sequence of at least 2 frames")
    online = np.minimum(lengths - 1, k)  # m, valid online frames per row
    # A start is drawn for every row with the bounds of the old cyclic windows (a short row's draw
    # is then discarded), so the random stream, and every long row's window, stay what they were.
    start = rng.integers(0, np.where(lengths > k, lengths - k, lengths))
    start = np.where(lengths > k, start, 0)
    slots = np.arange(k + 1)[None, :]
    offset = np.where(slots < k, np.minimum(slots, online[:, None] - 1), online[:, None])
    mask = np.arange(k)[None, :] < online[:, None]
    return start[:, None] + offset, mask


@dataclasses.dataclass(frozen=True, eq=False)
class PretextSampler:
    """Unlabeled windows: online frames 0..m-1 (m = k, or fewer for a short sequence), target frame m.

    Only sequences with at least `min_online_frames` + 1 frames are sampled (`usable`). They are
    visited in a fresh random order every epoch (every usable sequence once per epoch); the window
    start is uniform over the sequence (see `pretext_frames` for short sequences).
    """

    lengths: np.ndarray  # int [N], frames in each candidate sequence
    batch_size: int
    k: int = 30
    seed: int = 0
    min_online_frames: int = 1
    # Optional: a group id per candidate (e.g. its camera view). Then every batch is drawn from one
    # group (picked with probability proportional to its usable sequences), so BatchNorm's batch
    # statistics in the BYOL heads compare sequences of one view, not views (docs/reproduction.md).
    groups: np.ndarray | None = None
    # Optional extension (not the paper): per candidate, the candidates showing the same walk from
    # other cameras. Then the target frame is a random frame of one of them, not the next frame.
    partners: tuple | None = None
    name: str = "the pool"  # whose sequences these are, for error messages (e.g. the dataset's name)

    def __post_init__(self):
        object.__setattr__(self, "lengths", _check_lengths(self.lengths))
        if self.k < 1:
            raise ValueError(f"byol.k must be >= 1, got {self.k}")
        if self.batch_size < 1:
            raise ValueError(f"byol.batch_size must be >= 1, got {self.batch_size}")
        if not 1 <= self.min_online_frames <= self.k:
            raise ValueError(f"{MIN_ONLINE_KEY} must be in [1, byol.k = {self.k}], "
                             f"got {self.min_online_frames}")
        needed = self.min_online_frames + 1
        usable = np.flatnonzero(self.lengths >= needed)
        if usable.size == 0:
            raise ConfigError(MIN_ONLINE_KEY, f"none of the {len(self.lengths)} sequences of "
                              f"{self.name} has the {needed} frames a pretext window needs "
                              f"({self.min_online_frames} online + 1 target; the longest has "
                              f"{int(self.lengths.max())})")
        if self.partners is not None:
            if len(self.partners) != len(self.lengths):
                raise ValueError(f"partners has {len(self.partners)} entries for {len(self.lengths)} sequences")
            usable = usable[[len(self.partners[i]) > 0 for i in usable.tolist()]]
            if usable.size == 0:
                raise ValueError("pretext other_view: no sequence has another view of its walk")
        object.__setattr__(self, "usable", usable)
        if self.groups is not None:
            object.__setattr__(self, "_group_members", _group_members(self.groups, usable, len(self.lengths)))

    @property
    def skipped(self) -> int:
        """How many sequences are never sampled: too short for any window (``too_short``) or, with
        ``partners``, without another view of their walk."""
        return len(self.lengths) - len(self.usable)

    @property
    def too_short(self) -> int:
        """How many sequences have fewer than ``min_online_frames`` + 1 frames: no window at all."""
        return int(np.sum(self.lengths < self.min_online_frames + 1))

    @property
    def shortened(self) -> int:
        """How many sequences have a window but at most k frames: a shorter, masked online window."""
        return int(np.sum((self.lengths >= self.min_online_frames + 1) & (self.lengths <= self.k)))

    def __call__(self, batch_number: int) -> dict[str, np.ndarray]:
        """{"sequence": int64 [B] positions in the candidate list, "frame": int64 [B, k+1] (online slots,
        then the target), "mask": bool [B, k] (False on padded online slots)}; with `partners` also
        "target_sequence" int64 [B], the sequence the target frame (the last column) is taken from."""
        chosen = self._one_group_batch(batch_number) if self.groups is not None else self._batch(batch_number)
        if self.partners is not None:
            rng = np.random.default_rng([self.seed, _STREAM_PARTNER, batch_number])
            partner = np.array([rng.choice(self.partners[i]) for i in chosen["sequence"].tolist()],
                               np.int64)
            chosen["frame"][:, -1] = rng.integers(0, self.lengths[partner])
            chosen["target_sequence"] = partner
        return chosen

    def _batch(self, batch_number: int) -> dict[str, np.ndarray]:
        """Every usable sequence once per epoch, in a fresh order each epoch."""
        sequence = epoch_batch(self.seed, self.usable, self.batch_size, batch_number)
        rng = np.random.default_rng([self.seed, _STREAM_BATCH, batch_number])
        frame, mask = pretext_frames(rng, self.lengths[sequence], self.k)
        return {"sequence": sequence, "frame": frame, "mask": mask}

    def _one_group_batch(self, batch_number: int) -> dict[str, np.ndarray]:
        """All rows from one group; distinct sequences when the group has enough."""
        rng = np.random.default_rng([self.seed, _STREAM_GROUPED, batch_number])
        sequence = _rows_of_one_group(rng, self._group_members, self.batch_size)
        frame, mask = pretext_frames(rng, self.lengths[sequence], self.k)
        return {"sequence": sequence, "frame": frame, "mask": mask}


def _group_members(groups, candidates: np.ndarray, n: int) -> list[np.ndarray]:
    """The candidates of each distinct group id (``groups``: one id per sequence, ``n`` of them)."""
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups {groups.shape} and lengths ({n},) differ in shape")
    return [candidates[groups[candidates] == g] for g in np.unique(groups[candidates])]


def _rows_of_one_group(rng: np.random.Generator, members: list[np.ndarray], batch_size: int) -> np.ndarray:
    """A batch from one group, picked with probability proportional to its size; distinct sequences
    when the group has enough."""
    sizes = np.array([len(m) for m in members], float)
    chosen = members[int(rng.choice(len(sizes), p=sizes / sizes.sum()))]
    return _pick(rng, chosen, batch_size).astype(np.int64)


def clip_frames(rng: np.random.Generator, lengths: np.ndarray, frames: int, span: int) -> np.ndarray:
    """Per sequence, ``frames`` ordered frame numbers from a random window of ``span`` consecutive
    frames (GaitSSB's clip: 16 of 20), int64 [B, frames].

    A sequence shorter than ``span`` uses all of it as the window; one shorter than ``frames`` repeats
    frames (drawn with replacement, still in time order), so every slot holds a real frame.
    """
    rows = []
    for n in lengths.tolist():
        width = min(span, n)
        start = int(rng.integers(0, n - width + 1))
        picked = np.sort(rng.choice(width, size=frames, replace=bool(width < frames)))
        rows.append(start + picked)
    return np.stack(rows).astype(np.int64)


def epoch_batch(seed: int, candidates: np.ndarray, batch_size: int, batch_number: int) -> np.ndarray:
    """Batch ``batch_number`` of a walk through ``candidates`` that visits each once per epoch, in a
    fresh order every epoch (positions run on across epoch boundaries)."""
    n = len(candidates)
    positions = batch_number * batch_size + np.arange(batch_size)
    epochs, within = np.divmod(positions, n)
    chosen = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs).tolist():
        sel = epochs == epoch
        chosen[sel] = candidates[_epoch_order(seed, n, int(epoch))[within[sel]]]
    return chosen


@dataclasses.dataclass(frozen=True, eq=False)
class ClipPairSampler:
    """Two clips of each sequence, the positive pair of a two-clip pretext; no labels.

    ``pairs="two_clips"``: each clip is ``frames`` ordered frames of its own random ``span``-frame
    window (GaitSSB). ``"two_copies"``: one window of ``frames`` consecutive frames, given twice (the
    authors' SelfGait code, which augments the two copies differently). Every sequence is visited
    once per epoch, in a fresh order each epoch, like the paper's pretext (with ``groups``: batches
    of one group each, as PretextSampler's).
    """

    lengths: np.ndarray  # int [N]
    batch_size: int
    frames: int = 16
    span: int = 20
    pairs: str = "two_clips"
    seed: int = 0
    # Optional: a group id per sequence (its camera view). Then every batch holds one group, so the
    # other sequences of the batch, a query's negatives, share its view: telling sequences apart by
    # their view no longer solves the task (as PretextSampler.groups).
    groups: np.ndarray | None = None
    # "other_view_clips": per sequence, the sequences of the same walk from other cameras; clip b
    # comes from one of them. Sequences without any are never sampled.
    partners: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "lengths", _check_lengths(self.lengths))
        if self.pairs not in CLIP_PAIRS:
            raise ValueError(f"clip pairs {self.pairs!r}: expected one of {CLIP_PAIRS}")
        usable = np.arange(len(self.lengths))
        if (self.partners is not None) != (self.pairs == "other_view_clips"):
            raise ValueError("clip pairs: partners are given exactly when pairs='other_view_clips'")
        if self.partners is not None:
            if len(self.partners) != len(self.lengths):
                raise ValueError(f"partners has {len(self.partners)} entries for {len(self.lengths)} sequences")
            usable = usable[[len(p) > 0 for p in self.partners]]
            if usable.size == 0:
                raise ValueError("pretext other-view clips: no sequence has another view of its walk")
        object.__setattr__(self, "usable", usable)
        if self.groups is not None:
            object.__setattr__(self, "_group_members", _group_members(self.groups, usable, len(self.lengths)))
        if self.batch_size < 1:
            raise ValueError(f"byol.batch_size must be >= 1, got {self.batch_size}")
        if not 1 <= self.frames <= self.span:
            raise ValueError(f"pretext.clip_frames={self.frames} must be in [1, pretext.clip_span = "
                             f"{self.span}]")

    def __call__(self, batch_number: int) -> dict[str, np.ndarray]:
        """{"sequence", "sequence_b": int64 [B] (the sequences of clips a and b: the same one unless
        pairs="other_view_clips"), "frame_a", "frame_b": int64 [B, frames]}."""
        rng = np.random.default_rng([self.seed, _STREAM_CLIPS, batch_number])
        if self.groups is None:
            sequence = epoch_batch(self.seed, self.usable, self.batch_size, batch_number)
        else:
            sequence = _rows_of_one_group(rng, self._group_members, self.batch_size)
        sequence_b = sequence
        if self.partners is not None:
            sequence_b = np.array([rng.choice(self.partners[i]) for i in sequence.tolist()], np.int64)
        if self.pairs == "two_copies":
            frame_a = window_frames(rng, self.lengths[sequence], self.frames)
            frame_b = frame_a.copy()
        else:
            frame_a = clip_frames(rng, self.lengths[sequence], self.frames, self.span)
            frame_b = clip_frames(rng, self.lengths[sequence_b], self.frames, self.span)
        return {"sequence": sequence, "sequence_b": sequence_b, "frame_a": frame_a, "frame_b": frame_b}


@dataclasses.dataclass(frozen=True, eq=False)
class TripletSampler:
    """P subjects x K sequences per batch, `frames` frames each (batch-all triplet loss needs both).

    The P subjects are distinct; a subject's K sequences are distinct when it has at least K,
    otherwise all of them are used as evenly as possible (each one floor or ceil of K/n times).
    Frames: a consecutive window (`ordered=True`, for MTB models) or a random set (`ordered=False`,
    GaitSet).
    """

    labels: np.ndarray  # int [N], subject label of each candidate sequence
    lengths: np.ndarray  # int [N]
    subjects_per_batch: int = 8  # P
    sequences_per_subject: int = 16  # K
    frames: int = 30
    ordered: bool = True
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "lengths", _check_lengths(self.lengths))
        labels = np.asarray(self.labels, dtype=np.int64)
        if labels.shape != self.lengths.shape:
            raise ValueError(f"labels {labels.shape} and lengths {self.lengths.shape} differ in shape")
        object.__setattr__(self, "labels", labels)
        subjects, members = np.unique(labels, return_inverse=True)
        groups = [np.flatnonzero(members == s) for s in range(len(subjects))]
        object.__setattr__(self, "_subjects", subjects)
        object.__setattr__(self, "_groups", groups)
        if self.subjects_per_batch < 1 or self.sequences_per_subject < 1 or self.frames < 1:
            raise ValueError("triplet.P, triplet.K and triplet.frames must all be >= 1, got "
                             f"{self.subjects_per_batch}, {self.sequences_per_subject}, {self.frames}")
        if len(subjects) < self.subjects_per_batch:
            raise ValueError(f"triplet.P = {self.subjects_per_batch} distinct subjects per batch, but the "
                             f"labeled set has only {len(subjects)} subjects")

    @property
    def batch_size(self) -> int:
        return self.subjects_per_batch * self.sequences_per_subject

    def __call__(self, batch_number: int) -> dict[str, np.ndarray]:
        """{"sequence": int64 [P*K], "frame": int64 [P*K, frames], "label": int32 [P*K]}.

        Rows are grouped by subject: rows p*K .. p*K+K-1 belong to the p-th chosen subject.
        """
        rng = np.random.default_rng([self.seed, _STREAM_BATCH, batch_number])
        chosen = rng.choice(len(self._groups), size=self.subjects_per_batch, replace=False)
        k = self.sequences_per_subject
        sequence = np.concatenate([_pick(rng, self._groups[s], k) for s in chosen]).astype(np.int64)
        lengths = self.lengths[sequence]
        if self.ordered:
            frame = window_frames(rng, lengths, self.frames)
        else:
            frame = unordered_frames(rng, lengths, self.frames)
        return {"sequence": sequence, "frame": frame, "label": self.labels[sequence].astype(np.int32)}
