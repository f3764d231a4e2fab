"""Training input pipelines: pretext windows or clip pairs (pretraining) and P x K triplet batches
(fine-tuning), each an endless iterator of numpy batches, batch ``start_batch`` first.

What batch i holds is decided once, by a plan (``batch_plans.py``: the frames stored in memory,
bit-packed, and the numpy samplers, pure in (seed, i)), so ``start_batch=n`` gives exactly the batches
n, n+1, ... of an uninterrupted run. Two back ends make a plan's batches, the same arrays bit for bit
(tests/test_pipelines.py compares them):

- ``"tf"``: tf.data (``tf_input.py``): the frames are gathered and unpacked by TF ops in parallel map
  calls, then prefetched.
- ``"numpy"``: ``BatchPlan.batch`` in ``NUMPY_WORKERS`` background threads (np.unpackbits releases
  the GIL), ``PREFETCH_BATCHES`` batches ahead of the training step. It is what a GPU host without
  TensorFlow trains with (docs/gpu_recipe.md).

Which one: the ``backend`` argument; else the environment variable ``SELFGAIT_INPUT_BACKEND``
(``tf`` or ``numpy``); else ``tf`` when TensorFlow imports and ``numpy`` when it does not (said once
in an INFO line). An environment variable rather than a config key because the choice changes no
batch, so no run's config, stored with its checkpoints, should depend on the host it ran on.
Importing this module imports no TensorFlow.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import logging
import os
from typing import Iterator, Sequence

import numpy as np

from selfgait_jax.data import batch_plans
from selfgait_jax.data.batch_plans import FrameStore  # noqa: F401  (the pipelines' `store=` argument)

_log = logging.getLogger(__name__)

BACKENDS = ("tf", "numpy")
BACKEND_ENV = "SELFGAIT_INPUT_BACKEND"
# The numpy back end: batches made ahead of the training step, by this many threads. A full-size
# batch (128 sequences x 30 frames) takes about 15 ms to gather and unpack on one core.
PREFETCH_BATCHES = 4
NUMPY_WORKERS = 2


def _tf_input():
    """The tf.data back end's module; importing it imports TensorFlow."""
    from selfgait_jax.data import tf_input  # pylint: disable=g-import-not-at-top

    return tf_input


@functools.cache
def _default_backend() -> str:
    try:
        _tf_input()
    except ImportError as error:
        _log.info("input pipeline: numpy back end (TensorFlow does not import: %s)", error)
        return "numpy"
    return "tf"


def resolve_backend(backend: str | None = None) -> str:
    """The back end the pipelines use: ``backend``, else ``$SELFGAIT_INPUT_BACKEND``, else "tf"
    when TensorFlow imports, else "numpy". An unknown name is a ValueError naming where it came from."""
    chosen = backend or os.environ.get(BACKEND_ENV, "")
    if not chosen:
        return _default_backend()
    if chosen not in BACKENDS:
        where = f"backend={backend!r}" if backend else f"{BACKEND_ENV}={chosen!r}"
        raise ValueError(f"{where}: expected one of {', '.join(BACKENDS)}")
    return chosen


def numpy_batches(plan: batch_plans.BatchPlan, start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """The numpy back end: ``plan.batch(start_batch)``, ``plan.batch(start_batch + 1)``, ... made
    ahead in background threads, handed out in order. Closing the iterator (or dropping it) cancels
    the batches not yet started."""
    if start_batch < 0:
        raise ValueError(f"start_batch must be >= 0, got {start_batch}")

    def generate():
        pool = concurrent.futures.ThreadPoolExecutor(NUMPY_WORKERS, thread_name_prefix="selfgait-input")
        pending = collections.deque()
        number = start_batch
        try:
            while True:
                while len(pending) < PREFETCH_BATCHES:
                    pending.append(pool.submit(plan.batch, number))
                    number += 1
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return generate()


def _batches(plan: batch_plans.BatchPlan, start_batch: int, backend: str | None):
    if resolve_backend(backend) == "numpy":
        return numpy_batches(plan, start_batch)
    return _tf_input().dataset(plan, start_batch).as_numpy_iterator()


def make_pretext_pipeline(source, indices: Sequence[int], *, start_batch: int = 0,
                          backend: str | None = None, **kwargs) -> Iterator[dict[str, np.ndarray]]:
    """Pretext windows (``batch_plans.pretext_plan`` says what a batch holds and takes ``kwargs``)."""
    return _batches(batch_plans.pretext_plan(source, indices, **kwargs), start_batch, backend)


def make_clip_pair_pipeline(source, indices: Sequence[int], *, start_batch: int = 0,
                            backend: str | None = None, **kwargs) -> Iterator[dict[str, np.ndarray]]:
    """Clip pairs of the two-clip pretexts (``batch_plans.clip_pair_plan``; ``kwargs`` go there)."""
    return _batches(batch_plans.clip_pair_plan(source, indices, **kwargs), start_batch, backend)


def make_triplet_pipeline(source, indices: Sequence[int], *, start_batch: int = 0,
                          backend: str | None = None, **kwargs) -> Iterator[dict[str, np.ndarray]]:
    """P x K triplet batches (``batch_plans.triplet_plan``; ``kwargs`` go there)."""
    return _batches(batch_plans.triplet_plan(source, indices, **kwargs), start_batch, backend)


def pretext_dataset(source, indices: Sequence[int], *, start_batch: int = 0, **kwargs):
    """``make_pretext_pipeline``'s batches as a ``tf.data.Dataset`` (imports TensorFlow)."""
    return _tf_input().dataset(batch_plans.pretext_plan(source, indices, **kwargs), start_batch)


def clip_pair_dataset(source, indices: Sequence[int], *, start_batch: int = 0, **kwargs):
    """``make_clip_pair_pipeline``'s batches as a ``tf.data.Dataset`` (imports TensorFlow)."""
    return _tf_input().dataset(batch_plans.clip_pair_plan(source, indices, **kwargs), start_batch)


def triplet_dataset(source, indices: Sequence[int], *, start_batch: int = 0, **kwargs):
    """``make_triplet_pipeline``'s batches as a ``tf.data.Dataset`` (imports TensorFlow)."""
    return _tf_input().dataset(batch_plans.triplet_plan(source, indices, **kwargs), start_batch)
