"""GaitSet / OpenGait silhouette pretreatment, vectorized over the frames of a sequence.

Per frame: crop the silhouette's bounding box, scale it to height 64 keeping the aspect ratio, centre
it horizontally on its column centroid in a 64-wide canvas and keep the central ``width`` columns
(44 for the models, 64 for OpenGait's on-disk format). Frames with too few foreground pixels are
dropped. Real data (tools/pretreat.py, readers) and SynthGait go through this same function, so the
synthetic silhouettes have exactly the real ones' framing.

Sampling is bilinear at the output pixel centres (as cv2/PIL resizes do), then thresholded at one
half, so the output is binary 0 / 255.
"""

from __future__ import annotations

import numpy as np

from selfgait_jax.data.sequence import CANVAS_WIDTH, FRAME_HEIGHT, FRAME_WIDTH

# OpenGait drops a raw frame whose pixel sum is <= 10000, i.e. fewer than ~40 pixels at 255.
MIN_FOREGROUND_PIXELS = 40


def foreground(frames: np.ndarray) -> np.ndarray:
    """Boolean foreground of silhouette frames: bool as is, integers above 127, floats above 0.5."""
    frames = np.asarray(frames)
    if frames.dtype == bool:
        return frames
    if np.issubdtype(frames.dtype, np.integer):
        return frames > 127
    return frames > 0.5


def pretreat_frames(
    frames: np.ndarray,
    *,
    width: int = FRAME_WIDTH,
    min_foreground_pixels: int = MIN_FOREGROUND_PIXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Pretreat raw silhouettes ``[T, H, W]`` (bool, uint8 0..255 or float 0..1).

    Returns ``(out uint8 [T', 64, width] with values 0/255, kept int64 [T'])`` where ``kept`` are the
    indices of the input frames that had at least ``min_foreground_pixels`` foreground pixels.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"pretreat_frames expects frames [T, H, W], got shape {frames.shape}")
    if not 0 < width <= CANVAS_WIDTH or (CANVAS_WIDTH - width) % 2:
        raise ValueError(f"width must be an even number of columns up to {CANVAS_WIDTH}, got {width}")
    mask = foreground(frames)
    kept = np.flatnonzero(mask.sum(axis=(1, 2)) >= max(int(min_foreground_pixels), 1))
    if kept.size == 0:
        return np.zeros((0, FRAME_HEIGHT, width), np.uint8), kept
    mask = mask[kept]
    num, height, full_width = mask.shape

    rows = mask.any(axis=2)  # [T, H]
    top = rows.argmax(axis=1)
    bottom = height - 1 - rows[:, ::-1].argmax(axis=1)
    scale = (bottom - top + 1) / FRAME_HEIGHT  # source pixels per output pixel, [T]

    column_mass = mask.sum(axis=1).astype(np.float64)  # [T, W]
    centre = (column_mass * (np.arange(full_width) + 0.5)).sum(axis=1) / column_mass.sum(axis=1)

    # Output pixel centres in source coordinates (pixel i spans [i, i + 1]).
    out_rows = np.arange(FRAME_HEIGHT) + 0.5
    first_col = (CANVAS_WIDTH - width) // 2
    out_cols = np.arange(first_col, first_col + width) + 0.5 - CANVAS_WIDTH / 2
    src_y = top[:, None] + out_rows[None, :] * scale[:, None]  # [T, 64]
    src_x = centre[:, None] + out_cols[None, :] * scale[:, None]  # [T, width]
    values = _bilinear(mask.astype(np.float32), src_y - 0.5, src_x - 0.5)
    return np.where(values >= 0.5, 255, 0).astype(np.uint8), kept


def _bilinear(images: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``images [T, H, W]`` at the grid ``ys [T, h] x xs [T, w]`` (index units); 0 outside.

    Separable, as two batched matrix products with 2-tap interpolation matrices (fast on a CPU).
    """
    num, height, width = images.shape
    rows = _interpolation_matrix(ys, height)  # [T, h, H]
    cols = _interpolation_matrix(xs, width)  # [T, w, W]
    return rows @ images @ cols.transpose(0, 2, 1)


def _interpolation_matrix(coords: np.ndarray, size: int) -> np.ndarray:
    """``[T, n, size]`` weights that linearly interpolate at ``coords [T, n]``; taps outside are 0."""
    num, count = coords.shape
    low = np.floor(coords)
    frac = (coords - low).astype(np.float32)
    low = low.astype(np.int64)
    # One extra column on each side catches taps outside the image; it is dropped at the end.
    matrix = np.zeros((num, count, size + 2), np.float32)
    t = np.arange(num)[:, None]
    i = np.arange(count)[None, :]
    matrix[t, i, np.clip(low + 1, 0, size + 1)] += 1 - frac
    matrix[t, i, np.clip(low + 2, 0, size + 1)] += frac
    return matrix[:, :, 1:-1]


def crop_canvas(frames: np.ndarray, width: int = FRAME_WIDTH) -> np.ndarray:
    """Keep the central ``width`` columns of 64-wide pretreated frames (OpenGait's 10..54 for 44)."""
    frames = np.asarray(frames)
    first = (frames.shape[-1] - width) // 2
    return frames[..., first : first + width]
