"""TFDS builders for synthgait_b, synthgait_mv, casia_b and ou_mvlp: one record per sequence.

A record is {"frames": uint8 [T, 64, 44] (zlib-compressed, T varies), "subject", "type", "view"}.
Splits follow the dataset's protocol (`splits.protocol_for`): "train" holds the training subjects'
sequences, "test" the test subjects' (gallery and probes). Every builder reads through a
SequenceSource (`open_source`), so the records hold exactly what the training pipelines would read:
SynthGait is generated (builder configs "full" and "tiny", as `data_config(name, size)`), CASIA-B and
OU-MVLP come from the user's own copy in the manual_dir through the project's readers (pretreated,
bad sequences skipped and reported).

    builder = tfds.builder("synthgait_b/tiny", data_dir=DIR)   # after importing this module
    builder.download_and_prepare()
    source = tfds_source(builder, "train")                     # back to a SequenceSource
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from tensorflow_datasets.core import utils as tfds_utils

from selfgait_jax.data.splits import protocol_for
from selfgait_jax.data.sequence import FRAME_HEIGHT, FRAME_WIDTH, SequenceMeta
from selfgait_jax.data.sources import ArraySource, data_config, open_source

try:
    tf.config.set_visible_devices([], "GPU")  # TF only reads and writes records here
except RuntimeError:
    pass

_HOMEPAGE = "https://arxiv.org/abs/2103.14811"


@dataclasses.dataclass(eq=False)
class SequenceBuilderConfig(tfds.core.BuilderConfig):
    """Which `data_config(name, size)` a SynthGait builder generates ("full" or "tiny")."""

    size: str = "full"


class _SequenceBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """One record per sequence of a SequenceSource, split by the dataset's protocol."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "One record per sequence: frames uint8 [T, 64, 44], subject, type, view."}

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
        )

    def _open(self, dl_manager):
        """The SequenceSource this builder stores."""
        raise NotImplementedError

    def _split_generators(self, dl_manager):
        source = self._open(dl_manager)
        protocol = protocol_for(self.name, source.metas)
        test_subjects = set(protocol.test_subjects)
        test = [i for i, meta in enumerate(source.metas) if meta.subject in test_subjects]
        return {"train": self._generate_examples(source, protocol.train.tolist()),
                "test": self._generate_examples(source, test)}

    def _generate_examples(self, source, indices):
        for i in indices:
            meta = source.metas[i]
            # subject/type/view identifies a sequence in every supported layout
            yield f"{meta.subject}/{meta.type}/{meta.view}", {
                "frames": source.load(i), "subject": meta.subject, "type": meta.type, "view": meta.view}


class _SynthGaitBuilder(_SequenceBuilder, skip_registration=True):
    BUILDER_CONFIGS = [
        SequenceBuilderConfig(name="full", size="full", description="The full-size dataset."),
        SequenceBuilderConfig(name="tiny", size="tiny", description="A seconds-long smoke-test set."),
    ]

    def _open(self, dl_manager):
        # Generated deterministically from the dataset seed (cached under $SELFGAIT_DATA_DIR).
        return open_source(data_config(self.name, self.builder_config.size))


class SynthgaitB(_SynthGaitBuilder):
    """SynthGait in CASIA-B's shape: 124 subjects x 11 views x nm/bg/cl, 50-120 frames."""


class SynthgaitMv(_SynthGaitBuilder):
    """SynthGait in OU-MVLP's shape: subjects x 14 views x 00/01, 18-35 frames."""


class _ManualTreeBuilder(_SequenceBuilder, skip_registration=True):
    def _open(self, dl_manager):
        cfg = data_config(self.name)
        cfg.root = str(dl_manager.manual_dir)
        return open_source(cfg)


class CasiaB(_ManualTreeBuilder):
    """CASIA-B (dataset B of the CASIA gait database) from the raw silhouette PNG tree."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request CASIA-B from the Institute of Automation, Chinese Academy of Sciences
    (http://www.cbsr.ia.ac.cn/english/Gait%20Databases.asp), unpack the silhouettes and place (or
    link) the tree `subject/type/view/*.png` (e.g. `001/nm-01/090/001-nm-01-090-001.png`) directly in
    the manual_dir. Frames are pretreated (crop, height 64, centre, 44 columns) while reading.
    """


class OuMvlp(_ManualTreeBuilder):
    """OU-MVLP from OpenGait's pretreated pkl tree."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request OU-MVLP from OU-ISIR (http://www.am.sanken.osaka-u.ac.jp/BiometricDB/GaitMVLP.html), run
    OpenGait's pretreatment (datasets/pretreatment.py) and place (or link) its output tree
    `subject/type/view/<name>.pkl` (each a pickled uint8 [T, 64, 64] array) directly in the
    manual_dir. The central 44 columns are kept while reading.
    """


def tfds_source(builder: tfds.core.DatasetBuilder, split: str) -> ArraySource:
    """A prepared split read back into memory as a SequenceSource (name = the builder's name)."""
    metas, sequences = [], []
    for record in builder.as_dataset(split=split, shuffle_files=False).as_numpy_iterator():
        metas.append(SequenceMeta(*(record[key].decode() for key in ("subject", "type", "view"))))
        sequences.append(record["frames"])
    order = sorted(range(len(metas)), key=metas.__getitem__)  # records come in storage order
    return ArraySource(builder.name, [metas[i] for i in order], [sequences[i] for i in order])
