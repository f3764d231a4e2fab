"""The tf.data back end of the training input pipelines (``pipelines.py`` chooses it when
TensorFlow imports): a ``BatchPlan``'s batches as a ``tf.data.Dataset``.

Only the plan's small index arrays cross from numpy to TensorFlow; gathering and unpacking the frames
are TF ops, run in parallel map calls outside the GIL, then prefetched. TensorFlow must not take GPU
memory from JAX: GPUs are hidden from it when this module is imported.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from selfgait_jax.data.batch_plans import UNPACK_TABLE, BatchPlan
from selfgait_jax.data.sequence import FRAME_SHAPE

_log = logging.getLogger(__name__)

try:
    tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # TF devices already initialised (TF imported elsewhere first): nothing to hide now
    _log.warning("TensorFlow was initialised before selfgait_jax.data.tf_input; it may see GPUs")

# Batches made ahead of the training step. A fixed depth, since autotuning is off (see `_finish`).
PREFETCH_BATCHES = 2


def _frames_op(store):
    """A TF function: flat frame rows int64 [...] -> uint8 frames [..., 64, 44]."""
    frames = tf.constant(store.frames)
    table = tf.constant(UNPACK_TABLE)
    packed = store.packed

    def gather(rows):
        x = tf.gather(frames, rows)
        if packed:
            x = tf.gather(table, tf.cast(x, tf.int32))  # [..., 352, 8]
        return tf.reshape(x, tf.concat([tf.shape(rows), FRAME_SHAPE], axis=0))

    return gather


def _finish(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Prefetch, with tf.data's autotuning turned off.

    Autotuning runs one optimisation thread per iterator (Model::OptimizeLoop) that sleeps between
    rounds, the period doubling up to 60 s; deleting the iterator cancels and joins it. TensorFlow
    wakes the thread before it marks the iterator cancelled, so on a busy machine the thread can see
    "not cancelled" and sleep out the rest of its period: the end of a few-minute training stage
    stalled for up to a minute (main thread in RootDataset::Iterator::~Iterator). Without autotuning
    there is no such thread; AUTOTUNE map parallelism then means one call per core.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)


def dataset(plan: BatchPlan, start_batch: int = 0) -> tf.data.Dataset:
    """Batches start_batch, start_batch+1, ... of ``plan``: the same arrays as ``plan.batch(i)``."""
    if start_batch < 0:
        raise ValueError(f"start_batch must be >= 0, got {start_batch}")
    keys = tuple(plan.outputs)
    out_types = tuple(tf.as_dtype(plan.outputs[key][1]) for key in keys)

    def planned(i):
        rows = plan.rows(int(i))
        return tuple(rows[key] for key in keys)

    gather = _frames_op(plan.store)

    def assemble(*arrays):
        batch = {}
        for key, array in zip(keys, arrays):
            array = tf.ensure_shape(array, plan.outputs[key][0])
            batch[key] = gather(array) if key in plan.frame_keys else array
        return batch

    ds = tf.data.Dataset.counter(start=start_batch).map(
        lambda i: tf.numpy_function(planned, [i], out_types, stateful=False),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _finish(ds.map(assemble, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
