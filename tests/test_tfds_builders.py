"""The TFDS path: datasets prepared as TFDS records (tfds_builders.prepare, tools/prepare_tfds.py)
and read back with data.tfds_dir as the same SequenceSource, sequence for sequence."""

import os
import pathlib
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

import repo_files
from selfgait_jax.data import sources, splits
from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.errors import ConfigError

tfds_builders = pytest.importorskip("selfgait_jax.data.tfds_builders")
tfds = pytest.importorskip("tensorflow_datasets")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def from_tfds(cfg, tfds_dir):
    """``cfg``'s dataset as data.tfds_dir=tfds_dir reads it (no data.root needed)."""
    cfg = cfg.copy_and_resolve_references()
    cfg.tfds_dir, cfg.root = str(tfds_dir), ""
    return sources.open_source(cfg)


def assert_same_source(read_back, original):
    """The same sequences in the same order: metadata, lengths and every frame."""
    assert read_back.name == original.name
    assert read_back.metas == original.metas
    np.testing.assert_array_equal(read_back.lengths, [len(original.load(i)) for i in range(len(original))])
    for i in range(len(original)):
        frames = read_back.load(i)
        assert frames.dtype == np.uint8
        np.testing.assert_array_equal(frames, original.load(i))


def split_subjects(path, split):
    """The subjects of a prepared split, read through TFDS's own API."""
    records = tfds.builder_from_directory(str(path)).as_data_source(split)
    return {records[i]["subject"].decode() for i in range(len(records))}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tensorflow_datasets")


@pytest.fixture(scope="module")
def synthgait_b_tiny(tfds_dir):
    """synthgait_b:tiny prepared in tfds_dir; its data config."""
    cfg = sources.data_config("synthgait_b", "tiny")
    tfds_builders.prepare(cfg, tfds_dir)
    return cfg


def test_synthgait_b_tiny_reads_back_as_the_generated_source(tfds_dir, synthgait_b_tiny):
    original = sources.open_source(synthgait_b_tiny)
    read_back = from_tfds(synthgait_b_tiny, tfds_dir)
    assert type(read_back).__name__ == "TfdsSource"
    assert_same_source(read_back, original)

    # TFDS users see the protocol's splits: train holds the training subjects, test the others
    path = tfds_dir / "synthgait_b" / "tiny" / sources.TFDS_VERSION
    protocol = splits.protocol_for("synthgait_b", original.metas)
    assert split_subjects(path, "train") == set(protocol.train_subjects) == {"001", "002", "003", "004"}
    assert split_subjects(path, "test") == set(protocol.test_subjects) == {"005", "006"}
    # and the same builder is there by name for the TFDS API (nothing is written twice)
    builder = tfds.builder("synthgait_b/tiny", data_dir=str(tfds_dir))
    assert builder.is_prepared() and builder.info.splits["train"].num_examples == 4 * 10 * 2


def test_the_pool_prepares_as_one_split(tfds_dir):
    cfg = sources.data_config("synthgait_pool", "tiny")
    path = tfds_builders.prepare(cfg, tfds_dir)
    assert path == tfds_dir / "synthgait_pool" / "tiny" / sources.TFDS_VERSION
    assert list(tfds.builder_from_directory(str(path)).info.splits) == ["train"]
    assert_same_source(from_tfds(cfg, tfds_dir), sources.open_source(cfg))


def test_config_names_follow_the_sequences_a_data_config_describes():
    assert [sources.tfds_config_name(sources.data_config("synthgait_b", s)) for s in ("full", "tiny")] == [
        "full", "tiny"]
    cfg = sources.data_config("synthgait_b", "tiny")
    cfg.cache_dir, cfg.partition, cfg.validation_subjects, cfg.pool_ratio = "/elsewhere", "", 1, 2.0
    assert sources.tfds_config_name(cfg) == "tiny"  # how the sequences are used or cached: same records
    cfg.num_subjects = 3
    custom = sources.tfds_config_name(cfg)
    assert custom.startswith("custom_")
    cfg.seed = 1
    assert sources.tfds_config_name(cfg) not in ("tiny", custom)
    tree = sources.data_config("casia_b")
    assert sources.tfds_config_name(tree) == "full"
    tree.min_length = 10
    assert sources.tfds_config_name(tree).startswith("custom_")


def test_a_custom_config_reads_its_own_records_and_refuses_others(tfds_dir, synthgait_b_tiny):
    cfg = synthgait_b_tiny.copy_and_resolve_references()
    cfg.num_subjects = 3
    path = tfds_builders.prepare(cfg, tfds_dir)
    assert path.parent.name == sources.tfds_config_name(cfg)
    read_back = from_tfds(cfg, tfds_dir)
    assert sorted({m.subject for m in read_back.metas}) == ["001", "002", "003"]
    assert_same_source(read_back, sources.open_source(cfg))

    cfg.num_subjects = 5  # not prepared: one error naming the key, the path and the command
    with pytest.raises(ConfigError) as error:
        from_tfds(cfg, tfds_dir)
    assert error.value.key == "data.tfds_dir"
    assert str(tfds_dir / "synthgait_b" / sources.tfds_config_name(cfg)) in str(error.value)
    assert "tools/prepare_tfds.py --config=" in str(error.value)

    # records copied under another config's name are not read as that config's
    shutil.copytree(tfds_dir / "synthgait_b" / "tiny",
                    tfds_dir / "synthgait_b" / sources.tfds_config_name(cfg))
    with pytest.raises(ConfigError, match=r"data\.tfds_dir: .* was prepared from .*'subjects': \['001', "
                                          r"'002', '003', '004', '005', '006'\]"):
        from_tfds(cfg, tfds_dir)


def test_a_missing_tfds_dir_stops_validation_naming_the_key(tmp_path):
    from selfgait_jax.train import config_checks

    config = repo_files.config("finetune").get_config("tiny")
    config.data.tfds_dir = str(tmp_path / "nothing_here")
    with pytest.raises(ConfigError) as error:
        config_checks.check_config(config, device_count=4)
    assert error.value.key == "data.tfds_dir"
    assert str(tmp_path / "nothing_here" / "synthgait_b" / "tiny" / sources.TFDS_VERSION) in str(error.value)
    assert "python3 tools/prepare_tfds.py --data=synthgait_b:tiny --tfds_dir=" in str(error.value)
    config.data = sources.data_config("casia_b")  # a tree: prepared from the user's copy
    config.data.tfds_dir = str(tmp_path)
    with pytest.raises(ConfigError, match=r"tools/prepare_tfds\.py --data=casia_b --data_root=<your casia_b folder>"):
        config_checks.check_config(config, device_count=4)


def write_pkl_tree(root, subjects, types, views, width=64):
    rng = np.random.default_rng(0)
    for subject in subjects:
        for sequence_type in types:
            for view in views:
                folder = root / subject / sequence_type / view
                folder.mkdir(parents=True)
                frames = np.where(rng.random((int(rng.integers(3, 9)), 64, width)) < 0.4, 255, 0)
                (folder / f"{view}.pkl").write_bytes(pickle.dumps(frames.astype(np.uint8)))


def test_ou_mvlp_from_a_pkl_tree_needs_no_root_once_prepared(tmp_path):
    manual = tmp_path / "manual"
    write_pkl_tree(manual, ("00001", "00002", "00003", "00004"), ("00", "01"), ("000", "090"))
    cfg = sources.data_config("ou_mvlp")
    cfg.root = str(manual)
    path = tfds_builders.prepare(cfg, tmp_path / "tfds")
    assert split_subjects(path, "train") == {"00001", "00002"}  # OU-MVLP's halves
    assert split_subjects(path, "test") == {"00003", "00004"}
    original = sources.open_source(cfg)
    read_back = from_tfds(cfg, tmp_path / "tfds")
    assert_same_source(read_back, original)
    # and the reader kept the central 44 columns of what was written
    pkl = pickle.loads((manual / "00003" / "01" / "090" / "090.pkl").read_bytes())
    np.testing.assert_array_equal(read_back.load(read_back.metas.index(SequenceMeta("00003", "01", "090"))),
                                  pkl[:, :, 10:54])


def test_casia_b_from_a_png_tree(tmp_path):
    from PIL import Image

    manual = tmp_path / "manual"
    for n, subject in enumerate(("001", "002")):
        folder = manual / subject / "nm-01" / "090"
        folder.mkdir(parents=True)
        for t in range(3):  # a walker-sized blob on a 240x320 frame, as CASIA-B's silhouettes are
            frame = np.zeros((240, 320), np.uint8)
            frame[40 + t:200, 120 + 5 * n:170 + 3 * t] = 255
            Image.fromarray(frame).save(folder / f"{subject}-nm-01-090-{t:03d}.png")
    (manual / "002" / "nm-01" / "090" / "002-nm-01-090-003.png").write_bytes(b"not a png")
    cfg = sources.data_config("casia_b")
    cfg.root = str(manual)
    path = tfds_builders.prepare(cfg, tmp_path / "tfds")
    assert (split_subjects(path, "train"), split_subjects(path, "test")) == ({"001"}, {"002"})
    original = sources.open_source(cfg)
    assert original.load(1).shape == (3, 64, 44)  # the broken frame was skipped, as when training
    assert_same_source(from_tfds(cfg, tmp_path / "tfds"), original)


def test_a_tree_builder_without_data_says_where(tmp_path):
    builder = tfds.builder("casia_b", data_dir=str(tmp_path / "data"))
    manual = tmp_path / "manual"
    manual.mkdir()
    config = tfds.download.DownloadConfig(manual_dir=str(manual))
    with pytest.raises(AssertionError, match=r"(?s)empty.*subject/type/view/\*\.png"):
        builder.download_and_prepare(download_config=config)  # TFDS shows our instructions
    (manual / "notes.txt").write_text("not a dataset")
    cfg = sources.data_config("casia_b")
    cfg.root = str(manual)
    with pytest.raises(ValueError, match=r"no sequences under .*manual"):
        tfds_builders.prepare(cfg, tmp_path / "data")


def test_reading_prepared_records_loads_no_tensorflow(tfds_dir, synthgait_b_tiny):
    code = ("import sys\n"
            "from selfgait_jax.data import sources\n"
            "cfg = sources.data_config('synthgait_b', 'tiny')\n"
            f"cfg.tfds_dir = {str(tfds_dir)!r}\n"
            "source = sources.open_source(cfg)\n"
            "assert source.load(len(source) - 1).shape[1:] == (64, 44)\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr


def test_the_tool_prepares_every_stage_of_a_config(tmp_path, capsys):
    tool = repo_files.tool("prepare_tfds")
    assert tool.main(["--config=configs/quickstart.py:tiny", "--config.finetune.data.num_subjects=5",
                      f"--tfds_dir={tmp_path}"]) == 0
    config = repo_files.config("quickstart").get_config("tiny")
    config.finetune.data.num_subjects = 5
    out = capsys.readouterr().out
    for stage in ("pretrain", "finetune"):
        data = config[stage].data
        folder = tmp_path / data.name / sources.tfds_config_name(data) / sources.TFDS_VERSION
        assert f"--config.{stage}.data: {data.name}/{sources.tfds_config_name(data)} at {folder}" in out
        assert f"--config.{stage}.data.tfds_dir={tmp_path}" in out
        data.tfds_dir = str(tmp_path)
        assert len(sources.open_source(data)) == len(sources.synthgait_spec(data).metas())

    assert tool.main(["--config=configs/quickstart.py:tiny", "--config.finetune.data.num_subject=5",
                      f"--tfds_dir={tmp_path}"]) == 1
    assert capsys.readouterr().err.startswith(
        "error: --config.finetune.data.num_subject: config.finetune.data has no key 'num_subject'; "
        "did you mean num_subjects")
    with pytest.raises(SystemExit):
        tool.main(["--data=casia_b", f"--tfds_dir={tmp_path}"])
    assert "--data_root must name its folder" in capsys.readouterr().err
