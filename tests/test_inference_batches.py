"""Numpy inference batches (every sequence once, also across processes) and global batch assembly."""

import jax
import numpy as np
import pytest

from selfgait_jax.data import batching, inference
from selfgait_jax.data.sequence import SequenceMeta


class CountingSource:
    """A tiny SequenceSource whose frame t of sequence i is filled with the value (i * 7 + t) % 250 + 1.

    Like a generated source it does not publish `lengths` (None): the batcher has to read them.
    """

    name = "counting"
    lengths = None

    def __init__(self, lengths):
        self.frame_counts = list(lengths)
        self.metas = [SequenceMeta(f"{i:03d}", "nm-01", "000") for i in range(len(lengths))]

    def __len__(self):
        return len(self.frame_counts)

    def load(self, i):
        values = (i * 7 + np.arange(self.frame_counts[i])) % 250 + 1
        return np.broadcast_to(values[:, None, None], (self.frame_counts[i], 64, 44)).astype(np.uint8)


class KnownLengthSource(CountingSource):
    """The same, publishing `lengths` like a tree read at open: no reading pass needed."""

    @property
    def lengths(self):
        return np.asarray(self.frame_counts)


LENGTHS = [5, 17, 40, 1, 33, 64, 12, 16, 70, 9, 31]


@pytest.fixture(scope="module")
def source():
    return CountingSource(LENGTHS)


def collect(source, process_count, **kwargs):
    """All batches of all fake processes, as lists per process."""
    return [list(inference.inference_batches(source, 8, process_index=p, process_count=process_count,
                                             device_count=4, **kwargs)) for p in range(process_count)]


@pytest.mark.parametrize("process_count", [1, 4])
def test_every_sequence_exactly_once_with_matching_frames_and_masks(source, process_count):
    per_process = collect(source, process_count)
    assert len({len(batches) for batches in per_process}) == 1  # same number of steps everywhere
    seen = []
    for step in zip(*per_process):
        assert len({b["frames"].shape for b in step}) == 1  # same shapes on all processes
        for batch in step:
            assert batch["frames"].shape[0] == 8 // process_count and batch["index"].dtype == np.int32
            for row, i in enumerate(batch["index"].tolist()):
                if i < 0:
                    assert not batch["mask"][row].any() and not batch["frames"][row].any()
                    continue
                seen.append(i)
                t = LENGTHS[i]
                np.testing.assert_array_equal(batch["mask"][row], np.arange(batch["mask"].shape[1]) < t)
                np.testing.assert_array_equal(batch["frames"][row, :t], source.load(i))
                assert not batch["frames"][row, t:].any()
    assert sorted(seen) == list(range(len(LENGTHS)))


def test_processes_get_disjoint_shares():
    source = KnownLengthSource(LENGTHS)
    shares = [{i for b in batches for i in b["index"].tolist() if i >= 0} for batches in collect(source, 4)]
    assert sum(len(s) for s in shares) == len(set().union(*shares)) == len(LENGTHS)


def test_buckets_are_the_smallest_rung_that_fits():
    plan = inference.plan_inference(np.arange(len(LENGTHS)), LENGTHS, 4)
    assert sorted({p.length for p in plan}) == [16, 24, 32, 48, 64, 96]
    for planned in plan:
        for i in planned.indices[planned.indices >= 0].tolist():
            assert planned.length < 1.5 * LENGTHS[i] or planned.length == 16 >= LENGTHS[i]
    assert inference.default_buckets(70) == [16, 24, 32, 48, 64, 96]
    assert inference.default_buckets(129)[-2:] == [128, 192]
    # the rungs do not depend on the longest sequence: a shorter set reuses the longer one's lengths
    assert inference.default_buckets(33) == inference.default_buckets(129)[:4]


def test_max_length_is_a_bucket_of_its_own():
    assert inference.default_buckets(40, max_length=40) == [16, 24, 32, 40]
    assert inference.default_buckets(35, max_length=40) == [16, 24, 32, 40]
    assert inference.default_buckets(10, max_length=10) == [10]
    assert inference.default_buckets(30, max_length=100) == [16, 24, 32]
    plan = inference.plan_inference(np.arange(len(LENGTHS)), LENGTHS, 4, max_length=40)
    assert sorted({p.length for p in plan}) == [16, 24, 32, 40]  # 40, 64 and 70 cut to 40: no padding


def test_subset_of_indices_and_max_length(source):
    picked = [8, 2, 5]
    batches = list(inference.inference_batches(source, 4, indices=picked, max_length=20,
                                               process_index=0, process_count=1, device_count=4))
    assert [b["frames"].shape[1] for b in batches] == [20]  # all cut to 20 frames -> one bucket of 20
    (batch,) = batches
    assert sorted(i for i in batch["index"].tolist() if i >= 0) == sorted(picked)
    for row, i in enumerate(batch["index"].tolist()):
        if i >= 0:
            assert batch["mask"][row].sum() == 20
            np.testing.assert_array_equal(batch["frames"][row, :20], source.load(i)[:20])


def test_errors_name_the_problem(source):
    with pytest.raises(ValueError, match=r"eval\.batch_size = 6 .*device count \(4\)"):
        next(inference.inference_batches(source, 6, process_index=0, process_count=1, device_count=4))
    with pytest.raises(ValueError, match=r"sequence 8 has 70 frames.*eval\.bucket_lengths"):
        inference.plan_inference(np.arange(len(LENGTHS)), LENGTHS, 4, bucket_lengths=[32, 64])
    with pytest.raises(ValueError, match=r"counting sequence 2 \(002/nm-01/000\).*lengths"):
        list(inference.inference_batches(source, 4, indices=[2], lengths=[3], process_index=0,
                                         process_count=1, device_count=4))
    lying = KnownLengthSource(LENGTHS)
    lying.frame_counts[2] = 3  # publishes 3 frames for sequence 2 but loads 40
    lying.load = CountingSource(LENGTHS).load
    with pytest.raises(ValueError, match=r"counting sequence 2 .* more than the length it was planned"):
        list(inference.inference_batches(lying, 4, indices=[2], process_index=0, process_count=1,
                                         device_count=4))


def test_to_global_shards_rows_over_the_data_axis():
    mesh = jax.make_mesh((4,), ("data",))
    batch = {"frames": np.arange(8 * 3, dtype=np.uint8).reshape(8, 3), "index": np.arange(8, dtype=np.int32)}
    out = batching.to_global(batch, mesh)
    assert out["frames"].shape == (8, 3) and len(out["frames"].addressable_shards) == 4
    for shard in out["frames"].addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), batch["frames"][shard.index])
    np.testing.assert_array_equal(np.asarray(out["index"]), batch["index"])
    with pytest.raises(ValueError, match="does not split over"):
        batching.to_global({"x": np.zeros((6, 2))}, mesh)
