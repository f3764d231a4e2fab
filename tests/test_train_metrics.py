"""train/metrics.py: the scalars TrainLog writes reach metrics.jsonl and TensorBoard's event file."""

import json
import sys

import pytest
from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator
from tensorboard.util import tensor_util

from selfgait_jax.train.metrics import EventFileScalars, TrainLog


def _tensorboard_scalars(logdir) -> dict:
    """``{tag: [(step, value), ...]}`` as TensorBoard reads the event files in ``logdir``."""
    events = accumulator.EventAccumulator(str(logdir), size_guidance={accumulator.TENSORS: 0})
    events.Reload()
    return {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto).item()) for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]}


@pytest.mark.parametrize("writer", ["clu", "tensorboard alone"])
def test_scalars_reach_tensorboard_and_jsonl(tmp_path, monkeypatch, writer):
    """clu's writer, or where clu (or the TensorFlow it writes with) does not import, the
    tensorboard package's own: the same scalars reach the event files either way."""
    if writer != "clu":
        monkeypatch.setitem(sys.modules, "clu", None)  # `from clu import ...` raises ImportError
    log = TrainLog(str(tmp_path), total_steps=4, start_step=0, name="test")
    assert isinstance(log._tb, EventFileScalars) == (writer != "clu")
    log.write(2, {"loss": 1.5, "lr": 1e-4})
    log.write(4, {"loss": 0.75, "lr": 1e-4})
    log.write_eval(4, {"eval/NM_rank1": 81.25})
    log.close()

    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    scalars = _tensorboard_scalars(tmp_path / "tensorboard")
    assert set(scalars) == {"loss", "lr", "steps_per_sec", "eval/NM_rank1"}
    assert scalars["loss"] == [(2, 1.5), (4, 0.75)]
    assert [step for step, _ in scalars["lr"]] == [2, 4]
    assert scalars["lr"][0][1] == pytest.approx(1e-4)
    assert scalars["eval/NM_rank1"] == [(4, 81.25)]

    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 4]
    assert records[1]["loss"] == 0.75 and records[2] == {"step": 4, "eval/NM_rank1": 81.25}


def test_a_disabled_log_writes_nothing(tmp_path):
    log = TrainLog(str(tmp_path / "other_process"), total_steps=2, start_step=0, enabled=False)
    assert log.write(2, {"loss": 1.0})["loss"] == 1.0
    log.write_eval(2, {"eval/NM_rank1": 50.0})
    log.close()
    assert not (tmp_path / "other_process").exists()


def test_the_progress_line_shows_the_triplet_losss_non_zero_share():
    from selfgait_jax.train.metrics import headline

    assert headline({"loss": 1.16754, "lr": 1e-3}) == "loss 1.1675"
    assert headline({"loss": 0.0512, "nonzero_fraction": 0.4321, "loss_nonzero_mean": 0.2}) == \
        "loss 0.0512 (non-zero triplets 43.2 %)"
