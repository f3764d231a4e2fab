"""Silhouette augmentations for the two-clip pretexts, in JAX, inside the jitted train step.

The set is GaitSSB's (Fan et al., TPAMI 2023, OpenGait's ``configs/gaitssb``): a small random
affine map, a perspective (keystone) warp, a left-right flip, a dilation of one horizontal part (a
coat or a bag makes a part wider) and a blur of one part. Each acts on a clip ``float [N, T, H, W]``
in [0, 1], with its probability per clip; its parameters are drawn once per clip, so every frame of
a clip moves the same way and the motion stays a walk. The flip can also be drawn per frame (the
authors' SelfGait code). Deterministic for a given key: the step folds the step number into it.

Running in the step rather than in tf.data keeps TensorFlow out of the augmentation (accelerator
hosts have only JAX) and puts the warps on the accelerator.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from selfgait_jax.errors import ConfigError

# Ranges of the random parameters (GaitSSB's magnitudes, for 64 x 44 silhouettes).
MAX_ROTATION_DEG = 10.0
SCALE_RANGE = (0.9, 1.1)
MAX_SHEAR = 0.1
MAX_SHIFT = 0.06  # of the frame's width / height
MAX_CORNER_SHIFT = 0.12  # perspective: each corner moves by up to this share of the width
PART_HEIGHT_RANGE = (0.25, 0.5)  # the dilated / blurred part's share of the height
DILATE_SIZE = 3  # max filter, pixels
BLUR_SIZE = 5  # box filter, pixels

OPS = ("affine", "perspective", "flip", "dilate", "blur")


@dataclasses.dataclass(frozen=True)
class Augmentations:
    """The probability of each transform (0 = off) and whether the flip is drawn per frame."""

    affine: float = 0.0
    perspective: float = 0.0
    flip: float = 0.0
    dilate: float = 0.0
    blur: float = 0.0
    flip_per_frame: bool = False

    def __post_init__(self):
        for op in OPS:
            p = float(getattr(self, op))
            object.__setattr__(self, op, p)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"pretext.augment.{op}", f"{p}: a probability must be in [0, 1]")

    @property
    def enabled(self) -> bool:
        return any(getattr(self, op) > 0 for op in OPS)


def augment_clips(rng: jax.Array, clips: jax.Array, aug: Augmentations) -> jax.Array:
    """``clips float [N, T, H, W]`` → the same shape, each transform applied with its probability.

    Order: geometry first (affine, then perspective: one resampling each), then the flip, then the
    part operations, which act on rows of the upright silhouette.
    """
    keys = jax.random.split(rng, len(OPS))
    n = clips.shape[0]
    if aug.affine > 0:
        clips = _where_clip(_draw(keys[0], aug.affine, n), _warp(clips, _affine_maps(keys[0], clips.shape)), clips)
    if aug.perspective > 0:
        clips = _where_clip(_draw(keys[1], aug.perspective, n),
                            _warp(clips, _perspective_maps(keys[1], clips.shape)), clips)
    if aug.flip > 0:
        shape = clips.shape[:2] if aug.flip_per_frame else (n, 1)
        flip = jax.random.bernoulli(jax.random.fold_in(keys[2], 1), aug.flip, shape)
        clips = jnp.where(flip[:, :, None, None], clips[..., ::-1], clips)
    if aug.dilate > 0:
        dilated = jax.lax.reduce_window(clips, -jnp.inf, jax.lax.max, (1, 1, DILATE_SIZE, DILATE_SIZE),
                                        (1, 1, 1, 1), "SAME")
        clips = _in_part(keys[3], aug.dilate, clips, dilated)
    if aug.blur > 0:
        window = (1, 1, BLUR_SIZE, BLUR_SIZE)
        blurred = jax.lax.reduce_window(clips, 0.0, jax.lax.add, window, (1, 1, 1, 1), "SAME")
        blurred = blurred / (BLUR_SIZE * BLUR_SIZE)
        clips = _in_part(keys[4], aug.blur, clips, blurred)
    return clips


def _draw(key, p, n):
    return jax.random.bernoulli(jax.random.fold_in(key, 0), p, (n,))


def _where_clip(chosen, changed, clips):
    return jnp.where(chosen[:, None, None, None], changed, clips)


def _in_part(key, p, clips, changed):
    """``changed`` on one random horizontal band of each chosen clip, ``clips`` elsewhere."""
    n, _, h, _ = clips.shape
    chosen = _draw(key, p, n)
    k_height, k_top = jax.random.split(jax.random.fold_in(key, 1))
    height = jax.random.uniform(k_height, (n,), minval=PART_HEIGHT_RANGE[0], maxval=PART_HEIGHT_RANGE[1]) * h
    top = jax.random.uniform(k_top, (n,)) * (h - height)
    rows = jnp.arange(h)[None, :]
    band = (rows >= top[:, None]) & (rows < (top + height)[:, None]) & chosen[:, None]  # [n, h]
    return jnp.where(band[:, None, :, None], changed, clips)


def _affine_maps(key, shape):
    """Per clip, the 3 x 3 map from output pixel (x, y, 1) to the input pixel it reads."""
    n, _, h, w = shape
    k = jax.random.split(jax.random.fold_in(key, 1), 5)
    angle = jnp.deg2rad(jax.random.uniform(k[0], (n,), minval=-MAX_ROTATION_DEG, maxval=MAX_ROTATION_DEG))
    scale = jax.random.uniform(k[1], (n,), minval=SCALE_RANGE[0], maxval=SCALE_RANGE[1])
    shear = jax.random.uniform(k[2], (n,), minval=-MAX_SHEAR, maxval=MAX_SHEAR)
    tx = jax.random.uniform(k[3], (n,), minval=-MAX_SHIFT, maxval=MAX_SHIFT) * w
    ty = jax.random.uniform(k[4], (n,), minval=-MAX_SHIFT, maxval=MAX_SHIFT) * h
    cos, sin = jnp.cos(angle) / scale, jnp.sin(angle) / scale
    zeros, ones = jnp.zeros(n), jnp.ones(n)
    # A map near the identity about the frame's centre (rotation, scale, shear), then a shift.
    linear = jnp.stack([jnp.stack([cos, sin + shear * cos, zeros], -1),
                        jnp.stack([-sin, cos - shear * sin, zeros], -1),
                        jnp.stack([zeros, zeros, ones], -1)], 1)
    return _about_centre(linear, h, w, tx, ty)


def _about_centre(linear, h, w, tx, ty):
    n = linear.shape[0]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    to_centre = jnp.broadcast_to(jnp.array([[1.0, 0, -cx], [0, 1.0, -cy], [0, 0, 1.0]]), (n, 3, 3))
    back = jnp.stack([jnp.stack([jnp.ones(n), jnp.zeros(n), cx - tx], -1),
                      jnp.stack([jnp.zeros(n), jnp.ones(n), cy - ty], -1),
                      jnp.stack([jnp.zeros(n), jnp.zeros(n), jnp.ones(n)], -1)], 1)
    return back @ linear @ to_centre


def _perspective_maps(key, shape):
    """Per clip, the homography that sends the frame's corners to randomly moved corners, inverted
    (output pixel → input pixel), as torchvision's RandomPerspective draws it."""
    n, _, h, w = shape
    corners = jnp.array([[0.0, 0.0], [w - 1.0, 0.0], [w - 1.0, h - 1.0], [0.0, h - 1.0]])
    moved = corners + jax.random.uniform(jax.random.fold_in(key, 1), (n, 4, 2), minval=-1.0,
                                         maxval=1.0) * MAX_CORNER_SHIFT * w
    # Output corners are the moved ones; the map reads the original corners there.
    return jax.vmap(_homography, in_axes=(0, None))(moved, corners)


def _homography(src, dst):
    """The 3 x 3 H with H·(src_i, 1) ∝ (dst_i, 1) for four point pairs (a direct linear solve)."""
    rows, rhs = [], []
    for i in range(4):
        x, y = src[i, 0], src[i, 1]
        u, v = dst[i, 0], dst[i, 1]
        rows.append(jnp.stack([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y]))
        rows.append(jnp.stack([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y]))
        rhs.extend([u, v])
    coeffs = jnp.linalg.solve(jnp.stack(rows), jnp.stack(rhs))
    return jnp.append(coeffs, 1.0).reshape(3, 3)


def _warp(clips, maps):
    """Bilinear resampling of every frame of clip i through ``maps[i]`` (output → input pixel);
    pixels read from outside the frame are background (0)."""
    n, t, h, w = clips.shape
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    grid = jnp.stack([xs.ravel(), ys.ravel(), jnp.ones(h * w)])  # [3, h*w]
    src = maps @ grid  # [n, 3, h*w]
    x_in = (src[:, 0] / src[:, 2]).reshape(n, h, w)
    y_in = (src[:, 1] / src[:, 2]).reshape(n, h, w)

    def one_clip(clip, y, x):
        return jax.vmap(lambda frame: jax.scipy.ndimage.map_coordinates(
            frame, [y, x], order=1, mode="constant", cval=0.0))(clip)

    return jax.vmap(one_clip)(clips, y_in, x_in)


def augmented_examples(clip, aug: Augmentations, copies: int, seed: int = 0):
    """``copies`` independently augmented versions of one clip ``uint8 [T, H, W]``, as ``uint8
    [copies, T, H, W]`` (for pictures of what a pretext trains on)."""
    x = jnp.broadcast_to(jnp.asarray(clip, jnp.float32)[None] / 255.0, (copies, *clip.shape))
    y = augment_clips(jax.random.PRNGKey(seed), x, aug)
    return (jnp.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(jnp.uint8)
