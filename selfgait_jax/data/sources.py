"""``open_source(config.data)``: any dataset, generated or read from disk, as a ``SequenceSource``.

The data config (``data_config(name, size)``) names the dataset and its size knobs; see the
"Data config" section of docs/design.md for every key.
"""

from __future__ import annotations

import math
import os

import ml_collections
import numpy as np

from selfgait_jax.data.sequence import (
    CASIA_B_TYPES,
    CASIA_B_VIEWS,
    OU_MVLP_TYPES,
    OU_MVLP_VIEWS,
    SequenceMeta,
    SequenceSource,
    default_cache_dir,
)

__all__ = ["SequenceSource", "SequenceMeta", "ArraySource", "data_config", "open_source", "synthgait_spec"]

SYNTHGAIT_NAMES = ("synthgait_b", "synthgait_mv", "synthgait_pool")
TREE_NAMES = {"casia_b": "png", "ou_mvlp": "pkl", "opengait_pkl": "pkl"}
SIZES = ("full", "tiny")


class ArraySource(SequenceSource):
    """Sequences held in memory (tests, small experiments)."""

    def __init__(self, name: str, metas: list[SequenceMeta], sequences: list[np.ndarray]):
        if len(metas) != len(sequences):
            raise ValueError(f"{name}: {len(metas)} metas but {len(sequences)} sequences")
        self.name = name
        self.metas = list(metas)
        self._sequences = [np.asarray(s, np.uint8) for s in sequences]

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(s) for s in self._sequences], np.int64)

    def load(self, index: int) -> np.ndarray:
        return self._sequences[index]


def data_config(name: str, size: str = "full") -> ml_collections.ConfigDict:
    """Default data config for dataset ``name`` at ``size`` ("full" or "tiny": a seconds-long smoke set)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if name not in SYNTHGAIT_NAMES and name not in TREE_NAMES:
        raise ValueError(f"data.name {name!r} is not one of {sorted(SYNTHGAIT_NAMES + tuple(TREE_NAMES))}")
    tiny = size == "tiny"
    cfg = ml_collections.ConfigDict()
    cfg.name = name
    cfg.root = ""  # dataset folder for casia_b / ou_mvlp / opengait_pkl
    cfg.seed = 0  # SynthGait identity seed
    cfg.num_subjects = 0  # SynthGait subjects (synthgait_pool: used when pool_ratio is 0)
    cfg.views = ()  # empty = every view of the dataset
    cfg.types = ()  # empty = every type of the dataset
    cfg.min_frames = 0  # SynthGait sequence length range
    cfg.max_frames = 0
    # SG-n pools. synthgait_pool: generated with ceil(pool_ratio x pool_base_sequences) sequences
    # (whole subjects). Any other dataset, pretraining stage: pool_ratio > 0 is "pool mode", BYOL uses
    # ceil(pool_ratio x pool_base_sequences) sequences of its training split drawn by data.seed
    # (protocols.pool_indices); 0 = the whole training split.
    cfg.pool_ratio = 0.0
    # Training sequences of the labelled set a pool is measured against: CASIA-B LT's
    # 74 x 10 x 11 = 8,140 (tiny: synthgait_b tiny's 4 x 10 x 2 = 80).
    cfg.pool_base_sequences = 4 * 10 * 2 if tiny else 74 * 10 * 11
    cfg.cache_dir = ""  # empty = $SELFGAIT_DATA_DIR or ~/.cache/selfgait_jax
    cfg.num_workers = 0  # generation processes; 0 = all cores
    cfg.validate = True  # trees: read every sequence once at open (cached), skip and report bad ones
    cfg.min_length = 1  # trees: shorter sequences (after pretreatment) are skipped and reported
    # > 0: hold out the last this-many training subjects as a validation "test" set (training uses
    # the others); evaluations then report on them. For choosing hyperparameters (docs/reproduction.md).
    cfg.validation_subjects = 0
    # An OpenGait dataset partition file ({"TRAIN_SET": [...], "TEST_SET": [...]}, what OpenGait's
    # data_cfg.dataset_partition names): its subject split replaces the default one ("" = default).
    cfg.partition = ""
    if name == "synthgait_b":
        cfg.num_subjects = 6 if tiny else 124
        cfg.views = ("036", "090") if tiny else CASIA_B_VIEWS
        cfg.types = CASIA_B_TYPES
        cfg.min_frames, cfg.max_frames = (16, 20) if tiny else (50, 120)
    elif name == "synthgait_mv":
        cfg.num_subjects = 6 if tiny else 1000
        cfg.views = ("030", "090") if tiny else OU_MVLP_VIEWS
        cfg.types = OU_MVLP_TYPES
        cfg.min_frames, cfg.max_frames = (16, 20) if tiny else (18, 35)
    elif name == "synthgait_pool":
        cfg.views = ("030", "090") if tiny else OU_MVLP_VIEWS
        cfg.types = OU_MVLP_TYPES
        cfg.min_frames, cfg.max_frames = (16, 20) if tiny else (18, 35)
        cfg.pool_ratio = 2.0  # SG-2; 4.0 and 6.0 give SG-4 and SG-6
    return cfg


def named_data_config(spec: str) -> ml_collections.ConfigDict:
    """``data_config`` from "NAME" or "NAME:SIZE" (e.g. "synthgait_b:tiny"), as tools and probes take it."""
    name, _, size = spec.partition(":")
    return data_config(name, size or "full")


def _get(cfg, key, default=None):
    return cfg[key] if key in cfg else default


def synthgait_spec(cfg):
    """The ``SynthGaitSpec`` a SynthGait data config describes (subject ids are dataset-specific)."""
    from selfgait_jax.data.synthgait.dataset import SynthGaitSpec

    defaults = data_config(cfg.name)
    views = tuple(_get(cfg, "views") or defaults.views)
    types = tuple(_get(cfg, "types") or defaults.types)
    min_frames = int(_get(cfg, "min_frames") or defaults.min_frames)
    max_frames = int(_get(cfg, "max_frames") or defaults.max_frames)
    if cfg.name == "synthgait_pool":
        ratio = float(_get(cfg, "pool_ratio", 0.0) or 0.0)
        if ratio > 0:
            base = int(_get(cfg, "pool_base_sequences", 0) or 0)
            if base <= 0:
                raise ValueError("data.pool_base_sequences must be > 0 when data.pool_ratio is set")
            count = math.ceil(ratio * base / (len(views) * len(types)))
        else:
            count = int(_get(cfg, "num_subjects", 0) or 0)
        # "u" ids never collide with the numeric ids of the labelled sets: a pool walker is a new person.
        subjects = tuple(f"u{i:05d}" for i in range(1, count + 1))
    else:
        count = int(_get(cfg, "num_subjects", 0) or defaults.num_subjects)
        digits = 3 if cfg.name == "synthgait_b" else 5
        subjects = tuple(f"{i:0{digits}d}" for i in range(1, count + 1))
    if count <= 0:
        raise ValueError(f"data.num_subjects (or data.pool_ratio) must give at least one subject for {cfg.name}")
    return SynthGaitSpec(cfg.name, int(_get(cfg, "seed", 0)), subjects, types, views, min_frames, max_frames)


def open_source(cfg) -> SequenceSource:
    """Open the dataset that ``cfg`` (a data config, e.g. ``config.data``) describes."""
    name = _get(cfg, "name")
    if name in SYNTHGAIT_NAMES:
        from selfgait_jax.data.synthgait.dataset import SynthGaitSource

        return SynthGaitSource(
            synthgait_spec(cfg), _get(cfg, "cache_dir") or None, int(_get(cfg, "num_workers", 0) or 0)
        )
    if name in TREE_NAMES:
        from selfgait_jax.data.readers import TreeSource

        root = _get(cfg, "root") or ""
        if not root:
            raise ValueError(f"data.root must name the {name} dataset folder (data.name={name!r})")
        if not os.path.isdir(root):
            raise ValueError(f"data.root {root!r} is not a folder (data.name={name!r})")
        return TreeSource(
            root,
            TREE_NAMES[name],
            name=name,
            validate=bool(_get(cfg, "validate", True)),
            min_length=int(_get(cfg, "min_length", 1) or 1),
            cache_dir=_get(cfg, "cache_dir") or default_cache_dir(),
        )
    known = sorted(SYNTHGAIT_NAMES + tuple(TREE_NAMES))
    raise ValueError(f"data.name {name!r} is not a known dataset; known: {known}")
