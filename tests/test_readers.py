"""Readers on PNG and pkl trees written by the test, with a corrupt file and an empty folder."""

import pickle

import numpy as np
import pytest
from PIL import Image

from selfgait_jax.data.pretreatment import pretreat_frames
from selfgait_jax.data.readers import SequenceError, TreeSource, load_array_pickle, read_pkl_sequence
from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.data.sources import data_config, open_source


def raw_frame(shift):
    """A 120 x 90 raw silhouette: a body and two legs, moved sideways by ``shift``."""
    frame = np.zeros((120, 90), np.uint8)
    frame[10:70, 30 + shift : 50 + shift] = 255
    frame[70:110, 28 + shift : 36 + shift] = 255
    frame[70:110, 44 + shift : 52 + shift] = 255
    return frame


@pytest.fixture(scope="module")
def png_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("casia")
    for subject in ("001", "002"):
        for view in ("000", "090"):
            folder = root / subject / "nm-01" / view
            folder.mkdir(parents=True)
            if subject == "002" and view == "090":
                continue  # an empty folder
            for t in range(5):
                Image.fromarray(raw_frame(t)).save(folder / f"{subject}-nm-01-{view}-{t:03d}.png")
    (root / "001" / "nm-01" / "000" / "001-nm-01-000-999.png").write_bytes(b"not a png")
    (root / "001" / "bg-01" / "000").mkdir(parents=True)  # bg-01 has no 090 folder: a missing view
    for t in range(4):
        Image.fromarray(raw_frame(t)).save(root / "001" / "bg-01" / "000" / f"{t:03d}.png")
    return root


def test_png_tree(png_tree):
    source = TreeSource(png_tree, "png")
    assert source.metas == [
        SequenceMeta("001", "bg-01", "000"),
        SequenceMeta("001", "nm-01", "000"),
        SequenceMeta("001", "nm-01", "090"),
        SequenceMeta("002", "nm-01", "000"),
    ]
    frames = source.load(2)
    expected, _ = pretreat_frames(np.stack([raw_frame(t) for t in range(5)]))
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(source.lengths, [4, 5, 5, 5])  # the corrupt frame is skipped
    kinds = source.summary.kinds()
    assert kinds == {"unreadable file": 1, "empty folder": 1, "missing view": 1}
    paths = {issue.problem.split(":")[0]: issue.path for issue in source.summary.issues}
    assert paths["unreadable file"].endswith("001-nm-01-000-999.png")
    assert paths["empty folder"] == str(png_tree / "002" / "nm-01" / "090")
    assert paths["missing view"] == str(png_tree / "001" / "bg-01" / "090")
    assert "001-nm-01-000-999.png" in str(source.summary)


def test_too_short_sequences_are_skipped_and_reported(png_tree):
    source = TreeSource(png_tree, "png", min_length=5)
    assert SequenceMeta("001", "bg-01", "000") not in source.metas
    assert any("too short" in i.problem and i.path.endswith("bg-01/000") for i in source.summary.issues)


def write_pkl(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(array, f)


def test_pkl_tree(tmp_path):
    rng = np.random.default_rng(0)
    wide = (rng.random((7, 64, 64)) > 0.5).astype(np.uint8) * 255
    narrow = (rng.random((6, 64, 44)) > 0.5).astype(np.uint8) * 255
    write_pkl(tmp_path / "00001" / "00" / "000" / "000.pkl", wide)
    write_pkl(tmp_path / "00001" / "01" / "000" / "000.pkl", narrow)
    write_pkl(tmp_path / "00002" / "00" / "000" / "000.pkl", np.zeros((5, 32, 32), np.uint8))
    (tmp_path / "00002" / "01" / "000").mkdir(parents=True)
    (tmp_path / "00002" / "01" / "000" / "000.pkl").write_bytes(b"\x80\x04garbage")
    (tmp_path / "00003" / "00" / "000").mkdir(parents=True)  # empty
    cfg = data_config("ou_mvlp")
    cfg.root = str(tmp_path)
    cfg.cache_dir = str(tmp_path.parent / f"{tmp_path.name}-cache")
    source = open_source(cfg)
    assert source.name == "ou_mvlp"
    assert source.metas == [SequenceMeta("00001", "00", "000"), SequenceMeta("00001", "01", "000")]
    np.testing.assert_array_equal(source.load(0), wide[:, :, 10:54])
    np.testing.assert_array_equal(source.load(1), narrow)
    issues = {i.path: i.problem for i in source.summary.issues}
    assert issues[str(tmp_path / "00002" / "00" / "000" / "000.pkl")].startswith("wrong shape")
    assert issues[str(tmp_path / "00002" / "01" / "000" / "000.pkl")].startswith("unreadable file")
    assert issues[str(tmp_path / "00003" / "00" / "000")].startswith("empty folder")
    # Not read at open, a bad sequence is an error naming its file when it is loaded.
    lazy = TreeSource(tmp_path, "pkl", read_at_open=False)
    bad = lazy.metas.index(SequenceMeta("00002", "00", "000"))
    with pytest.raises(ValueError, match=r"00002/00/000/000\.pkl: wrong shape"):
        lazy.load(bad)


def test_the_read_at_open_is_cached_per_tree_listing(tmp_path, monkeypatch):
    import selfgait_jax.data.readers as readers

    tree, cache = tmp_path / "tree", tmp_path / "cache"
    write_pkl(tree / "001" / "nm-01" / "000" / "a.pkl", np.zeros((3, 64, 64), np.uint8))
    write_pkl(tree / "002" / "nm-01" / "000" / "a.pkl", np.zeros((5, 64, 64), np.uint8))
    first = TreeSource(tree, "pkl", min_length=4, cache_dir=cache)
    assert [m.subject for m in first.metas] == ["002"] and len(first.summary.kinds()) == 1
    monkeypatch.setattr(readers, "read_pkl_sequence", lambda path: pytest.fail("read again"))
    again = TreeSource(tree, "pkl", min_length=4, cache_dir=cache)
    assert again.metas == first.metas and list(again.lengths) == [5]
    assert [str(i) for i in again.summary.issues] == [str(i) for i in first.summary.issues]
    monkeypatch.undo()
    write_pkl(tree / "001" / "nm-01" / "000" / "a.pkl", np.zeros((6, 64, 64), np.uint8))  # changed file
    changed = TreeSource(tree, "pkl", min_length=4, cache_dir=cache)
    assert [m.subject for m in changed.metas] == ["001", "002"] and list(changed.lengths) == [6, 5]


def test_whole_tree_wrong_shape_and_missing_root_are_errors(tmp_path):
    write_pkl(tmp_path / "a" / "001" / "nm-01" / "000" / "x.pkl", np.zeros((5, 48, 48), np.uint8))
    write_pkl(tmp_path / "a" / "002" / "nm-01" / "000" / "x.pkl", np.zeros((5, 48, 48), np.uint8))
    with pytest.raises(ValueError, match=r"no usable sequence under .*a'[\s\S]*wrong shape"):
        TreeSource(tmp_path / "a", "pkl")
    cfg = data_config("casia_b")
    cfg.root = str(tmp_path / "missing")
    with pytest.raises(ValueError, match="data.root .*missing"):
        open_source(cfg)
    cfg.root = ""
    with pytest.raises(ValueError, match="data.root"):
        open_source(cfg)
    cfg.name = "kinetics"
    with pytest.raises(ValueError, match="data.name 'kinetics'"):
        open_source(cfg)


def test_binarizes_opengait_grey_edges(tmp_path):
    grey = np.zeros((2, 64, 64), np.uint8)
    grey[:, :, 20:30] = 200
    grey[:, :, 30] = 90
    write_pkl(tmp_path / "x.pkl", grey)
    frames = read_pkl_sequence(tmp_path / "x.pkl")
    assert set(np.unique(frames)) == {0, 255} and frames[0, 0, 10:20].all() and not frames[0, 0, 20]


def test_pretreat_tool_round_trip(png_tree, tmp_path, capsys):
    import tools.pretreat as pretreat

    assert pretreat.main(["--input", str(png_tree), "--output", str(tmp_path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 sequences written" in out and "001-nm-01-000-999.png" in out and "empty folder" in out
    png, pkl = TreeSource(png_tree, "png"), TreeSource(tmp_path, "pkl")
    assert png.metas == pkl.metas
    for i in range(len(png)):
        np.testing.assert_array_equal(png.load(i), pkl.load(i))


class _RunsCode:
    """Unpickling this with plain ``pickle.load`` runs ``exec``: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("wrap", [lambda evil: evil, lambda evil: [np.zeros((2, 64, 64), np.uint8), evil]])
def test_pkl_that_would_run_code_is_refused(tmp_path, wrap):
    marker = tmp_path / "pwned"
    path = tmp_path / "001" / "nm-01" / "000" / "000.pkl"
    write_pkl(path, wrap(_RunsCode(marker)))
    with pytest.raises(SequenceError, match=r"000\.pkl: unsafe pickle refused: .*builtins\.exec"):
        read_pkl_sequence(path)
    assert not marker.exists()
    with open(path, "rb") as file:  # the same file really runs code without the restricted reader
        pickle.load(file)
    assert marker.exists()


def test_unsafe_pkl_in_a_tree_is_skipped_with_its_path(tmp_path):
    write_pkl(tmp_path / "001" / "nm-01" / "000" / "000.pkl", np.zeros((5, 64, 64), np.uint8))
    bad = tmp_path / "002" / "nm-01" / "000" / "000.pkl"
    write_pkl(bad, _RunsCode(tmp_path / "pwned"))
    source = TreeSource(tmp_path, "pkl", cache_dir=tmp_path / "cache")
    assert [m.subject for m in source.metas] == ["001"]
    assert any(i.path == str(bad) and i.problem.startswith("unsafe pickle") for i in source.summary.issues)
    assert not (tmp_path / "pwned").exists()


def test_object_arrays_and_other_values_are_refused(tmp_path):
    write_pkl(tmp_path / "obj.pkl", np.array([1, "a"], dtype=object))
    with pytest.raises(SequenceError, match=r"obj\.pkl: unsafe pickle refused: holds an array of dtype object"):
        load_array_pickle(tmp_path / "obj.pkl")
    write_pkl(tmp_path / "dict.pkl", {"frames": 1})
    with pytest.raises(SequenceError, match=r"dict\.pkl: unsafe pickle refused: holds a dict"):
        load_array_pickle(tmp_path / "dict.pkl")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_opengait_style_pkls_still_load(tmp_path, protocol):
    # OpenGait's datasets/pretreatment.py: `pickle.dump(np.asarray(list_of_64x64_uint8), f)`
    frames = np.zeros((7, 64, 64), np.uint8)
    frames[:, 8:56, 20:44] = 255
    path = tmp_path / "seq.pkl"
    path.write_bytes(pickle.dumps(frames, protocol=protocol))
    np.testing.assert_array_equal(read_pkl_sequence(path), frames[:, :, 10:54])
    path.write_bytes(pickle.dumps([frames[0], frames[1]], protocol=protocol))  # a list of frames
    assert read_pkl_sequence(path).shape == (2, 64, 44)
    if protocol <= 2:  # a pkl written by numpy 1.x names numpy.core, not numpy._core
        data = pickle.dumps(frames, protocol=protocol).replace(b"numpy._core.", b"numpy.core.")
        assert b"numpy.core.multiarray" in data
        path.write_bytes(data)
        np.testing.assert_array_equal(read_pkl_sequence(path), frames[:, :, 10:54])
