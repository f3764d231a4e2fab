"""Read a video (any file OpenCV's FFmpeg build decodes) or a folder of frames into RGB frames.

The clip is held in memory (the median background and the contact sheet need every frame), so a long
or large video is refused before it is read when it would take more than ``max_bytes``; the caller
can keep fewer frames (``max_frames``) or shrink them on reading (``max_height``). Anything that
cannot be read is a ``VideoError`` whose message starts with the path and says what is wrong; so is a
still image or a clip of one frame (walkers are found by what moves between frames).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_BYTES = 4 << 30  # 4 GiB of RGB frames: about 9,000 frames of 480x360


class VideoError(ValueError):
    """A video or frame folder that cannot be used; the message starts with its path."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclasses.dataclass
class Clip:
    """``frames``: uint8 RGB ``[T, H, W, 3]``; ``fps`` (None for a frame folder or an unknown rate);
    ``scale``: the resize factor applied on reading (1.0 = original size); ``source``: the path."""

    frames: np.ndarray
    fps: float | None
    source: str
    scale: float = 1.0

    @property
    def name(self) -> str:
        """The file or folder name without its extension, usable as a folder name."""
        stem = Path(self.source.rstrip("/\\")).stem or "video"
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)


def read_clip(path, *, max_frames: int = 0, max_height: int = 0, max_bytes: int = DEFAULT_MAX_BYTES) -> Clip:
    """A video file or a folder of frames as a ``Clip``.

    ``max_frames`` > 0 keeps only the first frames; ``max_height`` > 0 shrinks taller frames to that
    height on reading (area interpolation, the aspect ratio kept).
    """
    path = Path(path)
    if path.is_dir():
        return _one_frame_refused(_read_folder(path, max_frames, max_height, max_bytes))
    if not path.exists():
        raise VideoError(path, "no such video file or frame folder")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes): not a video")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise VideoError(path, "a still image, not a video: give a video file, or a folder holding this "
                               "image and the frames that follow it")
    return _one_frame_refused(_read_video(path, max_frames, max_height, max_bytes))


def _one_frame_refused(clip: Clip) -> Clip:
    if len(clip.frames) < 2:
        raise VideoError(clip.source, "a single frame was read: a still image is not a video (walkers are "
                                      "found by what moves between frames)")
    return clip


def _target_size(height: int, width: int, max_height: int) -> tuple[int, int, float]:
    if max_height and height > max_height:
        scale = max_height / height
        return max_height, max(1, round(width * scale)), scale
    return height, width, 1.0


def _check_memory(path, frames: int, height: int, width: int, max_bytes: int) -> None:
    need = frames * height * width * 3
    if max_bytes and need > max_bytes:
        raise VideoError(
            path, f"{frames} frames of {width}x{height} need {need / 2**30:.1f} GiB in memory, more than "
                  f"the {max_bytes / 2**30:.1f} GiB allowed; keep fewer frames (--max_frames) or smaller "
                  f"ones (--max_height)")


def _resize(frame: np.ndarray, size: tuple[int, int, float]) -> np.ndarray:
    height, width, scale = size
    if scale == 1.0:
        return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def _read_video(path: Path, max_frames: int, max_height: int, max_bytes: int) -> Clip:
    capture = cv2.VideoCapture(os.fspath(path))
    try:
        if not capture.isOpened():
            raise VideoError(path, "OpenCV cannot open it as a video (not a video file, a codec its "
                                   "FFmpeg build lacks, or a corrupt file)")
        fps = capture.get(cv2.CAP_PROP_FPS) or None
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames, size = [], None
        while not max_frames or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if size is None:
                size = _target_size(frame.shape[0], frame.shape[1], max_height)
                expected = min(declared, max_frames) if max_frames else declared
                _check_memory(path, max(expected, 1), size[0], size[1], max_bytes)
            elif len(frames) % 256 == 0:
                _check_memory(path, len(frames), size[0], size[1], max_bytes)
            frame = frame[..., None].repeat(3, axis=-1) if frame.ndim == 2 else frame[..., :3]
            frames.append(cv2.cvtColor(_resize(frame, size), cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise VideoError(path, "no frame could be decoded (an empty, truncated or corrupt video)")
    return Clip(np.stack(frames), fps if fps and fps > 0 else None, os.fspath(path), size[2])


def _read_folder(path: Path, max_frames: int, max_height: int, max_bytes: int) -> Clip:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise VideoError(path, f"a folder of frames must hold images ({', '.join(IMAGE_EXTENSIONS)}); "
                               f"none found")
    if max_frames:
        files = files[:max_frames]
    frames, size = [], None
    for file in files:
        frame = cv2.imread(os.fspath(file), cv2.IMREAD_COLOR)
        if frame is None:
            raise VideoError(file, "unreadable or corrupt image")
        if size is None:
            first = frame.shape[:2]
            size = _target_size(*first, max_height)
            _check_memory(path, len(files), size[0], size[1], max_bytes)
        elif frame.shape[:2] != first:
            raise VideoError(file, f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the first "
                                   f"frame's {first[1]}x{first[0]}")
        frames.append(cv2.cvtColor(_resize(frame, size), cv2.COLOR_BGR2RGB))
    return Clip(np.stack(frames), None, os.fspath(path), size[2])


def write_video(path, frames: np.ndarray, fps: float = 25.0, codec: str = "mp4v") -> str:
    """Writes RGB frames uint8 ``[T, H, W, 3]`` with OpenCV's VideoWriter (``codec``: a FourCC such
    as mp4v for .mp4 or MJPG for .avi); a writer that cannot be opened is a VideoError."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"write_video takes RGB frames uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*codec), float(fps), (width, height))
    try:
        if not writer.isOpened():
            raise VideoError(path, f"OpenCV cannot write a {codec} video here")
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return os.fspath(path)
