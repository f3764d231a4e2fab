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

import hashlib
import logging
import os
import _codecs
import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from selfgait_jax.data.pretreatment import crop_canvas, pretreat_frames
from selfgait_jax.data import packed
from selfgait_jax.data.sequence import (  # ReadSummary: importable from here too
    CANVAS_WIDTH, FRAME_HEIGHT, FRAME_WIDTH, ReadSummary, SequenceMeta, SequenceSource)
from selfgait_jax.errors import SequenceError  # raised here; readers.SequenceError stays importable
from selfgait_jax.progress import progress

_log = logging.getLogger(__name__)

EXTENSIONS = {"png": ".png", "pkl": ".pkl"}
INDEX_VERSION = 3  # bump when the read at open or its cache changes, so older caches are not reused
# 3: the cache holds every kept sequence's frames (packed.py) beside the outcome


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
    ``cache_dir`` the outcome and the frames (bit-packed, memory-mapped: ``packed.py``) are kept for the
    next open of the unchanged tree, which reads them from there. Without ``read_at_open``,
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
        self.bits = None  # the frames of the cache (packed.py), memory-mapped, once written or found
        if read_at_open:
            keep, lengths = self._read_all(metas, paths, cache_dir)
            if not keep:
                raise ValueError(f"no usable sequence under {str(self.root)!r}:\n{self._summary}")
            metas = [metas[i] for i in keep]
            paths = [paths[i] for i in keep]
            self._lengths = np.asarray(lengths, np.int64)
            self._starts = np.concatenate([[0], np.cumsum(self._lengths)[:-1]]).astype(np.int64)
        self.metas = metas
        self._paths = paths
        if self._summary.issues or self._summary.counters:
            _log.warning("%s at %s: skipped while reading:\n%s", self.name, self.root, self._summary)

    def _read_all(self, metas, paths: list[Path], cache_dir) -> tuple[list[int], list[int]]:
        """Read every sequence once. With ``cache_dir`` the outcome and every kept sequence's frames
        (packed, ``packed.py``) are cached per tree listing (names, sizes, times), and later opens of the
        unchanged tree read the frames from there, never the tree's files."""
        index_file = frames_file = None
        if cache_dir:
            key = self._listing.hexdigest()
            index_file = Path(cache_dir) / "tree_index" / f"{key}.json"
            frames_file = index_file.with_suffix(".npy")
            cached, bits_or_why = packed.open_cache(frames_file, index_file)
            if cached is not None and len(cached.get("keep", ())) == len(cached["lengths"]):
                self._summary.add_json(cached["summary"])
                self.bits = bits_or_why
                return cached["keep"], cached["lengths"]
            if bits_or_why != "no cache":
                _log.warning("%s: the frame cache %s is not whole (%s): reading the tree again",
                             self.name, frames_file, bits_or_why)
        read = ReadSummary()  # what this read skips (the scan's findings are made again at every open)
        keep, lengths = [], []
        writer = packed.FrameWriter(frames_file) if frames_file is not None else None
        reading = progress(paths, desc=f"reading {len(paths)} sequences of {self.name} once", unit="seq")
        try:
            for i, path in enumerate(reading):
                try:
                    frames = self._read(path, read)
                except SequenceError as error:
                    read.add(error.path, error.problem)
                    continue
                keep.append(i)
                lengths.append(len(frames))
                if writer is not None:
                    writer.add(frames)
            if writer is not None:
                writer.commit()
                packed.write_index(index_file, packed.index_record(
                    self.name, [metas[i] for i in keep], lengths, read, keep=keep))
                self.bits = np.load(frames_file, mmap_mode="r")
        finally:
            if writer is not None:
                writer.discard()
        self._summary.add_json(read.to_json())
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
        if self.bits is not None:  # the frame cache: what reading the file gave when it was written
            start = self._starts[index]
            return packed.unpack_frames(self.bits[start:start + self._lengths[index]])
        return self._read(self._paths[index])

    def _read(self, path: Path, summary: ReadSummary | None = None) -> np.ndarray:
        if self.fmt == "png":
            frames = read_png_sequence(path, summary=self._summary if summary is None else summary)
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
                    with os.scandir(view) as entries:  # scandir: no Path objects, one stat a file
                        found = sorted((e for e in entries if Path(e.name).suffix.lower() == extension),
                                       key=lambda e: e.name)
                    self._listing.update(str(view.relative_to(self.root)).encode())
                    for entry in found:
                        stat = entry.stat()
                        self._listing.update(f"|{entry.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
                    files = [view / entry.name for entry in found]
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
    with os.scandir(parent) as scan:  # an entry's type comes with it: no stat a folder
        entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    folders = []
    for entry in entries:
        if entry.is_dir():
            folders.append(parent / entry.name)
        else:
            summary.add(parent / entry.name, "unexpected file: expected a folder")
    return folders
