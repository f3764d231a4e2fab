"""Project the walker's capsules at a camera angle, rasterize them, and add segmentation noise.

Projection is orthographic onto a vertical image plane: a sphere projects to a disc and a capsule to
a 2-D capsule (a stadium), so the silhouette is exactly the union of stadiums. View 0 looks at the
walker from the front, 90 from the side, 180 from behind; OU-MVLP's 180..270 are the mirrored side.

Rasterization is scanline based and vectorized over frames, capsules and rows: each stadium meets a
pixel row in one interval (its end discs and its two long edges bound it), intervals are written as
+1/-1 into a difference array with ``np.bincount`` and a cumulative sum fills them.
"""

from __future__ import annotations

import numpy as np

PIXELS_PER_METRE = 38.0  # a 1.75 m walker is ~66 px tall before the pretreatment scales it to 64
CANVAS_ROWS = 88  # z from TOP_METRES down to about -0.05 m
CANVAS_COLS = 76  # u within about +-1.0 m of the walker's centre
TOP_METRES = 2.25


def project(points: np.ndarray, view_degrees: np.ndarray) -> np.ndarray:
    """World points ``[T, K, 3]`` seen from ``view_degrees [T]`` → pixel coordinates ``[T, K, 2]`` (x, y).

    The camera sits in direction (cos θ, sin θ, 0) from the walker and looks back at it; image x grows
    to the camera's right, image y downwards.
    """
    theta = np.radians(view_degrees)[:, None]
    u = -np.sin(theta) * points[..., 0] + np.cos(theta) * points[..., 1]
    x = CANVAS_COLS / 2 + u * PIXELS_PER_METRE
    y = (TOP_METRES - points[..., 2]) * PIXELS_PER_METRE
    return np.stack([x, y], axis=-1)


def rasterize(starts: np.ndarray, ends: np.ndarray, radii: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Union of 2-D capsules ``starts/ends [T, K, 2]`` (pixels), ``radii [K]`` (pixels) → bool ``[T, rows, cols]``.

    A pixel is inside when its centre is within ``radius`` of the capsule's segment. Each capsule is
    scanned only over the rows it can reach.
    """
    num, count = starts.shape[:2]
    starts = starts.astype(np.float32)
    ends = ends.astype(np.float32)
    r = np.broadcast_to(np.asarray(radii, np.float32), (num, count))[..., None]
    ax, ay = starts[..., 0:1], starts[..., 1:2]  # [T, K, 1]
    bx, by = ends[..., 0:1], ends[..., 1:2]
    row0 = np.floor(np.minimum(ay, by) - r)
    span = int(np.ceil((np.abs(ay - by) + 2 * r).max())) + 2
    row = row0 + np.arange(span, dtype=np.float32)  # [T, K, J]
    y = row + np.float32(0.5)
    left = np.full(row.shape, np.inf, np.float32)
    right = np.full(row.shape, -np.inf, np.float32)
    r_sq = r * r

    for cx, cy in ((ax, ay), (bx, by)):  # the end discs
        half_sq = r_sq - (y - cy) ** 2
        inside = half_sq >= 0
        half = np.sqrt(np.maximum(half_sq, 0))
        np.minimum(left, np.where(inside, cx - half, np.inf), out=left)
        np.maximum(right, np.where(inside, cx + half, -np.inf), out=right)

    dx, dy = bx - ax, by - ay
    length = np.sqrt(dx * dx + dy * dy)
    safe = np.maximum(length, 1e-6)
    nx, ny = -dy / safe * r, dx / safe * r  # the normal, scaled to the radius
    usable = (np.abs(dy) > 1e-6) & (length > 1e-6)
    inv_dy = np.where(usable, 1.0 / np.where(usable, dy, 1), 0).astype(np.float32)
    for sign in (-1.0, 1.0):  # the two long edges
        px, py = ax + sign * nx, ay + sign * ny
        s = (y - py) * inv_dy
        crosses = (s >= 0) & (s <= 1) & usable
        x = px + s * dx
        np.minimum(left, np.where(crosses, x, np.inf), out=left)
        np.maximum(right, np.where(crosses, x, -np.inf), out=right)

    # Pixel c is covered when c + 0.5 lies in [left, right].
    with np.errstate(invalid="ignore"):
        first = np.clip(np.ceil(left - 0.5), 0, cols)
        last = np.clip(np.floor(right - 0.5) + 1, 0, cols)
    valid = (first < last) & (row >= 0) & (row < rows)
    frame = np.broadcast_to(np.arange(num)[:, None, None], row.shape)[valid]
    base = (frame * rows + row[valid].astype(np.int64)) * (cols + 1)
    size = num * rows * (cols + 1)
    diff = np.bincount(base + first[valid].astype(np.int64), minlength=size) - np.bincount(
        base + last[valid].astype(np.int64), minlength=size
    )
    return np.cumsum(diff.reshape(num, rows, cols + 1), axis=-1, dtype=np.int32)[..., :cols] > 0


def _shift_or(mask: np.ndarray) -> np.ndarray:
    """3x3-cross dilation of ``[T, H, W]`` masks."""
    out = mask.copy()
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    out[:, :, 1:] |= mask[:, :, :-1]
    out[:, :, :-1] |= mask[:, :, 1:]
    return out


def segmentation_noise(masks: np.ndarray, rng: np.random.Generator, quality: float) -> np.ndarray:
    """Imitate background subtraction: ragged edges, small holes, lost feet, shadows, crop jitter.

    ``quality`` in [0, 1] (1 = clean) scales how often each defect appears in this sequence.
    """
    num, rows, cols = masks.shape
    bad = 1.0 - quality
    masks = masks.copy()
    # Edge erosion / dilation by one pixel.
    choice = rng.random(num)
    grow = np.flatnonzero(choice < 0.15 + 0.25 * bad)
    shrink = np.flatnonzero(choice > 1.0 - (0.1 + 0.25 * bad))
    masks[grow] = _shift_or(masks[grow])
    masks[shrink] = ~_shift_or(~masks[shrink])

    row_idx = np.arange(rows)[None, :, None]
    has = masks.any(axis=2)
    top = has.argmax(axis=1)
    bottom = rows - 1 - has[:, ::-1].argmax(axis=1)

    # Holes: a small disc cleared around a random foreground pixel of a random body row.
    holes = np.flatnonzero(rng.random(num) < 0.5 * bad)
    if holes.size:
        hy = rng.integers(top[holes], np.maximum(bottom[holes], top[holes] + 1))
        line = masks[holes, hy]  # [H, W]
        hx = (rng.random(line.shape) * line).argmax(axis=1)
        radius = rng.uniform(0.8, 2.0, holes.size)
        yy = np.arange(rows)[None, :, None] - hy[:, None, None]
        xx = np.arange(cols)[None, None, :] - hx[:, None, None]
        masks[holes] &= yy * yy + xx * xx > (radius * radius)[:, None, None]

    # Feet lost in the floor (rows cut at the bottom) or a shadow smeared sideways at the feet.
    feet = rng.random(num)
    cut = np.where(feet < 0.3 * bad, rng.integers(1, 4, num), 0)
    masks &= ~(row_idx > (bottom - cut)[:, None, None])
    shadow = np.flatnonzero(feet > 1.0 - 0.2 * bad)
    for index in shadow:
        low = slice(max(bottom[index] - 2, 0), bottom[index] + 1)
        band = masks[index, low]
        spread = band.copy()
        for step in range(1, 4):
            spread[:, step:] |= band[:, :-step]
            spread[:, :-step] |= band[:, step:]
        masks[index, low] = spread

    # Crop jitter: a row or two of hair lost at the top now and then.
    hair = np.where(rng.random(num) < 0.2 * bad, rng.integers(1, 3, num), 0)
    masks &= ~(row_idx < (top + hair)[:, None, None])
    return masks
