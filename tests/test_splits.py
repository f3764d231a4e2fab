"""Protocol splits and the label-fraction subset on metadata lists built in the test."""

import json
import pathlib

import ml_collections
import numpy as np
import pytest

from selfgait_jax.data.splits import (
    casia_b_protocol, label_fraction_subset, load_partition, ou_mvlp_protocol, pool_indices, pool_size,
    protocol_for, protocol_of)
from selfgait_jax.data.sequence import CASIA_B_TYPES, OU_MVLP_TYPES, SequenceMeta
from selfgait_jax.errors import ConfigError


def casia_metas(num_subjects, views=("000", "090")):
    return [SequenceMeta(f"{s:03d}", t, v) for s in range(1, num_subjects + 1) for t in CASIA_B_TYPES for v in views]


def test_casia_b_split_is_the_lt_protocol():
    metas = casia_metas(124)
    p = casia_b_protocol(metas)
    assert p.train_subjects == tuple(f"{s:03d}" for s in range(1, 75))
    assert p.test_subjects == tuple(f"{s:03d}" for s in range(75, 125))
    assert len(p.train) == 74 * 10 * 2
    assert {metas[i].type for i in p.gallery} == {"nm-01", "nm-02", "nm-03", "nm-04"}
    assert {metas[i].type for i in p.probes["NM"]} == {"nm-05", "nm-06"}
    assert {metas[i].type for i in p.probes["BG"]} == {"bg-01", "bg-02"}
    assert {metas[i].type for i in p.probes["CL"]} == {"cl-01", "cl-02"}
    assert len(p.gallery) == 50 * 4 * 2 and all(len(v) == 50 * 2 * 2 for v in p.probes.values())
    train = {metas[i].subject for i in p.train}
    test = {metas[i].subject for i in np.concatenate([p.gallery, *p.probes.values()])}
    assert not train & test


def test_casia_b_numbering_survives_a_missing_subject():
    metas = [m for m in casia_metas(124) if m.subject != "100"]
    p = casia_b_protocol(metas)
    assert p.train_subjects[-1] == "074" and p.test_subjects[0] == "075" and len(p.test_subjects) == 49


def test_scaled_down_split_keeps_the_proportion():
    p = protocol_for("synthgait_b", casia_metas(6))
    assert p.train_subjects == ("001", "002", "003", "004") and p.test_subjects == ("005", "006")
    p = protocol_for("synthgait_b", casia_metas(20))
    assert len(p.train_subjects) == round(20 * 74 / 124) == 12


def test_ou_mvlp_split_and_pkl_tree_detection():
    metas = [SequenceMeta(f"{s:05d}", t, v) for s in range(1, 12) for t in OU_MVLP_TYPES for v in ("000", "015")]
    p = ou_mvlp_protocol(metas)
    assert len(p.train_subjects) == 5 and len(p.test_subjects) == 6
    assert {metas[i].type for i in p.gallery} == {"01"} and {metas[i].type for i in p.probes["NM"]} == {"00"}
    assert protocol_for("opengait_pkl", metas).name == "ou_mvlp"
    assert protocol_for("opengait_pkl", casia_metas(4)).name == "casia_b"
    with pytest.raises(ValueError, match="data.name"):
        protocol_for("mnist", metas)


def test_label_fraction_subset():
    metas = casia_metas(10)
    train = casia_b_protocol(metas).train  # 6 subjects x 20 sequences
    subset = label_fraction_subset(metas, 0.4, seed=3, indices=train)
    assert len(subset) == round(0.4 * len(train)) == 48
    assert set(subset) <= set(train) and len(set(subset)) == len(subset)
    counts = {}
    for i in subset:
        counts[metas[i].subject] = counts.get(metas[i].subject, 0) + 1
    assert len(counts) == 6 and min(counts.values()) >= 2
    np.testing.assert_array_equal(subset, label_fraction_subset(metas, 0.4, seed=3, indices=train))
    assert not np.array_equal(subset, label_fraction_subset(metas, 0.4, seed=4, indices=train))
    # A budget too small for two per subject (7 of 120 for 6 subjects): 3 subjects get two each and
    # one of them a third; nobody is labelled with a single sequence, which no triplet could use.
    small = label_fraction_subset(metas, 0.06, seed=0, indices=train)
    small_counts = {}
    for i in small:
        small_counts[metas[i].subject] = small_counts.get(metas[i].subject, 0) + 1
    assert len(small) == 7 and len(small_counts) == 3 and min(small_counts.values()) >= 2
    assert sorted(small_counts.values()) == [2, 2, 3]
    tiny = label_fraction_subset(metas, 0.01, seed=0, indices=train)  # a budget of 1: one subject, two
    assert len(tiny) == 2 and len({metas[i].subject for i in tiny}) == 1
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_subset(metas, 0.0, seed=0)


def ou_metas(num_subjects, views=("000", "015", "030")):
    return [SequenceMeta(f"{s:05d}", t, v) for s in range(1, num_subjects + 1) for t in OU_MVLP_TYPES for v in views]


@pytest.mark.parametrize("name", ["synthgait_b", "casia_b", "ou_mvlp", "synthgait_mv", "opengait_pkl", "casia_b_pkl"])
def test_pool_mode_draws_from_the_training_split_only(name):
    ou_shape = name in ("ou_mvlp", "synthgait_mv")
    metas = ou_metas(40) if ou_shape else casia_metas(20, views=("000", "090", "180"))
    protocol = protocol_for(name, metas)
    test_subjects = set(protocol.test_subjects)
    for ratio, seed in [(2.0, 0), (4.0, 0), (0.5, 7), (3.0, 123)]:
        pool = pool_indices(name, metas, pool_ratio=ratio, pool_base_sequences=10, seed=seed)
        assert len(pool) == pool_size(ratio, 10) == int(np.ceil(ratio * 10))
        assert len(set(pool.tolist())) == len(pool) and np.all(np.diff(pool) > 0)
        assert set(pool.tolist()) <= set(protocol.train.tolist())
        assert not {metas[i].subject for i in pool} & test_subjects  # no test subject, ever
    # Pool mode off: the whole training split, as before.
    np.testing.assert_array_equal(pool_indices(name, metas), protocol.train)


def test_pool_is_deterministic_by_seed_and_nested_across_ratios():
    metas = casia_metas(124, views=("000", "090"))
    sg = {r: pool_indices("synthgait_b", metas, r, 100, seed=5) for r in (2.0, 4.0, 6.0)}
    np.testing.assert_array_equal(sg[2.0], pool_indices("synthgait_b", metas, 2.0, 100, seed=5))
    assert not np.array_equal(sg[2.0], pool_indices("synthgait_b", metas, 2.0, 100, seed=6))
    assert set(sg[2.0]) <= set(sg[4.0]) <= set(sg[6.0])  # SG-2 inside SG-4 inside SG-6
    assert [len(v) for v in sg.values()] == [200, 400, 600]
    # It is a draw over the split, not its first subjects.
    assert len({metas[i].subject for i in sg[2.0]}) > 200 // 20
    # ceil, and no float noise: 0.1 x 30 = 3 sequences, not 4
    assert len(pool_indices("synthgait_b", metas, 0.1, 30)) == 3
    assert len(pool_indices("synthgait_b", metas, 0.11, 30)) == 4


def test_pool_too_small_or_misconfigured_names_the_keys():
    metas = casia_metas(124, views=("000",))  # 74 x 10 = 740 training sequences
    assert len(pool_indices("casia_b", metas, 1.0, 740)) == 740
    with pytest.raises(ConfigError, match=r"config\.data\.pool_ratio: 2 x data\.pool_base_sequences=740 "
                                          r"asks for 1480 .* has only 740") as error:
        pool_indices("casia_b", metas, 2.0, 740)
    assert error.value.key == "data.pool_ratio"
    with pytest.raises(ConfigError, match=r"data\.pool_base_sequences") as error:
        pool_indices("casia_b", metas, 2.0, 0)
    assert error.value.key == "data.pool_base_sequences"
    with pytest.raises(ConfigError, match=r"data\.pool_ratio") as error:
        pool_indices("casia_b", metas, -1.0, 10)
    assert error.value.key == "data.pool_ratio"


def test_unlabelled_pool_is_used_whole():
    metas = [SequenceMeta(f"u{s:05d}", t, "000") for s in range(1, 5) for t in OU_MVLP_TYPES]
    np.testing.assert_array_equal(pool_indices("synthgait_pool", metas, 2.0, 3), np.arange(8))


PARTITIONS = pathlib.Path(__file__).parent / "data" / "opengait_partitions"  # OpenGait's own files


def test_opengait_casia_b_partition_is_the_default_lt_split():
    metas = casia_metas(124)
    default, opengait = casia_b_protocol(metas), protocol_for("casia_b", metas, str(PARTITIONS / "CASIA-B.json"))
    assert opengait.train_subjects == default.train_subjects and opengait.test_subjects == default.test_subjects
    for a, b in ((opengait.train, default.train), (opengait.gallery, default.gallery),
                 *((opengait.probes[c], default.probes[c]) for c in default.probes)):
        np.testing.assert_array_equal(a, b)
    assert opengait.partition.endswith("CASIA-B.json") and opengait.unassigned_subjects == ()


def test_opengait_ou_mvlp_partition_differs_from_the_default_split():
    """OpenGait: odd ids train, even ids (and 10307) test; default: the first 5,153 sorted ids."""
    metas = [SequenceMeta(f"{s:05d}", t, "000") for s in range(1, 10308) for t in OU_MVLP_TYPES]
    default = protocol_for("ou_mvlp", metas)
    opengait = protocol_for("ou_mvlp", metas, str(PARTITIONS / "OUMVLP.json"))
    assert len(opengait.train_subjects) == len(default.train_subjects) == 5153
    assert len(opengait.test_subjects) == len(default.test_subjects) == 5154
    assert all(int(s) % 2 == 1 for s in opengait.train_subjects)
    assert default.train_subjects == tuple(f"{s:05d}" for s in range(1, 5154))
    assert len(set(default.train_subjects) & set(opengait.test_subjects)) == 2576  # trained on, tested on
    assert {metas[i].type for i in opengait.gallery} == {"01"} and opengait.name == "ou_mvlp"
    data = ml_collections.ConfigDict({"name": "ou_mvlp", "partition": str(PARTITIONS / "OUMVLP.json"),
                                      "validation_subjects": 0})
    assert protocol_of(data, metas).train_subjects == opengait.train_subjects
    pool = pool_indices("ou_mvlp", metas, partition=str(PARTITIONS / "OUMVLP.json"))
    np.testing.assert_array_equal(pool, opengait.train)


def test_shipped_casia_b_partitions_by_name():
    """OpenGait's include_005 file is its CASIA-B.json since 2023 (the default LT split); its older
    CASIA-B.json, GaitSet's split, trains on 73 subjects: 005 is left out of both sets."""
    metas = casia_metas(124)
    default = casia_b_protocol(metas)
    for name in ("casia_b", "casia_b_include_005"):
        named = protocol_for("casia_b_pkl", metas, name)
        assert named.train_subjects == default.train_subjects and named.test_subjects == default.test_subjects
        assert load_partition(name) == load_partition(PARTITIONS / "CASIA-B.json")
        assert pathlib.Path(named.partition).is_file()  # the file, so its sha256 can be recorded
    gaitset = protocol_for("casia_b_pkl", metas, "casia_b_exclude_005")
    assert len(gaitset.train_subjects) == 73 and "005" not in gaitset.train_subjects
    assert gaitset.test_subjects == default.test_subjects and gaitset.unassigned_subjects == ("005",)
    with pytest.raises(ConfigError, match="casia_b_include_05.*casia_b_include_005"):
        load_partition("casia_b_include_05")


def test_partition_subjects_outside_the_file_or_the_data(tmp_path):
    path = tmp_path / "part.json"
    path.write_text(json.dumps({"TRAIN_SET": ["001", "002", "003", "999"], "TEST_SET": ["005", "006"]}))
    p = protocol_for("synthgait_b", casia_metas(6), str(path))
    assert p.train_subjects == ("001", "002", "003") and p.test_subjects == ("005", "006")
    assert p.unassigned_subjects == ("004",)  # in the data, in neither set: unused


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read"),
    (json.dumps({"TRAIN_SET": ["001"]}), "no list of subject ids under 'TEST_SET'"),
    (json.dumps({"TRAIN_SET": ["001", "002"], "TEST_SET": ["002"]}), "1 subjects in both"),
    (json.dumps({"TRAIN_SET": ["001"], "TEST_SET": ["777"]}), "none of the 1 TEST_SET subjects"),
])
def test_bad_partition_files_name_the_key_and_the_path(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"config.data.partition: .*{message}") as error:
        protocol_for("casia_b", casia_metas(4), str(path))
    assert error.value.key == "data.partition"
    assert load_partition(PARTITIONS / "CASIA-B.json")[0][:2] == ("001", "002")


def test_the_dataset_table_is_what_protocols_and_data_configs_read():
    from selfgait_jax.data import datasets, sources

    for name, dataset in datasets.DATASETS.items():
        assert dataset.reader in datasets.READERS and dataset.protocol in (*datasets.PROTOCOLS, ""), name
        assert datasets.labelled(name) == dataset.labelled == (name != "synthgait_pool")
        for size in ("full", "tiny"):
            cfg = sources.data_config(name, size)
            assert cfg.name == name and bool(cfg.views) == dataset.generated
            if dataset.generated:
                assert tuple(cfg.views) == dataset.scale(size).views and tuple(cfg.types) == dataset.types
    assert not datasets.labelled("mnist")
    with pytest.raises(ValueError, match="has no evaluation protocol"):
        protocol_for("synthgait_pool", casia_metas(4))
