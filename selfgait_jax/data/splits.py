"""Splits of a dataset's sequences, as index arrays into a source's ``metas``: the training split,
and the test split's gallery and probe conditions (together a ``Protocol``).

CASIA-B (LT): subjects 001-074 train, 075-124 test; gallery nm-01..04; probes NM = nm-05,06,
BG = bg-01,02, CL = cl-01,02. OU-MVLP: the first half of the sorted subjects train; gallery "01",
probe "00". SynthGait datasets use the same rules; a scaled-down one splits its sorted subjects in
the same proportion (round(n * 74 / 124) train subjects for the CASIA-B shape, n // 2 for OU-MVLP's).

``pool_indices`` picks the sequences BYOL pretraining uses: the SG-2/4/6 "pool mode" of any dataset.

``data.partition``: an OpenGait dataset partition file (``{"TRAIN_SET": [...], "TEST_SET": [...]}``,
what OpenGait's ``data_cfg.dataset_partition`` points to) replaces the default subject split, so a
split is exactly OpenGait's; gallery and probe types still follow the dataset's rules. For CASIA-B
OpenGait's file is the LT split above; for OU-MVLP it is not: OpenGait trains on the odd ids and
tests on the even ones (and 10307), where the default takes the first half of the sorted ids, as
GaitSet's loader does (docs/evaluation.md). ``data.partition`` may also name a file shipped with the
package (``PARTITIONS``: OpenGait's CASIA-B files, partitions/README.md says where each comes from).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from selfgait_jax.data import datasets
from selfgait_jax.data.sequence import (
    CASIA_B_BG_TYPES, CASIA_B_CL_TYPES, CASIA_B_NM_TYPES, OU_MVLP_TYPES, SequenceMeta)
from selfgait_jax.errors import ConfigError

CASIA_B_TRAIN_SUBJECTS = 74
CASIA_B_SUBJECTS = 124
CASIA_B_GALLERY = CASIA_B_NM_TYPES[:4]  # nm-01..04
CASIA_B_PROBES = {"NM": CASIA_B_NM_TYPES[4:], "BG": CASIA_B_BG_TYPES, "CL": CASIA_B_CL_TYPES}
CASIA_B_CONDITIONS = tuple(CASIA_B_PROBES)  # NM, BG, CL: the order of every table
OU_MVLP_GALLERY = OU_MVLP_TYPES[1:]  # "01"
OU_MVLP_PROBES = {"NM": OU_MVLP_TYPES[:1]}  # "00"

# data.partition's names for the partition files shipped in partitions/ (its README: their provenance).
# casia_b and casia_b_include_005 are the same bytes (OpenGait merged them in 2023); casia_b_exclude_005
# is OpenGait's older CASIA-B.json, GaitSet's and GaitPart's split: subject 005 left out of training.
PARTITIONS_DIR = Path(__file__).resolve().parent / "partitions"
PARTITIONS = {
    "casia_b": "CASIA-B.json",
    "casia_b_include_005": "CASIA-B_include_005.json",
    "casia_b_exclude_005": "CASIA-B_exclude_005.json",
}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Indices of the training sequences, the gallery, and the probes of each condition."""

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    train: np.ndarray
    gallery: np.ndarray
    probes: dict[str, np.ndarray]
    # The partition file the split came from ("" = the dataset's default split), and the subjects of
    # the data that it puts in neither set (not used at all, as in OpenGait).
    partition: str = ""
    unassigned_subjects: tuple[str, ...] = ()


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


def _protocol(name, metas, train_subjects, test_subjects, gallery, probes, **extra) -> Protocol:
    test = set(test_subjects)
    protocol = Protocol(
        name=name,
        train_subjects=train_subjects,
        test_subjects=test_subjects,
        train=_indices(metas, set(train_subjects), None),
        gallery=_indices(metas, test, gallery),
        probes={condition: _indices(metas, test, types) for condition, types in probes.items()},
        **extra,
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


# A labelled dataset's protocol (datasets.DATASETS[name].protocol) → its default split, and its
# gallery / probe types (what a partition file leaves to the dataset).
RULES = {"casia_b": casia_b_protocol, "ou_mvlp": ou_mvlp_protocol}
_RULE_TYPES = {"casia_b": (CASIA_B_GALLERY, CASIA_B_PROBES), "ou_mvlp": (OU_MVLP_GALLERY, OU_MVLP_PROBES)}


def partition_path(partition) -> Path:
    """The file ``data.partition`` names: a shipped partition (a key of ``PARTITIONS``), else a path."""
    name = str(partition)
    return PARTITIONS_DIR / PARTITIONS[name] if name in PARTITIONS else Path(name)


def load_partition(path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(train subjects, test subjects)`` of an OpenGait partition file (or a ``PARTITIONS`` name).
    Ids are kept as written (numbers become strings). A missing or malformed file, or a subject in
    both sets, is a ``ConfigError`` naming ``data.partition`` and the path."""
    path = partition_path(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        shipped = ", ".join(PARTITIONS)
        raise ConfigError("data.partition", f"cannot read {path}: {error} (data.partition is a partition "
                          f"file or one of the shipped ones: {shipped})") from None
    sets = []
    for key in ("TRAIN_SET", "TEST_SET"):
        ids = data.get(key) if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, (str, int)) for i in ids):
            raise ConfigError("data.partition", f"{path} has no list of subject ids under {key!r} "
                              f"(OpenGait's format: {{\"TRAIN_SET\": [...], \"TEST_SET\": [...]}})")
        sets.append(tuple(str(i) for i in ids))
    both = sorted(set(sets[0]) & set(sets[1]))
    if both:
        raise ConfigError("data.partition", f"{path} puts {len(both)} subjects in both TRAIN_SET and "
                          f"TEST_SET, e.g. {both[:5]}")
    return sets[0], sets[1]


def subjects_digest(subjects: Sequence[str]) -> str:
    """sha256 of the sorted subject ids joined by newlines: a short name for a subject list."""
    return hashlib.sha256("\n".join(sorted(subjects)).encode()).hexdigest()


def partition_protocol(rule: str, metas: Sequence[SequenceMeta], path) -> Protocol:
    """The gallery and probe types of ``rule`` (a key of ``RULES``) on the split of partition file
    ``path``. Subjects of the data that the file names in neither set are left out
    (``unassigned_subjects``); subjects the file names but the data lacks are simply absent."""
    gallery, probes = _RULE_TYPES[rule]
    path = partition_path(path)
    train_ids, test_ids = load_partition(path)
    present = {m.subject for m in metas}
    train = tuple(sorted(s for s in set(train_ids) if s in present))
    test = tuple(sorted(s for s in set(test_ids) if s in present))
    for key, kept, ids in (("TRAIN_SET", train, train_ids), ("TEST_SET", test, test_ids)):
        if not kept:
            raise ConfigError("data.partition", f"none of the {len(ids)} {key} subjects of {path} is in "
                              f"the dataset ({len(present)} subjects, e.g. {sorted(present)[:3]})")
    unassigned = tuple(sorted(present - set(train) - set(test)))
    return _protocol(rule, metas, train, test, gallery, probes, partition=str(path),
                     unassigned_subjects=unassigned)


def protocol_for(name: str, metas: Sequence[SequenceMeta], partition: str = "") -> Protocol:
    """The protocol of dataset ``name`` (an OpenGait pkl tree: by its types, CASIA-B or OU-MVLP);
    with ``partition`` (an OpenGait partition file), that file's train / test subjects."""
    if not datasets.labelled(name):
        raise ValueError(f"data.name {name!r} has no evaluation protocol; known: "
                         f"{sorted(datasets.labelled_names())}")
    rule = datasets.DATASETS[name].protocol
    if rule == "by_types":  # an OpenGait pkl tree: OU-MVLP's rule for its types, else CASIA-B's
        rule = "ou_mvlp" if {m.type for m in metas} <= set(OU_MVLP_TYPES) else "casia_b"
    if partition:
        return partition_protocol(rule, metas, partition)
    return RULES[rule](metas)


def validation_protocol(name: str, metas: Sequence[SequenceMeta], num_subjects: int,
                        partition: str = "") -> Protocol:
    """The last ``num_subjects`` of the training subjects as a held-out validation "test" set.

    Gallery and probes follow the dataset's own rules; ``train`` is the rest of the training split.
    Hyperparameters are chosen on this, never on the real test subjects, which it never contains.
    """
    full = protocol_for(name, metas, partition)
    num_subjects = int(num_subjects)
    if not 0 < num_subjects < len(full.train_subjects):
        raise ValueError(f"validation subjects: need 0 < n < {len(full.train_subjects)} (the training "
                         f"subjects of {name}), got {num_subjects}")
    train, held = split_subjects(full.train_subjects, len(full.train_subjects) - num_subjects)
    gallery_types = {metas[i].type for i in full.gallery}
    probe_types = {c: sorted({metas[i].type for i in idx}) for c, idx in full.probes.items()}
    return _protocol(f"{full.name}-validation", metas, train, held, sorted(gallery_types), probe_types,
                     partition=full.partition, unassigned_subjects=full.unassigned_subjects)


def protocol_of(data, metas: Sequence[SequenceMeta]) -> Protocol:
    """The protocol a data config asks for: the dataset's own, or with ``data.validation_subjects``
    > 0 its validation protocol (train on the other training subjects, evaluate on those held out).
    The way to choose hyperparameters without looking at the test subjects."""
    held = int(data.validation_subjects)
    partition = data.partition
    if held:
        return validation_protocol(data.name, metas, held, partition)
    return protocol_for(data.name, metas, partition)


def label_fraction_subset(
    metas: Sequence[SequenceMeta], fraction: float, seed: int, indices: Sequence[int] | None = None
) -> np.ndarray:
    """A labelled fine-tuning subset: ``round(fraction * n)`` of the ``indices`` (default: all).

    Every labelled subject has at least two sequences (a triplet needs a positive): when the budget
    covers two per subject, every subject gets two and the rest is drawn uniformly from what remains;
    when it does not (a few per cent of a small set), ``budget // 2`` subjects drawn by the seed get
    two each (one more sequence of theirs for an odd budget) and the others are left unlabelled.
    Deterministic for a seed; returns sorted indices.
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
    if budget < 2 * len(subjects):  # not two for everyone: two each for budget // 2 subjects
        subjects = sorted(rng.choice(subjects, max(1, budget // 2), replace=False).tolist())
    rest: list[int] = []
    for subject in subjects:
        order = rng.permutation(by_subject[subject])
        chosen.extend(int(i) for i in order[:2])
        rest.extend(int(i) for i in order[2:])
    budget = max(budget, len(chosen))  # a budget of 1 still labels one subject's two sequences
    extra = rng.choice(np.asarray(rest, np.int64), budget - len(chosen), replace=False) if budget > len(chosen) else []
    return np.sort(np.asarray(chosen + [int(i) for i in extra], np.int64))


def pool_size(pool_ratio: float, pool_base_sequences: int) -> int:
    """``ceil(pool_ratio × pool_base_sequences)``: the sequences of an SG-``pool_ratio`` pool."""
    return math.ceil(round(float(pool_ratio) * int(pool_base_sequences), 9))


def pool_indices(
    name: str, metas: Sequence[SequenceMeta], pool_ratio: float = 0.0, pool_base_sequences: int = 0,
    seed: int = 0, partition: str = ""
) -> np.ndarray:
    """The sequences BYOL pretraining uses on dataset ``name`` (sorted indices into ``metas``).

    - A dataset without an evaluation protocol (``synthgait_pool``): every sequence. Its size was
      already set when it was generated (``data.pool_ratio`` × ``data.pool_base_sequences``).
    - A labelled dataset with ``pool_ratio`` 0: its whole training split (test subjects never enter).
    - A labelled dataset with ``pool_ratio`` > 0 ("pool mode", e.g. the paper's SG-2/4/6 from
      OU-MVLP): ``pool_size(pool_ratio, pool_base_sequences)`` sequences of its training split, drawn
      uniformly without replacement by ``seed`` (``data.seed``). The draw is a prefix of one seeded
      permutation, so with the same seed a smaller pool lies inside a larger one (SG-2 ⊂ SG-4 ⊂ SG-6).
    A ``ConfigError`` names ``data.pool_ratio`` / ``data.pool_base_sequences`` when they are invalid or ask
    for more sequences than the training split holds.
    """
    ratio = float(pool_ratio or 0.0)
    if not ratio >= 0.0:
        raise ConfigError("data.pool_ratio", f"must be >= 0, got {pool_ratio!r}")
    if not datasets.labelled(name):
        return np.arange(len(metas), dtype=np.int64)
    train = protocol_for(name, metas, partition).train  # partition: an OpenGait split file
    if ratio == 0.0:
        return train
    base = int(pool_base_sequences or 0)
    if base < 1:
        raise ConfigError("data.pool_base_sequences", f"must be a positive sequence count when "
                          f"data.pool_ratio > 0 (got {pool_base_sequences!r})")
    size = pool_size(ratio, base)
    if size > len(train):
        raise ConfigError(
            "data.pool_ratio", f"{ratio:g} x data.pool_base_sequences={base} asks for {size} pretraining "
            f"sequences, but the training split of {name} has only {len(train)}; lower "
            f"data.pool_ratio or data.pool_base_sequences")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x9001]))
    return np.sort(rng.permutation(train)[:size])
