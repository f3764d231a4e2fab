"""Progress of long loops on stderr: done / total, rate and ETA, the same way everywhere.

``progress(iterable, total=, desc=, unit=)`` is a tqdm bar (iterate it, or ``update(n)`` it inside a
``with``). Data generation, embedding, ranking and the video frame loop report through it; the
training loop reports steps/s and ETA in its own log lines (train/metrics.py).

- On a terminal: tqdm's bar, redrawn in place.
- Into a file or a pipe (a log of a background run): the same status as a whole line, at most every
  ``LOG_INTERVAL_S`` seconds, so the log holds no carriage returns.
- Nothing for a loop that ends within ``DELAY_S`` seconds, or with ``enabled=False`` (e.g. on all
  processes but the first), or when the environment sets ``TQDM_DISABLE=1``.

The final line stays (``leave``): a log then records how long each stage took.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

DELAY_S = 2.0  # a loop shorter than this prints nothing
LOG_INTERVAL_S = 15.0  # off a terminal: one status line at most this often
_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:3.0f}%) [{elapsed}<{remaining}, {rate_fmt}]"
_LINE_FORMAT_NO_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}]"


class _Lines:
    """tqdm's output off a terminal: each redraw (``"\\r" + status``) becomes one line of its own."""

    def __init__(self, file):
        self._file = file

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self._file.write(text + "\n")

    def flush(self) -> None:
        self._file.flush()


def _is_terminal(file) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def progress(iterable=None, *, total: int | None = None, desc: str, unit: str = "it",
             enabled: bool = True, file=None, delay: float | None = None,
             log_interval: float | None = None) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand) on ``file`` (default: the current stderr).

    ``total`` defaults to ``len(iterable)`` where it has one. With ``enabled=False`` the bar is
    silent: iterating it yields the items and ``update`` does nothing. ``delay`` and
    ``log_interval`` default to ``DELAY_S`` and ``LOG_INTERVAL_S``.
    """
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    file = sys.stderr if file is None else file
    delay = DELAY_S if delay is None else delay
    log_interval = LOG_INTERVAL_S if log_interval is None else log_interval
    if _is_terminal(file):
        options = {"file": file, "dynamic_ncols": True}
    else:  # maxinterval: tqdm's monitor thread would otherwise redraw more often than log_interval
        known_total = total is not None or hasattr(iterable, "__len__")
        options = {"file": _Lines(file), "mininterval": log_interval, "maxinterval": float("inf"),
                   "bar_format": _LINE_FORMAT if known_total else _LINE_FORMAT_NO_TOTAL}
    # `disable` is left to tqdm's default, so that TQDM_DISABLE=1 silences every bar.
    return tqdm(iterable, total=total, desc=desc, unit=unit, delay=delay, **options)
