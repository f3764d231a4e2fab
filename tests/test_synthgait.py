"""SynthGait: rasterizer exactness, determinism, identity across views, conditions, cache round trip."""

import os

import numpy as np
import pytest

from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.data.sources import data_config, open_source, synthgait_spec
from selfgait_jax.data.synthgait import dataset, render
from selfgait_jax.data.synthgait.dataset import SynthGaitSpec, render_sequence, render_walk
from selfgait_jax.data.synthgait.params import draw_walk, draw_walker

SUBJECTS = tuple(f"{i:03d}" for i in range(1, 7))
TYPES = ("nm-01", "nm-02", "nm-03", "bg-01", "cl-01")
VIEWS = ("000", "090")


@pytest.fixture(scope="module")
def walks():
    """Every (subject, type) of a small spec, rendered once: {(subject, type): [view sequences]}."""
    spec = SynthGaitSpec("synthgait_b", 0, SUBJECTS, TYPES, VIEWS, 30, 30)
    return spec, {(s, t): render_walk(spec, s, t) for s in SUBJECTS for t in TYPES}


def test_rasterize_matches_naive_distance_test():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 40, (3, 5, 2))
    ends = starts + rng.uniform(-15, 15, (3, 5, 2))
    ends[0, 0] = starts[0, 0]  # a disc
    ends[1, 1, 1] = starts[1, 1, 1]  # a horizontal capsule
    radii = rng.uniform(0.5, 6, 5)
    got = render.rasterize(starts, ends, radii, 40, 40)
    # Naive: every pixel centre against every segment, in float64.
    y, x = np.mgrid[0:40, 0:40] + 0.5
    p = np.stack([x, y], -1)[None, None]  # [1, 1, 40, 40, 2]
    a, b = starts[:, :, None, None], ends[:, :, None, None]
    d = b - a
    t = np.clip(((p - a) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
    dist = np.linalg.norm(p - (a + t[..., None] * d), axis=-1)
    margin = dist - radii[None, :, None, None]
    expected = (margin <= 0).any(1)
    borderline = (np.abs(margin) < 1e-3).any(1)
    assert got.shape == (3, 40, 40)
    np.testing.assert_array_equal(got[~borderline], expected[~borderline])


def test_deterministic_and_subjects_differ(walks):
    spec, rendered = walks
    again = render_walk(spec, "001", "nm-01")
    for first, second in zip(rendered[("001", "nm-01")], again):
        np.testing.assert_array_equal(first, second)
    a, b = rendered[("001", "nm-01")][1], rendered[("002", "nm-01")][1]
    assert a.dtype == np.uint8 and a.shape == (30, 64, 44) and set(np.unique(a)) <= {0, 255}
    assert (a != b).mean() > 0.05
    assert draw_walker(0, "001") == draw_walker(0, "001") != draw_walker(1, "001")


def test_identity_is_the_same_whatever_the_view():
    # The identity and the walk depend on (seed, subject, type) only: a view renders identically
    # whichever other views are generated with it, and all views of a walk share one 3-D pose.
    wide = SynthGaitSpec("synthgait_b", 5, ("007",), ("nm-02",), ("000", "054", "090"), 20, 26)
    narrow = SynthGaitSpec("synthgait_b", 5, ("007",), ("nm-02",), ("090",), 20, 26)
    np.testing.assert_array_equal(
        render_sequence(wide, SequenceMeta("007", "nm-02", "090")),
        render_sequence(narrow, SequenceMeta("007", "nm-02", "090")),
    )
    assert draw_walk(5, "007", "nm-02") == draw_walk(5, "007", "nm-02") != draw_walk(5, "007", "nm-03")


def test_same_subject_is_more_alike_than_different_subjects(walks):
    # Gait energy images (mean silhouettes) of NM walks: nearest neighbour is the same subject.
    spec, rendered = walks
    for view in range(len(VIEWS)):
        keys = [(s, t) for s in SUBJECTS for t in ("nm-01", "nm-02", "nm-03")]
        geis = np.stack([rendered[k][view].mean(0).ravel() / 255 for k in keys])
        distance = ((geis[:, None] - geis[None]) ** 2).sum(-1)
        np.fill_diagonal(distance, np.inf)
        same = np.array([[a[0] == b[0] for b in keys] for a in keys]) & np.isfinite(distance)
        assert distance[same].mean() < 0.5 * distance[~same].mean()
        nearest = distance.argmin(1)
        assert np.mean([keys[i][0] == keys[j][0] for i, j in enumerate(nearest)]) >= 0.8


def test_coat_and_bag_change_the_silhouette(walks):
    spec, rendered = walks

    def area(sequence_type, view):
        return np.array([(rendered[(s, sequence_type)][view] > 0).mean() for s in SUBJECTS])

    for view in range(len(VIEWS)):
        assert (area("cl-01", view) / area("nm-01", view)).mean() > 1.07
    assert (area("bg-01", 1) / area("nm-01", 1)).mean() > 1.04
    # The coat widens the front view (the shoulders and the skirt over the thighs).
    front_width = {t: np.mean([(rendered[(s, t)][0] > 0).any(1).sum(1).mean() for s in SUBJECTS])
                   for t in ("nm-01", "cl-01")}
    assert front_width["cl-01"] > front_width["nm-01"] + 0.8


def test_source_round_trip_and_cache(tmp_path, monkeypatch):
    cfg = data_config("synthgait_b", "tiny")
    cfg.cache_dir = str(tmp_path)
    cfg.num_subjects = 2
    cfg.types = ("nm-01", "cl-02")
    # A half-written subject from an interrupted run is a hidden temp folder: it is never read.
    spec = synthgait_spec(cfg)
    folder = tmp_path / "synthgait" / f"synthgait_b-{spec.cache_key()}"
    (folder / ".001-interrupted").mkdir(parents=True)
    source = open_source(cfg)
    assert len(source) == 2 * 2 * 2 and source.metas[0] == SequenceMeta("001", "nm-01", "036")
    for i in (0, 5):
        frames = source.load(i)
        np.testing.assert_array_equal(frames, render_sequence(spec, source.metas[i]))
        assert len(frames) == source.lengths[i] and 16 <= len(frames) <= 20
    # Reopening reads the cache and renders nothing.
    monkeypatch.setattr(dataset, "render_subject", lambda *a: pytest.fail("rendered again"))
    reopened = open_source(cfg)
    np.testing.assert_array_equal(reopened.load(3), source.load(3))


def test_parallel_generation_matches_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset, "PARALLEL_MIN_FRAMES", 0)
    cfg = data_config("synthgait_mv", "tiny")
    cfg.cache_dir = str(tmp_path)
    cfg.num_subjects = 2
    cfg.num_workers = 2
    source = open_source(cfg)
    assert sorted(p.name for p in source.folder.iterdir()) == ["00001", "00002"]  # no temp files left
    spec = synthgait_spec(cfg)
    for i in (0, len(source) - 1):
        np.testing.assert_array_equal(source.load(i), render_sequence(spec, source.metas[i]))


def test_pool_subjects_are_new_people():
    cfg = data_config("synthgait_pool", "tiny")
    spec = synthgait_spec(cfg)
    labelled = synthgait_spec(data_config("synthgait_b", "tiny"))
    assert not set(spec.subjects) & set(labelled.subjects)
    # SG-2 of the tiny training set: 2 x 80 sequences, 4 per pool subject.
    assert len(spec.metas()) == 160
    cfg.pool_ratio = 6.0
    assert len(synthgait_spec(cfg).metas()) == 480
    with pytest.raises(ValueError, match="data.name"):
        data_config("nope")


def test_the_cache_folder_is_the_same_in_every_process(tmp_path):
    """Another run or process finds the subjects this one rendered: the folder name does not
    depend on the interpreter (no salted hash())."""
    import subprocess
    import sys

    cfg = data_config("synthgait_b", "tiny")
    here = dataset.cache_folder(synthgait_spec(cfg), tmp_path)
    code = ("import sys; from selfgait_jax.data.sources import data_config, synthgait_spec\n"
            "from selfgait_jax.data.synthgait.dataset import cache_folder\n"
            "print(cache_folder(synthgait_spec(data_config('synthgait_b', 'tiny')), sys.argv[1]))\n")
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert done.stdout.strip() == str(here)


def test_a_choice_of_views_renders_the_same_sequences():
    """The cheaper probe on a few views measures the very sequences of the full dataset."""
    from selfgait_jax.data.sources import chosen_views, named_data_config

    every = synthgait_spec(named_data_config("synthgait_b:tiny"))
    few = synthgait_spec(named_data_config("synthgait_b:tiny", views=["000", "090", "180"]))
    assert few.views == ("000", "090", "180") and few.cache_key() != every.cache_key()
    for sequence_type in ("nm-01", "cl-02"):
        meta = SequenceMeta("002", sequence_type, "090")
        np.testing.assert_array_equal(render_sequence(few, meta), render_sequence(every, meta))
    assert chosen_views(named_data_config("synthgait_b", views=["000", "090"])) == ("000", "090")
    assert chosen_views(named_data_config("synthgait_b")) == ()
    assert chosen_views(named_data_config("synthgait_b:tiny")) == ()  # the size's own views
    with pytest.raises(ValueError, match="expected distinct views of synthgait_b, which has 000, 018"):
        named_data_config("synthgait_b", views=["000", "045"])
    with pytest.raises(ValueError, match="distinct"):
        named_data_config("synthgait_b", views=["000", "000"])
    with pytest.raises(ValueError, match="casia_b is read from disk"):
        named_data_config("casia_b", views=["000"])
