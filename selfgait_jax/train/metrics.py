"""Observability: ``workdir/metrics.jsonl``, TensorBoard event files and a console progress line.

Scalars arrive here already on the host: the loop fetches device values only every ``log_every``
steps. TensorBoard events are written by ``clu.metric_writers.SummaryWriter`` (TensorFlow's summary
writer; clu's TensorFlow writer needs the ``tensorboard`` package, a dependency of selfgait_jax), or,
where clu or TensorFlow does not import (a GPU host with JAX only), by the ``tensorboard`` package's
own event file writer, which writes the same scalar summaries. Both are imported when a TrainLog is
made, so importing this module needs neither TensorFlow nor TensorBoard.
"""

import json
import logging
import os
import time

_log = logging.getLogger(__name__)


def _tensorboard_writer(logdir: str):
    """A plain TensorBoard writer (no console logging of its own: TrainLog prints the progress):
    clu's, else, without clu or TensorFlow, ``EventFileScalars``."""
    try:
        from clu import metric_writers  # pylint: disable=g-import-not-at-top
    except ImportError as error:
        _log.info("TensorBoard events by the tensorboard package's writer (clu does not import: %s)", error)
        return EventFileScalars(logdir)
    return metric_writers.SummaryWriter(logdir)


class EventFileScalars:
    """Scalars as TensorBoard event files with the ``tensorboard`` package alone (no TensorFlow):
    the summaries clu's writer makes, a float32 scalar tensor under TensorBoard's "scalars" plugin."""

    def __init__(self, logdir: str):
        try:
            # pylint: disable=g-import-not-at-top
            from tensorboard.compat.proto import event_pb2
            from tensorboard.plugins.scalar import summary_v2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as error:
            raise ImportError(f"TensorBoard logging needs the tensorboard package, a dependency of "
                              f"selfgait_jax (pip install tensorboard): {error}") from error
        self._event, self._scalar = event_pb2.Event, summary_v2.scalar_pb
        self._writer = EventFileWriter(logdir)

    def write_scalars(self, step: int, scalars: dict):
        for tag, value in scalars.items():
            self._writer.add_event(self._event(wall_time=time.time(), step=int(step),
                                               summary=self._scalar(tag, float(value))))

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


class TrainLog:
    """Writes one record per logged step; adds ``steps_per_sec`` and prints progress with ETA."""

    def __init__(self, workdir: str, total_steps: int, start_step: int, name: str = "train",
                 enabled: bool = True):
        self._enabled = enabled
        if enabled:
            os.makedirs(workdir, exist_ok=True)
            self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
            self._tb = _tensorboard_writer(os.path.join(workdir, "tensorboard"))
        self._total = int(total_steps)
        self._name = name
        self._last_step = int(start_step)
        self._last_time = time.perf_counter()

    def write(self, step: int, scalars: dict) -> dict:
        """``step`` is the number of steps done; returns the record written."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        record = {"step": int(step), **{k: float(v) for k, v in scalars.items()},
                  "steps_per_sec": rate}
        if not self._enabled:
            return record
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        self._tb.write_scalars(int(step), {k: v for k, v in record.items() if k != "step"})
        eta = (self._total - step) / rate if rate > 0 else float("inf")
        _log.info("%s step %d/%d  %s  %.2f steps/s  ETA %s", self._name, step, self._total,
                  headline(record), rate, _format_seconds(eta))
        return record

    def write_eval(self, step: int, scalars: dict):
        """Evaluation scalars (e.g. ``eval/NM_rank1``) as their own record."""
        if not self._enabled:
            return
        record = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        self._tb.write_scalars(int(step), scalars)
        _log.info("%s step %d  %s", self._name, step,
                  "  ".join(f"{k} {v:.2f}" for k, v in scalars.items()))

    def close(self):
        if not self._enabled:
            return
        self._jsonl.close()
        self._tb.flush()
        self._tb.close()


def headline(record: dict) -> str:
    """What the progress line says of learning: the loss, and for the triplet loss the share of
    triplets still violating the margin (both fall as the embedding learns; train/steps.py)."""
    text = f"loss {record['loss']:.4f}"
    if "nonzero_fraction" in record:
        text += f" (non-zero triplets {100 * record['nonzero_fraction']:.1f} %)"
    return text


def _format_seconds(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
