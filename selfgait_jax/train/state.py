"""The whole training state as one pytree, its initialisation, BYOL's EMA target update and the
InfoNCE queue of negatives."""

import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from selfgait_jax.data.sequence import FRAME_SHAPE
from selfgait_jax.models.contract import dummy_inputs


@flax.struct.dataclass
class TrainState:
    """Everything a step reads and writes; checkpointed as is.

    ``params``/``batch_stats`` belong to the network being trained (BYOL's online network, or the
    embedding network when training with the triplet loss). ``target_params``/``target_batch_stats``
    are BYOL's EMA target (empty dicts for triplet training): a separate pytree that never gets a
    gradient. ``rng`` is a raw uint32 key; each step folds ``step`` into it. ``queue`` is the
    contrastive pretexts' queue of earlier batches' target keys (`init_queue`, ``pretext.queue_size``),
    an empty dict otherwise; checkpoints written before it existed restore with it empty.
    """

    step: jax.Array
    params: Any
    target_params: Any
    batch_stats: Any
    target_batch_stats: Any
    opt_state: Any
    rng: jax.Array
    queue: Any = flax.struct.field(default_factory=dict)


def init_pretrain_state(online, target, tx: optax.GradientTransformation, rng: jax.Array,
                        k: int, frame_shape=FRAME_SHAPE, target_takes_clip: bool = False,
                        queue_size: int = 0) -> TrainState:
    """Fresh BYOL state; the target starts as a copy of the online network (as in BYOL). The target
    takes one frame (the paper's) or, with ``target_takes_clip``, a clip and its mask. With
    ``queue_size`` > 0 the state holds an empty queue of that many target keys."""
    init_rng, online_rng, target_rng = jax.random.split(rng, 3)
    frames, mask = dummy_inputs(k, frame_shape)
    online_vars = online.init(online_rng, frames, mask, train=False)
    target_inputs = (frames, mask) if target_takes_clip else (frames[:, 0],)
    target_vars = target.init(target_rng, *target_inputs, train=False)
    params = online_vars["params"]
    target_params = {}
    for key in target_vars["params"]:
        if key not in params:
            raise ValueError(f"model: target sub-network {key!r} has no online counterpart")
        # A copy, not an alias: the state's buffers are donated to the step, each exactly once.
        target_params[key] = jax.tree.map(jnp.copy, params[key])
    if jax.tree.structure(target_params) != jax.tree.structure(target_vars["params"]):
        raise ValueError("model: target and online sub-networks differ in structure")
    queue = {}
    if queue_size:
        key_shape = jax.eval_shape(lambda: target.apply(target_vars, *target_inputs, train=False))
        queue = init_queue(queue_size, key_shape.shape[1:])
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        target_params=target_params,
        batch_stats=online_vars.get("batch_stats", {}),
        target_batch_stats=target_vars.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=init_rng,
        queue=queue)


def init_triplet_state(model, tx: optax.GradientTransformation, rng: jax.Array, num_frames: int,
                       frame_shape=FRAME_SHAPE) -> TrainState:
    """Fresh state for triplet training of an embedding network (fine-tuning, baselines)."""
    init_rng, model_rng = jax.random.split(rng)
    frames, mask = dummy_inputs(num_frames, frame_shape)
    variables = model.init(model_rng, frames, mask, train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        target_params={},
        batch_stats=variables.get("batch_stats", {}),
        target_batch_stats={},
        opt_state=tx.init(params),
        rng=init_rng)


def ema_tau(step: jax.Array, base_tau: float, schedule: str, total_steps: int) -> jax.Array:
    """EMA rate at ``step``: constant, or BYOL's τ_k = 1 − (1 − τ_base)(cos(πk/K) + 1)/2."""
    if schedule == "constant":
        return jnp.asarray(base_tau, jnp.float32)
    if schedule == "cosine":
        progress = jnp.asarray(step, jnp.float32) / max(int(total_steps), 1)
        return 1.0 - (1.0 - base_tau) * (jnp.cos(math.pi * progress) + 1.0) / 2.0
    raise ValueError(f"byol.tau_schedule={schedule!r} is not one of constant, cosine")


def ema_update(target_params, online_params, tau: jax.Array, share_fcs: bool = False):
    """τ·target + (1 − τ)·online over the target's sub-networks.

    With ``share_fcs`` the target's FC bins are the online ones (the paper's reading) instead of an
    EMA copy (the authors' code).
    """
    new = {}
    for key, target_sub in target_params.items():
        if share_fcs and key == "fc_bins":
            new[key] = online_params[key]
        else:
            new[key] = jax.tree.map(lambda t, o: tau * t + (1.0 - tau) * o,
                                    target_sub, online_params[key])
    return new


def init_queue(size: int, key_shape) -> dict:
    """An empty queue of ``size`` keys of ``key_shape`` (``[parts, d]``): ``keys`` in a ring buffer
    with each key's camera ``views`` index (-1: empty), ``next`` the slot the next key goes to,
    ``filled`` how many slots hold a key."""
    return {"keys": jnp.zeros((size, *key_shape), jnp.float32),
            "views": jnp.full((size,), -1, jnp.int32),
            "next": jnp.zeros((), jnp.int32),
            "filled": jnp.zeros((), jnp.int32)}


def enqueue(queue: dict, keys: jax.Array, views: jax.Array) -> dict:
    """The queue with ``keys`` ``[n, parts, d]`` and their ``views`` ``[n]`` written over its oldest
    slots (of n > size, only the last size fit)."""
    size = queue["keys"].shape[0]
    keys, views = keys[-size:].astype(jnp.float32), views[-size:].astype(jnp.int32)
    n = keys.shape[0]
    slots = (queue["next"] + jnp.arange(n)) % size
    return {"keys": queue["keys"].at[slots].set(keys),
            "views": queue["views"].at[slots].set(views),
            "next": (queue["next"] + n) % size,
            "filled": jnp.minimum(queue["filled"] + n, size)}
