"""Video -> walkers' silhouette sequences: segment, track, pretreat, and write what was found.

``extract_walkers(clip)`` runs a segmenter over the clip, tracks the walkers (``tracking.py``) and
passes each kept track through the project's own pretreatment (``data/pretreatment.py``: crop, height
64, centred on the column centroid, 44 columns), the same function the datasets go through.
``write_extraction`` writes the sequences as the PNG tree the readers take,
``OUT/<walker>/<type>/<view>/<frame>.png`` (``type`` defaults to the video's name and ``view`` to
"cam"; the frame number is the video's), plus ``summary.json`` (kept and dropped tracks, each drop
with its reason, each walker's frames left out and why) and ``contact_sheet.png`` (each walker's
silhouettes over the original frames).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from selfgait_jax.data.pretreatment import pretreat_frames
from selfgait_jax.video import quality, segmenters, tracking
from selfgait_jax.video.clips import Clip

SUMMARY = "summary.json"
CONTACT_SHEET = "contact_sheet.png"
DEFAULT_VIEW = "cam"


@dataclasses.dataclass
class Walker:
    """A kept track: ``frames`` uint8 [T, 64, 44] (0/255) and the video frame of each."""

    name: str
    frames: np.ndarray
    frame_indices: np.ndarray
    track: tracking.Track

    @property
    def quality(self) -> dict[str, float]:
        """``quality.measure`` of its kept bodies and silhouettes (no labels needed)."""
        bodies = self.track.bodies
        return quality.measure([b.mask for b in bodies], [b.frame for b in bodies], [b.height for b in bodies],
                               [b.centre for b in bodies], self.frames, self.frame_indices)


class NoWalkerFound(ValueError):
    """A video where no track was kept; the message names the video and why each track was dropped."""

    def __init__(self, video, dropped: list[tracking.Dropped]):
        reasons = "; ".join(d.reason for d in dropped) or "nothing moved"
        super().__init__(f"{video}: no walker found ({reasons}); see tools/silhouettes.py's flags")
        self.video = str(video)


@dataclasses.dataclass
class Extraction:
    walkers: list[Walker]
    dropped: list[tracking.Dropped]
    shape: tuple[int, int]
    num_frames: int
    segmenter: str
    seconds: dict[str, float]  # per stage: segment, track, pretreat
    options: tracking.TrackOptions = tracking.TrackOptions()

    @property
    def frames_per_second(self) -> float:
        return self.num_frames / max(sum(self.seconds.values()), 1e-9)

    @property
    def quality(self) -> dict[str, float]:
        """The clip's ``quality.summarize``: its walkers' measures, weighted by their silhouettes."""
        return quality.summarize([(len(w.frames), w.quality) for w in self.walkers])

    def require_walkers(self, video) -> list[Walker]:
        """The walkers, or NoWalkerFound naming ``video`` when there is none."""
        if not self.walkers:
            raise NoWalkerFound(video, self.dropped)
        return self.walkers


def track_silhouettes(track: tracking.Track) -> tuple[np.ndarray, np.ndarray]:
    """The track's bodies pretreated: ``(uint8 [T', 64, 44], video frame of each [T'])``.

    Each body is pasted at the top-left of a canvas as large as the largest one: the pretreatment
    crops every frame to its own silhouette, so where a body sits does not change the result.
    """
    height = max(b.height for b in track.bodies)
    width = max(b.width for b in track.bodies)
    canvas = np.zeros((len(track.bodies), height, width), bool)
    for k, body in enumerate(track.bodies):
        canvas[k, : body.height, : body.width] = body.mask
    frames, kept = pretreat_frames(canvas)
    return frames, np.asarray([track.bodies[i].frame for i in kept], np.int64)


def extract_walkers(clip: Clip, segmenter: str | segmenters.Segmenter = segmenters.DEFAULT,
                    options: tracking.TrackOptions = tracking.TrackOptions()) -> Extraction:
    """Segment, track and pretreat (see the module doc); walkers are named walker-01, -02, ...
    in the order they first appear."""
    name, function = (segmenters.load_segmenter(segmenter) if isinstance(segmenter, str)
                      else (getattr(segmenter, "__name__", "segmenter"), segmenter))
    start = time.perf_counter()
    masks = segmenters.run_segmenter(function, clip.frames, name)
    segmented = time.perf_counter()
    tracks = tracking.track(masks, options)
    kept, dropped = tracking.select(tracks, masks.shape[1:], options)
    tracked = time.perf_counter()
    walkers = []
    for t in kept:
        frames, indices = track_silhouettes(t)
        if len(frames) < options.min_frames:
            dropped.append(tracking.Dropped(t, f"too few frames with a silhouette after the pretreatment: "
                                               f"{len(frames)}"))
            continue
        walkers.append(Walker(f"walker-{len(walkers) + 1:02d}", frames, indices, t))
    done = time.perf_counter()
    return Extraction(walkers, dropped, masks.shape[1:], len(clip.frames), name,
                      {"segment": segmented - start, "track": tracked - segmented, "pretreat": done - tracked},
                      options)


def left_out_text(track: tracking.Track) -> str:
    """"left out: 12 merged with another walker, 3 touching the frame border" and "5 merged kept",
    as far as there are any."""
    parts = [f"left out: {', '.join(f'{n} {tracking.LEFT_OUT[k]}' for k, n in track.left_out.items())}"
             ] if track.left_out else []
    return "; ".join(parts + ([f"{track.merged_kept} merged kept"] if track.merged_kept else []))


def _describe(track: tracking.Track) -> dict:
    return {"first_frame": track.first_frame, "last_frame": track.end_frame, "frames": len(track.bodies),
            "left_out": {tracking.LEFT_OUT[k]: n for k, n in track.left_out.items()},
            "merged_kept": track.merged_kept,
            "median_height_px": float(np.median([b.height for b in track.bodies]))}


def _rounded(numbers: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: a measure that could not be computed is null."""
    return {k: (round(v, 4) if np.isfinite(v) else None) for k, v in numbers.items()}


def summary(extraction: Extraction, clip: Clip, sequence_type: str, view: str,
            compare: Extraction | None = None) -> dict:
    """summary.json: the video, the segmenter, each walker's folder and frames, each drop's reason,
    the quality measures; with ``compare``, another segmenter's walkers and measures on the clip."""
    record = {
        "video": os.path.abspath(clip.source),
        "frames": extraction.num_frames,
        "fps": clip.fps,
        "frame_size": [int(extraction.shape[1]), int(extraction.shape[0])],
        "scale": clip.scale,
        "segmenter": extraction.segmenter,
        "tracking": dataclasses.asdict(extraction.options),
        "seconds": {k: round(v, 3) for k, v in extraction.seconds.items()},
        "frames_per_second": round(extraction.frames_per_second, 1),
        "quality": _rounded(extraction.quality),
        "walkers": [{"name": w.name, "folder": f"{w.name}/{sequence_type}/{view}",
                     "silhouettes": len(w.frames), **_describe(w.track), "quality": _rounded(w.quality)}
                    for w in extraction.walkers],
        "dropped": [{"track": d.track.id, "reason": d.reason, **_describe(d.track)} for d in extraction.dropped],
    }
    if compare is not None:
        record["compare"] = {
            "segmenter": compare.segmenter,
            "seconds": {k: round(v, 3) for k, v in compare.seconds.items()},
            "frames_per_second": round(compare.frames_per_second, 1),
            "quality": _rounded(compare.quality),
            "walkers": [{"name": w.name, "silhouettes": len(w.frames), **_describe(w.track),
                         "quality": _rounded(w.quality)} for w in compare.walkers],
            "dropped": [{"track": d.track.id, "reason": d.reason} for d in compare.dropped],
        }
    return record


def write_extraction(extraction: Extraction, clip: Clip, out, *, sequence_type: str | None = None,
                     view: str = DEFAULT_VIEW, overwrite: bool = False, compare: Extraction | None = None) -> dict:
    """The PNG tree, summary.json and contact_sheet.png in folder ``out``; returns the summary.

    ``compare``: the same clip cut by another segmenter; its walkers are not written, its numbers
    go into the summary and its contact sheet beside this one's (``side_by_side``).

    A folder that already holds files is refused unless ``overwrite``, which first removes what an
    earlier run wrote there (the walkers its summary.json names, the summary and the sheet).
    """
    out = Path(out)
    sequence_type = sequence_type or clip.name
    for name, value in (("type", sequence_type), ("view", view)):
        if not value or "/" in value or "\\" in value or value.startswith("."):
            raise ValueError(f"{name} {value!r} cannot be a folder name")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out}: the output folder is not empty (use --overwrite to replace an earlier "
                             f"run's output)")
        _remove_earlier_run(out)
    out.mkdir(parents=True, exist_ok=True)
    for walker in extraction.walkers:
        folder = out / walker.name / sequence_type / view
        folder.mkdir(parents=True)
        for frame, index in zip(walker.frames, walker.frame_indices):
            cv2.imwrite(os.fspath(folder / f"{index:06d}.png"), frame)
    record = summary(extraction, clip, sequence_type, view, compare)
    (out / SUMMARY).write_text(json.dumps(record, indent=2) + "\n")
    sheet = contact_sheet(extraction, clip)
    if compare is not None:
        sheet = side_by_side([(extraction, sheet), (compare, contact_sheet(compare, clip))])
    cv2.imwrite(os.fspath(out / CONTACT_SHEET), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return record


def _remove_earlier_run(out: Path) -> None:
    previous = out / SUMMARY
    names = []
    if previous.is_file():
        try:
            names = [w["name"] for w in json.loads(previous.read_text()).get("walkers", [])]
        except (ValueError, AttributeError, KeyError, TypeError):
            names = []
    names += [p.name for p in out.glob("walker-[0-9][0-9]*") if p.is_dir()]
    for name in set(names):
        if name and "/" not in name and (out / name).is_dir():
            shutil.rmtree(out / name)
    for name in (SUMMARY, CONTACT_SHEET):
        (out / name).unlink(missing_ok=True)


# --- the contact sheet -------------------------------------------------------------------------

COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]
CELL_HEIGHT = 128
COLUMNS = 8


def _label(image: np.ndarray, text: str, origin: tuple[int, int], colour=(255, 255, 255)) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def _overview(extraction: Extraction, clip: Clip, width: int) -> np.ndarray:
    """The frame where most walkers are seen, every track's box drawn (dropped ones in grey)."""
    counts = np.zeros(extraction.num_frames, int)
    for w in extraction.walkers:
        counts[[b.frame for b in w.track.bodies]] += 1
    frame = int(counts.argmax())
    image = clip.frames[frame].copy()
    entries = [(w.name, COLOURS[i % len(COLOURS)], w.track) for i, w in enumerate(extraction.walkers)]
    entries += [(f"dropped {d.track.id}", (160, 160, 160), d.track) for d in extraction.dropped]
    for name, colour, t in entries:
        for body in t.bodies:
            if body.frame == frame:
                x0, y0, x1, y1 = body.box
                cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
                _label(image, name, (x0, max(12, y0 - 4)), colour)
    _label(image, f"frame {frame}", (6, 16))
    scale = width / image.shape[1]
    return cv2.resize(image, (width, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)


def _cell(clip: Clip, body: tracking.Body, silhouette: np.ndarray, colour) -> np.ndarray:
    """The frame around the body with its mask tinted, and the pretreated 64x44 silhouette beside it."""
    height, width = clip.frames.shape[1:3]
    x0, y0, x1, y1 = body.box
    pad = max(4, body.height // 8)
    cx0, cy0, cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    crop = clip.frames[body.frame, cy0:cy1, cx0:cx1].astype(np.float32)
    mask = np.zeros(crop.shape[:2], bool)
    mask[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = body.mask
    crop[mask] = 0.45 * crop[mask] + 0.55 * np.float32(colour)
    crop = crop.astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(crop, contours, -1, colour, 1)
    scale = CELL_HEIGHT / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), CELL_HEIGHT), interpolation=cv2.INTER_AREA)
    sil = cv2.resize(silhouette, (88, CELL_HEIGHT), interpolation=cv2.INTER_NEAREST)
    sil = np.repeat(sil[..., None], 3, axis=-1)
    sil[:, 0] = sil[:, -1] = colour
    return np.concatenate([crop, sil], axis=1)


def contact_sheet(extraction: Extraction, clip: Clip) -> np.ndarray:
    """uint8 RGB: an overview frame, then a row per walker of up to 8 frames spread over its track."""
    rows = []
    for i, walker in enumerate(extraction.walkers):
        colour = COLOURS[i % len(COLOURS)]
        body_of = {b.frame: b for b in walker.track.bodies}
        picks = np.unique(np.linspace(0, len(walker.frames) - 1, min(COLUMNS, len(walker.frames))).round().astype(int))
        cells = [_cell(clip, body_of[int(walker.frame_indices[k])], walker.frames[k], colour) for k in picks]
        row = np.concatenate(cells, axis=1)
        band = np.zeros((22, row.shape[1], 3), np.uint8)
        left_out = left_out_text(walker.track)
        _label(band, f"{walker.name}: {len(walker.frames)} silhouettes, frames {walker.track.first_frame}-"
                     f"{walker.track.end_frame}" + (f"; {left_out}" if left_out else ""), (4, 16), colour)
        rows.append(np.concatenate([band, row], axis=0))
    width = max([r.shape[1] for r in rows] + [min(960, clip.frames.shape[2] * 2)])
    parts = [_overview(extraction, clip, min(width, max(480, clip.frames.shape[2])))]
    if not rows:
        band = np.zeros((22, parts[0].shape[1], 3), np.uint8)
        _label(band, "no walker found", (4, 16))
        parts.append(band)
    parts += rows
    sheet = np.zeros((sum(p.shape[0] for p in parts), max(p.shape[1] for p in parts), 3), np.uint8)
    y = 0
    for p in parts:
        sheet[y : y + p.shape[0], : p.shape[1]] = p
        y += p.shape[0]
    return sheet


def side_by_side(sheets: list[tuple[Extraction, np.ndarray]]) -> np.ndarray:
    """Contact sheets of one clip cut by several segmenters, next to each other, each under a title
    with its segmenter, its walkers and its quality measures."""
    columns = []
    for extraction, sheet in sheets:
        lines = [f"segmenter {extraction.segmenter}: {len(extraction.walkers)} walker"
                 f"{'' if len(extraction.walkers) == 1 else 's'}, {len(extraction.dropped)} tracks dropped",
                 quality.describe(extraction.quality)]
        band = np.zeros((20 * len(lines) + 8, sheet.shape[1], 3), np.uint8)
        for k, line in enumerate(lines):
            _label(band, line, (4, 18 + 20 * k))
        columns.append(np.concatenate([band, sheet], axis=0))
    gap = 12
    out = np.zeros((max(c.shape[0] for c in columns), sum(c.shape[1] for c in columns) + gap * (len(columns) - 1), 3),
                   np.uint8)
    x = 0
    for c in columns:
        out[: c.shape[0], x : x + c.shape[1]] = c
        x += c.shape[1] + gap
    return out
