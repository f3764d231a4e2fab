"""The learned person segmenter (video/person.py), the quality measure that needs no labels
(video/quality.py), and the tool's side-by-side comparison of two segmenters."""

import hashlib
import json

import cv2
import numpy as np
import pytest

import repo_files
from selfgait_jax.data.synthgait.scene import Actor, render_scene
from selfgait_jax.video import clips, person, quality, segmenters, tracking

silhouettes_tool = repo_files.tool("silhouettes")

# One walker, large enough for the network (about 180 px tall), in a 240x320 frame. The renderer's
# walkers are flat-shaded mannequins, far from the photographs of people the network was trained
# on: on this clip its masks have a median IoU of 0.78 with the renderer's (0.74 the lowest frame;
# 0.56-0.78 over other outfits and sizes). On real phone video its masks are sharper (the contact
# sheet in docs/video.md). 0.65 asks for a person's mask, with a margin for other OpenCV builds.
WALKER = Actor("001", "nm-01", view=90, start=0.7, ground=0.9, scale=0.4, clothes=2)
MIN_MEDIAN_IOU = 0.65


@pytest.fixture(scope="module")
def walker_scene():
    return render_scene([WALKER], size=(240, 320), frames=16, seed=3)


def frame_iou(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return (found & truth).sum((1, 2)) / np.maximum((found | truth).sum((1, 2)), 1)


def test_the_shipped_network_is_checked_before_it_is_loaded(tmp_path, monkeypatch):
    assert hashlib.sha256(person.MODEL.read_bytes()).hexdigest() == person.MODEL_SHA256
    assert (person.MODEL.parent / "LICENSE").is_file() and person.MODEL_SHA256 in (
        person.MODEL.parent / "NOTICE").read_text()
    altered = tmp_path / "altered.onnx"
    altered.write_bytes(person.MODEL.read_bytes()[:-1] + b"\0")
    person.network.cache_clear()
    monkeypatch.setattr(person, "MODEL", altered)
    try:
        with pytest.raises(person.ModelError, match="expected " + person.MODEL_SHA256):
            person.network()
        monkeypatch.setattr(person, "MODEL", tmp_path / "missing.onnx")
        with pytest.raises(person.ModelError, match="cannot be read"):
            person.network()
    finally:
        person.network.cache_clear()


@pytest.mark.slow
def test_the_person_segmenter_finds_a_rendered_walker(walker_scene):
    truth = walker_scene.masks[0]
    masks = segmenters.run_segmenter(segmenters.load_segmenter("person")[1], walker_scene.frames)
    assert np.median(frame_iou(masks, truth)) >= MIN_MEDIAN_IOU
    # Nothing of the brick wall or the floor: pixels more than 8 px from the walker are rare.
    near = np.stack([cv2.dilate(t.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0 for t in truth])
    assert np.count_nonzero(masks & ~near) < 0.02 * np.count_nonzero(masks)


def test_a_person_found_once_is_followed_into_the_next_frames(walker_scene, monkeypatch):
    frames = walker_scene.frames[:8]
    first = person.find_people(frames[:1])[0]
    assert len(first) == 1
    # The whole-frame pass finds the walker in the first frame only: the next frames look for it
    # about the box of the frame before.
    monkeypatch.setattr(person, "find_people", lambda chunk: [first] + [[] for _ in chunk[1:]])
    masks = person.segment(frames)
    assert np.median(frame_iou(masks, walker_scene.masks[0, :8])) >= MIN_MEDIAN_IOU
    monkeypatch.setattr(person, "find_people", lambda chunk: [[] for _ in chunk])
    assert not person.segment(frames).any()


def test_boxes_mostly_inside_a_larger_one_are_one_crop():
    assert person.distinct([(0, 0, 10, 20), (1, 1, 9, 19), (20, 0, 30, 20), (0, 0, 10, 20)]) == [
        (0, 0, 10, 20), (20, 0, 30, 20)]
    assert len(person.distinct([(0, 0, 10, 20), (5, 0, 15, 20)])) == 2  # half inside: two people


def _blob(shape, x0, x1, y0=0, y1=None):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_the_quality_measures_by_hand():
    one = _blob((100, 40), 10, 30)
    split = one.copy()
    split[50:52] = False  # cut at the waist: two parts of 50 and 48 rows
    speck = one.copy()
    speck[0:2, 0:2] = True  # 4 pixels beside 2,000: 99.8 % in the largest part, still one body
    frames = [10, 11, 12, 14]
    heights = [100, 104, 100, 100]  # median 100
    centres = [(0, 50), (10, 50), (22, 50), (40, 50)]
    silhouettes = np.stack([_blob((64, 44), 10, 30), _blob((64, 44), 15, 35), _blob((64, 44), 0, 44)]) * 255
    measures = quality.measure([one, split, speck, one], frames, heights, centres, silhouettes, [10, 11, 14])
    assert measures["one_body"] == 0.75
    # Consecutive frames: 10-11 and 11-12 (12-14 is not); heights change by 4 of 100 both times.
    assert measures["height_change"] == pytest.approx(0.04)
    # The one triple 10-11-12: the centre at 11 is 1 px from the midpoint of 10's and 12's (11, 50).
    assert measures["centroid_jitter"] == pytest.approx(0.01)
    # Silhouettes 10 and 11: columns 10-30 and 15-35, 15 shared of 25.
    assert measures["consecutive_iou"] == pytest.approx(0.6)
    alone = quality.measure([one], [3], [100], [(0, 0)], silhouettes[:1], [3])
    assert alone["one_body"] == 1.0 and all(np.isnan(alone[k]) for k in quality.MEASURES[1:])
    clip = quality.summarize([(4, measures), (12, alone)])
    assert clip["walkers"] == 2 and clip["one_body"] == pytest.approx((4 * 0.75 + 12 * 1.0) / 16)
    assert clip["consecutive_iou"] == pytest.approx(0.6)  # the second walker has no pair
    assert quality.describe(clip) == ("one body 93.8 %, consecutive IoU 0.600, height change 4.0 %, "
                                      "centroid jitter 1.0 %")


def test_two_people_crossing_stay_two_tracks():
    """Whole-body masks as the person segmenter gives them: two walkers cross, their bodies merge
    for some frames; two tracks, each on its own side before and after, the merged frames left out."""
    masks = np.zeros((50, 200, 400), bool)
    for t in range(50):
        masks[t, 40:160, 40 + 6 * t : 80 + 6 * t] = True  # left to right
        masks[t, 50:150, 330 - 6 * t : 362 - 6 * t] = True  # right to left, a little smaller (farther)
    options = tracking.TrackOptions(min_height=30)
    kept, dropped = tracking.select(tracking.track(masks, options), masks.shape[1:], options)
    assert len(kept) == 2 and not dropped
    right, left = sorted(kept, key=lambda t: t.bodies[0].centre[0])
    assert right.bodies[0].centre[0] < 100 and right.bodies[-1].centre[0] > 300
    assert left.bodies[0].centre[0] > 300 and left.bodies[-1].centre[0] < 100
    for t in kept:
        assert t.left_out["merged"] >= 5 and not {b.frame for b in t.bodies} & set(t.merged)


def test_what_is_left_of_a_walker_leaving_the_frame_is_cut_by_the_border():
    """A walker leaves on the left: its last bodies are a leg, 6 px from the edge (a person mask
    need not reach the frame's last pixels); they are left out as touching the border."""
    masks = np.zeros((30, 200, 400), bool)
    for t in range(26):
        masks[t, 40:160, 300 - 10 * t : 340 - 10 * t] = True
    for t in range(26, 30):
        masks[t, 110:160, 6:30] = True  # only a leg left in the frame
    options = tracking.TrackOptions(min_height=30)
    (walker,), _ = tracking.select(tracking.track(masks, options), masks.shape[1:], options)
    assert walker.left_out == {"border": 4} and max(b.frame for b in walker.bodies) == 25


@pytest.mark.slow
def test_the_tool_compares_two_segmenters_side_by_side(walker_scene, tmp_path, capsys):
    video = clips.write_video(tmp_path / "walker.mp4", walker_scene.frames)
    out = tmp_path / "out"
    assert silhouettes_tool.main([f"--video={video}", f"--out={out}", "--min_frames=8", "--min_height=30",
                                  "--compare=background"]) == 0
    printed = capsys.readouterr().out
    assert "segmenter person" in printed and "quality (no labels): one body" in printed
    assert "compared with segmenter background: 1 walkers" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["segmenter"] == "person" and len(summary["walkers"]) == 1
    assert summary["quality"]["walkers"] == 1 and 0 < summary["quality"]["consecutive_iou"] <= 1
    assert summary["walkers"][0]["quality"]["one_body"] == summary["quality"]["one_body"]
    assert summary["compare"]["segmenter"] == "background" and len(summary["compare"]["walkers"]) == 1
    # Each sheet is at least twice the frame's width (640 px here): two of them side by side.
    assert cv2.imread(str(out / "contact_sheet.png")).shape[1] >= 2 * 640


@pytest.mark.slow
def test_the_video_benchmark_records_each_segmenter(walker_scene, tmp_path, monkeypatch):
    bench = repo_files.bench_tool("benchmark_video")
    video = clips.write_video(tmp_path / "walker.mp4", walker_scene.frames)
    docs = tmp_path / "benchmarks.md"
    monkeypatch.setattr(bench, "BENCHMARKS_MD", docs)
    out = tmp_path / "bench.json"
    result = bench.main([f"--video={video}", "--max_frames=10", "--repeats=1", f"--out={out}", "--append-docs"])
    assert json.loads(out.read_text()) == result
    assert list(result["segmenters"]) == ["person", "background"] and result["clip"]["frames"] == 10
    for record in result["segmenters"].values():
        assert record["frames_per_second"] > 0 and len(record["runs"]) == 1 and "one body" in record["quality_text"]
    line = docs.read_text()
    assert line.startswith(f"- {result['date'][:10]} `python tools/bench/benchmark_video.py --video=")
    assert "**person " in line and "**background " in line and line.count("\n") == 1
