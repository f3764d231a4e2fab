"""SynthGait datasets: which sequences exist, how one is rendered, and the on-disk cache.

A dataset is a ``SynthGaitSpec`` (seed, subject ids, types, views, frame range). A sequence is a pure
function of (seed, subject, type, view), so subjects are generated independently: in parallel
processes, and cached one file set per subject. The cache holds bit-packed frames (``np.packbits``
along the width); ``load`` reads just one sequence's rows. A subject's files are written into a temporary
folder that is renamed into place at the end, so an interrupted run never leaves a half subject.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from selfgait_jax.data.pretreatment import pretreat_frames
from selfgait_jax.data.sequence import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    SequenceMeta,
    SequenceSource,
    default_cache_dir,
    view_angle,
)
from selfgait_jax.data.synthgait import render, walker
from selfgait_jax.data.synthgait.params import draw_walk, draw_walker, rng_for
from selfgait_jax.progress import progress

# Bump when the rendering changes, so old caches are not read as current ones.
GENERATOR_VERSION = 2
# Below this many frames, worker start-up costs more than it saves: render in-process.
PARALLEL_MIN_FRAMES = 20_000

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SynthGaitSpec:
    """Everything that determines a SynthGait dataset."""

    name: str
    seed: int
    subjects: tuple[str, ...]
    types: tuple[str, ...]
    views: tuple[str, ...]
    min_frames: int
    max_frames: int

    def __post_init__(self):
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(
                f"{self.name}: need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}"
            )
        if not (self.subjects and self.types and self.views):
            raise ValueError(f"{self.name}: subjects, types and views must all be non-empty")
        for view in self.views:
            view_angle(view)

    def metas(self) -> list[SequenceMeta]:
        """Subject-major order: subject, then type, then view."""
        return [SequenceMeta(s, t, v) for s in self.subjects for t in self.types for v in self.views]

    def cache_key(self) -> str:
        """Identifies the per-subject content (not the subject list) for the cache folder name."""
        fields = [GENERATOR_VERSION, self.name, self.seed, self.types, self.views, self.min_frames, self.max_frames]
        return hashlib.sha1(json.dumps(fields).encode()).hexdigest()[:12]


def sequence_length(spec: SynthGaitSpec, meta: SequenceMeta) -> int:
    """Frames the camera of ``meta`` records (before the pretreatment, which keeps them all)."""
    rng = rng_for(spec.seed, "length", meta.subject, meta.type, meta.view)
    return int(rng.integers(spec.min_frames, spec.max_frames + 1))


def render_walk(spec: SynthGaitSpec, subject: str, sequence_type: str) -> list[np.ndarray]:
    """All views of one walk, in ``spec.views`` order: uint8 ``[T_v, 64, 44]`` each."""
    w = draw_walker(spec.seed, subject)
    walk = draw_walk(spec.seed, subject, sequence_type)
    condition = sequence_type.split("-")[0] if "-" in sequence_type else "nm"
    metas = [SequenceMeta(subject, sequence_type, v) for v in spec.views]
    lengths = [sequence_length(spec, m) for m in metas]
    offsets = [int(rng_for(spec.seed, "offset", m.subject, m.type, m.view).integers(0, 12)) for m in metas]
    total = max(o + n for o, n in zip(offsets, lengths))
    hand_side = w.bag_side if (condition == "bg" and w.bag == "hand") else 0
    joints = walker.pose(w, walk, total, hand_bag_side=hand_side)
    starts, ends, radii = walker.capsules(w, joints, condition)
    out = []
    for meta, offset, length in zip(metas, offsets, lengths):
        rng = rng_for(spec.seed, "camera", meta.subject, meta.type, meta.view)
        # The walker crosses the camera's field, so the viewing angle drifts a little.
        drift = rng.uniform(-4.0, 4.0) * np.linspace(-0.5, 0.5, length)
        views = view_angle(meta.view) + rng.normal(0.0, 1.0) + drift
        window = slice(offset, offset + length)
        a = render.project(starts[window], views)
        b = render.project(ends[window], views)
        masks = render.rasterize(a, b, radii * render.PIXELS_PER_METRE, render.CANVAS_ROWS, render.CANVAS_COLS)
        masks = render.segmentation_noise(masks, rng, quality=float(rng.uniform(0.2, 1.0)))
        frames, _ = pretreat_frames(_crop_to_content(masks))
        out.append(frames)
    return out


def _crop_to_content(masks: np.ndarray) -> np.ndarray:
    """The smallest window holding every frame's silhouette (the pretreatment's output is unchanged)."""
    rows = np.flatnonzero(masks.any(axis=(0, 2)))
    cols = np.flatnonzero(masks.any(axis=(0, 1)))
    if rows.size == 0:
        return masks
    return masks[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def render_sequence(spec: SynthGaitSpec, meta: SequenceMeta) -> np.ndarray:
    """One sequence, uint8 ``[T, 64, 44]`` (renders its whole walk; use ``render_walk`` for many views)."""
    if meta.view not in spec.views:
        raise ValueError(f"{spec.name}: view {meta.view!r} is not one of {spec.views}")
    return render_walk(spec, meta.subject, meta.type)[spec.views.index(meta.view)]


def render_subject(spec: SynthGaitSpec, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """All sequences of a subject in ``spec.metas()`` order: (packed frames [F, 64, 6], lengths [S])."""
    frames, lengths = [], []
    for sequence_type in spec.types:
        for sequence in render_walk(spec, subject, sequence_type):
            frames.append(sequence)
            lengths.append(len(sequence))
    packed = np.packbits(np.concatenate(frames) > 0, axis=-1)
    return packed, np.asarray(lengths, np.int64)


def _store_subject(spec: SynthGaitSpec, folder: str, subject: str) -> str:
    """Render one subject and move its files into ``folder/subject`` atomically."""
    target = Path(folder) / subject
    if target.is_dir():
        return subject
    packed, lengths = render_subject(spec, subject)
    scratch = Path(tempfile.mkdtemp(prefix=f".{subject}-", dir=folder))
    try:
        np.save(scratch / "frames.npy", packed)
        np.save(scratch / "lengths.npy", lengths)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():  # another process finished first is fine; anything else is not
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return subject


def cache_folder(spec: SynthGaitSpec, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``spec``'s subjects are cached, one folder each (``cache_dir`` default: the shared
    cache, ``default_cache_dir()``): every run and process that opens the same spec reads them."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "synthgait" / f"{spec.name}-{spec.cache_key()}"


def missing_subjects(spec: SynthGaitSpec, folder: str | os.PathLike) -> list[str]:
    """The subjects of ``spec`` not yet rendered into ``folder``."""
    return [s for s in spec.subjects if not (Path(folder) / s).is_dir()]


class SynthGaitSource(SequenceSource):
    """A SynthGait dataset generated into (or read from) the cache, as a ``SequenceSource``."""

    def __init__(self, spec: SynthGaitSpec, cache_dir: str | os.PathLike | None = None, num_workers: int = 0):
        self.spec = spec
        self.name = spec.name
        self.metas = spec.metas()
        self.folder = cache_folder(spec, cache_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        generate(spec, self.folder, num_workers)
        per_subject = len(spec.types) * len(spec.views)
        self._data_offsets: dict[str, int] = {}
        self._packed_width = (FRAME_WIDTH + 7) // 8
        lengths, self._offsets = [], []
        for subject in spec.subjects:
            subject_lengths = np.load(self.folder / subject / "lengths.npy")
            if subject_lengths.shape != (per_subject,):
                raise ValueError(
                    f"cache file {self.folder / subject / 'lengths.npy'} does not match the spec; delete it")
            lengths.append(subject_lengths)
            self._offsets.append(np.concatenate([[0], np.cumsum(subject_lengths)[:-1]]))
        self._lengths = np.concatenate(lengths)
        self._offsets = np.concatenate(self._offsets)
        self._per_subject = per_subject

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    def load(self, index: int) -> np.ndarray:
        # Read just this sequence's rows (no memory maps: a large pool would hold a file per subject).
        meta = self.metas[index]
        path = self.folder / meta.subject / "frames.npy"
        row_bytes = FRAME_HEIGHT * self._packed_width
        with open(path, "rb") as file:
            offset = self._data_offsets.get(meta.subject)
            if offset is None:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    np.lib.format.read_array_header_1_0(file)
                else:
                    np.lib.format.read_array_header_2_0(file)
                offset = self._data_offsets[meta.subject] = file.tell()
            file.seek(offset + int(self._offsets[index]) * row_bytes)
            count = int(self._lengths[index])
            bits = np.fromfile(file, np.uint8, count=count * row_bytes)
        if bits.size != count * row_bytes:
            raise ValueError(f"cache file {path} is truncated; delete its folder to regenerate it")
        bits = bits.reshape(count, FRAME_HEIGHT, self._packed_width)
        return np.unpackbits(bits, axis=-1, count=FRAME_WIDTH) * np.uint8(255)


def generate(spec: SynthGaitSpec, folder: str | os.PathLike, num_workers: int = 0) -> None:
    """Render every subject of ``spec`` missing from ``folder``; ``num_workers`` 0 = all cores.

    Large jobs run in fresh worker interpreters (``python -m`` this module), which neither inherit
    the caller's threads (JAX, TensorFlow) as fork would nor re-run its main script as spawn would.
    Progress is counted in finished subjects: a subject's folder appears, by rename, once it is
    complete. Each call starts at a random place in the missing subjects, so two processes that
    render the same dataset at once mostly render different subjects (each skips a subject whose
    folder is there when it reaches it).
    """
    folder = Path(folder)
    missing = missing_subjects(spec, folder)
    if not missing:
        return
    start_at = random.randrange(len(missing))
    missing = missing[start_at:] + missing[:start_at]
    workers = min(num_workers or os.cpu_count() or 1, len(missing))
    frames_estimate = len(missing) * len(spec.types) * len(spec.views) * (spec.min_frames + spec.max_frames) / 2
    start = time.time()
    _log.info("SynthGait %s: rendering %d subjects into %s", spec.name, len(missing), folder)
    with progress(total=len(missing), desc=f"rendering SynthGait {spec.name}", unit="subject") as bar:
        if workers > 1 and frames_estimate > PARALLEL_MIN_FRAMES:
            _render_in_workers(spec, folder, missing, workers, bar)
        else:
            for subject in missing:
                _store_subject(spec, str(folder), subject)
                bar.update()
    _log.info("SynthGait %s: %d subjects in %.1f s", spec.name, len(missing), time.time() - start)


def _render_in_workers(spec: SynthGaitSpec, folder: Path, missing: list[str], workers: int, bar) -> None:
    """``missing`` split over ``workers`` processes; ``bar`` counts the subjects' folders as they
    appear. Workers still running when this returns early (an error, Ctrl-C) are stopped."""
    spec_file = folder / f".spec-{os.getpid()}.json"
    spec_file.write_text(json.dumps(dataclasses.asdict(spec)))
    processes = []
    try:
        for w in range(workers):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", __name__, str(folder), str(spec_file), *missing[w::workers]],
                env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
            ))
        subject_folders = [folder / s for s in missing]
        while any(p.poll() is None for p in processes):
            time.sleep(1.0)
            bar.update(sum(f.is_dir() for f in subject_folders) - bar.n)
        bar.update(sum(f.is_dir() for f in subject_folders) - bar.n)
        failed = [p.args for p in processes if p.returncode != 0]
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        spec_file.unlink(missing_ok=True)
    if failed:
        raise RuntimeError(f"SynthGait {spec.name}: a generation worker failed: {failed[0]}")


def _worker_main(argv: list[str]) -> None:
    """``python3 -m selfgait_jax.data.synthgait.dataset FOLDER SPEC_JSON SUBJECT...``"""
    folder, spec_file, *subjects = argv
    fields = json.loads(Path(spec_file).read_text())
    spec = SynthGaitSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    for subject in subjects:
        _store_subject(spec, folder, subject)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
