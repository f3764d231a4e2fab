"""Video -> silhouettes on footage nobody filmed: SynthGait walkers rendered in colour (clothes with
textures, a textured background, shadows, lighting flicker, sensor noise), compressed by OpenCV's
VideoWriter; the renderer's masks are the ground truth."""

import dataclasses
import json

import cv2
import numpy as np
import pytest

import repo_files
from selfgait_jax.data.pretreatment import pretreat_frames
from selfgait_jax.data.readers import TreeSource
from selfgait_jax.data.synthgait.scene import Actor, Prop, render_scene
from selfgait_jax.video import clips, extract, segmenters, tracking

silhouettes_tool = repo_files.tool("silhouettes")

# Mean IoU of a walker's pretreated 64x44 silhouettes with the pretreated ground truth, over its
# frames. Measured on this clip: 0.82-0.88 for every built-in segmenter; the losses are edges
# blurred by the compression and the morphology, magnified by the upscaling to 64 rows.
MIN_MEAN_IOU = 0.75
OPTIONS = tracking.TrackOptions(min_height=30)  # the test frames are small: walkers ~70 px tall

# Two walkers crossing: one walks right to left in front, the other left to right behind.
CROSSING = [Actor("001", "nm-01", view=90, start=0.75, ground=0.92, scale=0.22, clothes=1),
            Actor("002", "nm-02", view=270, start=0.25, ground=0.82, scale=0.2, clothes=2)]


# Two walkers side by side going the same way, the nearer one just ahead: their bodies touch on and
# off. And two who walk together from the first frame to the last: one body all along, in which the
# farther one's head shows in about two frames of three.
ABREAST = [Actor("001", "nm-01", view=270, start=0.22, ground=0.92, scale=0.22, clothes=1),
           Actor("011", "nm-01", view=270, start=0.12, ground=0.86, scale=0.2, clothes=7)]
TOGETHER = [Actor("001", "nm-01", view=270, start=0.2, ground=0.92, scale=0.22, clothes=1),
            Actor("004", "nm-01", view=270, start=0.12, ground=0.84, scale=0.2, clothes=4)]
# Static structures in a 200-frame clip (a walker crosses from frame 28 on): a pale pole there from
# the start, a dark pole put up at frame 110 (after half the clip, so not in its median background)
# that the walker passes in front of, and a yellow sign put up at frame 40 (in the median
# background, so where it stands differs from it before).
POLES = (Prop((0.7, 0.1, 0.73, 0.93), (225, 225, 215)), Prop((0.3, 0.1, 0.34, 0.93), (60, 60, 70), first_frame=110),
         Prop((0.5, 0.05, 0.53, 0.7), (230, 200, 40), first_frame=40))
POLE_WALKER = [Actor("001", "nm-01", view=90, start=1.4, ground=0.92, scale=0.3, clothes=1)]


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    scene = render_scene(CROSSING, size=(180, 240), frames=64, seed=3)
    path = tmp_path_factory.mktemp("video") / "crossing.mp4"
    clips.write_video(path, scene.frames)
    return scene, path


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    out = {}
    for name, actors in (("abreast", ABREAST), ("together", TOGETHER)):
        scene = render_scene(actors, size=(180, 240), frames=64, seed=5)
        out[name] = scene, clips.read_clip(clips.write_video(root / f"{name}.mp4", scene.frames))
    return out


@pytest.fixture(scope="module")
def poles(tmp_path_factory):
    scene = render_scene(POLE_WALKER, size=(120, 160), frames=200, seed=5, props=POLES)
    return scene, clips.read_clip(clips.write_video(tmp_path_factory.mktemp("poles") / "poles.mp4", scene.frames))


def holding_two(walker, scene, actors) -> int:
    """Written frames where a second walker's visible pixels (not hidden behind a nearer one) make
    at least 15 % of the body."""
    count = 0
    for body in walker.track.bodies:
        x0, y0, x1, y1 = body.box
        hidden = np.zeros(body.mask.shape, bool)
        visible = []
        for a in np.argsort([-actor.ground for actor in actors]):  # the nearest first
            mask = scene.masks[a, body.frame, y0:y1, x0:x1]
            visible.append(np.count_nonzero(mask & ~hidden & body.mask))
            hidden |= mask
        count += sorted(visible)[-2] >= 0.15 * body.area
    return count


def actor_of(walker, masks) -> int:
    """The actor whose ground-truth mask holds most of the walker's first body."""
    body = walker.track.bodies[0]
    x0, y0, x1, y1 = body.box
    return int(np.argmax([m[body.frame, y0:y1, x0:x1][body.mask].sum() for m in masks]))


def mean_iou(walker, masks) -> float:
    truth, kept = pretreat_frames(masks[walker.frame_indices])
    assert len(kept) == len(walker.frame_indices)
    found, truth = walker.frames > 0, truth > 0
    return float(np.mean((found & truth).sum((1, 2)) / (found | truth).sum((1, 2))))


@pytest.mark.parametrize("segmenter", ["background", "mog2", "knn"])
def test_crossing_walkers_are_two_tracks_matching_the_renderer(crossing, segmenter):
    scene, path = crossing
    clip = clips.read_clip(path)
    assert clip.frames.shape == (64, 180, 240, 3) and clip.fps == pytest.approx(25.0)
    extraction = extract.extract_walkers(clip, segmenter, OPTIONS)
    assert [w.name for w in extraction.walkers] == ["walker-01", "walker-02"]
    actors = [actor_of(w, scene.masks) for w in extraction.walkers]
    assert sorted(actors) == [0, 1]
    for walker, actor in zip(extraction.walkers, actors):
        assert walker.frames.shape[1:] == (64, 44) and walker.frames.dtype == np.uint8
        assert mean_iou(walker, scene.masks[actor]) >= MIN_MEAN_IOU
        # The crossing is bridged: frames on both sides of it, the same walker on both sides.
        merged = walker.track.merged
        assert merged and walker.frame_indices.min() < min(merged) and walker.frame_indices.max() > max(merged)
        for body in (walker.track.bodies[0], walker.track.bodies[-1]):
            x0, y0, x1, y1 = body.box
            inside = [m[body.frame, y0:y1, x0:x1][body.mask].mean() for m in scene.masks]
            assert np.argmax(inside) == actor and inside[actor] > 0.8
        assert not set(merged) & set(walker.frame_indices.tolist())


def test_tool_writes_the_tree_the_readers_take(crossing, tmp_path, capsys):
    _, path = crossing
    out = tmp_path / "out"
    # A fixed camera over small walkers: background subtraction (the learned default: test_video_person.py).
    args = [f"--video={path}", f"--out={out}", "--min_height=30", "--segmenter=background"]
    assert silhouettes_tool.main(args) == 0
    printed = capsys.readouterr().out
    assert "walker-01" in printed and "walker-02" in printed and "contact sheet" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert [w["folder"] for w in summary["walkers"]] == ["walker-01/crossing/cam", "walker-02/crossing/cam"]
    assert summary["frames"] == 64 and summary["frame_size"] == [240, 180] and summary["segmenter"] == "background"
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 180
    source = TreeSource(out, "png", read_at_open=True)
    assert [(m.subject, m.type, m.view) for m in source.metas] == [("walker-01", "crossing", "cam"),
                                                                    ("walker-02", "crossing", "cam")]
    assert source.lengths.tolist() == [w["silhouettes"] for w in summary["walkers"]]
    # The PNGs are already pretreated: reading them back (pretreated again) changes nothing.
    again = extract.extract_walkers(clips.read_clip(path), "background", OPTIONS)
    np.testing.assert_array_equal(source.load(0), again.walkers[0].frames)
    # A second run into the same folder is refused unless asked to overwrite.
    assert silhouettes_tool.main(args) == 1
    assert "not empty" in capsys.readouterr().err
    assert silhouettes_tool.main(args + ["--overwrite", "--min_frames=1000"]) == 0
    assert "no walker found" in capsys.readouterr().out
    assert not (out / "walker-01").exists() and (out / "contact_sheet.png").is_file()


def _blob(masks, t, x, y, w, h):
    masks[t, y : y + h, x : x + w] = True


def test_tracks_too_short_too_small_or_cut_by_the_border_are_dropped_with_a_reason():
    masks = np.zeros((40, 120, 200), bool)
    for t in range(40):
        _blob(masks, t, 20 + 2 * t, 30, 14, 60)  # a walker: kept
        _blob(masks, t, 170 - t // 4, 100, 6, 10)  # too small
        _blob(masks, t, 0, 40 + t // 2, 12, 50)  # walks down the left border all along
        _blob(masks, t, 120, 5, 8, 40 + t % 2)  # a post (its top flickers a pixel)
    for t in range(5, 10):
        _blob(masks, t, 150, 20, 14, 55)  # five frames only
    options = tracking.TrackOptions(min_area=0.0005, min_frames=15, min_height=30)
    kept, dropped = tracking.select(tracking.track(masks, options), masks.shape[1:], options)
    assert len(kept) == 1 and len(kept[0].bodies) == 40 and kept[0].bodies[0].box[0] == 20
    reasons = sorted(d.reason.split(":")[0] for d in dropped)
    assert reasons == ["cut by the frame border", "does not move", "too short", "too small"]


def test_a_gap_is_bridged_and_a_long_one_is_not():
    masks = np.zeros((60, 100, 300), bool)
    for t in list(range(0, 20)) + list(range(28, 60)):  # unseen for 8 frames
        _blob(masks, t, 10 + 4 * t, 20, 14, 60)
    tracks = tracking.track(masks, tracking.TrackOptions(max_gap=12))
    assert len(tracks) == 1 and len(tracks[0].bodies) == 52
    assert len(tracking.track(masks, tracking.TrackOptions(max_gap=5))) == 2


def test_a_plugged_in_segmenter_on_a_folder_of_frames(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(20):
        image = np.full((120, 160, 3), 40, np.uint8)
        image[20:100, 30 + 3 * t : 50 + 3 * t] = 220
        cv2.imwrite(str(frames / f"{t:04d}.jpg"), image)
    plug = tmp_path / "plug.py"
    plug.write_text("def bright(frames):\n    return frames[..., 0] > 127\n\n"
                    "def wrong(frames):\n    return frames[:, :10]\n")
    extraction = extract.extract_walkers(clips.read_clip(frames), f"{plug}:bright", OPTIONS)
    assert len(extraction.walkers) == 1 and len(extraction.walkers[0].frames) == 20
    assert extraction.segmenter == f"{plug}:bright"
    with pytest.raises(ValueError, match="masks of shape"):
        extract.extract_walkers(clips.read_clip(frames), f"{plug}:wrong", OPTIONS)
    with pytest.raises(ValueError, match="has no function 'nothing'"):
        segmenters.load_segmenter(f"{plug}:nothing")
    with pytest.raises(ValueError, match="module:function"):
        segmenters.load_segmenter("no_such_name")


def test_a_corrupt_empty_or_missing_video_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    no_frames = tmp_path / "no_frames"
    no_frames.mkdir()
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.zeros((36, 48, 3), np.uint8))
    one_frame = clips.write_video(tmp_path / "one_frame.avi", np.zeros((1, 32, 48, 3), np.uint8), codec="MJPG")
    one_image = tmp_path / "one_image"
    one_image.mkdir()
    cv2.imwrite(str(one_image / "0001.png"), np.zeros((36, 48, 3), np.uint8))
    for path, problem in ((empty, "empty file"), (corrupt, "cannot open it as a video|no frame could be decoded"),
                          (tmp_path / "missing.mp4", "no such video"), (no_frames, "none found"),
                          (still, "a still image, not a video"), (one_frame, "a single frame was read"),
                          (one_image, "a single frame was read")):
        with pytest.raises(clips.VideoError, match=problem):
            clips.read_clip(path)
        assert silhouettes_tool.main([f"--video={path}", f"--out={tmp_path / 'out'}"]) == 1
        assert f"error: {path}:" in capsys.readouterr().err
    # Too big for memory: refused before reading, saying how to keep less.
    tiny = clips.write_video(tmp_path / "tiny.avi", np.zeros((5, 32, 48, 3), np.uint8), codec="MJPG")
    with pytest.raises(clips.VideoError, match="--max_frames"):
        clips.read_clip(tiny, max_bytes=1000)
    assert clips.read_clip(tiny, max_height=16).frames.shape == (5, 16, 24, 3)


def test_frames_whose_body_holds_two_walkers_are_left_out_unless_asked(pairs):
    scene, clip = pairs["abreast"]
    extraction = extract.extract_walkers(clip, "background", OPTIONS)
    actors = [actor_of(w, scene.masks) for w in extraction.walkers]
    assert sorted(actors) == [0, 1]
    for walker, actor in zip(extraction.walkers, actors):
        assert holding_two(walker, scene, ABREAST) == 0  # 7 of the 59 written before they were left out
        assert walker.track.left_out["merged"] >= 20 and len(walker.frames) >= 20
        assert mean_iou(walker, scene.masks[actor]) >= MIN_MEAN_IOU
    kept = extract.extract_walkers(clip, "background", dataclasses.replace(OPTIONS, keep_merged=True))
    assert sum(w.track.merged_kept for w in kept.walkers) > 0
    assert sum(holding_two(w, scene, ABREAST) for w in kept.walkers) > 0
    assert all(len(k.frames) > len(w.frames) for k, w in zip(kept.walkers, extraction.walkers))


def test_walkers_together_all_along_are_not_enrolled_as_one(pairs, tmp_path, capsys):
    scene, clip = pairs["together"]
    extraction = extract.extract_walkers(clip, "background", OPTIONS)
    assert not extraction.walkers
    assert [d.reason for d in extraction.dropped] == ["merged with another walker: 64 of 64 frames, 0 left "
                                                      "(fewer than 15)"]
    with pytest.raises(extract.NoWalkerFound, match=r"together\.mp4: no walker found \(merged with another"):
        extraction.require_walkers(clip.source)
    # Kept on request: then the one sequence holds both walkers (59 of 64 frames, as before).
    out = tmp_path / "out"
    assert silhouettes_tool.main([f"--video={clip.source}", f"--out={out}", "--min_height=30", "--keep_merged",
                                  "--segmenter=background"]) == 0
    assert "64 merged kept" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracking"]["keep_merged"] and summary["walkers"][0]["merged_kept"] == 64
    kept = extract.extract_walkers(clip, "background", dataclasses.replace(OPTIONS, keep_merged=True))
    assert len(kept.walkers) == 1 and holding_two(kept.walkers[0], scene, TOGETHER) >= 50


@pytest.mark.parametrize("segmenter", ["background", "mog2"])
def test_static_structures_are_no_walkers_and_not_fused_to_one(poles, segmenter):
    scene, clip = poles
    masks = segmenters.run_segmenter(segmenters.load_segmenter(segmenter)[1], clip.frames)
    structure = scene.prop_masks.any(axis=0) & ~scene.masks.any(axis=0)
    # The pole put up at frame 110 was foreground in 90 % of its pixels and frames before the local
    # backgrounds; now almost never.
    assert np.count_nonzero(masks & structure) < 0.01 * np.count_nonzero(structure)
    extraction = extract.extract_walkers(clip, lambda frames: masks, OPTIONS)
    # Before: the sign's empty place (frames 0-39) and the dark pole (110-199) were walkers too, or
    # the walker's track went on as the pole once it had passed it.
    assert len(extraction.walkers) == 1
    walker = extraction.walkers[0]
    inside = [t for t in range(len(clip.frames)) if scene.masks[0, t].any()
              and not (scene.masks[0, t, :, :3].any() or scene.masks[0, t, :, -3:].any())]
    assert len(walker.frames) >= 0.9 * len(inside)  # 78 frames clear of the border
    assert mean_iou(walker, scene.masks[0]) >= MIN_MEAN_IOU
    for body in walker.track.bodies:
        x0, y0, x1, y1 = body.box
        fused = body.mask & structure[body.frame, y0:y1, x0:x1]
        assert np.count_nonzero(fused) < 0.05 * body.area, body.frame


def test_heads_are_counted_on_the_top_outline():
    def body(*heads, top=12, width=50):
        """A torso from row ``top`` down, with a head (x0, x1, y0) for each of ``heads``."""
        mask = np.zeros((70, width), bool)
        mask[top:, 2 : width - 2] = True
        for x0, x1, y0 in heads:
            mask[y0:top, x0:x1] = True
        return mask

    assert tracking.count_heads(body((20, 28, 0))) == 1
    assert tracking.count_heads(body((8, 16, 0), (30, 38, 3))) == 2  # apart: a dip down to the shoulders
    assert tracking.count_heads(body((5, 12, 0), (20, 27, 2), (36, 43, 1))) == 3
    # Touching heads make one peak; a crown wider than 0.19 of the height with a notch is two.
    touching = body((12, 20, 0), (20, 28, 1))
    touching[:3, 19:21] = False  # a notch 2 px deep (more than 2 % of the height)
    assert tracking.count_heads(touching) == 2
    assert tracking.count_heads(body((12, 28, 0))) == 1  # as wide, but a flat top: a hat, a box
    assert tracking.count_heads(np.ones((60, 14), bool)) == 1
    assert tracking.count_heads(body(top=0)) == 1  # a block
