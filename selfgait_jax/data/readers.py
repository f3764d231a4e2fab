"""Readers for the gait datasets users already have on disk.

- CASIA-B as distributed: ``root/subject/type/view/*.png`` raw silhouettes, pretreated on load.
- OpenGait's pretreated tree: ``root/subject/type/view/*.pkl``, each a pickled ``uint8 [T, 64, 64]``
  (columns 10..54 are kept) or already ``[T, 64, 44]``. Values are binarized to 0/255 (OpenGait's
  resize leaves grey edges; the data contract is binary silhouettes). A pkl is read with a
  restricted unpickler (``load_array_pickle``) that admits only what a numpy array, or a list of
  them, needs: a crafted file in a downloaded dataset cannot run code, it is refused with its path.

Bad input is never dropped silently. What is safe to skip (a corrupt frame, an empty folder, a
sequence with a wrong shape or too few frames, a view missing for one walk) is skipped and listed
with its path in a ``ReadSummary``; what is not (a missing root, a tree where nothing is readable)
raises ``ValueError`` naming the path.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import _codecs
import io
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from selfgait_jax.data.pretreatment import crop_canvas, pretreat_frames
from selfgait_jax.data.sequence import CANVAS_WIDTH, FRAME_HEIGHT, FRAME_WIDTH, SequenceMeta, SequenceSource
from selfgait_jax.errors import SequenceError  # raised here; readers.SequenceError stays importable
from selfgait_jax.progress import progress

_log = logging.getLogger(__name__)

EXTENSIONS = {"png": ".png", "pkl": ".pkl"}
INDEX_VERSION = 2  # bump when the read at open changes, so its cached outcomes are not reused


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

    def __str__(self) -> str:
        if not self.issues and not self.counters:
            return "nothing skipped"
        lines = [f"{n} x {kind}" for kind, n in sorted(self.kinds().items())]
        lines += [f"{n} {what}" for what, n in sorted(self.counters.items())]
        lines += [f"  {issue}" for issue in self.issues[:20]]
        if len(self.issues) > 20:
            lines.append(f"  ... and {len(self.issues) - 20} more")
        return "\n".join(lines)


def read_png_sequence(
    folder, *, width: int = FRAME_WIDTH, summary: ReadSummary | None = None
) -> np.ndarray:
    """Read and pretreat a folder of raw silhouette PNGs → uint8 ``[T, 64, width]``.

    Unreadable frames and frames whose size differs from the first readable one are skipped and
    added to ``summary``; near-empty frames are dropped by the pretreatment and counted.
    Raises ``SequenceError`` when no frame is left.
    """
    folder = Path(folder)
    summary = summary if summary is not None else ReadSummary()
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SequenceError(folder, "empty folder: no .png files")
    frames = []
    for path in files:
        try:
            with Image.open(path) as image:
                frame = np.asarray(image.convert("L"))
        except (OSError, ValueError, SyntaxError) as error:
            summary.add(path, f"unreadable file: {error}")
            continue
        if frames and frame.shape != frames[0].shape:
            summary.add(path, f"frame size differs: {frame.shape} vs {frames[0].shape}")
            continue
        frames.append(frame)
    if not frames:
        raise SequenceError(folder, "no readable .png frame")
    out, kept = pretreat_frames(np.stack(frames), width=width)
    if len(kept) < len(frames):
        summary.count("near-empty frames dropped by the pretreatment", len(frames) - len(kept))
    if len(out) == 0:
        raise SequenceError(folder, "no frame has enough foreground pixels")
    return out


def _numpy_core(module: str):
    try:
        return __import__(f"numpy._core.{module}", fromlist=["_"])
    except ImportError:  # numpy < 2
        return __import__(f"numpy.core.{module}", fromlist=["_"])


# Every global a pickled numpy array (any protocol, numpy 1.x or 2.x) refers to, and nothing else.
# `_codecs.encode` turns a str back into bytes (protocols 0-2 store an array's data that way).
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_core("multiarray")._reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_core("multiarray")._reconstruct,
    ("numpy._core.numeric", "_frombuffer"): _numpy_core("numeric")._frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _numpy_core("numeric")._frombuffer,
    ("_codecs", "encode"): _codecs.encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that refers to something other than a numpy array (it could run code)."""


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused: the pickle refers to {module}.{name}; only numpy arrays (or lists of them) are read"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("refused: the pickle uses persistent ids; only numpy arrays are read")


def load_array_pickle(path):
    """Unpickle ``path`` admitting only a numpy array or a list/tuple of numpy arrays.

    No other class or function can be named by the file, so loading it runs no code of the file's
    choosing. Raises ``SequenceError`` naming the path for anything else (including object arrays)
    and for a corrupt file.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
        value = _ArrayUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as error:
        raise SequenceError(path, f"unsafe pickle {error}") from None
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise SequenceError(path, f"unreadable file: {type(error).__name__}: {error}") from None
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if type(item) is not np.ndarray or item.dtype.hasobject:
            what = f"an array of dtype {item.dtype}" if isinstance(item, np.ndarray) else f"a {type(item).__name__}"
            raise SequenceError(path, f"unsafe pickle refused: holds {what}; only numeric numpy arrays are read")
    return value


def read_pkl_sequence(path) -> np.ndarray:
    """Read one OpenGait pkl → uint8 ``[T, 64, 44]`` (0/255). Raises ``SequenceError`` naming the file.

    The pkl is read with ``load_array_pickle`` (no code from the file runs).
    """
    value = load_array_pickle(path)
    try:
        array = np.asarray(value)
    except ValueError as error:  # a ragged list of arrays
        raise SequenceError(path, f"wrong shape: {error}") from None
    if array.ndim != 3 or array.shape[1] != FRAME_HEIGHT or array.shape[2] not in (CANVAS_WIDTH, FRAME_WIDTH):
        raise SequenceError(path, f"wrong shape: array of shape {array.shape}, expected [T, 64, 64] or [T, 64, 44]")
    if array.shape[0] == 0:
        raise SequenceError(path, "too short: no frames")
    if array.shape[2] == CANVAS_WIDTH:
        array = crop_canvas(array, FRAME_WIDTH)
    if array.dtype == bool:
        return array.astype(np.uint8) * np.uint8(255)
    scale = 1.0 if array.max(initial=0) > 1 else 255.0  # accept 0/1 arrays too
    return np.where(array.astype(np.float32) * scale > 127, 255, 0).astype(np.uint8)


class TreeSource(SequenceSource):
    """A ``root/subject/type/view/`` tree of PNG frames or OpenGait pkl files, as a ``SequenceSource``.

    With ``read_at_open`` every sequence is read once at open: unreadable, wrong-shaped or shorter than
    ``min_length`` ones are skipped and listed in ``summary`` (and ``lengths`` is known); with a
    ``cache_dir`` the outcome is kept for the next open of the unchanged tree. Without ``read_at_open``,
    ``load`` raises ``SequenceError`` naming the path of a bad sequence.
    """

    def __init__(
        self,
        root,
        fmt: str,
        *,
        name: str | None = None,
        read_at_open: bool = True,
        min_length: int = 1,
        cache_dir=None,
    ):
        if fmt not in EXTENSIONS:
            raise ValueError(f"format must be one of {sorted(EXTENSIONS)}, got {fmt!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"dataset root {str(self.root)!r} does not exist or is not a folder")
        self.fmt = fmt
        self.name = name or ("casia_b" if fmt == "png" else "opengait_pkl")
        self.min_length = max(1, int(min_length))
        self._summary = ReadSummary()
        self._listing = hashlib.sha1(f"{INDEX_VERSION}|{fmt}|{self.min_length}|{self.root.resolve()}".encode())
        metas, paths = self._scan()
        if not metas:
            raise ValueError(
                f"no sequences under {str(self.root)!r} (expected root/subject/type/view/*{EXTENSIONS[fmt]}); "
                f"skipped: {self._summary}"
            )
        self._lengths = None
        if read_at_open:
            keep, lengths = self._read_all(paths, cache_dir)
            if not keep:
                raise ValueError(f"no usable sequence under {str(self.root)!r}:\n{self._summary}")
            metas = [metas[i] for i in keep]
            paths = [paths[i] for i in keep]
            self._lengths = np.asarray(lengths, np.int64)
        self.metas = metas
        self._paths = paths
        if self._summary.issues or self._summary.counters:
            _log.warning("%s at %s: skipped while reading:\n%s", self.name, self.root, self._summary)

    def _read_all(self, paths: list[Path], cache_dir) -> tuple[list[int], list[int]]:
        """Read every sequence once; the outcome is cached per tree listing (names, sizes, times)."""
        index_file = None
        if cache_dir:
            index_file = Path(cache_dir) / "tree_index" / f"{self._listing.hexdigest()}.json"
            if index_file.is_file():
                cached = json.loads(index_file.read_text())
                for path, problem in cached["issues"]:
                    self._summary.add(path, problem)
                for what, n in cached["counters"].items():
                    self._summary.count(what, n)
                return cached["keep"], cached["lengths"]
        before = len(self._summary.issues)
        counters_before = collections.Counter(self._summary.counters)
        keep, lengths = [], []
        reading = progress(paths, desc=f"reading {len(paths)} sequences of {self.name} once", unit="seq")
        for i, path in enumerate(reading):
            try:
                lengths.append(len(self._read(path)))
                keep.append(i)
            except SequenceError as error:
                self._summary.add(error.path, error.problem)
        if index_file is not None:
            record = {
                "keep": keep,
                "lengths": lengths,
                "issues": [[i.path, i.problem] for i in self._summary.issues[before:]],
                "counters": dict(self._summary.counters - counters_before),
            }
            index_file.parent.mkdir(parents=True, exist_ok=True)
            handle, scratch = tempfile.mkstemp(prefix=".tmp-", dir=index_file.parent)
            with os.fdopen(handle, "w") as file:
                json.dump(record, file)
            os.replace(scratch, index_file)
        return keep, lengths

    @property
    def summary(self) -> ReadSummary:
        return self._summary

    @property
    def lengths(self):
        return self._lengths

    def path(self, index: int) -> Path:
        """Where sequence ``index`` lives (a view folder for PNG trees, a file for pkl trees)."""
        return self._paths[index]

    def load(self, index: int) -> np.ndarray:
        return self._read(self._paths[index])

    def _read(self, path: Path) -> np.ndarray:
        if self.fmt == "png":
            frames = read_png_sequence(path, summary=self._summary)
        else:
            frames = read_pkl_sequence(path)
        if len(frames) < self.min_length:
            raise SequenceError(path, f"too short: {len(frames)} frames, data.min_length is {self.min_length}")
        return frames

    def _scan(self) -> tuple[list[SequenceMeta], list[Path]]:
        """Walk the three folder levels; report empty folders, stray files and missing views."""
        extension = EXTENSIONS[self.fmt]
        metas, paths = [], []
        views_of_walk: dict[tuple[str, str], set[str]] = {}
        all_views: set[str] = set()
        for subject in _folders(self.root, self._summary):
            for sequence_type in _folders(subject, self._summary):
                walk = views_of_walk.setdefault((subject.name, sequence_type.name), set())
                for view in _folders(sequence_type, self._summary):
                    all_views.add(view.name)
                    walk.add(view.name)
                    files = sorted(p for p in view.iterdir() if p.suffix.lower() == extension)
                    self._listing.update(str(view.relative_to(self.root)).encode())
                    for file in files:
                        stat = file.stat()
                        self._listing.update(f"|{file.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
                    if not files:
                        self._summary.add(view, f"empty folder: no {extension} files")
                        continue
                    meta = SequenceMeta(subject.name, sequence_type.name, view.name)
                    if self.fmt == "png":
                        metas.append(meta)
                        paths.append(view)
                        continue
                    if len(files) > 1:
                        self._summary.add(view, f"several pkl files: using {files[0].name}, ignoring {len(files) - 1}")
                    metas.append(meta)
                    paths.append(files[0])
        for (subject, sequence_type), views in sorted(views_of_walk.items()):
            for view in sorted(all_views - views):
                self._summary.add(self.root / subject / sequence_type / view, "missing view")
        return metas, paths


def _folders(parent: Path, summary: ReadSummary) -> list[Path]:
    """Sub-folders in sorted order; stray files at a folder level are reported, hidden ones ignored."""
    entries = sorted(p for p in parent.iterdir() if not p.name.startswith("."))
    for entry in entries:
        if not entry.is_dir():
            summary.add(entry, "unexpected file: expected a folder")
    return [p for p in entries if p.is_dir()]
