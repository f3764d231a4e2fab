"""TFDS builders end to end: prepare into a temporary data_dir, read back, compare exactly."""

import pickle

import numpy as np
import pytest

from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.data.sources import data_config, open_source

tfds_builders = pytest.importorskip("selfgait_jax.data.tfds_builders")
tfds = pytest.importorskip("tensorflow_datasets")


def assert_same_sequences(read_back, original, indices):
    """`read_back` holds exactly original's sequences `indices` (metadata and frames)."""
    by_meta = {meta: i for i, meta in enumerate(read_back.metas)}
    assert len(read_back) == len(indices) == len(by_meta)
    for i in indices:
        meta = original.metas[i]
        np.testing.assert_array_equal(read_back.load(by_meta[meta]), original.load(i))
        assert read_back.load(by_meta[meta]).dtype == np.uint8


@pytest.fixture(scope="module")
def synthgait_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SELFGAIT_DATA_DIR", str(tmp_path_factory.mktemp("synthgait_cache")))
        yield


def test_synthgait_b_tiny_round_trip(tmp_path, synthgait_cache):
    builder = tfds.builder("synthgait_b/tiny", data_dir=str(tmp_path))
    builder.download_and_prepare()
    original = open_source(data_config("synthgait_b", "tiny"))
    train_subjects = sorted({m.subject for m in original.metas})[:4]  # round(6 * 74 / 124)
    for split, in_train in (("train", True), ("test", False)):
        read_back = tfds_builders.tfds_source(builder, split)
        assert read_back.name == "synthgait_b"
        expected = [i for i, m in enumerate(original.metas) if (m.subject in train_subjects) == in_train]
        assert_same_sequences(read_back, original, expected)
    assert builder.info.splits["train"].num_examples + builder.info.splits["test"].num_examples == len(original)


def test_ou_mvlp_from_manual_pkl_tree(tmp_path):
    manual = tmp_path / "manual"
    rng = np.random.default_rng(0)
    for subject in ("00001", "00002", "00003", "00004"):
        for sequence_type in ("00", "01"):
            for view in ("000", "090"):
                folder = manual / subject / sequence_type / view
                folder.mkdir(parents=True)
                frames = np.where(rng.random((int(rng.integers(3, 9)), 64, 64)) < 0.4, 255, 0).astype(np.uint8)
                (folder / f"{view}.pkl").write_bytes(pickle.dumps(frames))
    builder = tfds.builder("ou_mvlp", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    cfg = data_config("ou_mvlp")
    cfg.root = str(manual)
    original = open_source(cfg)
    train = tfds_builders.tfds_source(builder, "train")
    test = tfds_builders.tfds_source(builder, "test")
    assert {m.subject for m in train.metas} == {"00001", "00002"}
    assert_same_sequences(train, original, [i for i, m in enumerate(original.metas) if m.subject <= "00002"])
    assert_same_sequences(test, original, [i for i, m in enumerate(original.metas) if m.subject > "00002"])
    # and the reader kept the central 44 columns of what was written
    pkl = pickle.loads((manual / "00003" / "01" / "090" / "090.pkl").read_bytes())
    np.testing.assert_array_equal(test.load(test.metas.index(SequenceMeta("00003", "01", "090"))), pkl[:, :, 10:54])


def test_casia_b_from_manual_png_tree(tmp_path):
    from PIL import Image

    manual = tmp_path / "manual"
    for n, subject in enumerate(("001", "002")):
        folder = manual / subject / "nm-01" / "090"
        folder.mkdir(parents=True)
        for t in range(3):  # a walker-sized blob on a 240x320 frame, as CASIA-B's silhouettes are
            frame = np.zeros((240, 320), np.uint8)
            frame[40 + t:200, 120 + 5 * n:170 + 3 * t] = 255
            Image.fromarray(frame).save(folder / f"{subject}-nm-01-090-{t:03d}.png")
    builder = tfds.builder("casia_b", data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    cfg = data_config("casia_b")
    cfg.root = str(manual)
    original = open_source(cfg)
    assert_same_sequences(tfds_builders.tfds_source(builder, "train"), original, [0])
    assert_same_sequences(tfds_builders.tfds_source(builder, "test"), original, [1])
    assert original.load(0).shape == (3, 64, 44)


def test_manual_builder_without_data_says_where(tmp_path):
    builder = tfds.builder("casia_b", data_dir=str(tmp_path / "data"))
    manual = tmp_path / "manual"
    manual.mkdir()
    config = tfds.download.DownloadConfig(manual_dir=str(manual))
    with pytest.raises(AssertionError, match=r"(?s)empty.*subject/type/view/\*\.png"):
        builder.download_and_prepare(download_config=config)  # TFDS shows our instructions
    (manual / "notes.txt").write_text("not a dataset")
    with pytest.raises(ValueError, match=r"no sequences under .*manual"):
        builder.download_and_prepare(download_config=config)
