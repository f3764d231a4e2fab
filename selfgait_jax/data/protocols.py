"""Evaluation protocols and training splits, as index arrays into a source's ``metas``.

CASIA-B (LT): subjects 001-074 train, 075-124 test; gallery nm-01..04; probes NM = nm-05,06,
BG = bg-01,02, CL = cl-01,02. OU-MVLP: the first half of the sorted subjects train; gallery "01",
probe "00". SynthGait datasets use the same rules; a scaled-down one splits its sorted subjects in
the same proportion (round(n * 74 / 124) train subjects for the CASIA-B shape, n // 2 for OU-MVLP's).

``pool_indices`` picks the sequences BYOL pretraining uses: the SG-2/4/6 "pool mode" of any dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from selfgait_jax.data.sequence import CASIA_B_BG_TYPES, CASIA_B_CL_TYPES, SequenceMeta

CASIA_B_TRAIN_SUBJECTS = 74
CASIA_B_SUBJECTS = 124
CASIA_B_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIA_B_PROBES = {"NM": ("nm-05", "nm-06"), "BG": CASIA_B_BG_TYPES, "CL": CASIA_B_CL_TYPES}
OU_MVLP_GALLERY = ("01",)
OU_MVLP_PROBES = {"NM": ("00",)}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Indices of the training sequences, the gallery, and the probes of each condition."""

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    train: np.ndarray
    gallery: np.ndarray
    probes: dict[str, np.ndarray]


def split_subjects(subjects: Sequence[str], num_train: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first ``num_train`` subjects in sorted order train, the rest test."""
    ordered = sorted(set(subjects))
    if not 0 < num_train < len(ordered):
        raise ValueError(f"cannot split {len(ordered)} subjects into {num_train} train and the rest test")
    return tuple(ordered[:num_train]), tuple(ordered[num_train:])


def _indices(metas: Sequence[SequenceMeta], subjects: set[str], types: Sequence[str] | None) -> np.ndarray:
    wanted = None if types is None else set(types)
    return np.asarray(
        [i for i, m in enumerate(metas) if m.subject in subjects and (wanted is None or m.type in wanted)],
        np.int64,
    )


def _protocol(name, metas, train_subjects, test_subjects, gallery, probes) -> Protocol:
    test = set(test_subjects)
    protocol = Protocol(
        name=name,
        train_subjects=train_subjects,
        test_subjects=test_subjects,
        train=_indices(metas, set(train_subjects), None),
        gallery=_indices(metas, test, gallery),
        probes={condition: _indices(metas, test, types) for condition, types in probes.items()},
    )
    if protocol.gallery.size == 0:
        raise ValueError(f"{name} protocol: no gallery sequences of types {gallery} among the test subjects")
    return protocol


def casia_b_protocol(metas: Sequence[SequenceMeta]) -> Protocol:
    """CASIA-B LT split. CASIA-B's numbering (ids up to 124): 001-074 train, even if some subject is
    missing from the copy; any other set of ids: the first round(n * 74 / 124) sorted subjects."""
    subjects = sorted({m.subject for m in metas})
    if all(s.isdigit() for s in subjects) and max(int(s) for s in subjects) == CASIA_B_SUBJECTS:
        num_train = sum(int(s) <= CASIA_B_TRAIN_SUBJECTS for s in subjects)
    else:
        num_train = round(len(subjects) * CASIA_B_TRAIN_SUBJECTS / CASIA_B_SUBJECTS)
    train, test = split_subjects(subjects, max(1, min(num_train, len(subjects) - 1)))
    return _protocol("casia_b", metas, train, test, CASIA_B_GALLERY, CASIA_B_PROBES)


def ou_mvlp_protocol(metas: Sequence[SequenceMeta]) -> Protocol:
    """OU-MVLP split: first half of the sorted subjects train (5,153 of 10,307); gallery 01, probe 00."""
    subjects = sorted({m.subject for m in metas})
    train, test = split_subjects(subjects, max(1, len(subjects) // 2))
    return _protocol("ou_mvlp", metas, train, test, OU_MVLP_GALLERY, OU_MVLP_PROBES)


PROTOCOL_OF_DATASET = {
    "casia_b": casia_b_protocol,
    "synthgait_b": casia_b_protocol,
    "ou_mvlp": ou_mvlp_protocol,
    "opengait_pkl": None,  # decided by the types present
    "synthgait_mv": ou_mvlp_protocol,
}


def protocol_for(name: str, metas: Sequence[SequenceMeta]) -> Protocol:
    """The protocol of dataset ``name`` (an OpenGait pkl tree: by its types, CASIA-B or OU-MVLP)."""
    if name not in PROTOCOL_OF_DATASET:
        raise ValueError(f"data.name {name!r} has no evaluation protocol; known: {sorted(PROTOCOL_OF_DATASET)}")
    rule = PROTOCOL_OF_DATASET[name]
    if rule is None:
        types = {m.type for m in metas}
        rule = ou_mvlp_protocol if types <= {"00", "01"} else casia_b_protocol
    return rule(metas)


def validation_protocol(name: str, metas: Sequence[SequenceMeta], num_subjects: int) -> Protocol:
    """The last ``num_subjects`` of the training subjects as a held-out validation "test" set.

    Gallery and probes follow the dataset's own rules; ``train`` is the rest of the training split.
    Hyperparameters are chosen on this, never on the real test subjects, which it never contains.
    """
    full = protocol_for(name, metas)
    num_subjects = int(num_subjects)
    if not 0 < num_subjects < len(full.train_subjects):
        raise ValueError(f"validation subjects: need 0 < n < {len(full.train_subjects)} (the training "
                         f"subjects of {name}), got {num_subjects}")
    train, held = split_subjects(full.train_subjects, len(full.train_subjects) - num_subjects)
    gallery_types = {metas[i].type for i in full.gallery}
    probe_types = {c: sorted({metas[i].type for i in idx}) for c, idx in full.probes.items()}
    return _protocol(f"{full.name}-validation", metas, train, held, sorted(gallery_types), probe_types)


def protocol_of(data, metas: Sequence[SequenceMeta]) -> Protocol:
    """The protocol a data config asks for: the dataset's own, or with ``data.validation_subjects``
    > 0 its validation protocol (train on the other training subjects, evaluate on those held out).
    The way to choose hyperparameters without looking at the test subjects."""
    held = int(data.get("validation_subjects", 0) or 0)
    if held:
        return validation_protocol(data.name, metas, held)
    return protocol_for(data.name, metas)


def label_fraction_subset(
    metas: Sequence[SequenceMeta], fraction: float, seed: int, indices: Sequence[int] | None = None
) -> np.ndarray:
    """A labelled fine-tuning subset: ``round(fraction * n)`` of the ``indices`` (default: all).

    Every subject first gets two sequences (when the budget allows: a triplet needs a positive), the
    rest is drawn uniformly from what remains. Deterministic for a seed; returns sorted indices.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    pool = np.arange(len(metas)) if indices is None else np.asarray(indices, np.int64)
    budget = max(1, int(round(fraction * len(pool))))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x1ABE1]))
    by_subject: dict[str, list[int]] = defaultdict(list)
    for i in pool:
        by_subject[metas[i].subject].append(int(i))
    subjects = sorted(by_subject)
    chosen: list[int] = []
    per_subject = 2 if budget >= 2 * len(subjects) else 1 if budget >= len(subjects) else 0
    rest: list[int] = []
    for subject in subjects:
        order = rng.permutation(by_subject[subject])
        chosen.extend(int(i) for i in order[:per_subject])
        rest.extend(int(i) for i in order[per_subject:])
    if per_subject == 0:  # fewer slots than subjects: whole subjects are left out
        return np.sort(rng.choice(pool, budget, replace=False))
    extra = rng.choice(np.asarray(rest, np.int64), budget - len(chosen), replace=False) if budget > len(chosen) else []
    return np.sort(np.asarray(chosen + [int(i) for i in extra], np.int64))


def pool_size(pool_ratio: float, pool_base_sequences: int) -> int:
    """``ceil(pool_ratio × pool_base_sequences)``: the sequences of an SG-``pool_ratio`` pool."""
    return math.ceil(round(float(pool_ratio) * int(pool_base_sequences), 9))


def pool_indices(
    name: str, metas: Sequence[SequenceMeta], pool_ratio: float = 0.0, pool_base_sequences: int = 0,
    seed: int = 0
) -> np.ndarray:
    """The sequences BYOL pretraining uses on dataset ``name`` (sorted indices into ``metas``).

    - A dataset without an evaluation protocol (``synthgait_pool``): every sequence. Its size was
      already set when it was generated (``data.pool_ratio`` × ``data.pool_base_sequences``).
    - A labelled dataset with ``pool_ratio`` 0: its whole training split (test subjects never enter).
    - A labelled dataset with ``pool_ratio`` > 0 ("pool mode", e.g. the paper's SG-2/4/6 from
      OU-MVLP): ``pool_size(pool_ratio, pool_base_sequences)`` sequences of its training split, drawn
      uniformly without replacement by ``seed`` (``data.seed``). The draw is a prefix of one seeded
      permutation, so with the same seed a smaller pool lies inside a larger one (SG-2 ⊂ SG-4 ⊂ SG-6).
    A ValueError names ``data.pool_ratio`` / ``data.pool_base_sequences`` when they are invalid or ask
    for more sequences than the training split holds.
    """
    ratio = float(pool_ratio or 0.0)
    if not ratio >= 0.0:
        raise ValueError(f"data.pool_ratio must be >= 0, got {pool_ratio!r}")
    if name not in PROTOCOL_OF_DATASET:
        return np.arange(len(metas), dtype=np.int64)
    train = protocol_for(name, metas).train
    if ratio == 0.0:
        return train
    base = int(pool_base_sequences or 0)
    if base < 1:
        raise ValueError(f"data.pool_base_sequences must be a positive sequence count when "
                         f"data.pool_ratio > 0 (got {pool_base_sequences!r})")
    size = pool_size(ratio, base)
    if size > len(train):
        raise ValueError(
            f"data.pool_ratio={ratio:g} x data.pool_base_sequences={base} asks for {size} pretraining "
            f"sequences, but the training split of {name} has only {len(train)}; lower "
            f"data.pool_ratio or data.pool_base_sequences")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x9001]))
    return np.sort(rng.permutation(train)[:size])
