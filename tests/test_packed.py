"""The frame cache of a tree and its compact file (data/packed.py, tools/pack_dataset.py), on
synthetic pkl trees with anti-aliased grey edges: what they give is what reading the tree gives."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import selfgait_jax.data.readers as readers
from selfgait_jax.data import packed
from selfgait_jax.data.readers import TreeSource
from selfgait_jax.data.sources import ArraySource, data_config, open_source
from selfgait_jax.errors import ConfigError


def grey_walk(rng, length):
    """[T, 64, 64] uint8 silhouettes with anti-aliased edges: 0, 255 and greys between (as OpenGait's)."""
    frames = np.zeros((length, 64, 64), np.uint8)
    for t in range(length):
        left = 20 + rng.integers(0, 6)
        frames[t, 8:60, left:left + 18] = 255
        frames[t, 8:60, left - 1] = rng.integers(1, 255)  # a grey column each side
        frames[t, 8:60, left + 18] = rng.integers(1, 255)
        frames[t, 7, left:left + 18] = rng.integers(100, 160, size=18)  # greys around 127
    return frames


def write_pkl(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(array))


@pytest.fixture
def tree(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "casia"
    for subject in ("001", "002", "003"):
        for sequence_type in ("nm-01", "bg-01"):
            for view in ("000", "090"):
                if (subject, sequence_type, view) == ("003", "bg-01", "090"):
                    continue  # a missing view
                write_pkl(root / subject / sequence_type / view / f"{view}.pkl",
                          grey_walk(rng, int(rng.integers(2, 9))))
    (root / "002" / "bg-01" / "090" / "090.pkl").write_bytes(b"\x80\x04garbage")  # unreadable
    return root


def read_tree(root):
    """The tree read file by file, without a cache, held in memory."""
    plain = TreeSource(root, "pkl", name="casia_b_pkl")
    return ArraySource(plain.name, plain.metas, [plain.load(i) for i in range(len(plain))])


def tree_config(root, cache, name="casia_b_pkl"):
    cfg = data_config(name)
    cfg.root, cfg.cache_dir = str(root), str(cache)
    return cfg


def assert_same_source(a, b):
    assert a.metas == b.metas
    np.testing.assert_array_equal(a.lengths, b.lengths)
    for i in range(len(a)):
        x, y = a.load(i), b.load(i)
        assert x.dtype == y.dtype == np.uint8 and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), a.metas[i]


def test_pack_and_unpack_are_exact_for_binary_frames():
    frames = (np.random.default_rng(1).random((5, 64, 44)) > 0.5).astype(np.uint8) * 255
    bits = packed.pack_frames(frames)
    assert bits.shape == (5, 352) and packed.unpack_frames(bits).tobytes() == frames.tobytes()
    with pytest.raises(ValueError, match="0/255"):
        packed.pack_frames(frames // 2)
    column = np.zeros((1, 64, 44), np.uint8)
    column[0, :, 3] = 255  # column by column: the fourth column is bytes 24..31, all ones
    assert np.flatnonzero(packed.pack_frames(column)[0]).tolist() == list(range(24, 32))


def test_the_cache_gives_what_the_tree_gives_and_is_read_instead_of_it(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    plain = read_tree(tree)
    first = open_source(tree_config(tree, cache))
    assert first.bits is not None and len(first) == 10  # 11 files, one unreadable
    assert_same_source(first, plain)
    monkeypatch.setattr(readers, "read_pkl_sequence", lambda path: pytest.fail(f"read {path} again"))
    again = open_source(tree_config(tree, cache))
    assert_same_source(again, plain)
    assert [str(i) for i in again.summary.issues] == [str(i) for i in first.summary.issues]
    assert again.summary.kinds() == {"missing view": 1, "unreadable file": 1}
    assert sorted(p.suffix for p in (cache / "tree_index").iterdir()) == [".json", ".npy"]  # no temp left


@pytest.mark.parametrize("damage", ["truncate_frames", "drop_frames", "drop_index", "garble_index", "other_frames"])
def test_a_cache_that_is_not_whole_is_read_again_not_used(tree, tmp_path, monkeypatch, damage):
    cache = tmp_path / "cache"
    open_source(tree_config(tree, cache))
    expected = read_tree(tree)  # (the damage below rewrites files in place: a source mapping them would see it)
    index, frames = [next((cache / "tree_index").glob(f"*{suffix}")) for suffix in (".json", ".npy")]
    if damage == "truncate_frames":
        frames.write_bytes(frames.read_bytes()[:-352 * 3])
    elif damage == "drop_frames":
        frames.unlink()
    elif damage == "drop_index":
        index.unlink()
    elif damage == "garble_index":
        index.write_text(index.read_text()[:50])
    else:  # a whole .npy of another length (say, another tree's)
        np.save(frames, np.zeros((3, 352), np.uint8))
    reads = []
    original = readers.read_pkl_sequence
    monkeypatch.setattr(readers, "read_pkl_sequence", lambda path: reads.append(path) or original(path))
    rebuilt = open_source(tree_config(tree, cache))
    assert len(reads) == 11  # the whole tree, read again
    assert_same_source(rebuilt, expected)
    reads.clear()
    assert_same_source(open_source(tree_config(tree, cache)), expected)  # and the rebuilt cache is used
    assert not reads


def test_an_interrupted_first_read_leaves_no_cache(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = []

    def interrupted(path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(path)

    original = readers.read_pkl_sequence
    monkeypatch.setattr(readers, "read_pkl_sequence", interrupted)
    with pytest.raises(KeyboardInterrupt):
        open_source(tree_config(tree, cache))
    assert list((cache / "tree_index").iterdir()) == []  # neither half a .npy nor an index
    monkeypatch.undo()
    assert_same_source(open_source(tree_config(tree, cache)), read_tree(tree))


def test_the_compact_file_round_trip(tree, tmp_path, capsys):
    from tools import pack_dataset

    out = tmp_path / "casia.npz"
    assert pack_dataset.main(["--data=casia_b_pkl", f"--data_root={tree}", f"--out={out}",
                              f"--cache_dir={tmp_path / 'cache'}"]) == 0
    assert "10 sequences" in capsys.readouterr().out
    compact = open_source(tree_config(out, tmp_path / "unused"))
    assert isinstance(compact, packed.PackedSource) and compact.name == "casia_b_pkl"
    assert not (tmp_path / "unused").exists()
    assert_same_source(compact, read_tree(tree))
    issues = {i.path: i.problem.split(":")[0] for i in compact.summary.issues}
    assert issues == {"002/bg-01/090/090.pkl": "unreadable file", "003/bg-01/090": "missing view"}
    # Without a frame cache to copy (cache_dir off), the tree is packed sequence by sequence: same file.
    plain = tmp_path / "plain.npz"
    packed.write_compact(plain, TreeSource(tree, "pkl", name="casia_b_pkl"), root=tree)
    assert_same_source(open_source(tree_config(plain, "")), compact)
    # data.min_length above what was packed: the shorter sequences are skipped and named.
    cfg = tree_config(out, "")
    cfg.min_length = 5
    longer = open_source(cfg)
    keep = [i for i, n in enumerate(compact.lengths) if n >= 5]
    assert longer.metas == [compact.metas[i] for i in keep]
    for j, i in enumerate(keep):
        assert longer.load(j).tobytes() == compact.load(i).tobytes()
    assert any("too short" in i.problem and "casia.npz:" in i.path for i in longer.summary.issues)


@pytest.mark.parametrize("damage", ["text", "truncated", "other_npz"])
def test_a_wrong_or_truncated_compact_file_is_one_error_naming_it(tree, tmp_path, damage):
    out = tmp_path / "casia.npz"
    packed.write_compact(out, open_source(tree_config(tree, tmp_path / "cache")), root=tree)
    if damage == "text":
        out.write_text("not a dataset")
    elif damage == "truncated":
        out.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    else:
        np.savez(out, frames=np.zeros(3))
    with pytest.raises(ConfigError, match=f"config.data.root: {out} .*tools/pack_dataset.py") as error:
        open_source(tree_config(out, ""))
    assert error.value.key == "data.root"


def test_the_compact_file_opens_without_tensorflow_or_pil(tree, tmp_path):
    out = tmp_path / "casia.npz"
    packed.write_compact(out, open_source(tree_config(tree, tmp_path / "cache")), root=tree)
    code = (f"import sys\nfrom selfgait_jax.data.sources import data_config, open_source\n"
            f"cfg = data_config('casia_b_pkl'); cfg.root = {str(out)!r}\n"
            f"source = open_source(cfg); assert len(source) == 10 and source.load(3).shape[1:] == (64, 44)\n"
            f"loaded = {{'tensorflow', 'tensorflow_datasets', 'PIL'}} & set(sys.modules)\n"
            f"assert not loaded, sorted(loaded)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_dataset_benchmark_checks_its_three_reads_against_the_tree(tree, tmp_path, monkeypatch, capsys):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "bench" / "benchmark_dataset.py"
    spec = importlib.util.spec_from_file_location("benchmark_dataset", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "BENCHMARKS_MD", tmp_path / "benchmarks.md")
    tool.main([f"--data_root={tree}", "--repeats=1", f"--out={tmp_path / 'out.json'}", "--append-docs"])
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["frames_identical"] and record["checked_against_the_tree"] and record["sequences"] == 10
    assert not record["compact_open"]["tensorflow_imported"] and not record["compact_open"]["pil_imported"]
    assert "Extrapolated (not measured) to OU-MVLP" in (tmp_path / "benchmarks.md").read_text()
