"""evaluation/structure.py and tools/embedding_structure.py: variance shares and nearest neighbours
checked against numbers worked out by hand."""

import itertools
import json

import numpy as np
import pytest

import repo_files
from selfgait_jax.evaluation import structure

embedding_structure = repo_files.tool("embedding_structure")


def _points(values):
    """Embeddings [N, 1 part, 1 dim] at the given positions on a line."""
    return np.asarray(values, np.float32).reshape(-1, 1, 1)


def test_variance_shares_by_hand():
    points = _points([0.0, 2.0, 4.0, 6.0])  # mean 3, total sum of squares 9 + 1 + 1 + 9 = 20
    shares = structure.variance_shares(points, {"pairs": ["a", "a", "b", "b"], "odd even": [0, 1, 0, 1],
                                                "each": [0, 1, 2, 3], "one": [7, 7, 7, 7]})
    assert shares["pairs"] == pytest.approx(16 / 20)  # group means 1 and 5: 4 · (±2)²
    assert shares["odd even"] == pytest.approx(4 / 20)  # group means 2 and 4: 4 · (±1)²
    assert shares["each"] == pytest.approx(1.0)
    assert shares["one"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="grouping 'pairs' has"):
        structure.variance_shares(points, {"pairs": ["a", "b"]})
    with pytest.raises(ValueError, match="no spread"):
        structure.variance_shares(_points([1.0, 1.0]), {"one": [0, 0]})


def test_nearest_neighbours_by_hand():
    # walker A at 0 and 1, walker B at 10 and 11.5 (views 0 and 1 each). Across views, each one's
    # nearest is the same walker at the other view. Across walkers: A0 -> B0 (same view), A1 -> B0,
    # B0 -> A1, B1 -> A1 (same view): 2 of 4.
    points = _points([0.0, 1.0, 10.0, 11.5])
    walkers, views = np.array(["A", "A", "B", "B"]), np.array(["0", "1", "0", "1"])
    shares = structure.nearest_neighbour_shares(points, walkers, views)
    assert shares["same walker, other view"] == 1.0
    assert shares["same view, other walker"] == 0.5
    assert shares["same walker, other view (chance)"] == pytest.approx(0.5)  # 1 of the 2 at the other view
    assert shares["same view, other walker (chance)"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two views"):
        structure.nearest_neighbour_shares(points, walkers, np.zeros(4))


def test_chance_matches_counting_pairs_one_by_one():
    rng = np.random.default_rng(0)
    walkers, views = rng.integers(0, 4, 40), rng.integers(0, 3, 40)
    for own, other in ((walkers, views), (views, walkers)):
        expected = np.mean([np.mean([own[j] == own[i] for j in range(40) if other[j] != other[i]])
                            for i in range(40)])
        assert structure._chance(own, other) == pytest.approx(expected)  # pylint: disable=protected-access


def test_blocks_give_the_same_neighbours_as_one_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(37, 3, 4)).astype(np.float32)
    walkers, views = rng.integers(0, 5, 37), rng.integers(0, 4, 37)
    whole = structure.nearest_neighbour_shares(embeddings, walkers, views)
    monkeypatch.setattr(structure, "BLOCK", 5)
    assert structure.nearest_neighbour_shares(embeddings, walkers, views) == whole


def test_a_view_code_and_a_walker_code_are_told_apart(tmp_path):
    """Embeddings that spell the view (plus noise) group by view; ones that spell the walker by walker."""
    rng = np.random.default_rng(2)
    cells = list(itertools.product(range(6), range(5), range(3)))  # walker, view, repeat
    walkers = np.array([f"{w:03d}" for w, _, _ in cells])
    views = np.array([f"{18 * v:03d}" for _, v, _ in cells])
    noise = rng.normal(scale=0.1, size=(len(cells), 2, 6))
    for code, by in (("view", views), ("walker", walkers)):
        _, index = np.unique(by, return_inverse=True)
        embeddings = (np.eye(6)[index][:, None, :] + noise).astype(np.float32)
        path = tmp_path / f"{code}.npz"
        np.savez(path, embeddings=embeddings, subjects=walkers, views=views, types=np.full(len(cells), "nm-01"))
        measured = structure.describe(path)
        assert measured[f"variance: {code}"] > 0.9
        assert measured[f"variance: {'walker' if code == 'view' else 'view'}"] < 0.1
        assert measured["variance: walker and view"] >= measured[f"variance: {code}"]
        if code == "walker":
            assert measured["same walker, other view"] == 1.0
        else:
            assert measured["same view, other walker"] == 1.0
            assert measured["same walker, other view"] < 0.5


def test_a_condition_code_shows_in_the_finest_cell_only(tmp_path):
    """Embeddings that spell the clothes (nm/cl) carry nothing by walker, view or their cell, and all
    of their spread by (walker, view, condition); OU-MVLP-like types name no condition."""
    assert list(structure.conditions_of(np.array(["nm-01", "bg-02", "cl-01"]))) == ["nm", "bg", "cl"]
    assert structure.conditions_of(np.array(["00", "01"])) is None
    cells = list(itertools.product(range(3), range(2), ("nm-01", "nm-02", "cl-01", "cl-02")))
    walkers = np.array([f"{w:03d}" for w, _, _ in cells])
    views = np.array([f"{90 * v:03d}" for _, v, _ in cells])
    types = np.array([t for _, _, t in cells])
    embeddings = np.array([[[1.0 if t.startswith("cl") else -1.0]] for t in types], np.float32)
    path = tmp_path / "clothes.npz"
    np.savez(path, embeddings=embeddings, subjects=walkers, views=views, types=types)
    measured = structure.describe(path)
    assert measured["variance: walker"] == pytest.approx(0.0, abs=1e-12)
    assert measured["variance: walker and view"] == pytest.approx(0.0, abs=1e-12)
    assert measured["variance: walker, view and condition"] == pytest.approx(1.0)
    np.savez(path, embeddings=embeddings, subjects=walkers, views=views, types=np.full(len(cells), "00"))
    assert "variance: walker, view and condition" not in structure.describe(path)


def test_describe_names_the_file_it_cannot_read(tmp_path):
    path = tmp_path / "results.npz"
    np.savez(path, embeddings=np.zeros((2, 1, 1)))
    with pytest.raises(ValueError, match=r"results\.npz: no \['subjects', 'views'\]"):
        structure.describe(path)


def test_the_tool_averages_the_files_of_a_label(tmp_path, capsys):
    assert embedding_structure.labelled(["a=x.npz", "b=y.npz", "a=z=1.npz", "w.npz"]) == {
        "a": ["x.npz", "z=1.npz"], "b": ["y.npz"], "w.npz": ["w.npz"]}
    one_without_y = {"a": [{"x": 0.1, "y": 0.2}], "b": [{"x": 0.3}, {"x": 0.5}]}
    assert embedding_structure.table(one_without_y).splitlines() == [
        "| embeddings | files | x | y |", "|---|---|---|---|", "| a | 1 | 10.0 | 20.0 |",
        "| b | 2 | 40.0 (30.0–50.0) | — |"]
    rng = np.random.default_rng(3)
    walkers, views = np.repeat(["001", "002", "003"], 4), np.tile(["000", "090"], 6)
    paths = []
    for seed in range(2):
        path = tmp_path / f"seed{seed}.npz"
        np.savez(path, embeddings=rng.normal(size=(12, 2, 3)).astype(np.float32), subjects=walkers,
                 views=views, types=np.full(12, "nm-01"))
        paths.append(path)
    out = tmp_path / "measured.json"
    picture = tmp_path / "structure.png"
    assert embedding_structure.main([f"two seeds={paths[0]}", f"two seeds={paths[1]}", f"--json={out}",
                                     f"--figure={picture}"]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    row = capsys.readouterr().out.splitlines()[2]
    each = [structure.describe(path)["variance: walker"] * 100 for path in paths]
    assert row.startswith("| two seeds | 2 | ")
    assert f"{np.mean(each):.1f} ({min(each):.1f}–{max(each):.1f})" in row
    assert json.loads(out.read_text())["two seeds"][str(paths[1])]["variance: walker"] == pytest.approx(each[1] / 100)


def test_the_tool_names_a_file_it_cannot_read_in_one_line(tmp_path, capsys):
    missing = tmp_path / "eval" / "embeddings.npz"
    assert embedding_structure.main([f"run={missing}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and len(err.strip().splitlines()) == 1
