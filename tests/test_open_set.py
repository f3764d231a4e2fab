"""The open-set threshold: genuine and impostor distances to identities, a threshold at a false-accept rate."""

import numpy as np
import pytest

from selfgait_jax.evaluation import identify, open_set


def test_threshold_accepts_at_most_the_asked_fraction_of_impostors():
    impostor = np.arange(1, 101, dtype=np.float64)  # 1..100
    for far, accepted in ((0.01, 1), (0.05, 5), (0.5, 50), (0.001, 0)):
        t = open_set.threshold_at(impostor, far)
        assert np.sum(impostor <= t) == accepted
    assert open_set.threshold_at(impostor, 0.05) == 5.5
    ties = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert np.sum(ties <= open_set.threshold_at(ties, 0.4)) == 1  # never half of a tie


def test_distances_to_identities_are_to_their_nearest_sequence():
    # One part, one dimension: distances are absolute differences.
    emb = np.array([0.0, 10.0, 3.0, 20.0, 1.0, 9.0, 50.0], np.float32)[:, None, None]
    subjects = ["a", "b", "a", "c", "a", "b", "d"]
    gallery, probes = [0, 1, 2, 3], [4, 5, 6]
    dist, identities = open_set.identity_distances(emb, subjects, gallery, probes, block=2, chunk=2)
    assert identities == ["a", "b", "c"]
    np.testing.assert_allclose(dist, [[1, 9, 19], [6, 1, 11], [47, 40, 30]])
    result = open_set.evaluate(emb, subjects, gallery, probes, far=0.3)
    # genuine: 1 (a), 1 (b); impostor: 9, 19 (a), 6, 11 (b), 47, 40, 30 (d has no identity: all are)
    assert (result["genuine"], result["impostor"], result["identities"]) == (2, 7, 3)
    # sorted impostors 6, 9, 11, ...: 2 of 7 may pass at 0.3, so the threshold is midway from 9 to 11
    assert result["threshold"] == 10.0 and result["far"] == pytest.approx(2 / 7) and result["tar"] == 1.0
    # as strangers (own identity left out) a and b are 9 and 6 from someone: accepted; d (30) is not
    assert result["identification"]["false_alarm"] == pytest.approx(2 / 3)
    assert result["identification"]["detect_and_identify"] == 1.0
    curve = result["curve"]
    assert curve["far"] == sorted(curve["far"]) and curve["tar"] == sorted(curve["tar"]) and curve["far"][-1] == 1.0


def test_decide_answers_unknown_above_the_threshold():
    m = [identify.Match("alice", 0.4, "t", "v"), identify.Match("bob", 0.9, "t", "v")]
    assert identify.decide(m, 0.5) == "alice"
    assert identify.decide(m, 0.3) == "unknown"
    assert identify.decide(m, None) == "alice" and identify.decide([], 1.0) == "unknown"
    meta = {"open_set": {"threshold": 0.5, "metric": "euclidean", "far": 0.01, "dataset": "synthgait_b"}}
    assert identify.stored_threshold(meta, "euclidean")[0] == 0.5
    threshold, why = identify.stored_threshold(meta, "cosine")
    assert threshold is None and "euclidean distance, not cosine" in why
    assert identify.stored_threshold({"open_set": None}, "euclidean")[0] is None
