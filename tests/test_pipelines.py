"""The training input pipelines: batch composition, windows, determinism, resume, sharding, and the
numpy back end's batches against tf.data's.

The tests but the comparison and the tf.data-only one run on the default back end (tf.data where
TensorFlow imports, as in CI)."""

import threading
import time

import numpy as np
import pytest

from selfgait_jax.data import batch_plans, pipelines, sampling
from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.errors import ConfigError


class RandomSource:
    """A tiny SequenceSource: random binary frames (all distinct), known lengths and subjects."""

    name = "random"

    def __init__(self, lengths, subjects, binary=True):
        self.metas = [SequenceMeta(f"{s:03d}", f"nm-{j:02d}", "090") for j, s in enumerate(subjects)]
        self._frames = []
        for i, t in enumerate(lengths):
            rng = np.random.default_rng([7, i])
            frames = (rng.random((t, 64, 44)) < 0.5).astype(np.uint8) * 255
            if not binary:
                frames[:, 0, 0] = 17  # one grey pixel per frame: must survive storage untouched
            self._frames.append(frames)

    def __len__(self):
        return len(self.metas)

    def load(self, i):
        return self._frames[i].copy()


# 5 subjects x 3 sequences; several are shorter than the windows below (6 and 7 frames).
LENGTHS = [3, 9, 12, 20, 5, 14, 8, 16, 11, 6, 10, 13, 7, 18, 4]
SUBJECTS = [s for s in range(5) for _ in range(3)]
TOPOLOGY = dict(process_index=0, process_count=1, device_count=4)
P, K, T = 2, 4, 6


@pytest.fixture(scope="module")
def source():
    return RandomSource(LENGTHS, SUBJECTS)


@pytest.fixture(scope="module")
def store(source):
    return pipelines.FrameStore.load(source, np.arange(len(source)), progress=False)


@pytest.fixture(scope="module")
def frame_owner(source):
    """Frame bytes -> (sequence index, frame number): identifies where every batch frame came from."""
    return {source.load(i)[t].tobytes(): (i, t) for i in range(len(source)) for t in range(LENGTHS[i])}


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def triplet(source, store, **kwargs):
    args = dict(subjects_per_batch=P, sequences_per_subject=K, frames=T, seed=3, store=store, **TOPOLOGY)
    args.update(kwargs)
    return pipelines.make_triplet_pipeline(source, np.arange(len(source)), **args)


def pretext(source, store, **kwargs):
    args = dict(batch_size=8, k=T, seed=3, store=store, **TOPOLOGY)
    args.update(kwargs)
    return pipelines.make_pretext_pipeline(source, np.arange(len(source)), **args)


def test_frame_store_round_trip_packed_and_raw(source):
    grey = RandomSource(LENGTHS[:4], SUBJECTS[:4], binary=False)
    for src, packed in ((source, True), (grey, False)):
        picked = [3, 0, 2]
        store = pipelines.FrameStore.load(src, picked, progress=False)
        assert store.packed == packed
        for j, i in enumerate(picked):
            np.testing.assert_array_equal(store.sequence(j), src.load(i))


def test_non_binary_frames_pass_through_the_pipeline_unchanged():
    grey = RandomSource(LENGTHS[:4], SUBJECTS[:4], binary=False)
    owner = {grey.load(i)[t].tobytes() for i in range(4) for t in range(LENGTHS[i])}
    batch = next(pipelines.make_triplet_pipeline(grey, np.arange(4), subjects_per_batch=P,
                                                 sequences_per_subject=K, frames=T, progress=False, **TOPOLOGY))
    assert all(f.tobytes() in owner for f in batch["frames"].reshape(-1, 64, 44))


def test_frame_store_names_bad_sequence():
    class Broken(RandomSource):
        def load(self, i):
            return np.zeros((5, 64, 64), np.uint8) if i == 1 else super().load(i)

    with pytest.raises(ValueError, match=r"random sequence 1 \(001/nm-01/090\).*64, 64"):
        pipelines.FrameStore.load(Broken([4, 4], [0, 1]), [0, 1], progress=False)


def test_triplet_batch_composition_and_frames(source, store, frame_owner):
    for batch in take(triplet(source, store), 3):
        assert batch["frames"].shape == (P * K, T, 64, 44) and batch["frames"].dtype == np.uint8
        assert batch["mask"].dtype == bool and batch["mask"].all() and batch["mask"].shape == (P * K, T)
        labels, counts = np.unique(batch["label"], return_counts=True)
        assert len(labels) == P and np.all(counts == K)
        for row in range(P * K):
            owners = [frame_owner[f.tobytes()] for f in batch["frames"][row]]
            seqs = {i for i, _ in owners}
            assert len(seqs) == 1  # one sequence per row
            i = seqs.pop()
            assert batch["label"][row] == SUBJECTS[i]  # subjects 0..4 sort as labels 0..4
            ts = np.array([t for _, t in owners])
            np.testing.assert_array_equal(np.diff(ts) % LENGTHS[i], 1)  # consecutive, cyclic if short


def test_triplet_unordered_frames_are_a_set(source, store, frame_owner):
    batch = next(triplet(source, store, ordered=False))
    for row in range(P * K):
        owners = [frame_owner[f.tobytes()] for f in batch["frames"][row]]
        i = owners[0][0]
        ts = np.array([t for _, t in owners])
        assert all(o[0] == i for o in owners) and np.all(np.diff(ts) >= 0)
        if LENGTHS[i] >= T:
            assert len(set(ts.tolist())) == T  # no repeats when the sequence is long enough


def test_sampler_uses_all_sequences_of_a_small_subject():
    sampler = sampling.TripletSampler(labels=[0, 0, 0, 1, 1, 1], lengths=[9] * 6, subjects_per_batch=2,
                                      sequences_per_subject=7, frames=4)
    chosen = sampler(0)
    for subject in (0, 1):
        _, counts = np.unique(chosen["sequence"][chosen["label"] == subject], return_counts=True)
        assert len(counts) == 3 and counts.min() >= 2 and counts.max() <= 3


def test_pretext_windows_are_consecutive_frames_of_one_sequence(source, store, frame_owner):
    seen_short = False
    for batch in take(pretext(source, store), 3):
        assert batch["frames"].shape == (8, T, 64, 44) and batch["target_frame"].shape == (8, 64, 44)
        assert batch["mask"].shape == (8, T) and batch["mask"].dtype == bool
        for row in range(8):
            m = int(batch["mask"][row].sum())
            assert batch["mask"][row, :m].all()  # valid slots first, then padding
            window = np.concatenate([batch["frames"][row, :m], batch["target_frame"][row][None]])
            owners = [frame_owner[f.tobytes()] for f in window]
            i = owners[0][0]
            assert all(o[0] == i for o in owners) and m == min(LENGTHS[i] - 1, T)
            np.testing.assert_array_equal(np.diff([t for _, t in owners]), 1)  # no wrap
            seen_short |= LENGTHS[i] < T + 1
    assert seen_short  # the masked windows of short sequences were exercised


# Pretext windows must hold out the target frame. Frames encode where they come from: row 0 holds
# the sequence number + 1, the rest the frame number + 1. k = 5: lengths below, at and above k+1.
HELD_K = 5
HELD_LENGTHS = [1, 2, 3, 5, 6, 7, 12, 1, 4, 9, 6, 3]


@pytest.fixture(scope="module")
def numbered_source():
    from selfgait_jax.data.sources import ArraySource

    sequences = []
    for i, n in enumerate(HELD_LENGTHS):
        frames = np.repeat(np.arange(1, n + 1, dtype=np.uint8)[:, None, None], 64, axis=1)
        frames = np.repeat(frames, 44, axis=2)
        frames[:, 0, :] = i + 1
        sequences.append(frames)
    metas = [SequenceMeta(f"{i:03d}", "nm-01", "090") for i in range(len(HELD_LENGTHS))]
    return ArraySource("numbered", metas, sequences)


def _check_held_out(sequence, online, mask, target, k, min_online, lengths):
    """One pretext row given as sequence number, online frame numbers [k], mask [k], target number."""
    length = lengths[sequence]
    assert length >= min_online + 1, f"sequence {sequence} ({length} frames) is too short to be sampled"
    valid = online[mask]
    assert target not in valid.tolist(), f"target frame {target} is also an online frame: {online}, {mask}"
    m = int(mask.sum())
    assert m == min(length - 1, k) and mask[:m].all() and not mask[m:].any()
    np.testing.assert_array_equal(np.diff(valid), 1)  # consecutive, no wrap
    assert target == valid[-1] + 1 and 0 <= valid[0] and target < length
    assert target not in online.tolist()  # padding repeats online frames, never the target


def _decode(batch, row):
    """(sequence, online frame numbers, target frame number) of a batch row of numbered_source."""
    frames, target = batch["frames"][row], batch["target_frame"][row]
    sequences = {int(v) - 1 for v in np.unique(frames[:, 0, :])} | {int(target[0, 0]) - 1}
    assert len(sequences) == 1
    online = frames[:, 1:, :].reshape(len(frames), -1)
    assert np.all(online == online[:, :1]) and np.all(target[1:] == target[1, 0])
    return sequences.pop(), online[:, 0].astype(np.int64) - 1, int(target[1, 0]) - 1


@pytest.mark.parametrize("min_online", [1, 3])
def test_pretext_pipeline_holds_out_the_target_frame(numbered_source, min_online, caplog):
    lengths = np.array(HELD_LENGTHS)
    usable = np.flatnonzero(lengths >= min_online + 1)
    with caplog.at_level("INFO", logger=batch_plans.__name__):
        iterator = pipelines.make_pretext_pipeline(
            numbered_source, np.arange(len(lengths)), batch_size=8, k=HELD_K, seed=5,
            min_online_frames=min_online, progress=False, **TOPOLOGY)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and f"{len(lengths) - len(usable)} of {len(lengths)} sequences skipped" in (
        skipped[0].getMessage())
    seen = set()
    for batch in take(iterator, 6):  # 48 rows: every usable sequence, several times
        assert batch["mask"].shape == (8, HELD_K) and batch["mask"].dtype == bool
        for row in range(8):
            sequence, online, target = _decode(batch, row)
            _check_held_out(sequence, online, batch["mask"][row], target, HELD_K, min_online, lengths)
            seen.add(sequence)
    assert seen == set(usable.tolist())  # short, k+1-long and long sequences all exercised


def test_pretext_sampler_holds_out_the_target_frame():
    lengths = np.array(HELD_LENGTHS)
    k = HELD_K
    for min_online in (1, 2, 5):
        sampler = sampling.PretextSampler(lengths, batch_size=7, k=k, seed=2,
                                          min_online_frames=min_online)
        usable = np.flatnonzero(lengths >= min_online + 1)
        assert sampler.skipped == len(lengths) - len(usable)
        batches = [sampler(i) for i in range(4 * len(usable))]  # 7 epochs
        visits = np.concatenate([b["sequence"] for b in batches])
        assert set(visits.tolist()) == set(usable.tolist())
        epoch = visits[:len(usable)]  # every usable sequence once in the first epoch
        np.testing.assert_array_equal(np.sort(epoch), usable)
        for i, chosen in enumerate(batches):
            assert chosen["frame"].shape == (7, k + 1) and chosen["mask"].shape == (7, k)
            for row in range(7):
                _check_held_out(int(chosen["sequence"][row]), chosen["frame"][row, :k],
                                chosen["mask"][row], int(chosen["frame"][row, k]), k, min_online,
                                lengths)
            # Sequences with more than k frames keep the windows they had before short sequences
            # were masked instead of wrapped: same random stream, same starts.
            long = lengths[chosen["sequence"]] > k
            rng = np.random.default_rng([2, 1, i])
            before = sampling.window_frames(rng, lengths[chosen["sequence"]], k + 1)
            np.testing.assert_array_equal(chosen["frame"][long], before[long])
            assert chosen["mask"][long].all()


def test_pretext_with_no_usable_sequence_names_the_key(numbered_source):
    with pytest.raises(ValueError, match=r"config\.byol\.min_online_frames: .*numbered"):
        pipelines.make_pretext_pipeline(numbered_source, [0, 7], batch_size=4, k=HELD_K, progress=False,
                                        **TOPOLOGY)
    with pytest.raises(ValueError, match=r"config\.byol\.min_online_frames: .*numbered"):
        pipelines.make_pretext_pipeline(numbered_source, [1, 2], batch_size=4, k=HELD_K,
                                        min_online_frames=3, progress=False, **TOPOLOGY)


def test_pretext_visits_every_sequence_once_per_epoch():
    sampler = sampling.PretextSampler(lengths=LENGTHS, batch_size=5, k=T, seed=1)
    epoch = np.concatenate([sampler(i)["sequence"] for i in range(3)])  # 15 sequences = one epoch
    np.testing.assert_array_equal(np.sort(epoch), np.arange(15))


def test_deterministic_and_batches_differ(source, store):
    first = take(triplet(source, store), 3)
    again = take(triplet(source, store), 3)
    other_seed = next(triplet(source, store, seed=4))
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(first[0]["frames"], first[1]["frames"])
    assert not np.array_equal(first[0]["frames"], other_seed["frames"])


@pytest.mark.parametrize("kind", ["triplet", "pretext"])
def test_resume_equals_uninterrupted(source, store, kind):
    make = triplet if kind == "triplet" else pretext
    uninterrupted = take(make(source, store), 6)
    resumed = take(make(source, store, start_batch=4), 2)
    for a, b in zip(uninterrupted[4:], resumed):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("kind", ["triplet", "pretext"])
def test_four_processes_produce_the_global_batch(source, store, kind):
    make = triplet if kind == "triplet" else pretext
    whole = next(make(source, store))
    parts = [next(make(source, store, process_index=p, process_count=4)) for p in range(4)]
    for key in whole:
        assert parts[0][key].shape[0] == len(whole[key]) // 4
        np.testing.assert_array_equal(np.concatenate([part[key] for part in parts]), whole[key])


def test_batch_not_divisible_names_the_key(source, store):
    with pytest.raises(ValueError, match=r"triplet\.P\*triplet\.K = 6 .*device count \(4\)"):
        triplet(source, store, sequences_per_subject=3)
    with pytest.raises(ValueError, match=r"byol\.batch_size = 6 .*device count \(4\)"):
        pretext(source, store, batch_size=6)
    with pytest.raises(ValueError, match=r"triplet\.P = 6 .*only 5 subjects"):
        triplet(source, store, subjects_per_batch=6, sequences_per_subject=2)


@pytest.mark.parametrize("kind", ["pretext", "triplet"])
def test_iterator_deletion_waits_for_no_autotune_thread(source, store, kind):
    """Deleting an iterator joins tf.data's autotuning thread, which could sleep on for up to a minute
    (a race in TensorFlow's cancellation; the end of training stages stalled). The pipelines run
    without autotuning, and an iterator with work in flight is deleted promptly."""
    pytest.importorskip("tensorflow")
    if kind == "triplet":
        ds = pipelines.triplet_dataset(source, np.arange(len(source)), subjects_per_batch=P,
                                       sequences_per_subject=K, frames=T, store=store, **TOPOLOGY)
    else:
        ds = pipelines.pretext_dataset(source, np.arange(len(source)), batch_size=8, k=T, store=store,
                                       **TOPOLOGY)
    assert ds.options().autotune.enabled is False
    iterator = ds.as_numpy_iterator()
    take(iterator, 3)  # the map calls and the prefetch are busy ahead of the consumer
    start = time.monotonic()
    del iterator
    assert time.monotonic() - start < 20


def test_pretext_batches_by_view_hold_one_view_each_and_keep_every_rule():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 30, size=60)
    views = np.array(["000", "090", "180"])[rng.integers(0, 3, size=60)]
    views[:5] = "270"  # a view with fewer sequences than a batch: drawn with repetition
    sampler = sampling.PretextSampler(lengths, batch_size=8, k=6, seed=1, min_online_frames=2,
                                      groups=views)
    seen_views = set()
    for b in range(40):
        chosen = sampler(b)
        batch_views = set(views[chosen["sequence"]].tolist())
        assert len(batch_views) == 1  # one view per batch
        seen_views |= batch_views
        assert np.all(lengths[chosen["sequence"]] >= 3)  # min_online_frames still applies
        for row, seq in enumerate(chosen["sequence"]):
            online = chosen["frame"][row, :-1][chosen["mask"][row]]
            assert chosen["frame"][row, -1] not in online  # the target stays held out
        again = sampler(b)
        assert np.array_equal(chosen["sequence"], again["sequence"])  # pure in (seed, b)
    assert seen_views == {"000", "090", "180", "270"} - (set() if np.any(lengths[:5] >= 3) else {"270"})
    with pytest.raises(ValueError, match="groups"):
        sampling.PretextSampler(lengths, batch_size=8, k=6, groups=views[:10])


def _walks_source():
    """Three walks at 3, 2 and 1 views; row 0 of every frame says which sequence it is (1-based),
    row 1 which frame."""
    from selfgait_jax.data.sources import ArraySource

    metas, sequences = [], []
    walks = [("001", "00", ("000", "090", "180")), ("002", "00", ("000", "090")), ("003", "01", ("090",))]
    for subject, type_, views in walks:
        for view in views:
            i = len(metas)
            frames = np.full((9, 64, 44), 0, np.uint8)
            frames[:, 0, :] = i + 1  # row 0: which sequence
            frames[:, 1, :] = np.arange(1, 10, dtype=np.uint8)[:, None]  # row 1: which frame
            metas.append(SequenceMeta(subject, type_, view))
            sequences.append(frames)
    return ArraySource("walks", metas, sequences), metas


def test_other_view_target_comes_from_another_camera_of_the_same_walk():
    """Extension pretext.name=other_view: the target frame is from the same (subject, type) at
    another view; a sequence with no other view of its walk is never sampled."""
    source, metas = _walks_source()
    iterator = pipelines.make_pretext_pipeline(source, np.arange(len(metas)), batch_size=8, k=4,
                                               seed=2, target="other_view", progress=False, **TOPOLOGY)
    for batch in take(iterator, 5):
        for row in range(8):
            online_seq = set(np.unique(batch["frames"][row, :, 0, :]).tolist())
            assert len(online_seq) == 1
            online = metas[online_seq.pop() - 1]
            target = metas[int(batch["target_frame"][row, 0, 0]) - 1]
            assert (target.subject, target.type) == (online.subject, online.type)
            assert target.view != online.view and online.subject != "003"
    with pytest.raises(ValueError, match="pretext.name"):
        pipelines.make_pretext_pipeline(source, np.arange(len(metas)), batch_size=8, k=4,
                                        target="next_view", progress=False, **TOPOLOGY)


@pytest.mark.parametrize("pairs", ["two_clips", "other_view_clips"])
def test_clip_pairs_carry_each_clips_camera_view(pairs):
    """"views" [b, 2] is each clip's view as an index among the pool's sorted views (000, 090,
    180 → 0, 1, 2): the view of the sequence the clip's frames come from."""
    source, metas = _walks_source()
    index = {"000": 0, "090": 1, "180": 2}
    iterator = pipelines.make_clip_pair_pipeline(source, np.arange(len(metas)), batch_size=8, frames=3,
                                                 span=4, pairs=pairs, seed=1, progress=False, **TOPOLOGY)
    for batch in take(iterator, 4):
        assert batch["views"].shape == (8, 2) and batch["views"].dtype == np.int32
        for row in range(8):
            seq_a, seq_b = (metas[int(batch[clip][row, 0, 0, 0]) - 1] for clip in ("clip_a", "clip_b"))
            assert batch["views"][row].tolist() == [index[seq_a.view], index[seq_b.view]]
            assert (seq_a.view == seq_b.view) == (pairs == "two_clips")


def test_pipelines_batched_by_view_draw_each_batch_from_one_camera():
    """byol.batch_by="view" through the datasets: every pretext window and every clip pair of a
    batch comes from sequences of one camera view (a view with fewer sequences than the batch is
    drawn with repetition); an unknown batch_by names its key."""
    source, metas = _walks_source()
    indices = np.arange(len(metas))
    clip_pairs = pipelines.make_clip_pair_pipeline(source, indices, batch_size=8, frames=3, span=4,
                                                   batch_by="view", seed=1, progress=False, **TOPOLOGY)
    windows = pipelines.make_pretext_pipeline(source, indices, batch_size=8, k=4, batch_by="view",
                                              seed=1, progress=False, **TOPOLOGY)
    seen = set()
    for pairs, window in zip(take(clip_pairs, 6), take(windows, 6)):
        assert len(np.unique(pairs["views"])) == 1
        clip_views = {metas[int(s) - 1].view for clip in ("clip_a", "clip_b")
                      for s in np.unique(pairs[clip][:, :, 0, 0])}
        window_views = {metas[int(s) - 1].view for s in np.unique(window["frames"][:, :, 0, 0])}
        assert len(clip_views) == 1 and len(window_views) == 1
        seen |= clip_views
    assert len(seen) > 1  # the batches do not all come from one view
    with pytest.raises(ConfigError, match="byol.batch_by"):
        pipelines.make_clip_pair_pipeline(source, indices, batch_size=8, frames=3, span=4,
                                          batch_by="subject", progress=False, **TOPOLOGY)


# The numpy back end against tf.data: every pipeline, packed and raw frames, a process's share of
# the batch, and the other-view variants (on _walks_source, the one source with several views).
BACK_END_CASES = {
    "pretext": ("random", pipelines.make_pretext_pipeline, dict(batch_size=8, k=T)),
    "pretext_by_view_other_view": ("walks", pipelines.make_pretext_pipeline,
                                   dict(batch_size=8, k=4, batch_by="view", target="other_view")),
    "clip_pair": ("random", pipelines.make_clip_pair_pipeline, dict(batch_size=8, frames=4, span=6)),
    "clip_pair_two_copies": ("random", pipelines.make_clip_pair_pipeline,
                             dict(batch_size=8, frames=4, pairs="two_copies")),
    "clip_pair_other_view": ("walks", pipelines.make_clip_pair_pipeline,
                             dict(batch_size=8, frames=3, span=4, pairs="other_view_clips")),
    "triplet": ("random", pipelines.make_triplet_pipeline,
                dict(subjects_per_batch=P, sequences_per_subject=K, frames=T)),
    "triplet_unordered_process_1_of_2": ("random", pipelines.make_triplet_pipeline,
                                         dict(subjects_per_batch=P, sequences_per_subject=K, frames=T,
                                              ordered=False, process_index=1, process_count=2)),
    "triplet_raw_frames": ("grey", pipelines.make_triplet_pipeline,
                           dict(subjects_per_batch=P, sequences_per_subject=K, frames=T)),
}


@pytest.mark.parametrize("case", sorted(BACK_END_CASES))
def test_numpy_back_end_makes_the_tf_data_batches(source, case):
    """Same keys, dtypes, shapes and bytes, batch by batch, from batch 0 and resumed at batch 5."""
    pytest.importorskip("tensorflow")
    which, make, kwargs = BACK_END_CASES[case]
    src = {"random": source, "walks": _walks_source()[0],
           "grey": RandomSource(LENGTHS, SUBJECTS, binary=False)}[which]
    args = dict(TOPOLOGY, seed=3, progress=False)
    args.update(kwargs)
    store = pipelines.FrameStore.load(src, np.arange(len(src.metas)), progress=False)
    assert store.packed == (which == "random")  # the others hold values other than 0/255: raw frames

    def batches(backend, start, n):
        return take(make(src, np.arange(len(src.metas)), backend=backend, start_batch=start,
                         store=store, **args), n)

    uninterrupted = batches("numpy", 0, 8)
    for start, expected in ((0, batches("tf", 0, 3)), (5, batches("tf", 5, 3))):
        for got in (batches("numpy", start, 3), uninterrupted[start:start + 3]):
            for a, b in zip(expected, got, strict=True):
                assert sorted(a) == sorted(b)
                for key in a:
                    assert (a[key].dtype, a[key].shape) == (b[key].dtype, b[key].shape), key
                    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(uninterrupted[0][next(iter(uninterrupted[0]))],
                              uninterrupted[1][next(iter(uninterrupted[1]))])


def test_the_back_end_is_an_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv(pipelines.BACKEND_ENV, "numpy")
    assert pipelines.resolve_backend() == "numpy"
    assert pipelines.resolve_backend("tf") == "tf"
    monkeypatch.setenv(pipelines.BACKEND_ENV, "torch")
    with pytest.raises(ValueError, match=r"SELFGAIT_INPUT_BACKEND='torch': expected one of tf, numpy"):
        pipelines.resolve_backend()
    with pytest.raises(ValueError, match=r"backend='jax'"):
        pipelines.resolve_backend("jax")


def test_numpy_back_end_refuses_a_negative_start_and_stops_its_threads(source, store):
    with pytest.raises(ValueError, match="start_batch must be >= 0"):
        triplet(source, store, backend="numpy", start_batch=-1)
    iterator = triplet(source, store, backend="numpy")
    take(iterator, 2)
    iterator.close()
    deadline = time.monotonic() + 20
    while any(t.name.startswith("selfgait-input") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the input threads outlived their iterator"
        time.sleep(0.05)
