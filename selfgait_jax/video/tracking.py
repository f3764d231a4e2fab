"""Walkers from foreground masks: connected components, grouped per body and followed over frames.

Per frame, the mask's connected components are grouped into bodies (fragments stacked above each
other, e.g. a head cut off by a collar the colour of the wall, belong together) and bodies smaller
than ``min_area`` are ignored. Each track predicts where its walker is next (constant velocity from
its last positions) and takes the nearest body within reach of that prediction. When two walkers
cross, their bodies merge into one: a body that holds the predicted centres of two tracks is given
to neither, both tracks mark the frame as merged and keep coasting on their velocity, and each takes
its own body again once they part, so the gap is bridged and the identities are not swapped. Walkers
who walk together (side by side, or one just ahead) may share one body for long stretches, or from
the start, before any track could tell them apart: a body whose top outline shows two or more heads
(``count_heads``) holds several walkers; a track takes it and follows it like any other. A track
unseen for more than ``max_gap`` frames (merged frames aside) ends.

``select`` then keeps the tracks worth a sequence and says why each other one was dropped: too
short, not moving (a structure the segmenter did not absorb, or someone standing), too small, cut by
the frame border, or merged with another walker. Frames whose body touches
the border are left out first (their silhouette is incomplete), and so are frames whose body holds
several walkers (a silhouette of two people is no one's gait) unless ``keep_merged``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from selfgait_jax.progress import progress


MERGED_GAP = 3  # frames: walkers who share a body part and meet again no faster than this


@dataclasses.dataclass(frozen=True)
class TrackOptions:
    min_area: float = 0.002  # a body covers at least this fraction of the frame
    min_frames: int = 15  # frames a kept track has (after removing border and merged frames)
    min_height: int = 48  # pixels: a kept track's median body height
    max_gap: int = 12  # frames a track may go unseen (merged frames do not count)
    border: int = 2  # pixels: a body this close to the frame border is cut by it
    reach: float = 0.6  # how far a body may be from a track's prediction, in body heights
    keep_merged: bool = False  # keep frames whose body holds several walkers in the sequence


@dataclasses.dataclass
class Body:
    """One walker's pixels in one frame: ``box`` (x0, y0, x1, y1), exclusive ends; ``mask`` crop."""

    frame: int
    box: tuple[int, int, int, int]
    mask: np.ndarray  # bool [y1 - y0, x1 - x0]
    area: int
    centre: tuple[float, float]  # the pixels' centroid (x, y)
    heads: int = 1  # count_heads(mask): 2 or more when the body holds several walkers

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


@dataclasses.dataclass
class Track:
    id: int
    bodies: list[Body] = dataclasses.field(default_factory=list)
    merged: list[int] = dataclasses.field(default_factory=list)  # frames of a crossing: no body taken
    unseen: int = 0
    left_out: dict[str, int] = dataclasses.field(default_factory=dict)  # frames select removed, per reason
    merged_kept: int = 0  # frames select kept although their body holds several walkers (keep_merged)

    @property
    def first_frame(self) -> int:
        return min([b.frame for b in self.bodies] + self.merged)

    @property
    def end_frame(self) -> int:
        return max([b.frame for b in self.bodies] + self.merged)

    def size(self) -> tuple[float, float]:
        """Median (height, width) of the last bodies."""
        recent = self.bodies[-7:]
        return float(np.median([b.height for b in recent])), float(np.median([b.width for b in recent]))

    def predict(self, frame: int) -> tuple[float, float]:
        """Centre at ``frame``: the last body's, moved by the median velocity over the last bodies
        (10 frames at most). Bodies much wider than usual (touching another walker) are left out:
        their centroid is pulled towards the other."""
        last = self.bodies[-1]
        width = float(np.median([b.width for b in self.bodies[-9:]]))
        recent = [b for b in self.bodies[-9:] if b.frame >= last.frame - 10 and b.width <= 1.3 * width]
        steps = [((b.centre[0] - a.centre[0]) / (b.frame - a.frame), (b.centre[1] - a.centre[1]) / (b.frame - a.frame))
                 for a, b in zip(recent, recent[1:])]
        if not steps:
            return last.centre
        vx, vy = np.median(np.asarray(steps), axis=0)
        return last.centre[0] + vx * (frame - last.frame), last.centre[1] + vy * (frame - last.frame)

    def predicted_box(self, frame: int) -> tuple[float, float, float, float]:
        x, y = self.predict(frame)
        height, width = self.size()
        return x - width / 2, y - height / 2, x + width / 2, y + height / 2


def _covered(box, body: Body) -> float:
    """The fraction of ``box`` (x0, y0, x1, y1) inside the body's box."""
    x0, y0, x1, y1 = box
    bx0, by0, bx1, by1 = body.box
    inter = max(0.0, min(x1, bx1) - max(x0, bx0)) * max(0.0, min(y1, by1) - max(y0, by0))
    return inter / max((x1 - x0) * (y1 - y0), 1e-9)


def _peaks(outline: np.ndarray, drop: float) -> int:
    """The peaks of a profile that rise at least ``drop`` above it on both sides (it starts and
    ends at 0): a peak counts once the profile falls ``drop`` below it, the next once it has risen
    ``drop`` again."""
    peaks, peak, valley, rising = 0, 0.0, 0.0, True
    for level in np.concatenate([outline, [0]]):
        if rising:
            peak = max(peak, level)
            if level <= peak - drop:
                peaks, rising, valley = peaks + 1, False, level
        else:
            valley = min(valley, level)
            if level >= valley + drop:
                rising, peak = True, level
    return peaks


def count_heads(mask: np.ndarray, prominence: float = 0.1, crown: float = 0.19) -> int:
    """How many heads a body's top outline (the height of each column's highest pixel) shows.

    A head is a peak of the outline that rises above it on both sides by ``prominence`` of the
    body's height; a walker has one (shoulders, arms and bags sit below the head with no dip in
    between). Two heads side by side that touch make one peak but a wide crown: where the outline
    comes within 8 % of the height of its top spans more than ``crown`` of the height and dips in
    between (by 2 % of the height, at least a pixel; a flat top, such as a box, is one). Measured on
    rendered walkers: a walker's crown spans 0.07-0.18 of its height, two touching heads' 0.13-0.27.
    A walker hidden behind another so far that its head is not seen is not counted.
    """
    height = mask.shape[0]
    outline = np.where(mask.any(axis=0), height - mask.argmax(axis=0), 0).astype(float)
    heads = _peaks(outline, max(2.0, prominence * height))
    if heads == 1:
        tops = np.flatnonzero(outline >= outline.max() - 0.08 * height)
        if tops[-1] - tops[0] + 1 > crown * height and _peaks(
                outline[tops[0] : tops[-1] + 1] - outline.max() + 0.08 * height, max(1.0, 0.02 * height)) > 1:
            heads = 2
    return heads


def bodies_in(mask: np.ndarray, frame: int, min_area_pixels: int) -> list[Body]:
    """The bodies of one bool mask [H, W]: components grouped when stacked vertically (x ranges
    overlapping by half the narrower one, vertical gap under a fifth of the taller one)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    fragments = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= max(4, min_area_pixels // 20)]
    parent = {i: i for i in fragments}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = {i: (stats[i, 0], stats[i, 1], stats[i, 0] + stats[i, 2], stats[i, 1] + stats[i, 3]) for i in fragments}
    for a_index, a in enumerate(fragments):
        for b in fragments[a_index + 1:]:
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[a], boxes[b]
            overlap = min(ax1, bx1) - max(ax0, bx0)
            gap = max(ay0, by0) - min(ay1, by1)
            if overlap >= 0.5 * min(ax1 - ax0, bx1 - bx0) and gap <= 0.2 * max(ay1 - ay0, by1 - by0):
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in fragments:
        groups.setdefault(root(i), []).append(i)
    bodies = []
    for members in groups.values():
        area = int(sum(stats[i, cv2.CC_STAT_AREA] for i in members))
        if area < min_area_pixels:
            continue
        x0 = min(boxes[i][0] for i in members)
        y0 = min(boxes[i][1] for i in members)
        x1 = max(boxes[i][2] for i in members)
        y1 = max(boxes[i][3] for i in members)
        crop = np.isin(labels[y0:y1, x0:x1], members)
        cx = sum(centroids[i][0] * stats[i, cv2.CC_STAT_AREA] for i in members) / area
        cy = sum(centroids[i][1] * stats[i, cv2.CC_STAT_AREA] for i in members) / area
        bodies.append(Body(frame, (int(x0), int(y0), int(x1), int(y1)), crop, area, (float(cx), float(cy)),
                           count_heads(crop)))
    return bodies


def track(masks: np.ndarray, options: TrackOptions = TrackOptions()) -> list[Track]:
    """Every track over the masks ``[T, H, W]``, in the order they started."""
    height, width = masks.shape[1:]
    min_area_pixels = max(16, int(options.min_area * height * width))
    active: list[Track] = []
    finished: list[Track] = []
    for frame, mask in enumerate(progress(masks, desc="tracking walkers", unit="frame")):
        bodies = bodies_in(mask, frame, min_area_pixels)
        predictions = {id(t): t.predict(frame) for t in active}
        taken: set[int] = set()
        busy: set[int] = set()
        # Merged walkers: a body that covers most of the predicted boxes of two or more established
        # tracks, each a sizeable part of it (a bag that briefly had its own track does not count).
        # Caught at first contact, before a merged body's centroid misleads either track.
        boxes = {id(t): t.predicted_box(frame) for t in active}
        for b_index, body in enumerate(bodies):
            inside = [t for t in active if len(t.bodies) >= 3 and _covered(boxes[id(t)], body) >= 0.6
                      and np.median([b.area for b in t.bodies[-5:]]) >= 0.25 * body.area]
            if len(inside) >= 2:
                taken.add(b_index)
                for t in inside:
                    t.merged.append(frame)
                    busy.add(id(t))
        # The rest: nearest prediction first, one body per track, within reach.
        pairs = []
        for t in active:
            if id(t) in busy:
                continue
            tx, ty = predictions[id(t)]
            t_height, t_width = t.size()
            for b_index, body in enumerate(bodies):
                if b_index in taken:
                    continue
                distance = np.hypot(body.centre[0] - tx, body.centre[1] - ty) / max(t_height, 1.0)
                reach = options.reach * (1 + 0.1 * min(frame - t.bodies[-1].frame - 1, 10))
                if distance <= reach:
                    pairs.append((distance + 0.5 * abs(np.log(max(body.height, 1) / max(t_height, 1))), id(t), b_index))
        by_id = {id(t): t for t in active}
        for _, t_id, b_index in sorted(pairs):
            if t_id in busy or b_index in taken:
                continue
            t = by_id[t_id]
            t.bodies.append(bodies[b_index])
            t.unseen = 0
            busy.add(t_id)
            taken.add(b_index)
        for t in active:
            if id(t) not in busy:
                t.unseen += 1
        for b_index, body in enumerate(bodies):
            if b_index not in taken:
                active.append(Track(id=len(active) + len(finished), bodies=[body]))
        still = []
        for t in active:
            (finished if t.unseen > options.max_gap else still).append(t)
        active = still
    tracks = finished + active
    tracks.sort(key=lambda t: (t.bodies[0].frame, t.bodies[0].centre[0]))
    return tracks


def touches_border(body: Body, shape: tuple[int, int], border: int) -> bool:
    x0, y0, x1, y1 = body.box
    return x0 <= border or y0 <= border or x1 >= shape[1] - border or y1 >= shape[0] - border


# A body near the border shorter than this share of its track's median height is cut by it (a whole
# walker's height varies by a few per cent over a stride; demo1.mp4's leg-and-hip was 0.75 of it).
PARTIAL = 0.85


def cut_by_border(track: Track, shape: tuple[int, int], border: int) -> set[int]:
    """The frames whose body is cut by the frame border: it touches the border, or it is within its
    track's median width of it and shorter than PARTIAL of its median height (a walker leaving the
    frame: what is left of it, a leg, may stop a few pixels short of the edge once the mask is
    cleaned or segmented)."""
    height = float(np.median([b.height for b in track.bodies]))
    width = float(np.median([b.width for b in track.bodies]))
    near = border + width
    return {b.frame for b in track.bodies if touches_border(b, shape, border) or (
        b.height < PARTIAL * height and (b.box[0] <= near or b.box[2] >= shape[1] - near))}


@dataclasses.dataclass
class Dropped:
    track: Track
    reason: str


def _bridged(frames: set[int], gap: int = MERGED_GAP) -> set[int]:
    """``frames`` with the gaps of at most ``gap`` frames between two of them filled in."""
    ordered = sorted(frames)
    return set(frames).union(*(range(a + 1, b) for a, b in zip(ordered, ordered[1:]) if b - a <= gap + 1))


def several_walkers(track: Track) -> set[int]:
    """The frames whose body (taken by ``track``) holds several walkers: two heads or more, every
    frame when that is the case in half of them or more (walkers who walk together; where one head
    shows, the other is hidden behind), and the gaps of up to MERGED_GAP frames between such frames
    or the track's crossings (two walkers do not part and meet again that fast)."""
    frames = {b.frame for b in track.bodies}
    several = {b.frame for b in track.bodies if b.heads > 1}
    if 2 * len(several) >= len(frames):
        several = frames
    return _bridged(several | set(track.merged)) & frames


STILL = 0.1  # a track whose centre and height vary less than this fraction of its height does not move


def _spread(track: Track) -> float:
    """Pixels: the largest range of the body's centre (x, y) or height over the track."""
    centres = np.asarray([b.centre for b in track.bodies])
    return float(max(np.ptp(centres[:, 0]), np.ptp(centres[:, 1]), np.ptp([b.height for b in track.bodies])))


LEFT_OUT = {"border": "touching the frame border", "merged": "merged with another walker"}
DROP_CAUSE = {"border": "cut by the frame border", "merged": "merged with another walker"}


def select(tracks: list[Track], shape: tuple[int, int], options: TrackOptions = TrackOptions()
           ) -> tuple[list[Track], list[Dropped]]:
    """``(kept, dropped)``: kept tracks keep only their bodies clear of the frame border and, unless
    ``options.keep_merged``, those that hold one walker (``several_walkers``). Each track's
    ``left_out`` counts the frames missing from its sequence per reason (a key of ``LEFT_OUT``);
    merged frames include the track's crossings, where no track took a body."""
    kept, dropped = [], []
    for t in tracks:
        on_border = cut_by_border(t, shape, options.border)
        crossed = set(t.merged)
        several = several_walkers(t) - on_border
        merged_kept = len(several) if options.keep_merged else 0
        several = set() if options.keep_merged else several
        inner = [b for b in t.bodies if b.frame not in on_border | several]
        left_out = {k: len(v) for k, v in (("border", on_border), ("merged", crossed | several)) if v}
        heights = [b.height for b in (inner or t.bodies)]
        if len(t.bodies) < options.min_frames:
            dropped.append(Dropped(t, f"too short: {len(t.bodies)} frames, fewer than {options.min_frames}"))
        elif (spread := _spread(t)) < STILL * np.median([b.height for b in t.bodies]):
            dropped.append(Dropped(t, f"does not move: its centre and height stay within {spread:.0f} px over "
                                      f"{len(t.bodies)} frames (a structure, or someone standing)"))
        elif np.median(heights) < options.min_height:
            dropped.append(Dropped(t, f"too small: {np.median(heights):.0f} px tall, less than "
                                      f"{options.min_height} px"))
        elif len(inner) < options.min_frames:
            cause, *other = sorted(left_out, key=lambda k: (-left_out[k], k != "border"))
            dropped.append(Dropped(dataclasses.replace(t, left_out=left_out), (
                f"{DROP_CAUSE[cause]}: {left_out[cause]} of {len(t.bodies) + len(crossed)} frames"
                + "".join(f" (and {left_out[k]} {LEFT_OUT[k]})" for k in other)
                + f", {len(inner)} left (fewer than {options.min_frames})")))
        else:
            kept.append(dataclasses.replace(t, bodies=inner, left_out=left_out, merged_kept=merged_kept))
    return kept, dropped
