"""``open_source(config.data)``: any dataset, generated or read from disk, as a ``SequenceSource``.

The data config (``data_config(name, size)``) names the dataset and its size knobs; see the
"Data config" section of docs/design.md for every key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import ml_collections
import numpy as np

from selfgait_jax.config_names import SIZES
from selfgait_jax.data.datasets import DATASETS
from selfgait_jax.data.packed import open_compact
from selfgait_jax.data.sequence import SequenceMeta, SequenceSource, default_cache_dir
from selfgait_jax.errors import ConfigError

__all__ = ["SequenceSource", "SequenceMeta", "ArraySource", "data_config", "open_source", "synthgait_spec"]

# The layout of a prepared TFDS dataset (tfds_builders writes it, tfds_source reads it): its folder
# is data.tfds_dir/<data.name>/<tfds_config_name>/<TFDS_VERSION>/.
TFDS_VERSION = "2.0.0"


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


# Data keys renamed since a config was stored (old -> new): a stored config's old key keeps its
# meaning (config_defaults.with_defaults and exported.stored_data_config read it through this).
RENAMED_KEYS = {"validate": "read_at_open"}


def data_config(name: str, size: str = "full") -> ml_collections.ConfigDict:
    """Default data config for dataset ``name`` at ``size`` ("full" or "tiny": a seconds-long smoke set)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if name not in DATASETS:
        raise ValueError(f"data.name {name!r} is not one of {sorted(DATASETS)}")
    dataset = DATASETS[name]
    tiny = size == "tiny"
    cfg = ml_collections.ConfigDict()
    cfg.name = name
    # A tree dataset's folder (casia_b, ou_mvlp, opengait_pkl, casia_b_pkl), or its compact file
    # (tools/pack_dataset.py: one .npz, opened without TensorFlow or PIL).
    cfg.root = ""
    cfg.seed = 0  # SynthGait identity seed
    cfg.num_subjects = 0  # SynthGait subjects (synthgait_pool: used when pool_ratio is 0)
    cfg.views = ()  # empty = every view of the dataset
    cfg.types = ()  # empty = every type of the dataset
    cfg.min_frames = 0  # SynthGait sequence length range
    cfg.max_frames = 0
    # SG-n pools. synthgait_pool: generated with ceil(pool_ratio x pool_base_sequences) sequences
    # (whole subjects). Any other dataset, pretraining stage: pool_ratio > 0 is "pool mode", BYOL uses
    # ceil(pool_ratio x pool_base_sequences) sequences of its training split drawn by data.seed
    # (splits.pool_indices); 0 = the whole training split.
    cfg.pool_ratio = 0.0
    # Training sequences of the labelled set a pool is measured against: CASIA-B LT's
    # 74 x 10 x 11 = 8,140 (tiny: synthgait_b tiny's 4 x 10 x 2 = 80).
    cfg.pool_base_sequences = 4 * 10 * 2 if tiny else 74 * 10 * 11
    cfg.cache_dir = ""  # empty = $SELFGAIT_DATA_DIR or ~/.cache/selfgait_jax
    cfg.num_workers = 0  # generation processes; 0 = all cores
    cfg.read_at_open = True  # trees: read every sequence once at open (cached), skip and report bad ones
    cfg.min_length = 1  # trees: shorter sequences (after pretreatment) are skipped and reported
    # > 0: hold out the last this-many training subjects as a validation "test" set (training uses
    # the others); evaluations then report on them. For choosing hyperparameters (docs/reproduction.md).
    cfg.validation_subjects = 0
    # An OpenGait dataset partition file ({"TRAIN_SET": [...], "TEST_SET": [...]}, what OpenGait's
    # data_cfg.dataset_partition names): its subject split replaces the default one ("" = default).
    cfg.partition = ""
    # A TFDS data_dir that tools/prepare_tfds.py wrote: the sequences are read from the records
    # prepared there for this config (tfds_config_name) instead of being generated or read from
    # data.root ("" = off; docs/design.md, "The TFDS path").
    cfg.tfds_dir = ""
    if dataset.generated:  # its defaults at this size, from the table (datasets.py)
        scale = dataset.scale(size)
        cfg.num_subjects = scale.num_subjects
        cfg.views = scale.views
        cfg.types = dataset.types
        cfg.min_frames, cfg.max_frames = scale.frames
        cfg.pool_ratio = dataset.pool_ratio  # synthgait_pool: 2.0 (SG-2); 4.0 and 6.0 give SG-4 and SG-6
    return cfg


def named_data_config(spec: str, views: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """``data_config`` from "NAME" or "NAME:SIZE" (e.g. "synthgait_b:tiny"), as tools and probes take it.

    ``views`` (any of a generated dataset's views): only these are generated and evaluated, a
    cheaper probe (fewer sequences, fewer view pairs; docs/evaluation.md). Empty: the size's own.
    """
    name, _, size = spec.partition(":")
    cfg = data_config(name, size or "full")
    if views:
        if not DATASETS[name].generated:
            raise ValueError(f"views {list(views)}: only a generated (SynthGait) dataset's views can be "
                             f"chosen, and {name} is read from disk")
        every_view = DATASETS[name].scale("full").views
        if any(v not in every_view for v in views) or len(set(views)) != len(views):
            raise ValueError(f"views {list(views)}: expected distinct views of {name}, which has "
                             f"{', '.join(every_view)}")
        cfg.views = tuple(views)
    return cfg


def chosen_views(cfg) -> tuple[str, ...]:
    """The views a generated dataset's config keeps when they are a choice (``named_data_config``'s
    ``views``), not the dataset's own at a size; empty otherwise."""
    name = cfg["name"]
    if name not in DATASETS or not DATASETS[name].generated:
        return ()
    views = tuple(cfg.views or ())
    defaults = {DATASETS[name].scale(size).views for size in SIZES}
    return () if not views or views in defaults else views


def synthgait_spec(cfg):
    """The ``SynthGaitSpec`` a SynthGait data config describes (subject ids are dataset-specific)."""
    from selfgait_jax.data.synthgait.dataset import SynthGaitSpec

    defaults = data_config(cfg.name)  # empty views / types, zero frames or subjects: the full set's
    dataset = DATASETS[cfg.name]
    views = tuple(cfg.views or defaults.views)
    types = tuple(cfg.types or defaults.types)
    min_frames = int(cfg.min_frames or defaults.min_frames)
    max_frames = int(cfg.max_frames or defaults.max_frames)
    if not dataset.labelled:  # the pool: its size is data.pool_ratio x data.pool_base_sequences
        ratio = float(cfg.pool_ratio)
        if ratio > 0:
            base = int(cfg.pool_base_sequences)
            if base <= 0:
                raise ValueError("data.pool_base_sequences must be > 0 when data.pool_ratio is set")
            count = math.ceil(ratio * base / (len(views) * len(types)))
        else:
            count = int(cfg.num_subjects)
    else:
        count = int(cfg.num_subjects or defaults.num_subjects)
    subjects = tuple(dataset.subject_format.format(i) for i in range(1, count + 1))
    if count <= 0:
        raise ValueError(f"data.num_subjects (or data.pool_ratio) must give at least one subject for {cfg.name}")
    return SynthGaitSpec(cfg.name, int(cfg.seed), subjects, types, views, min_frames, max_frames)


def tfds_identity(cfg) -> dict:
    """What decides the sequences of a data config's dataset, and so which prepared TFDS dataset
    holds them: a SynthGait set's spec and generator version; a tree's name and ``min_length``."""
    if DATASETS[cfg.name].generated:
        from selfgait_jax.data.synthgait.dataset import GENERATOR_VERSION

        spec = {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(synthgait_spec(cfg)).items()}
        return {"generator_version": GENERATOR_VERSION, **spec}
    return {"name": cfg.name, "min_length": int(cfg.min_length or 1)}


def tfds_config_name(cfg) -> str:
    """The TFDS builder config of a data config's prepared dataset: the size ("full", "tiny") whose
    defaults it keeps, else "custom_" and a hash of ``tfds_identity`` (e.g. more subjects)."""
    identity = tfds_identity(cfg)
    for size in SIZES:
        if tfds_identity(data_config(cfg.name, size)) == identity:
            return size
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return f"custom_{digest}"


def prepared_tfds_dir(cfg) -> Path:
    """The folder of the TFDS dataset prepared for data config ``cfg`` under ``cfg.tfds_dir``;
    a ``ConfigError`` naming data.tfds_dir, the path and the command that prepares it if absent."""
    config_name = tfds_config_name(cfg)
    folder = Path(cfg.tfds_dir).expanduser() / cfg.name / config_name
    path = folder / TFDS_VERSION
    if (path / "dataset_info.json").is_file():
        return path
    tree = DATASETS[cfg.name].needs_root
    if config_name not in SIZES:
        how = ("--config=<this run's config file and its --config.KEY=VALUE overrides"
               f"{', data.root included' if tree else ''}>")
    elif tree:
        how = f"--data={cfg.name} --data_root=<your {cfg.name} folder>"
    else:
        how = f"--data={cfg.name}:{config_name}"
    others = sorted(p.name for p in folder.glob("*") if (p / "dataset_info.json").is_file())
    found = (f"it holds {cfg.name}/{config_name} version {', '.join(others)} only, this code reads "
             f"{TFDS_VERSION}" if others else f"no prepared {cfg.name}/{config_name} at {path}")
    raise ConfigError("data.tfds_dir", f"{cfg.tfds_dir!r}: {found}; prepare it with "
                      f"python3 tools/prepare_tfds.py {how} --tfds_dir={cfg.tfds_dir}")


def open_source(cfg) -> SequenceSource:
    """Open the dataset that ``cfg`` (a data config, e.g. ``config.data``) describes."""
    name = cfg["name"] if "name" in cfg else None
    if name not in DATASETS:
        raise ValueError(f"data.name {name!r} is not a known dataset; known: {sorted(DATASETS)}")
    dataset = DATASETS[name]
    if cfg.get("tfds_dir"):
        from selfgait_jax.data.tfds_source import TfdsSource

        return TfdsSource(prepared_tfds_dir(cfg), tfds_identity(cfg))
    if dataset.generated:
        from selfgait_jax.data.synthgait.dataset import SynthGaitSource

        return SynthGaitSource(
            synthgait_spec(cfg), cfg.cache_dir or None, int(cfg.num_workers)
        )
    root = cfg.root
    if not root:
        raise ValueError(f"data.root must name the {name} dataset folder (data.name={name!r})")
    if os.path.isfile(root):  # the compact file of a tree (tools/pack_dataset.py): numpy only
        return open_compact(root, name, min_length=int(cfg.min_length or 1))
    if not os.path.isdir(root):
        raise ValueError(f"data.root {root!r} is not a folder or a packed file (data.name={name!r})")
    from selfgait_jax.data.readers import TreeSource  # PIL: not needed for the compact file

    return TreeSource(
        root,
        dataset.reader,
        name=name,
        read_at_open=bool(cfg.read_at_open),
        min_length=int(cfg.min_length or 1),
        cache_dir=cfg.cache_dir or default_cache_dir(),
    )
