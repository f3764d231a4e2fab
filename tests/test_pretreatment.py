"""Pretreatment on hand-drawn silhouettes whose output can be worked out by hand."""

import numpy as np
import pytest

from selfgait_jax.data.pretreatment import crop_canvas, pretreat_frames


def test_rectangle_scaled_by_two_is_centred():
    # 128 x 44 rectangle: scale 2 → 64 x 22, centred in the 44 columns → columns 11..32.
    frame = np.zeros((200, 200), np.uint8)
    frame[10:138, 50:94] = 255
    out, kept = pretreat_frames(frame[None])
    expected = np.zeros((64, 44), np.uint8)
    expected[:, 11:33] = 255
    assert out.dtype == np.uint8 and out.shape == (1, 64, 44)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(kept, [0])


def test_figure_is_centred_on_column_centroid_not_box_centre():
    # Height 64 (scale 1): a 16-wide "torso" over 48 rows (cols 40..55) and 48-wide "legs" over 16 rows
    # (cols 40..87). Column centroid = (48*16*48 + 16*48*64) / (2*768) = 56.0; the box centre is 64.
    # Canvas column c samples source column c + 24, output column o = canvas o + 10 = source o + 34.
    frame = np.zeros((100, 120), np.uint8)
    frame[20:68, 40:56] = 255
    frame[68:84, 40:88] = 255
    out, _ = pretreat_frames(frame[None])
    expected = np.zeros((64, 44), np.uint8)
    expected[:48, 6:22] = 255
    expected[48:, 6:44] = 255
    np.testing.assert_array_equal(out[0], expected)


def test_near_empty_frames_are_dropped_and_inputs_agree():
    frames = np.zeros((3, 90, 60), np.uint8)
    frames[0, 10:80, 20:40] = 255
    frames[1, 5:7, 5:10] = 255  # 10 pixels: dropped
    frames[2, 0:90, 10:30] = 200
    out, kept = pretreat_frames(frames)
    np.testing.assert_array_equal(kept, [0, 2])
    assert set(np.unique(out)) <= {0, 255}
    out_bool, _ = pretreat_frames(frames > 127)
    out_float, _ = pretreat_frames(frames / 255.0)
    np.testing.assert_array_equal(out, out_bool)
    np.testing.assert_array_equal(out, out_float)
    wide, _ = pretreat_frames(frames, width=64)
    assert wide.shape == (2, 64, 64)
    np.testing.assert_array_equal(crop_canvas(wide), out)
    np.testing.assert_array_equal(wide[..., 10:54], out)


def test_all_empty_and_bad_shapes():
    out, kept = pretreat_frames(np.zeros((2, 30, 30), np.uint8))
    assert out.shape == (0, 64, 44) and kept.size == 0
    with pytest.raises(ValueError, match="frames"):
        pretreat_frames(np.zeros((30, 30), np.uint8))
