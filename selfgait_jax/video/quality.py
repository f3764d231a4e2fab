"""How person-shaped a walker's silhouettes are, measured without labels, on any clip.

A walker filmed at 25-30 frames/s changes little from one frame to the next: one body, about the
same height, moving along a smooth path, with a similar outline. Segmentation errors break that:
a body cut into parts (clothes the colour of the background), a body fused to a post or to
another person for a frame, a leg lost and found again. Four numbers per walker, over its kept
frames (``measure``), each computed between frames that follow each other in the video:

- ``one_body``: the fraction of kept frames whose mask is one connected body, i.e. whose largest
  8-connected component holds at least ``ONE_BODY`` of its pixels (the tracker groups fragments
  stacked above each other into one body; this says whether there were fragments). Higher is better.
- ``consecutive_iou``: the median IoU of the pretreated 64x44 silhouettes of consecutive frames (the
  pretreatment has already aligned them on height and column centroid). Gait moves the limbs, so
  even perfect masks stay below 1 (about 0.85-0.9 at 25 frames/s). Higher is better.
- ``height_change``: the median change of the body's height between consecutive frames, as a
  fraction of its median height. Lower is better.
- ``centroid_jitter``: the median distance of the body's centroid from the midpoint of its
  centroids in the frames before and after (the second difference of its path), as a fraction of
  its median height. A walker moves smoothly; a mask that gains or loses a piece jumps. Lower is
  better.

``summarize`` gives a clip's numbers: each measure averaged over its walkers weighted by their
frames, and the number of walkers, so two segmenters can be compared on the same footage.
"""

from __future__ import annotations

import cv2
import numpy as np

ONE_BODY = 0.95  # the largest component's share of a body's pixels for it to count as one body
MEASURES = ("one_body", "consecutive_iou", "height_change", "centroid_jitter")


def one_body(mask: np.ndarray) -> bool:
    """Whether the largest 8-connected component of ``mask`` holds ``ONE_BODY`` of its pixels."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 2:
        return False
    areas = stats[1:, cv2.CC_STAT_AREA]
    return bool(areas.max() >= ONE_BODY * areas.sum())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def measure(masks: list[np.ndarray], frames: np.ndarray, heights: np.ndarray, centres: np.ndarray,
            silhouettes: np.ndarray, silhouette_frames: np.ndarray) -> dict[str, float]:
    """The four measures of one walker (see the module doc).

    ``masks``: each kept frame's body mask (any size); ``frames`` int [N]: their video frames;
    ``heights`` [N] and ``centres`` [N, 2] (x, y): the bodies' heights and centroids in pixels;
    ``silhouettes`` [M, 64, 44] and ``silhouette_frames`` [M]: the pretreated sequence. A measure
    with no pair (or triple) of consecutive frames is NaN.
    """
    frames = np.asarray(frames)
    heights = np.asarray(heights, float)
    centres = np.asarray(centres, float)
    scale = float(np.median(heights)) if len(heights) else 1.0
    step = np.flatnonzero(np.diff(frames) == 1)  # i: frames i and i + 1 follow each other
    triple = np.flatnonzero((frames[2:] - frames[:-2] == 2)) if len(frames) > 2 else np.zeros(0, int)
    pairs = np.flatnonzero(np.diff(np.asarray(silhouette_frames)) == 1)
    jitter = [np.hypot(*(centres[i + 1] - (centres[i] + centres[i + 2]) / 2)) / scale for i in triple]
    return {
        "one_body": float(np.mean([one_body(m) for m in masks])) if len(masks) else float("nan"),
        "consecutive_iou": (float(np.median([iou(silhouettes[i], silhouettes[i + 1]) for i in pairs]))
                            if len(pairs) else float("nan")),
        "height_change": (float(np.median(np.abs(np.diff(heights)[step]) / scale)) if len(step)
                          else float("nan")),
        "centroid_jitter": float(np.median(jitter)) if jitter else float("nan"),
    }


def summarize(walkers: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """A clip's numbers from ``(frames, measures)`` per walker: ``walkers`` (their count) and each
    measure's mean over the walkers, weighted by their frames (NaNs left out)."""
    out: dict[str, float] = {"walkers": len(walkers)}
    for key in MEASURES:
        pairs = [(n, m[key]) for n, m in walkers if np.isfinite(m[key])]
        weights = sum(n for n, _ in pairs)
        out[key] = float(sum(n * v for n, v in pairs) / weights) if weights else float("nan")
    return out


def describe(numbers: dict[str, float]) -> str:
    """One line: "one body 100 %, consecutive IoU 0.87, height change 1.2 %, centroid jitter 0.8 %"."""
    def pct(value):
        return "n/a" if not np.isfinite(value) else f"{100 * value:.1f} %"

    iou_text = "n/a" if not np.isfinite(numbers["consecutive_iou"]) else f"{numbers['consecutive_iou']:.3f}"
    return (f"one body {pct(numbers['one_body'])}, consecutive IoU {iou_text}, height change "
            f"{pct(numbers['height_change'])}, centroid jitter {pct(numbers['centroid_jitter'])}")
