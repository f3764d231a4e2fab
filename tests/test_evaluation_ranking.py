"""Cross-view protocol: hand-built tables, rank-5 / mAP by hand, and a brute-force numpy reference."""

import numpy as np
import pytest

from selfgait_jax.data import splits
from selfgait_jax.evaluation import ranking

SMALL = (("nm-01",), {"NM": ("nm-05",)})
CASIA_B = (splits.CASIA_B_GALLERY, splits.CASIA_B_PROBES)


def evaluate(emb, subjects, types, views, gallery_probe_types, **kwargs):
    """evaluate_embeddings with gallery / probe indices selected by sequence type."""
    gallery_types, probe_types = gallery_probe_types
    types = np.asarray(types)
    gallery = np.flatnonzero(np.isin(types, gallery_types))
    probes = {cond: np.flatnonzero(np.isin(types, t)) for cond, t in probe_types.items()}
    return ranking.evaluate_embeddings(emb, subjects, views, gallery, probes, **kwargs)


def _onehot(i, dim=4, parts=2):
    v = np.zeros((parts, dim), np.float32)
    v[:, i] = 10.0
    return v


def _hand_case():
    """3 subjects, views 000/090. Known by construction:
    probe 090 vs gallery 000: A right, B looks like C (wrong), C right -> 2/3;
    probe 000 vs gallery 090: all right -> 100; probe 000 vs gallery 000 would be all wrong (excluded).
    """
    rows = [
        # gallery, view 000: A, B, C are stored at the wrong places, so a same-view match always fails
        ("A", "nm-01", "000", _onehot(1)),
        ("B", "nm-01", "000", _onehot(2)),
        ("C", "nm-01", "000", _onehot(0)),
        # gallery, view 090
        ("A", "nm-01", "090", _onehot(0)),
        ("B", "nm-01", "090", _onehot(1)),
        ("C", "nm-01", "090", _onehot(2)),
        # probes, view 000 (match the 090 gallery)
        ("A", "nm-05", "000", _onehot(0)),
        ("B", "nm-05", "000", _onehot(1)),
        ("C", "nm-05", "000", _onehot(2)),
        # probes, view 090 (vs the 000 gallery: A -> index 1 (A), B -> index 0 (C: wrong), C -> index 0)
        ("A", "nm-05", "090", _onehot(1)),
        ("B", "nm-05", "090", _onehot(0) + 0.1),
        ("C", "nm-05", "090", _onehot(0)),
    ]
    subjects, types, views, emb = zip(*rows)
    return np.stack(emb), list(subjects), list(types), list(views)


def test_hand_built_table_known_by_construction():
    emb, subjects, types, views = _hand_case()
    result = evaluate(emb, subjects, types, views, SMALL, probe_block=4)
    table = ranking.summarize(result)["NM"]
    assert result.views == ("000", "090")
    assert table["matrix"][0][0] is None and table["matrix"][1][1] is None  # identical views excluded
    assert table["matrix"][0][1] == pytest.approx(100.0)
    assert table["matrix"][1][0] == pytest.approx(200.0 / 3)
    assert table["rank1_per_probe_view"] == pytest.approx([100.0, 200.0 / 3])
    assert table["mean"] == pytest.approx((100.0 + 200.0 / 3) / 2)
    assert table["num_probes"] == 6 and result.num_gallery == 6
    assert table["probes_without_gallery"] == 0


def test_same_view_gallery_is_never_used():
    """Moving the same-view gallery around must not change any reported number."""
    emb, subjects, types, views = _hand_case()
    base = ranking.summarize(evaluate(emb, subjects, types, views, SMALL))
    emb2 = emb.copy()
    # make the view-000 gallery identical to the view-000 probes: a same-view match would be perfect
    emb2[0:3] = emb[6:9]
    moved = ranking.summarize(evaluate(emb2, subjects, types, views, SMALL))
    assert moved["NM"]["matrix"][0] == base["NM"]["matrix"][0]  # probe view 000 uses only gallery 090


def test_probes_without_gallery_dropped_or_counted_as_misses():
    emb, subjects, types, views = _hand_case()
    # subject D: probe at 090, no gallery anywhere
    emb = np.concatenate([emb, _onehot(3)[None]])
    subjects, types, views = subjects + ["D"], types + ["nm-05"], views + ["090"]
    dropped = ranking.summarize(evaluate(emb, subjects, types, views, SMALL))["NM"]
    counted = ranking.summarize(
        evaluate(emb, subjects, types, views, SMALL, drop_missing_gallery=False)
    )["NM"]
    assert dropped["matrix"][1][0] == pytest.approx(200.0 / 3)
    assert counted["matrix"][1][0] == pytest.approx(50.0)
    assert dropped["probes_without_gallery"] == counted["probes_without_gallery"] == 1


def test_rank5_and_map_by_hand():
    """One part, one dim: gallery at distance 1..7 from the probe; relevant at ranks 2 and 6 / 6 only."""
    gallery = np.arange(1, 8, dtype=np.float32).reshape(7, 1, 1)
    g_label = np.array([0, 1, 0, 0, 0, 1, 0], np.int32)
    probe = np.zeros((2, 1, 1), np.float32)
    p_label = np.array([1, 2], np.int32)
    g_label_2 = g_label.copy()
    g_label_2[5] = 2  # for probe 2 only rank 6 is relevant... and rank 2 is subject 1
    # score each probe separately against its own labelling
    h1, h5, ap, has = (np.asarray(x) for x in ranking.score_block(probe, p_label, gallery, g_label))
    assert not h1[0] and h5[0] and has[0]
    assert ap[0] == pytest.approx((1 / 2 + 2 / 6) / 2)
    assert not has[1] and ap[1] == 0.0
    h1, h5, ap, has = (np.asarray(x) for x in ranking.score_block(probe, p_label, gallery, g_label_2))
    assert not h1[1] and not h5[1] and has[1]
    assert ap[1] == pytest.approx(1 / 6)
    # padding rows (label -1) are never matches and never rank ahead of real ones
    padded = np.concatenate([gallery, np.zeros((3, 1, 1), np.float32)])
    pad_label = np.concatenate([g_label, -np.ones(3, np.int32)])
    out = [np.asarray(x) for x in ranking.score_block(probe, p_label, padded, pad_label)]
    assert out[2][0] == pytest.approx((1 / 2 + 2 / 6) / 2)


def test_ties_count_in_gallery_order():
    """Equal distances rank like a stable sort: the earlier gallery sequence is ahead."""
    gallery = np.array([1.0, 1.0, 2.0, 1.0], np.float32).reshape(4, 1, 1)
    probe = np.zeros((3, 1, 1), np.float32)
    h1, h5, ap, _ = (np.asarray(x) for x in ranking.score_block(
        probe, np.array([7, 8, 9], np.int32), gallery, np.array([8, 7, 5, 9], np.int32)))
    # subject 8 at index 0: rank 1; subject 7 at index 1: rank 2; subject 9 at index 3: rank 3
    np.testing.assert_array_equal(h1, [False, True, False])
    np.testing.assert_allclose(ap, [1 / 2, 1.0, 1 / 3])
    # two relevant sequences tied with a third: ranks 1 and 3 -> AP (1/1 + 2/3) / 2
    h1, _, ap, _ = (np.asarray(x) for x in ranking.score_block(
        probe[:1], np.array([4], np.int32), gallery, np.array([4, 6, 5, 4], np.int32)))
    assert h1[0] and ap[0] == pytest.approx((1 + 2 / 3) / 2)


def _brute_force(emb, subjects, types, views, gallery_probe_types, metric, drop_missing):
    """Direct loops over every probe and every gallery sequence of every other view."""
    subjects, types, views = np.array(subjects), np.array(types), np.array(views)
    gallery_types, probe_types = gallery_probe_types
    is_gallery = np.isin(types, gallery_types)
    view_list = sorted(set(views))
    out = {}
    for cond, cond_types in probe_types.items():
        r1 = np.full((len(view_list), len(view_list)), np.nan)
        r5, ap = r1.copy(), r1.copy()
        for i, pv in enumerate(view_list):
            for j, gv in enumerate(view_list):
                if pv == gv:
                    continue
                g = np.flatnonzero(is_gallery & (views == gv))
                hits1, hits5, aps = [], [], []
                for p in np.flatnonzero(np.isin(types, cond_types) & (views == pv)):
                    if metric == "euclidean":
                        d = np.sqrt(((emb[g] - emb[p]) ** 2).sum(-1)).mean(-1)
                    else:
                        a = emb[p] / np.linalg.norm(emb[p], axis=-1, keepdims=True)
                        b = emb[g] / np.linalg.norm(emb[g], axis=-1, keepdims=True)
                        d = (1 - (a * b).sum(-1)).mean(-1)
                    rel = subjects[g][np.argsort(d, kind="stable")] == subjects[p]
                    if not rel.any() and drop_missing:
                        continue
                    hits1.append(rel[:1].any())
                    hits5.append(rel[:5].any())
                    prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
                    aps.append((prec * rel).sum() / max(rel.sum(), 1))
                if hits1:
                    r1[i, j], r5[i, j], ap[i, j] = (100 * np.mean(x) for x in (hits1, hits5, aps))
        per_view = np.nanmean(r1, axis=1)
        out[cond] = {
            "matrix": r1,
            "per_view": per_view,
            "mean": np.nanmean(per_view),
            "rank5_mean": np.nanmean(np.nanmean(r5, axis=1)),
            "mAP": np.nanmean(np.nanmean(ap, axis=1)),
        }
    return out


@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(7):
        for t in ("nm-01", "nm-02", "nm-05", "bg-01", "cl-01"):
            for v in ("000", "018", "036"):
                if rng.random() < 0.3:  # holes: some subjects lack a gallery sequence at some view
                    continue
                rows.append((f"{s:03d}", t, v))
    subjects, types, views = (list(x) for x in zip(*rows))
    centres = rng.normal(size=(7, 3, 5)).astype(np.float32)
    emb = np.stack([centres[int(s)] for s in subjects]) + rng.normal(
        scale=1.0, size=(len(rows), 3, 5)
    ).astype(np.float32)
    return emb, subjects, types, views


@pytest.mark.parametrize("metric,drop", [("euclidean", True), ("cosine", False)])
def test_random_embeddings_match_brute_force_with_small_blocks(random_case, metric, drop):
    emb, subjects, types, views = random_case
    ref = _brute_force(emb, subjects, types, views, CASIA_B, metric, drop)
    # block of 4 probes (one per device) is far smaller than the ~30 probes per view
    compiled_before = ranking.score_block._cache_size()
    result = evaluate(
        emb, subjects, types, views, CASIA_B, metric=metric,
        drop_missing_gallery=drop, probe_block=4,
    )
    assert ranking.score_block._cache_size() - compiled_before <= 1  # fixed block and gallery sizes
    got = ranking.summarize(result)
    assert sum(got[c]["probes_without_gallery"] for c in got) > 0  # the drop option matters here
    for cond in ("NM", "BG", "CL"):
        matrix = np.array([[np.nan if v is None else v for v in row] for row in got[cond]["matrix"]])
        np.testing.assert_allclose(matrix, ref[cond]["matrix"], atol=1e-4)
        np.testing.assert_allclose(got[cond]["rank1_per_probe_view"], ref[cond]["per_view"], atol=1e-4)
        for key in ("mean", "rank5_mean", "mAP"):
            assert got[cond][key] == pytest.approx(ref[cond][key], abs=1e-4), (cond, key)
    # and a block larger than the data gives the same numbers
    whole = ranking.summarize(
        evaluate(
            emb, subjects, types, views, CASIA_B, metric=metric,
            drop_missing_gallery=drop, probe_block=256,
        )
    )
    assert whole == got


def test_bad_input_errors():
    emb, subjects, types, views = _hand_case()
    with pytest.raises(ValueError, match="metric"):
        evaluate(emb, subjects, types, views, SMALL, metric="manhattan")
    with pytest.raises(ValueError, match="length"):
        ranking.evaluate_embeddings(emb, subjects[:-1], views, [0], {"NM": [6]})
    with pytest.raises(ValueError, match="'NM' shares sequences"):
        ranking.evaluate_embeddings(emb, subjects, views, [0, 1], {"NM": [1, 6]})
