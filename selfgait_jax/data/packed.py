"""A dataset's silhouettes at one bit a pixel: a tree's frame cache, memory-mapped, and the compact file.

A frame (uint8 [64, 44], 0/255) packed is ``np.packbits`` of its 2,816 pixels column by column: each
of its 44 columns of 64 pixels is 8 whole bytes, 352 bytes a frame. (Columns, not rows: a row of 44
pixels is 5.5 bytes, so row-major bytes straddle rows and compress worse: on 1,500 of CASIA-B's
sequences, zlib at level 9 leaves 51 bytes a frame by columns, 61 row-major.) Two forms
keep every sequence of a dataset that way, one after another in one uint8 array [F, 352] (F: all
their frames; a sequence's first frame is the sum of the lengths before it), beside a JSON index:
the dataset name, the metas, the lengths and the summary of the read that made them. Both are
numpy only (no TensorFlow, no PIL, no pickle), so a host with nothing but JAX and numpy opens them.

- The frame cache of a tree (``readers.TreeSource``, read at open with a cache dir):
  ``<key>.npy`` opened with ``mmap_mode="r"`` and ``<key>.json``. Each is written under a temporary
  name and renamed into place, the .npy first: the .json marks the pair whole, and a pair that does
  not agree (a truncated or replaced .npy, a damaged .json) is read again from the tree, never used.
- The compact file (``tools/pack_dataset.py``, ``write_compact``): one ``.npz``
  (an .npz as ``np.savez_compressed`` writes it, at zlib level 9) holding "bits" and "index" (the
  JSON as bytes); ``data.root`` may name it, and ``open_compact`` reads it whole into memory
  (CASIA-B: 375 MiB, from 56 MiB).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from selfgait_jax.data.sequence import FRAME_HEIGHT, FRAME_SHAPE, FRAME_WIDTH, ReadSummary, SequenceMeta, SequenceSource
from selfgait_jax.errors import ConfigError

FRAME_BYTES = FRAME_HEIGHT * FRAME_WIDTH // 8  # 352
FORMAT = "selfgait_jax packed frames"
VERSION = 1  # of the index, the bit layout and the compact file; bump when any changes
COMPRESSION_LEVEL = 9  # zlib's: CASIA-B's compact file 56 MiB (about 4 MiB more at numpy's 6)
_HEADER = {"descr": "|u1", "fortran_order": False}


def pack_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 [T, 64, 44] of 0/255 → uint8 [T, 352], one bit a pixel, column by column (8 bytes a
    column). Anything but 0/255 is a ValueError (the packing would lose it)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"expected uint8 [T, 64, 44] frames, got {frames.dtype} {frames.shape}")
    if np.any((frames != 0) & (frames != 255)):
        raise ValueError("frames other than 0/255 cannot be packed at one bit a pixel")
    return np.packbits(frames.transpose(0, 2, 1) != 0, axis=2).reshape(len(frames), FRAME_BYTES)


def unpack_frames(bits: np.ndarray) -> np.ndarray:
    """uint8 [T, 352] → uint8 [T, 64, 44] of 0/255 (a fresh array)."""
    columns = np.unpackbits(np.asarray(bits).reshape(len(bits), FRAME_WIDTH, FRAME_HEIGHT // 8), axis=2)
    frames = np.ascontiguousarray(columns.transpose(0, 2, 1))
    frames *= np.uint8(255)  # in place: much faster here than a product into a new array
    return frames


def index_record(name: str, metas, lengths, summary: ReadSummary, **extra) -> dict:
    """The JSON index of packed sequences: ``metas[i]`` has ``lengths[i]`` frames, stored in order."""
    lengths = [int(n) for n in lengths]
    return {"format": FORMAT, "version": VERSION, "name": name, "frame_shape": list(FRAME_SHAPE),
            "bytes_per_frame": FRAME_BYTES, "frames": sum(lengths),
            "metas": [[m.subject, m.type, m.view] for m in metas], "lengths": lengths,
            "summary": summary.to_json(), **extra}


def _check_record(record, bits) -> str:
    """Why ``record`` (an index) and ``bits`` do not belong together, or "" when they do."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return "it holds no index of packed frames"
    if record.get("version") != VERSION:
        return f"its index is version {record.get('version')}, this code reads version {VERSION}"
    try:
        lengths = [int(n) for n in record["lengths"]]
        if len(lengths) != len(record["metas"]) or min(lengths, default=1) < 1:
            raise ValueError
        for key in ("issues", "counters"):
            record["summary"][key]
    except (KeyError, TypeError, ValueError):
        return "its index is damaged (metas, lengths or summary missing or disagreeing)"
    if bits.dtype != np.uint8 or bits.ndim != 2 or bits.shape != (sum(lengths), FRAME_BYTES):
        return (f"its frames are {bits.dtype} {list(bits.shape)} where its index asks for uint8 "
                f"[{sum(lengths)}, {FRAME_BYTES}]")
    return ""


def _replace_atomically(path: Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, synced, then renamed onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


class FrameWriter:
    """Writes packed frames to ``path`` (an .npy of uint8 [F, 352]) as they come, under a temporary
    name: ``commit()`` fixes the header's F and renames it into place; ``discard()`` (or leaving a
    ``with`` block without committing) removes it."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, self._scratch = tempfile.mkstemp(prefix=f".tmp-{self.path.name}-", dir=self.path.parent)
        self._file = os.fdopen(handle, "wb")
        np.lib.format.write_array_header_1_0(self._file, {**_HEADER, "shape": (0, FRAME_BYTES)})
        self._header_bytes = self._file.tell()
        self.frames = 0

    def add(self, frames: np.ndarray) -> None:
        self._file.write(pack_frames(frames).tobytes())
        self.frames += len(frames)

    def commit(self) -> None:
        self._file.seek(0)
        np.lib.format.write_array_header_1_0(self._file, {**_HEADER, "shape": (self.frames, FRAME_BYTES)})
        if self._file.tell() != self._header_bytes:  # numpy pads the header for this; never seen otherwise
            raise RuntimeError(f"{self.path}: the .npy header changed size")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._scratch, self.path)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
            Path(self._scratch).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()


def write_index(path, record: dict) -> None:
    """Write an index JSON atomically (after its frames: the index marks the pair whole)."""
    _replace_atomically(Path(path), lambda file: file.write(json.dumps(record).encode()))


def open_cache(frames_path, index_path) -> tuple[dict, np.ndarray] | tuple[None, str]:
    """``(index, frames memory-mapped)`` of a frame cache; ``(None, why)`` when it is absent or its
    two files do not agree (then it is to be written again, not used)."""
    frames_path, index_path = Path(frames_path), Path(index_path)
    if not index_path.is_file():
        return None, "no cache"
    try:
        record = json.loads(index_path.read_text())
        bits = np.load(frames_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:  # a missing or truncated .npy, a damaged .json
        return None, f"{type(error).__name__}: {error}"
    why = _check_record(record, bits)
    return (None, why) if why else (record, bits)


class PackedSource(SequenceSource):
    """Sequences stored packed (``bits`` uint8 [F, 352], memory-mapped or in memory) in index order."""

    def __init__(self, name: str, metas, lengths, bits: np.ndarray, summary: ReadSummary | None = None):
        self.name = name
        self.metas = list(metas)
        self._lengths = np.asarray(lengths, np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._lengths)[:-1]]).astype(np.int64)
        self.bits = bits
        self._summary = summary if summary is not None else ReadSummary()

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    @property
    def summary(self) -> ReadSummary:
        return self._summary

    def load(self, index: int) -> np.ndarray:
        start = self._starts[index]
        return unpack_frames(self.bits[start:start + self._lengths[index]])


def _savez(file, arrays: dict) -> None:
    """``np.savez_compressed(file, **arrays)`` at zlib level ``COMPRESSION_LEVEL`` (numpy's own is 6):
    the same .npz, which ``np.load`` reads. Arrays are written in chunks (a memory map stays one)."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION_LEVEL,
                         allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def write_compact(path, source, *, root=None) -> dict:
    """``source``'s sequences as one compact file at ``path`` (np.savez_compressed: "bits", "index"),
    written atomically; returns the index. ``root``: issue paths under it are written relative to it."""
    path = Path(path)
    summary = ReadSummary()
    for issue in (source.summary.issues if source.summary is not None else ()):
        where = Path(issue.path)
        if root is not None and where.is_relative_to(root):
            where = where.relative_to(root)
        summary.add(where, issue.problem)
    if source.summary is not None:
        summary.add_json({"issues": [], "counters": dict(source.summary.counters)})
    bits = getattr(source, "bits", None)
    scratch = None
    if bits is None:  # not packed yet: pack it once into a temporary .npy beside the output
        handle, scratch = tempfile.mkstemp(prefix=f".tmp-{path.name}-", suffix=".npy", dir=path.parent)
        os.close(handle)
    try:
        lengths = source.lengths
        if bits is None:
            with FrameWriter(scratch) as writer:
                lengths = []
                for i in range(len(source)):
                    frames = source.load(i)
                    writer.add(frames)
                    lengths.append(len(frames))
                writer.commit()
            bits = np.load(scratch, mmap_mode="r")
        record = index_record(source.name, source.metas, lengths, summary)
        index = np.frombuffer(json.dumps(record).encode(), np.uint8)
        _replace_atomically(path, lambda file: _savez(file, {"bits": bits, "index": index}))
    finally:
        if scratch is not None:
            Path(scratch).unlink(missing_ok=True)
    return record


def open_compact(path, name: str, *, min_length: int = 1) -> PackedSource:
    """The compact file at ``path`` (``data.root``) as the source of dataset ``name``. Sequences
    shorter than ``min_length`` are skipped and reported; a file that is not one, or is damaged,
    is a ``ConfigError`` naming data.root and the file."""
    def fail(problem):
        raise ConfigError("data.root", f"{path} {problem}; make it again with "
                          f"python tools/pack_dataset.py --data={name} --data_root=<the tree> --out={path}")

    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"bits", "index"} <= set(data.files):
                fail(f"is an .npz without packed frames (it holds {sorted(data.files)})")
            record = json.loads(data["index"].tobytes())
            bits = data["bits"]
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        fail(f"is not a whole packed dataset file ({type(error).__name__}: {error})")
    why = _check_record(record, bits)
    if why:
        fail(f"is not a whole packed dataset file: {why}")
    summary = ReadSummary()
    summary.add_json(record["summary"])
    metas = [SequenceMeta(*m) for m in record["metas"]]
    lengths = np.asarray(record["lengths"], np.int64)
    short = lengths < max(1, int(min_length))
    if short.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for i in np.flatnonzero(short):
            m = metas[i]
            summary.add(f"{path}:{m.subject}/{m.type}/{m.view}",
                        f"too short: {lengths[i]} frames, data.min_length is {min_length}")
        keep = np.flatnonzero(~short)
        bits = np.concatenate([bits[starts[i]:starts[i] + lengths[i]] for i in keep]) if len(keep) else bits[:0]
        metas, lengths = [metas[i] for i in keep], lengths[keep]
    if not metas:
        fail("holds no sequence of data.min_length frames or more")
    return PackedSource(name, metas, lengths, bits, summary)
