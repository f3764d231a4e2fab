"""TFDS builders: any dataset of this package as TFDS records, one record per sequence.

A record is {"frames": uint8 [T, 64, 44] (zlib-compressed, T varies), "subject", "type", "view"}.
A builder reads its data config's ``SequenceSource`` (``open_source``), so the records hold exactly
what training would read: SynthGait-B / MV / the pool are generated (builder configs "full" and
"tiny", as ``data_config(name, size)``, or any data config: ``builder_config``), CASIA-B's PNG tree
and an OpenGait pkl tree (``ou_mvlp``, ``opengait_pkl``) come from the user's copy in the
manual_dir through the project's readers (pretreated, bad sequences skipped and reported).

Splits: a labelled dataset's "train" holds its protocol's training sequences (``protocol_for``),
"test" the others; the pool has only "train". Within a split the records keep the source's order
(int keys, no shuffling), and the metadata holds the whole index (every sequence's subject, type,
view and length, and each split's source indices) with ``sources.tfds_identity``, so
``tfds_source.TfdsSource`` (``data.tfds_dir``) reads the dataset back as the same source, one record
at a time. Records are array_record files (random access) unless another file_format is asked for.

    python3 tools/prepare_tfds.py --data=synthgait_b:tiny --tfds_dir=DIR     # or, from Python:
    prepare(data_config("synthgait_b", "tiny"), DIR)
    tfds.builder("synthgait_b/tiny", data_dir=DIR).download_and_prepare()   # after importing this module
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from pathlib import Path

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from tensorflow_datasets.core import utils as tfds_utils

from selfgait_jax.config_names import SIZES
from selfgait_jax.data.datasets import DATASETS
from selfgait_jax.data.splits import protocol_for
from selfgait_jax.data.sequence import FRAME_HEIGHT, FRAME_WIDTH, load_sequence
from selfgait_jax.data.sources import (
    TFDS_VERSION,
    data_config,
    open_source,
    tfds_config_name,
    tfds_identity,
)
from selfgait_jax.data.tfds_source import RANDOM_ACCESS_FORMAT

_HOMEPAGE = "https://arxiv.org/abs/2103.14811"
_log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class SequenceBuilderConfig(tfds.core.BuilderConfig):
    """The data config (``data_config(...).to_dict()``) whose sequences a builder stores."""

    data: dict = dataclasses.field(default_factory=dict)


def builder_config(cfg) -> SequenceBuilderConfig:
    """The builder config that stores data config ``cfg``'s sequences, named ``tfds_config_name``."""
    name = tfds_config_name(cfg)
    about = f"data_config({cfg.name!r}, {name!r})" if name in SIZES else "a custom data config"
    return SequenceBuilderConfig(
        name=name, data=cfg.to_dict(),
        description=f"{about}: {json.dumps(tfds_identity(cfg), sort_keys=True)}")


def _size_configs(name: str) -> list[SequenceBuilderConfig]:
    """One builder config per size whose sequences differ (a tree's sizes are the same: one)."""
    configs = {}
    for size in SIZES:
        config = builder_config(data_config(name, size))
        configs.setdefault(config.name, config)
    return list(configs.values())


class _SequenceBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """One record per sequence of a data config's SequenceSource, in source order."""

    VERSION = tfds.core.Version(TFDS_VERSION)
    RELEASE_NOTES = {
        "1.0.0": "One record per sequence: frames uint8 [T, 64, 44], subject, type, view.",
        "2.0.0": "Records in source order with the sequence index in the metadata; array_record by "
                 "default, read back one record at a time (data.tfds_dir).",
    }

    def __init__(self, *, data: dict | None = None, file_format=None, **kwargs):
        """``data``: the data config to read (default: the builder config's), e.g. the user's own,
        whose cache_dir and num_workers say how a size's sequences are generated."""
        super().__init__(file_format=file_format or RANDOM_ACCESS_FORMAT, **kwargs)
        self._data = self.builder_config.data if data is None else data
        if tfds_identity(ml_collections.ConfigDict(self._data)) != tfds_identity(
                ml_collections.ConfigDict(self.builder_config.data)):
            raise ValueError(f"{self.name}/{self.builder_config.name}: the data config given holds "
                             f"other sequences than the builder config's")

    @tfds_utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # TFDS's default probes importlib_resources (not a dependency here) for packages outside it.
        return epath.Path(inspect.getfile(cls))

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "frames": tfds.features.Tensor(shape=(None, FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint8,
                                               encoding=tfds.features.Encoding.ZLIB),
                "subject": tfds.features.Text(),
                "type": tfds.features.Text(),
                "view": tfds.features.Text(),
            }),
            homepage=_HOMEPAGE,
            disable_shuffling=True,  # records in key order: the source's
            metadata=tfds.core.MetadataDict(),
        )

    def _open(self, dl_manager):
        """The SequenceSource this builder stores."""
        cfg = ml_collections.ConfigDict(self._data)
        cfg.tfds_dir = ""  # made from the source itself, never from prepared records
        if DATASETS[self.name].needs_root:
            cfg.root = str(dl_manager.manual_dir)
            cfg.read_at_open = True  # every sequence read once: bad ones are skipped and reported
        return open_source(cfg), cfg

    def _split_generators(self, dl_manager):
        source, cfg = self._open(dl_manager)
        everything = np.arange(len(source))
        if DATASETS[self.name].labelled:
            train = np.asarray(protocol_for(self.name, source.metas).train)
            splits = {"train": train, "test": np.setdiff1d(everything, train)}
        else:
            splits = {"train": everything}
        lengths = source.lengths
        if lengths is None:
            lengths = [len(load_sequence(source, i)) for i in everything]
        self.info.metadata.update(
            identity=tfds_identity(cfg),
            sequences=[[m.subject, m.type, m.view, int(n)] for m, n in zip(source.metas, lengths)],
            splits={split: indices.tolist() for split, indices in splits.items()},
        )
        return {split: self._generate_examples(source, indices) for split, indices in splits.items()}

    def _generate_examples(self, source, indices):
        for i in indices.tolist():
            meta = source.metas[i]
            yield i, {"frames": load_sequence(source, i), "subject": meta.subject, "type": meta.type,
                      "view": meta.view}


class SynthgaitB(_SequenceBuilder):
    """SynthGait in CASIA-B's shape: 124 subjects x 11 views x nm/bg/cl, 50-120 frames."""

    BUILDER_CONFIGS = _size_configs("synthgait_b")


class SynthgaitMv(_SequenceBuilder):
    """SynthGait in OU-MVLP's shape: subjects x 14 views x 00/01, 18-35 frames."""

    BUILDER_CONFIGS = _size_configs("synthgait_mv")


class SynthgaitPool(_SequenceBuilder):
    """The unlabelled SynthGait pretraining pool (SG-2 by default: data.pool_ratio 2); one split."""

    BUILDER_CONFIGS = _size_configs("synthgait_pool")


class CasiaB(_SequenceBuilder):
    """CASIA-B (dataset B of the CASIA gait database) from the raw silhouette PNG tree."""

    BUILDER_CONFIGS = _size_configs("casia_b")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request CASIA-B from the Institute of Automation, Chinese Academy of Sciences
    (http://www.cbsr.ia.ac.cn/english/Gait%20Databases.asp), unpack the silhouettes and place (or
    link) the tree `subject/type/view/*.png` (e.g. `001/nm-01/090/001-nm-01-090-001.png`) directly in
    the manual_dir. Frames are pretreated (crop, height 64, centre, 44 columns) while reading.
    """


_PKL_INSTRUCTIONS = """
    Run OpenGait's pretreatment (datasets/pretreatment.py, or tools/pretreat.py here for CASIA-B's
    PNGs) and place (or link) its output tree `subject/type/view/<name>.pkl` (each a pickled uint8
    [T, 64, 64] array) directly in the manual_dir. The central 44 columns are kept while reading.
    """


class OuMvlp(_SequenceBuilder):
    """OU-MVLP from OpenGait's pretreated pkl tree."""

    BUILDER_CONFIGS = _size_configs("ou_mvlp")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request OU-MVLP from OU-ISIR (http://www.am.sanken.osaka-u.ac.jp/BiometricDB/GaitMVLP.html).
    """ + _PKL_INSTRUCTIONS


class OpengaitPkl(_SequenceBuilder):
    """Any OpenGait pkl tree (CASIA-B's or OU-MVLP's), split by its types' protocol."""

    BUILDER_CONFIGS = _size_configs("opengait_pkl")
    MANUAL_DOWNLOAD_INSTRUCTIONS = _PKL_INSTRUCTIONS


class CasiaBPkl(_SequenceBuilder):
    """CASIA-B from OpenGait's pretreated pkl tree, with CASIA-B's protocol."""

    BUILDER_CONFIGS = _size_configs("casia_b_pkl")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request CASIA-B from the Institute of Automation, Chinese Academy of Sciences
    (http://www.cbsr.ia.ac.cn/english/Gait%20Databases.asp), then pretreat it with OpenGait.
    """ + _PKL_INSTRUCTIONS


BUILDERS = {cls.name: cls for cls in (SynthgaitB, SynthgaitMv, SynthgaitPool, CasiaB, OuMvlp, OpengaitPkl,
                                      CasiaBPkl)}


def prepare(cfg, tfds_dir) -> Path:
    """Writes data config ``cfg``'s sequences as the TFDS dataset that ``data.tfds_dir=tfds_dir``
    reads (a dataset prepared before is kept); returns its folder. A tree is read from ``cfg.root``."""
    builder_cls = BUILDERS[cfg.name]
    config = builder_config(cfg)
    if config.name in builder_cls.builder_configs:  # TFDS takes a size's own config by its name only
        config = config.name
    builder = builder_cls(config=config, data=cfg.to_dict(), data_dir=str(Path(tfds_dir).expanduser()))
    download_config = None
    if DATASETS[cfg.name].needs_root:
        if not cfg.root or not Path(cfg.root).is_dir():
            raise ValueError(f"data.root {cfg.root!r} must be the {cfg.name} folder to prepare")
        download_config = tfds.download.DownloadConfig(manual_dir=str(cfg.root))
    builder.download_and_prepare(download_config=download_config)
    return Path(builder.data_dir)
