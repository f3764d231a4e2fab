"""evaluation/exported.py's one reader: files written by earlier versions read in the current keys."""

import json

import numpy as np
import pytest

from gei_model import export_gei
from selfgait_jax.evaluation import exported, identify

OPEN_SET = {"threshold": 0.7, "metric": "euclidean", "far": 0.01, "target_far": 0.01, "dataset": "synthgait_b",
            "source": "test"}
VERSION_1_KEYS = ("format", "version", "platforms", "inputs", "output", "parts", "dim", "num_params", "model",
                  "dataset", "step")


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    path = tmp_path_factory.mktemp("versions") / "v3.npz"
    export_gei(path, open_set=OPEN_SET)
    return path


def _rewrite(src, dst, change, fingerprint=True):
    """``src`` with its metadata changed by ``change`` (and its fingerprint made to fit, as the
    version that wrote such a file would have)."""
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta.pop("fingerprint")
    meta = change(meta)
    if fingerprint:
        params = [arrays[f"param_{i:05d}"] for i in range(meta["num_params"])]
        meta["fingerprint"] = exported.fingerprint(meta, arrays["stablehlo"].tobytes(), params)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


def test_a_current_file_stores_the_threshold_once(current):
    found = exported.read_file(current)
    assert found.problems == () and found.meta["version"] == exported.VERSION == 3
    assert found.meta["open_set"] == {k: OPEN_SET[k] for k in ("source", "dataset", "threshold", "target_far",
                                                               "far", "metric")}
    assert "open_set_threshold" not in found.meta
    assert identify.stored_threshold(found.meta, "euclidean")[0] == 0.7


def test_a_version_2_file_reads_as_version_3(current, tmp_path):
    def both(meta):  # version 2 as last written: the threshold twice
        return {**meta, "version": 2, "open_set_threshold": meta["open_set"]["threshold"]}

    def threshold_only(meta):  # version 2 before "open_set" existed
        return {**{k: v for k, v in meta.items() if k != "open_set"}, "version": 2, "open_set_threshold": 0.7}

    now = exported.read_file(current).meta
    found = exported.read_file(_rewrite(current, tmp_path / "both.npz", both))
    assert found.problems == () and found.meta["version"] == 2  # the fingerprint is of the file as written
    differ = ("version", "fingerprint")  # the metadata's hash covers the version and the second threshold
    assert {k: v for k, v in found.meta.items() if k not in differ} == {k: v for k, v in now.items() if k not in differ}
    found = exported.read_file(_rewrite(current, tmp_path / "threshold_only.npz", threshold_only))
    assert found.problems == () and "open_set_threshold" not in found.meta
    assert found.meta["open_set"] == {"threshold": 0.7, "metric": "euclidean"}
    assert identify.stored_threshold(found.meta, "euclidean") == (
        0.7, "threshold 0.7 stored with the model (euclidean)")
    assert identify.stored_threshold(found.meta, "cosine")[0] is None


def test_a_version_1_file_reads_with_nothing_more_known(current, tmp_path):
    def version_1(meta):
        return {**{k: meta[k] for k in VERSION_1_KEYS}, "version": 1}

    path = _rewrite(current, tmp_path / "v1.npz", version_1, fingerprint=False)
    found = exported.read_file(path)
    assert found.problems == ("no fingerprint stored (a version-1 file): its integrity cannot be checked",)
    meta = found.meta
    assert meta["evaluations"] == [] and meta["open_set"] is None and meta["config"] is None
    assert meta["versions"] == {} and meta["parameter_count"] is None and meta["model"] == "gei"
    assert identify.stored_threshold(meta, "euclidean")[0] is None
    described = exported.describe(meta)
    assert "model: gei, ? parameters" in described and "open-set threshold: None" in described
    frames = np.zeros((2, 5, 64, 44), np.uint8)
    frames[:, :, 20:40, 10:30] = 255
    np.testing.assert_array_equal(exported.load_exported(path)(frames), exported.load_exported(current)(frames))
    with pytest.raises(ValueError, match="no fingerprint stored"):
        exported.verify_file(path)
