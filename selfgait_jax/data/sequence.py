"""What a gait sequence is, independent of where it is stored: metadata and the standard names.

A sequence is one walk of one subject seen from one camera: ``uint8 [T, 64, 44]`` silhouettes
(0 / 255). Every dataset reader and generator returns that, with a ``SequenceMeta`` beside it.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path

import numpy as np

FRAME_HEIGHT = 64
FRAME_WIDTH = 44
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH)
CANVAS_WIDTH = 64  # OpenGait stores 64 x 64 frames; the central 44 columns are used.

CASIA_B_VIEWS = tuple(f"{angle:03d}" for angle in range(0, 181, 18))
OU_MVLP_VIEWS = tuple(f"{angle:03d}" for angle in (*range(0, 91, 15), *range(180, 271, 15)))

CASIA_B_NM_TYPES = tuple(f"nm-{i:02d}" for i in range(1, 7))
CASIA_B_BG_TYPES = ("bg-01", "bg-02")
CASIA_B_CL_TYPES = ("cl-01", "cl-02")
CASIA_B_TYPES = CASIA_B_NM_TYPES + CASIA_B_BG_TYPES + CASIA_B_CL_TYPES
OU_MVLP_TYPES = ("00", "01")


@dataclasses.dataclass(frozen=True, order=True)
class SequenceMeta:
    """Who walks (``subject``), in which condition (``type``, e.g. "nm-01"), seen from where (``view``)."""

    subject: str
    type: str
    view: str

    @property
    def condition(self) -> str:
        """The condition without its index: "nm", "bg", "cl" for CASIA-B; the type itself otherwise."""
        return self.type.split("-")[0]


def view_angle(view: str) -> float:
    """A view name such as "090" as an angle in degrees (0 = walking towards the camera)."""
    try:
        return float(view)
    except ValueError:
        raise ValueError(f"view {view!r} is not an angle in degrees such as '090'") from None


def default_cache_dir() -> Path:
    """Where generated data and read indices are cached: $SELFGAIT_DATA_DIR, else ~/.cache/selfgait_jax."""
    env = os.environ.get("SELFGAIT_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "selfgait_jax"


class SequenceSource:
    """A dataset as an indexable list of sequences; every reader and generator is one of these.

    ``name`` is the dataset name, ``metas[i]`` the i-th sequence's metadata, ``load(i)`` its frames
    ``uint8 [T, 64, 44]`` (0/255). ``lengths`` holds every sequence's T when known up front (else
    None), and ``summary`` lists what was skipped while reading (empty for generated data).
    """

    name: str
    metas: list[SequenceMeta]

    def load(self, index: int):
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.metas)

    @property
    def lengths(self):
        return None

    @property
    def summary(self):
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, sequences={len(self)})"


@dataclasses.dataclass(frozen=True)
class Issue:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class ReadSummary:
    """What was skipped while reading a tree, each with its path, plus counts of routine drops."""

    def __init__(self):
        self.issues: list[Issue] = []
        self.counters: collections.Counter = collections.Counter()

    def add(self, path, problem: str) -> None:
        self.issues.append(Issue(str(path), problem))

    def count(self, what: str, n: int = 1) -> None:
        """Routine events that need no path, e.g. near-empty frames dropped by the pretreatment."""
        self.counters[what] += n

    def kinds(self) -> collections.Counter:
        """Number of issues per kind of problem (the text before any ':' detail)."""
        return collections.Counter(issue.problem.split(":")[0] for issue in self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def to_json(self) -> dict:
        """The summary as JSON values (what a cache or a packed file keeps of a read)."""
        return {"issues": [[i.path, i.problem] for i in self.issues], "counters": dict(self.counters)}

    def add_json(self, record: dict) -> None:
        """Add what ``to_json`` wrote (the issues and counts of a read done before)."""
        for path, problem in record["issues"]:
            self.add(path, problem)
        for what, n in record["counters"].items():
            self.count(what, n)

    def __str__(self) -> str:
        if not self.issues and not self.counters:
            return "nothing skipped"
        lines = [f"{n} x {kind}" for kind, n in sorted(self.kinds().items())]
        lines += [f"{n} {what}" for what, n in sorted(self.counters.items())]
        lines += [f"  {issue}" for issue in self.issues[:20]]
        if len(self.issues) > 20:
            lines.append(f"  ... and {len(self.issues) - 20} more")
        return "\n".join(lines)


def describe_sequence(source, index: int) -> str:
    """'<dataset> sequence i (subject/type/view)', for messages."""
    meta = source.metas[index]
    return f"{source.name} sequence {index} ({meta.subject}/{meta.type}/{meta.view})"


def load_sequence(source, index: int) -> np.ndarray:
    """``source.load(index)``, checked: a ValueError naming the sequence unless it is
    ``uint8 [T > 0, 64, 44]``."""
    frames = source.load(index)
    if (not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 3
            or frames.shape[1:] != FRAME_SHAPE or frames.shape[0] == 0):
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames)
        raise ValueError(f"{describe_sequence(source, index)}: expected uint8 [T>0, 64, 44], got {got}")
    return frames
