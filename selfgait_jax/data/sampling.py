"""Which sequences and frames make up training batch i: pure numpy functions of (seed, i).

Batch i depends only on the seed and i, never on what came before, so the data position a checkpoint
stores is just the next batch number and a resumed run sees exactly the batches an uninterrupted run
would have seen. The samplers return *indices* for the whole global batch (cheap); every process
computes the same plan and keeps its own rows (`batching.process_rows`). The frames themselves are
gathered by the tf.data pipelines.

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

# The pretext's options, declared once (pipelines and config validation read them).
PRETEXT_TARGETS = ("next_frame", "other_view")  # byol.target: the paper's, or an extension
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
                raise ValueError("byol.target=other_view: no sequence has another view of its walk")
        object.__setattr__(self, "usable", usable)
        if self.groups is not None:
            groups = np.asarray(self.groups)
            if groups.shape != self.lengths.shape:
                raise ValueError(f"groups {groups.shape} and lengths {self.lengths.shape} differ in shape")
            members = [usable[groups[usable] == g] for g in np.unique(groups[usable])]
            object.__setattr__(self, "_group_members", members)

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
        n = len(self.usable)
        positions = batch_number * self.batch_size + np.arange(self.batch_size)
        epochs, within = np.divmod(positions, n)
        sequence = np.empty(self.batch_size, dtype=np.int64)
        for epoch in np.unique(epochs).tolist():
            sel = epochs == epoch
            sequence[sel] = self.usable[_epoch_order(self.seed, n, int(epoch))[within[sel]]]
        rng = np.random.default_rng([self.seed, _STREAM_BATCH, batch_number])
        frame, mask = pretext_frames(rng, self.lengths[sequence], self.k)
        return {"sequence": sequence, "frame": frame, "mask": mask}

    def _one_group_batch(self, batch_number: int) -> dict[str, np.ndarray]:
        """All rows from one group; distinct sequences when the group has enough."""
        rng = np.random.default_rng([self.seed, _STREAM_GROUPED, batch_number])
        sizes = np.array([len(m) for m in self._group_members], float)
        members = self._group_members[int(rng.choice(len(sizes), p=sizes / sizes.sum()))]
        sequence = _pick(rng, members, self.batch_size).astype(np.int64)
        frame, mask = pretext_frames(rng, self.lengths[sequence], self.k)
        return {"sequence": sequence, "frame": frame, "mask": mask}


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
