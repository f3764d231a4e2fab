"""The datasets this package knows: one table, ``DATASETS`` (name → ``Dataset``).

Every other module reads its dataset facts here instead of keeping its own list of names:
``sources.data_config`` its defaults and ``sources.open_source`` how to open one, ``splits`` the
train/test rule of a labelled one, ``train/config_checks.py`` what a config may ask of it, the tools
their ``--data`` choices. A new dataset is one more row.
"""

from __future__ import annotations

import dataclasses

from selfgait_jax.data.sequence import CASIA_B_TYPES, CASIA_B_VIEWS, OU_MVLP_TYPES, OU_MVLP_VIEWS

# How a dataset is opened: generated from its SynthGaitSpec, or read from a folder tree of PNG
# frames (raw CASIA-B) or of pickled frame arrays (OpenGait's pretreated layout) at data.root.
READERS = ("synthgait", "png", "pkl")
# A labelled dataset's train/test rule (splits.py): CASIA-B's LT split, OU-MVLP's halves, or
# "by_types" (an OpenGait pkl tree: OU-MVLP's rule when its types are 00/01, else CASIA-B's).
PROTOCOLS = ("casia_b", "ou_mvlp", "by_types")


@dataclasses.dataclass(frozen=True)
class Scale:
    """A generated dataset's defaults at one size: subjects, views and sequence lengths."""

    num_subjects: int  # 0: set by data.pool_ratio (an SG-n pool)
    views: tuple[str, ...]
    frames: tuple[int, int]  # (min, max) frames per sequence


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What a dataset is: how it is read, whether it has labels (a protocol), its names."""

    name: str
    reader: str  # one of READERS
    protocol: str = ""  # one of PROTOCOLS; "" = an unlabelled pool (pretraining only)
    types: tuple[str, ...] = ()  # generated: every walk type; a tree: whatever its folders hold
    # Generated datasets only: subject ids ("{:03d}" → "001"), and the defaults at each size.
    subject_format: str = ""
    full: Scale | None = None
    tiny: Scale | None = None
    pool_ratio: float = 0.0  # default data.pool_ratio (the generated pool: SG-2)

    @property
    def labelled(self) -> bool:
        """Has subject labels and a train/test protocol (can be fine-tuned on and evaluated)."""
        return bool(self.protocol)

    @property
    def generated(self) -> bool:
        """Generated (SynthGait, cached) rather than read from a folder at ``data.root``."""
        return self.reader == "synthgait"

    @property
    def needs_root(self) -> bool:
        return not self.generated

    def scale(self, size: str) -> Scale:
        """The defaults at ``size`` ("full" or "tiny") of a generated dataset."""
        return self.tiny if size == "tiny" else self.full


_TINY_FRAMES = (16, 20)

DATASETS = {d.name: d for d in (
    # SynthGait in CASIA-B's shape: 124 subjects x 11 views x nm/bg/cl (the paper's labelled set).
    Dataset("synthgait_b", "synthgait", "casia_b", CASIA_B_TYPES, "{:03d}",
            full=Scale(124, CASIA_B_VIEWS, (50, 120)), tiny=Scale(6, ("036", "090"), _TINY_FRAMES)),
    # SynthGait in OU-MVLP's shape: 14 views x 00/01.
    Dataset("synthgait_mv", "synthgait", "ou_mvlp", OU_MVLP_TYPES, "{:05d}",
            full=Scale(1000, OU_MVLP_VIEWS, (18, 35)), tiny=Scale(6, ("030", "090"), _TINY_FRAMES)),
    # The unlabelled SG-n pool (OU-MVLP's views); "u" ids never collide with the labelled sets'
    # numeric ones: a pool walker is a new person.
    Dataset("synthgait_pool", "synthgait", "", OU_MVLP_TYPES, "u{:05d}",
            full=Scale(0, OU_MVLP_VIEWS, (18, 35)), tiny=Scale(0, ("030", "090"), _TINY_FRAMES),
            pool_ratio=2.0),
    Dataset("casia_b", "png", "casia_b"),  # raw CASIA-B silhouettes: subject/type/view/*.png
    Dataset("ou_mvlp", "pkl", "ou_mvlp"),  # OpenGait's pretreated OU-MVLP
    Dataset("opengait_pkl", "pkl", "by_types"),  # any OpenGait pkl tree (CASIA-B or OU-MVLP)
    # OpenGait's pretreated CASIA-B (SSS/TTT-NN/VVV/VVV.pkl, uint8 [T, 64, 64]): the LT split (or a
    # shipped OpenGait partition, splits.PARTITIONS), NM/BG/CL, 11 views; read as opengait_pkl reads it.
    Dataset("casia_b_pkl", "pkl", "casia_b", CASIA_B_TYPES),
)}
NAMES = tuple(DATASETS)


def labelled(name: str) -> bool:
    """Whether ``name`` is a known dataset with labels (False for a pool or an unknown name)."""
    return name in DATASETS and DATASETS[name].labelled


def labelled_names() -> tuple[str, ...]:
    return tuple(n for n, d in DATASETS.items() if d.labelled)
