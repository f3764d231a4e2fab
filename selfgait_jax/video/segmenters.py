"""Foreground masks from a static camera's RGB frames: background subtraction, or a plugged-in model.

A segmenter is any function ``frames uint8 [T, H, W, 3] (RGB) -> masks [T, H, W]`` (bool, 0/1 or
0/255 integers, or floats in [0, 1]). ``load_segmenter`` takes a built-in name or
``module:function`` (``path/to/file.py:function`` works too), so a deep person segmenter plugs in
without touching the tracking or the pretreatment.

Built-ins, the method CASIA-B's silhouettes were made with:
- ``median``: the per-pixel median of up to 64 frames spread over the clip is the background (it
  needs every pixel to show the background in most frames: walkers that pass by). Each frame's
  overall brightness is matched to it first (a robust gain, so lighting flicker is not foreground);
  a pixel is foreground when its colour differs by more than a threshold set from the clip's own
  noise; darker pixels of the background's chromaticity are shadows, not foreground.
- ``mog2`` / ``knn``: OpenCV's adaptive mixture / nearest-neighbour models with their shadow
  detection (shadows dropped), primed with the median background so that walkers present from the
  first frame are found at once, and fed frames brought to the background's brightness. They follow
  slow changes of the scene over long clips.
- ``background`` (the default): ``median`` for clips of up to ``SHORT_CLIP`` frames, else ``mog2``.
Every built-in keeps static structures out of the foreground (``keep_moving``): in a clip longer
than ``STILL_WINDOW`` frames, a pixel is foreground only if it also differs from two *local*
backgrounds, medians of the ``STILL_WINDOW`` frames about a point a little before it and a little
after it. Something that appears and stays (a signpost put up, a parked car) is in the later one,
so it is not a walker, and a walker passing in front of it still differs from it; the empty place
of something that left is in the earlier one. A walker passes over a pixel in far fewer frames.
Every built-in then cleans the mask the same way: an opening removes speckle, a closing joins
fragments, and small holes are filled.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable

import cv2
import numpy as np

from selfgait_jax.progress import progress
from selfgait_jax.video import person as person_network

SHORT_CLIP = 300  # frames: 12 s at 25 fps
MEDIAN_SAMPLES = 64
STILL_WINDOW = 100  # frames: what stands still for half of them joins the local background
LEARNING_RATE = 0.004  # MOG2 / KNN: the background adapts over about 250 frames

Segmenter = Callable[[np.ndarray], np.ndarray]


def background_model(frames: np.ndarray, samples: int = MEDIAN_SAMPLES) -> np.ndarray:
    """The per-pixel median of up to ``samples`` frames spread evenly over the clip: uint8 [H, W, 3]."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(samples, len(frames))).round().astype(int))
    return np.median(frames[picks], axis=0).astype(np.uint8)


def _gray(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


def lighting_gains(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Each frame's overall brightness relative to the background: float32 [T], the median ratio
    over a grid of lit pixels (robust: walkers cover a minority of them)."""
    bg_gray = _gray(background)
    grid = np.zeros(bg_gray.shape, bool)
    grid[::4, ::4] = True
    probe = grid & (bg_gray > 24)
    if probe.sum() < 100:
        probe = grid
    return np.asarray([np.median(_gray(frame[probe]) / np.maximum(bg_gray[probe], 1.0)) for frame in frames],
                      np.float32)


def noise_threshold(frames: np.ndarray, background: np.ndarray, gains: np.ndarray) -> float:
    """A colour difference that is foreground: 5x the clip's typical background difference (most
    pixels of most frames are background), kept within 18-60 grey levels."""
    picks = np.linspace(0, len(frames) - 1, min(16, len(frames))).round().astype(int)
    diffs = [np.abs(frames[t][::2, ::2].astype(np.float32) - gains[t] * background[::2, ::2]).max(axis=-1)
             for t in picks]
    sigma = 1.4826 * float(np.median(np.stack(diffs)))
    return float(np.clip(5.0 * sigma, 18.0, 60.0))


def _differs(frame: np.ndarray, background: np.ndarray, gain: float, threshold: float,
             shadows: bool) -> np.ndarray:
    """bool [H, W]: the frame differs from the background (uint8, brought to the frame's brightness)
    by more than ``threshold`` in a colour channel, and (``shadows``) is not its shadow."""
    # uint8 arithmetic (saturating) for the whole frame; the shadow test only where it is needed.
    expected = cv2.convertScaleAbs(background, alpha=gain)
    diff = cv2.absdiff(frame, expected)
    # The largest channel difference (np.maximum, element-wise: some 30x faster than diff.max(axis=2)).
    fg = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > threshold
    if shadows:
        ys, xs = np.nonzero(fg)
        fg[ys, xs] = ~_shadow(frame[ys, xs].astype(np.float32), gain * background[ys, xs].astype(np.float32))
    return fg


def keep_moving(frames: np.ndarray, masks: np.ndarray, gains: np.ndarray, threshold: float,
                shadows: bool = True, window: int = STILL_WINDOW) -> np.ndarray:
    """The masks where the frame also differs from two local backgrounds: static structures that
    appeared, or left, during the clip are no longer foreground, and a walker in front of one still is.

    A local background is the per-pixel median of 15 frames (brought to the background's brightness)
    spread over the ``window`` frames about a key frame (fewer at the ends of the clip); there is a
    key frame every quarter window. Frame ``t`` is compared with the key frames nearest ``t`` minus
    and plus a quarter window: something that appeared by frame ``t`` and stays fills at least 5/8 of
    the later one's frames, so it is in that background; something that left after ``t`` fills 5/8
    of the earlier one's. A clip of at most ``window`` frames is left as it is (its local background
    is its own). Only the pixels that are foreground in a frame compared with a key frame are computed.
    """
    count = len(frames)
    if count <= window:
        return masks
    step = window // 4
    centres = np.arange(0, count, step)
    t = np.arange(count)
    neighbours = np.clip(np.rint(np.stack([t - step, t + step], axis=1) / step), 0, len(centres) - 1).astype(int)
    out = masks.copy()
    for k, centre in enumerate(centres):
        users = np.flatnonzero((neighbours == k).any(axis=1))
        ys, xs = np.nonzero(masks[users].any(axis=0)) if len(users) else ((), ())
        if not len(ys):
            continue
        start, stop = max(0, centre - window // 2), min(count, centre + window // 2 + 1)
        picks = np.unique(np.linspace(start, stop - 1, 15).round().astype(int))
        samples = frames[picks[:, None], ys[None], xs[None]].astype(np.float32) / gains[picks, None, None]
        local = np.zeros((*frames.shape[1:3], 3), np.float32)
        local[ys, xs] = np.median(samples, axis=0)
        for user in users:
            fy, fx = np.nonzero(masks[user])
            pixels = frames[user, fy, fx].astype(np.float32)
            expected = np.clip(gains[user] * local[fy, fx], 0, 255)
            differs = np.abs(pixels - expected).max(axis=-1) > threshold
            if shadows:
                differs &= ~_shadow(pixels, expected)
            out[user, fy[~differs], fx[~differs]] = False
    return out


def median(frames: np.ndarray, *, threshold: float = 0.0, shadows: bool = True) -> np.ndarray:
    """Median-background subtraction (see the module doc). ``threshold`` 0: from the clip's noise."""
    frames = _check_frames(frames)
    background = background_model(frames)
    gains = lighting_gains(frames, background)
    threshold = threshold or noise_threshold(frames, background.astype(np.float32), gains)
    masks = np.stack([_differs(frame, background, float(gains[t]), threshold, shadows) for t, frame in
                      enumerate(progress(frames, desc="segmenting (median background)", unit="frame"))])
    return clean_masks(keep_moving(frames, masks, gains, threshold, shadows))


def _shadow(frame: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Darker than the background (40-90 % of its brightness) with about its chromaticity."""
    f_sum = frame.sum(axis=-1) + 1.0
    b_sum = expected.sum(axis=-1) + 1.0
    ratio = f_sum / b_sum
    chroma = np.abs(frame / f_sum[..., None] - expected / b_sum[..., None]).max(axis=-1)
    return (ratio > 0.4) & (ratio < 0.9) & (chroma < 0.035)


def _opencv_model(make, frames: np.ndarray, priming: int, priming_rate: float) -> np.ndarray:
    frames = _check_frames(frames)
    model = make()
    background = background_model(frames)
    gains = lighting_gains(frames, background)
    primer = cv2.cvtColor(background, cv2.COLOR_RGB2BGR)
    for _ in range(priming):
        model.apply(primer, learningRate=priming_rate)
    masks = np.zeros(frames.shape[:3], bool)
    for t, frame in enumerate(progress(frames, desc="segmenting (background model)", unit="frame")):
        # Each frame brought to the background's brightness first, so a flicker is not foreground.
        steady = np.clip(frame.astype(np.float32) / gains[t], 0, 255).astype(np.uint8)
        # A fixed slow rate: the automatic one starts at 1/frames-seen and would absorb the walkers.
        # The model answers 255 for foreground and 127 for a shadow, which is dropped.
        masks[t] = model.apply(cv2.cvtColor(steady, cv2.COLOR_RGB2BGR), learningRate=LEARNING_RATE) == 255
    threshold = noise_threshold(frames, background.astype(np.float32), gains)
    return clean_masks(keep_moving(frames, masks, gains, threshold))


def mog2(frames: np.ndarray) -> np.ndarray:
    """OpenCV's MOG2 with shadow detection, primed with the median background."""
    def make():
        return cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25, detectShadows=True)

    return _opencv_model(make, frames, priming=3, priming_rate=1.0)


def knn(frames: np.ndarray) -> np.ndarray:
    """OpenCV's KNN background model with shadow detection, primed with the median background."""
    def make():
        return cv2.createBackgroundSubtractorKNN(history=500, dist2Threshold=600.0, detectShadows=True)

    # At the automatic rate: KNN keeps no background sample from a learning rate of 1.
    return _opencv_model(make, frames, priming=30, priming_rate=-1)


def background(frames: np.ndarray) -> np.ndarray:
    """The default: ``median`` for a clip of up to SHORT_CLIP frames, ``mog2`` for a longer one."""
    return median(frames) if len(frames) <= SHORT_CLIP else mog2(frames)


def person(frames: np.ndarray) -> np.ndarray:
    """The learned person segmenter (``person.py``: PP-HumanSeg v1 lite, each person found in the
    whole frame, then segmented in a crop about it). Its masks are smooth already: no cleaning."""
    return person_network.segment(_check_frames(frames))


BUILT_IN: dict[str, Segmenter] = {"person": person, "background": background, "median": median, "mog2": mog2,
                                  "knn": knn}
DEFAULT = "person"


def clean_masks(masks: np.ndarray) -> np.ndarray:
    """Opening (speckle), closing (fragments of one body) and filling of small holes, per frame.

    Kernel sizes follow the frame height (a 360-row frame: 3x3 opening, 7x7 closing; holes up to
    ~0.1 % of the frame filled), so the result does not depend on the resolution much.
    """
    height, width = masks.shape[1:]
    k_open = max(3, 2 * round(height / 240) + 1)
    k_close = max(3, 2 * round(height / 120) + 1)
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_open, k_open))
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_close, k_close))
    max_hole = max(16, height * width // 1000)
    out = np.zeros(masks.shape, bool)
    for t, mask in enumerate(progress(masks, desc="cleaning masks", unit="frame")):
        m = mask.astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, opening)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, closing)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(1 - m, connectivity=4)
        small = np.zeros(count, bool)
        small[1:] = stats[1:, cv2.CC_STAT_AREA] <= max_hole
        small[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = False
        out[t] = (m > 0) | small[labels]
    return out


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"a segmenter takes RGB frames uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    return frames


def load_segmenter(spec: str) -> tuple[str, Segmenter]:
    """``(name, function)`` for a built-in name or ``module:function`` / ``file.py:function``."""
    if spec in BUILT_IN:
        return spec, BUILT_IN[spec]
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--segmenter={spec!r}: use one of {sorted(BUILT_IN)} or module:function "
                         f"(a function RGB frames uint8 [T, H, W, 3] -> masks [T, H, W])")
    try:
        if module_name.endswith(".py"):
            location = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(module_name))[0], module_name)
            if location is None or not os.path.isfile(module_name):
                raise ImportError(f"no such file {module_name}")
            module = importlib.util.module_from_spec(location)
            location.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"--segmenter={spec!r}: cannot import {module_name}: {error}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"--segmenter={spec!r}: {module_name} has no function {attribute!r}")
    return spec, function


def run_segmenter(segmenter: Segmenter, frames: np.ndarray, name: str = "segmenter") -> np.ndarray:
    """``segmenter(frames)`` as bool ``[T, H, W]``, its output checked (shape, dtype, value range)."""
    masks = segmenter(frames)
    masks = np.stack(list(masks)) if not isinstance(masks, np.ndarray) else masks
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.shape != frames.shape[:3]:
        raise ValueError(f"{name} returned masks of shape {masks.shape}; expected {frames.shape[:3]} "
                         f"(one [H, W] mask per frame)")
    if masks.dtype == bool:
        return masks
    if np.issubdtype(masks.dtype, np.integer):
        return masks > (127 if masks.max(initial=0) > 1 else 0)
    if np.issubdtype(masks.dtype, np.floating):
        return masks > 0.5
    raise ValueError(f"{name} returned masks of dtype {masks.dtype}; expected bool, integers or floats")
