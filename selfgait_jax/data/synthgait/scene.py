"""SynthGait walkers filmed: colour frames of a static camera, with the renderer's masks as ground truth.

For testing the video chain (``selfgait_jax/video``) on footage nobody filmed. Each ``Actor`` is a
SynthGait identity (its body and gait from (dataset seed, subject), its walk from the type) walking
across the frame at a camera angle; it is drawn in clothes (a shirt, trousers, shoes and skin, each
a colour with a texture that moves with the body) over a textured static background, with a soft
shadow at its feet. The whole frame then gets a lighting flicker (a per-frame gain) and sensor noise;
compression is left to the video writer. ``masks[a, t]`` is actor ``a``'s whole silhouette in frame
``t`` (also where another actor hides it; the shadow is not part of it). ``Prop``s are static
structures (a pole, a signpost) standing behind the walkers, from the first frame or from a later one
on (something put down), with their own ground-truth masks.

Numpy only, like the rest of SynthGait; nothing here is used for training.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from selfgait_jax.data.synthgait import render, walker
from selfgait_jax.data.synthgait.params import draw_walk, draw_walker, rng_for

# Capsule index -> clothing group, in the order walker.capsules builds them (torso halves, waist,
# hips, shoulders, neck, head, then thigh, shin, foot, upper arm, forearm, hand for each side; a
# coat or a bag after that).
SHIRT, TROUSERS, SHOES, SKIN, EXTRA = range(5)
_GROUPS = [SHIRT, SHIRT, SHIRT, TROUSERS, SHIRT, SKIN, SKIN] + [TROUSERS, TROUSERS, SHOES, SHIRT, SHIRT, SKIN] * 2
PAINT_ORDER = (TROUSERS, SHOES, EXTRA, SHIRT, SKIN)


@dataclasses.dataclass(frozen=True)
class Actor:
    """One walker in the scene. ``view``: SynthGait's camera angle (90: walks right to left across
    the frame, 270: left to right; others move along the line of sight and stay near ``start``).
    ``start``: the walker's image column at frame 0 (fraction of the width); ``ground``: the image
    row of its feet (fraction of the height); ``scale``: pixels per metre as a fraction of the frame
    height (0.25: a 1.75 m walker is 0.44 of the frame tall); ``clothes``: seed of its outfit."""

    subject: str
    walk: str = "nm-01"
    view: float = 90.0
    start: float = 0.8
    ground: float = 0.9
    scale: float = 0.25
    clothes: int = 0


@dataclasses.dataclass(frozen=True)
class Prop:
    """A static structure behind the walkers: a box (x0, y0, x1, y1, fractions of the width and
    height) of one colour, in the scene from ``first_frame`` on (0: from the start)."""

    box: tuple[float, float, float, float]
    colour: tuple[int, int, int] = (200, 200, 190)
    first_frame: int = 0


@dataclasses.dataclass
class Scene:
    frames: np.ndarray  # uint8 RGB [T, H, W, 3]
    masks: np.ndarray  # bool [A, T, H, W]: each actor's silhouette, ground truth
    background: np.ndarray  # uint8 RGB [H, W, 3], before flicker and noise (and without the props)
    prop_masks: np.ndarray  # bool [P, T, H, W]: each prop where it stands (also behind a walker)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Value noise in [0, 1]: random values on a grid of ``cell`` pixels, bilinearly interpolated."""
    rows, cols = shape
    grid = rng.random((rows // cell + 2, cols // cell + 2))
    y = np.arange(rows) / cell
    x = np.arange(cols) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def textured_background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A wall of irregular bricks above a floor, both mottled: uint8 RGB [H, W, 3]."""
    rows, cols = size
    rng = rng_for(seed, "background")
    horizon = int(rows * rng.uniform(0.55, 0.7))
    wall = rng.uniform(90, 170, 3)
    floor = rng.uniform(70, 150, 3)
    image = np.empty((rows, cols, 3), np.float32)
    image[:horizon] = wall
    image[horizon:] = floor
    mottle = 0.7 * _smooth_noise(rng, size, max(4, rows // 12)) + 0.3 * _smooth_noise(rng, size, max(2, rows // 60))
    image *= (0.75 + 0.5 * mottle)[..., None]
    # Bricks: mortar lines every brick height, staggered vertical joints.
    brick_h = max(6, rows // 18)
    brick_w = 2 * brick_h + brick_h // 2
    y = np.arange(horizon)[:, None]
    x = np.arange(cols)[None, :]
    course = y // brick_h
    mortar = (y % brick_h < 2) | (((x + (course % 2) * (brick_w // 2)) % brick_w) < 2)
    image[:horizon][mortar] *= 0.72
    column = (x + (course % 2) * (brick_w // 2)) // brick_w  # [horizon, W]
    tint = rng.uniform(0.85, 1.15, (int(course.max()) + 1, int(column.max()) + 1, 3))
    image[:horizon] *= tint[np.broadcast_to(course, column.shape), column]
    # Floor tiles: faint lines that recede.
    fy = np.arange(rows - horizon)
    image[horizon:][(fy % max(4, rows // 20)) < 1] *= 0.85
    image[horizon - 1 : horizon + 1] *= 0.6
    return np.clip(image, 0, 255).astype(np.uint8)


def _outfit(clothes: int) -> dict[int, np.ndarray]:
    rng = rng_for(clothes, "outfit")
    skin = np.array([224, 172, 140]) * rng.uniform(0.45, 1.05)
    return {SHIRT: rng.uniform(20, 235, 3), TROUSERS: rng.uniform(15, 140, 3), SHOES: rng.uniform(10, 60, 3),
            SKIN: skin, EXTRA: rng.uniform(20, 200, 3)}


def _texture(group: int, clothes: int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """A brightness factor per pixel in the walker's own coordinates (stripes, checks, weave)."""
    kind = int(rng_for(clothes, "texture", str(group)).integers(0, 3))
    period = 6.0 + 4.0 * ((clothes + group) % 3)
    if group == SKIN:
        return np.ones_like(dy)
    if kind == 0:  # horizontal stripes
        return np.where((dy // period) % 2 == 0, 1.0, 0.78)
    if kind == 1:  # checks
        return np.where(((dy // period) + (dx // period)) % 2 == 0, 1.0, 0.85)
    return 0.9 + 0.1 * np.sin(dy * 1.3 + dx * 0.7)  # a fine weave


def render_scene(actors: list[Actor], *, size: tuple[int, int] = (360, 480), frames: int = 60,
                 seed: int = 0, dataset_seed: int = 0, flicker: float = 0.05, noise: float = 3.0,
                 shadows: bool = True, props: tuple[Prop, ...] = ()) -> Scene:
    """The scene's colour frames and each actor's and prop's ground-truth masks (see the module doc)."""
    rows, cols = size
    rng = rng_for(seed, "scene")
    background = textured_background(size, seed)
    image = np.repeat(background[None].astype(np.float32), frames, axis=0)
    prop_masks = np.zeros((len(props), frames, rows, cols), bool)
    for p, prop in enumerate(props):
        x0, y0, x1, y1 = (round(f * n) for f, n in zip(prop.box, (cols, rows, cols, rows)))
        prop_masks[p, prop.first_frame :, y0:y1, x0:x1] = True
        image[prop.first_frame :, y0:y1, x0:x1] = np.float32(prop.colour)
    masks = np.zeros((len(actors), frames, rows, cols), bool)
    painted = []
    for a, actor in enumerate(actors):
        w = draw_walker(dataset_seed, actor.subject)
        walk = draw_walk(dataset_seed, actor.subject, actor.walk)
        condition = actor.walk.split("-")[0] if "-" in actor.walk else "nm"
        hand_side = w.bag_side if (condition == "bg" and w.bag == "hand") else 0
        joints = walker.pose(w, walk, frames, hand_bag_side=hand_side)
        starts, ends, radii = walker.capsules(w, joints, condition)
        # The walker's mean progression (the walker module renders in a frame that moves with it).
        cycles = w.cadence * np.sqrt(walk.speed) / 120.0 / walker.FPS
        speed = w.stride_ratio * (w.thigh + w.shin) * np.sqrt(walk.speed) * cycles  # metres per frame
        shift = np.zeros((frames, 1, 3))
        shift[:, 0, 0] = speed * np.arange(frames)
        ppm = actor.scale * rows
        views = np.full(frames, actor.view)

        def to_pixels(points):
            p = render.project(points + shift, views)  # x about CANVAS_COLS / 2, y from TOP_METRES
            x = actor.start * cols + (p[..., 0] - render.CANVAS_COLS / 2) / render.PIXELS_PER_METRE * ppm
            y = actor.ground * rows - (render.TOP_METRES - p[..., 1] / render.PIXELS_PER_METRE) * ppm
            return np.stack([x, y], axis=-1)

        a_px, b_px = to_pixels(starts), to_pixels(ends)
        groups = np.array(_GROUPS + [EXTRA] * (len(radii) - len(_GROUPS)))
        parts = {}
        for group in PAINT_ORDER:
            chosen = np.flatnonzero(groups == group)
            if chosen.size:
                parts[group] = render.rasterize(a_px[:, chosen], b_px[:, chosen], radii[chosen] * ppm, rows, cols)
        masks[a] = np.any(list(parts.values()), axis=0)
        painted.append((actor, parts, a_px))
    if shadows:
        for a, (actor, _, a_px) in enumerate(painted):
            for t in range(frames):
                ys, xs = np.nonzero(masks[a, t])
                if xs.size == 0:
                    continue
                cx, foot = xs.mean() + 0.15 * (xs.max() - xs.min()), ys.max()
                half_w, half_h = 0.8 * (xs.max() - xs.min()) + 4, max(2.0, 0.03 * (ys.max() - ys.min()))
                yy, xx = np.mgrid[0:rows, 0:cols]
                inside = ((xx - cx) / half_w) ** 2 + ((yy - foot) / half_h) ** 2 <= 1
                image[t][inside] *= 0.7
    # Far actors first, so the nearer one (lower feet) hides them.
    for a in np.argsort([actor.ground for actor, _, _ in painted], kind="stable"):
        actor, parts, a_px = painted[a]
        outfit = _outfit(actor.clothes)
        top = a_px[..., 1].min(axis=1)  # [T]
        centre = a_px[..., 0].mean(axis=1)
        for group, part in parts.items():
            t_idx, ys, xs = np.nonzero(part)
            factor = _texture(group, actor.clothes, ys - top[t_idx], xs - centre[t_idx])
            image[t_idx, ys, xs] = outfit[group][None, :] * factor[:, None]
    gain = 1.0 + flicker * np.sin(2 * np.pi * np.arange(frames) / 9.0) + rng.normal(0, flicker / 4, frames)
    image *= gain[:, None, None, None]
    image += rng.normal(0, noise, image.shape).astype(np.float32)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), masks, background, prop_masks)
