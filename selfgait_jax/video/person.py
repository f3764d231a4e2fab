"""Learned person segmentation: PP-HumanSeg v1 lite run by OpenCV's dnn module, no download, no Paddle.

The network (PaddleSeg's ``human_pp_humansegv1_lite_192x192_inference_model_with_softmax``,
Apache-2.0, see ``models/NOTICE``) was converted once to ONNX by ``tools/convert_pphumanseg.py``
and ships in the package (``models/pphumanseg_v1_lite_192.onnx``, 0.6 MB, its sha256 checked on
loading). It takes RGB scaled to [-1, 1] (mean and std 0.5) and answers a person probability per
pixel (a two-class softmax). It is fully convolutional, so it runs at any size that is a multiple
of 32; it was trained on 192x192 images of people.

Each frame goes through it twice:

1. **Finding people** (``find_people``): the whole frame, shrunk to ``DETECT_SIZE`` pixels on its
   long side (and padded to multiples of 32), gives a coarse probability map; its connected regions
   above ``THRESHOLD`` that are big enough are the people's boxes. Nothing here assumes a still
   camera: a camera that pans or shakes finds the same boxes.
2. **Segmenting each person** (``segment_frame``): a square crop about each box, ``MARGIN`` of the
   box's larger side wider on every side (the network decides better with some scene around a
   person; outside the frame the crop repeats the border), shrunk to 192x192 as the network was
   trained, gives a fine mask, scaled back into the frame; only its parts that reach into the
   box are kept. A person found in one frame is looked for about the same place in the next one,
   found there by the whole-frame pass or not.

A pixel is foreground when its fine probability is above ``THRESHOLD``. A region that is not a
person but looks like one to the network (foliage, a poster) gets a box too; it does not walk, so
the tracker drops it ("does not move").
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import cv2
import numpy as np

from selfgait_jax.progress import progress

MODEL = Path(__file__).resolve().parent / "models" / "pphumanseg_v1_lite_192.onnx"
MODEL_SHA256 = "199548ddf074ce8421f88aa3b6af646d3d35f4a340afb603aca79f92362ba6c0"
INPUT_SIZE = 192  # the network's training size: each person's crop is brought to it
DETECT_SIZE = 256  # pixels on the long side of the whole-frame pass that finds the people
THRESHOLD = 0.5  # person probability above which a pixel is a person's
MARGIN = 0.25  # a person's crop: this fraction of the box's larger side added on every side
OPENING = 5  # pixels at the network's size: thinner strips of a crop's mask are no one's
MIN_REGION = 0.001  # a region of the whole-frame pass smaller than this fraction of it is no one
BATCH = 8  # frames per pass of the network


class ModelError(RuntimeError):
    """The shipped network is missing or altered (its sha256 differs from ``MODEL_SHA256``)."""


@functools.cache
def network() -> cv2.dnn.Net:
    """The shipped network, loaded once per process after its sha256 is checked."""
    try:
        data = MODEL.read_bytes()
    except OSError as error:
        raise ModelError(f"{MODEL}: the person segmenter's network cannot be read ({error}); reinstall "
                         f"the package, or rebuild it with tools/convert_pphumanseg.py") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelError(f"{MODEL}: sha256 {digest}, expected {MODEL_SHA256} (an altered or partial file)")
    return cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))


def probabilities(images: np.ndarray) -> np.ndarray:
    """Person probability float32 ``[N, H, W]`` of RGB images uint8 ``[N, H, W, 3]`` (H and W
    multiples of 32)."""
    blob = cv2.dnn.blobFromImages(list(images), 1 / 127.5, None, (127.5, 127.5, 127.5), swapRB=False)
    net = network()
    net.setInput(blob)
    return net.forward()[:, 1]


def _detect_shape(height: int, width: int) -> tuple[float, int, int]:
    """(scale, height, width) of the whole-frame pass: the long side at DETECT_SIZE, padded to 32."""
    scale = DETECT_SIZE / max(height, width)
    return scale, -(-round(height * scale) // 32) * 32, -(-round(width * scale) // 32) * 32


def find_people(frames: np.ndarray) -> list[list[tuple[int, int, int, int]]]:
    """Per frame, the boxes (x0, y0, x1, y1; exclusive ends, frame pixels) of the regions the
    whole-frame pass takes for people."""
    height, width = frames.shape[1:3]
    scale, padded_h, padded_w = _detect_shape(height, width)
    small_h, small_w = round(height * scale), round(width * scale)
    canvas = np.zeros((len(frames), padded_h, padded_w, 3), np.uint8)
    for k, frame in enumerate(frames):
        canvas[k, :small_h, :small_w] = cv2.resize(frame, (small_w, small_h), interpolation=cv2.INTER_AREA)
    coarse = probabilities(canvas)[:, :small_h, :small_w] > THRESHOLD
    min_pixels = max(4, round(MIN_REGION * small_h * small_w))
    boxes = []
    for mask in coarse:
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        boxes.append([(int(x / scale), int(y / scale), int(np.ceil((x + w) / scale)), int(np.ceil((y + h) / scale)))
                      for x, y, w, h, area in stats[1:] if area >= min_pixels])
    return boxes


def _square(box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """(x0, y0, side) of a person's square crop about ``box``."""
    x0, y0, x1, y1 = box
    side = round(max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN))
    return round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2), side


def _overlap(a, b) -> float:
    """The fraction of box ``a`` inside box ``b``."""
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / max(1, (a[2] - a[0]) * (a[3] - a[1]))


def distinct(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The boxes without those mostly (70 %) inside a larger one: one crop per person."""
    boxes = sorted(set(boxes), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    kept: list[tuple[int, int, int, int]] = []
    for box in boxes:
        if all(_overlap(box, other) < 0.7 for other in kept):
            kept.append(box)
    return kept


def segment_frame(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """bool ``[H, W]``: the people in ``boxes`` (x0, y0, x1, y1) of one RGB frame.

    Each box's square crop is segmented at the network's size and put back; of a crop's mask only
    the parts that reach into its box are kept (a piece of another person, or a network's
    mistake at the crop's edge, belongs to another box or to no one), and where crops overlap a
    pixel is a person's when one of them says so.
    """
    height, width = frame.shape[:2]
    out = np.zeros((height, width), bool)
    places, crops = [], []
    for box in boxes:
        x0, y0, side = _square(box)
        # The crop: the frame's pixels, its border repeated outside it.
        patch = cv2.copyMakeBorder(
            frame[max(0, y0) : min(height, y0 + side), max(0, x0) : min(width, x0 + side)],
            max(0, -y0), max(0, y0 + side - height), max(0, -x0), max(0, x0 + side - width),
            cv2.BORDER_REPLICATE)
        crops.append(cv2.resize(patch, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA))
        places.append((box, x0, y0, side))
    if not crops:
        return out
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (OPENING, OPENING))
    for p, (box, x0, y0, side) in zip(probabilities(np.stack(crops)), places):
        # At the network's size (a person about 130 px tall): an opening removes strips thinner
        # than OPENING px (door and screen edges next to a person; an arm is 8-12 px wide), then
        # only the regions that reach into the box are kept, and the mask is brought to the crop's size.
        mask = cv2.morphologyEx((p > THRESHOLD).astype(np.uint8), cv2.MORPH_OPEN, opening)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        scale = INPUT_SIZE / side
        bx0, by0 = max(0, int((box[0] - x0) * scale)), max(0, int((box[1] - y0) * scale))
        bx1, by1 = int(np.ceil((box[2] - x0) * scale)), int(np.ceil((box[3] - y0) * scale))
        inside = np.unique(labels[by0:by1, bx0:bx1])
        keep = np.zeros(count, np.float32)
        keep[inside[inside > 0]] = 1.0
        mask = cv2.resize(keep[labels], (side, side), interpolation=cv2.INTER_LINEAR) > 0.5
        fy0, fx0, fy1, fx1 = max(0, y0), max(0, x0), min(height, y0 + side), min(width, x0 + side)
        out[fy0:fy1, fx0:fx1] |= mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return out


def regions(mask: np.ndarray, min_area: int) -> list[tuple[int, int, int, int]]:
    """The boxes of a mask's connected regions of at least ``min_area`` pixels."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:] if area >= min_area]


def segment(frames: np.ndarray) -> np.ndarray:
    """bool ``[T, H, W]``: the people of RGB frames uint8 ``[T, H, W, 3]`` (see the module doc).

    A person segmented in a frame is looked for in the next one too, about the same box (the
    whole-frame pass, at a few pixels per limb, misses people now and then).
    """
    height, width = frames.shape[1:3]
    min_area = max(16, round(MIN_REGION * height * width))
    masks = np.zeros(frames.shape[:3], bool)
    previous: list[tuple[int, int, int, int]] = []
    bar = progress(total=len(frames), desc="segmenting (person network)", unit="frame")
    with bar:
        for start in range(0, len(frames), BATCH):
            chunk = frames[start : start + BATCH]
            for k, found in enumerate(find_people(chunk)):
                masks[start + k] = segment_frame(chunk[k], distinct(found + previous))
                previous = regions(masks[start + k], min_area)
            bar.update(len(chunk))
    return masks
