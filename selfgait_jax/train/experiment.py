"""What a config trains: networks, optimiser, state initialisation and the pure step.

No TensorFlow here: this is what the training loop (and benchmarks) build from a config.
``config.stage`` is "pretrain" (BYOL on pretext batches) or "triplet" (batch-all triplet loss on
P×K batches: fine-tuning, supervised baselines, the w/o-PT ablation).

With ``optimizer.accumulate`` = N > 1 one step is one update made of N micro-batches
(``accumulate_step``): the batch holds N ordinary batches stacked on axis 1 (``stack_micro_batches``),
the step scans over them, and the optimiser (``optax.MultiSteps``) applies their mean gradient once.
"""

import dataclasses
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.config_names import STAGES
from selfgait_jax.data.sequence import FRAME_SHAPE
from selfgait_jax.models import registry
from selfgait_jax.train import optim, pretexts, state as state_lib, steps


@dataclasses.dataclass(frozen=True)
class Experiment:
    embed_model: Any  # the identity-embedding network (evaluation embeds with it)
    schedule: Callable  # optimizer step -> learning rate
    init_state: Callable  # raw uint32 key -> TrainState
    step: Callable  # (TrainState, batch) -> (TrainState, metrics), not yet jitted
    global_batch: int


def global_batch_size(config) -> int:
    if config.stage == "pretrain":
        return int(config.byol.batch_size)
    return int(config.triplet.P) * int(config.triplet.K)


def build_experiment(config) -> Experiment:
    """Builds everything from the config; raises ValueError naming the key on a bad value."""
    if config.stage not in STAGES:
        raise ValueError(f"stage={config.stage!r} is not one of {', '.join(STAGES)}")
    embed_model = registry.build_embed_model(config.model)
    tx, schedule = optim.make_optimizer(config.optimizer, config.total_steps,
                                        global_batch_size(config))
    if config.stage == "pretrain":
        setting = pretexts.resolve(config)
        online, target = registry.build_byol_models(config.model, setting.pretext.target,
                                                    setting.pretext.per_part_heads)
        two_clips = setting.pretext.two_clips
        k = setting.clip_frames if two_clips else int(config.byol.k)

        def init_state(rng):
            return state_lib.init_pretrain_state(online, target, tx, rng, k, FRAME_SHAPE,
                                                 target_takes_clip=two_clips,
                                                 queue_size=setting.queue_size)

        if two_clips:
            step = steps.make_clip_pair_step(online, target, tx, schedule, setting, config.byol,
                                             config.total_steps)
        else:
            step = steps.make_pretrain_step(online, target, tx, schedule, config.byol,
                                            config.total_steps)
    else:
        frames = int(config.triplet.frames)

        def init_state(rng):
            return state_lib.init_triplet_state(embed_model, tx, rng, frames, FRAME_SHAPE)

        step = steps.make_triplet_step(embed_model, tx, schedule, float(config.triplet.margin))
    n = optim.accumulate(config.optimizer)
    if n > 1:
        step = accumulate_step(step, n)
    return Experiment(embed_model, schedule, init_state, step, global_batch_size(config))


def accumulate_step(step: Callable, n: int) -> Callable:
    """One update from ``n`` micro-batches: ``step`` (built with an ``optax.MultiSteps`` optimiser
    of ``n`` steps) runs on each micro-batch in a ``lax.scan``, so only one micro-batch's
    activations are alive at a time.

    The batch's arrays are ``[B, n, ...]``: micro-batch i is ``[:, i]`` (``stack_micro_batches``),
    so the batch stays sharded over its first axis like an ordinary one. Within the update every
    micro-batch sees the same ``state.step`` (the update count: the lr, BYOL's τ) and its own rng;
    BYOL's EMA target is updated once, after the last micro-batch (the online parameters change only
    then), and ``state.step`` advances by one. What is per micro-batch: BatchNorm batch statistics
    (each micro-batch is normalised over its own rows; the running averages take n updates) and
    triplet mining (batch-all within each P×K micro-batch). Metrics are means over the micro-batches
    (``grad_norm``: the mean of the micro-batch gradients' norms, not the norm of their mean),
    except ``lr``/``tau``.
    """

    def accumulated(state, batch):
        step0, rng0 = state.step, state.rng
        micro = jax.tree.map(lambda x: jnp.moveaxis(x, 1, 0), batch)

        def body(carry, xs):
            i, micro_batch = xs
            new, metrics = step(carry.replace(rng=jax.random.fold_in(rng0, i)), micro_batch)
            last = i == n - 1
            target = jax.tree.map(lambda a, b: jnp.where(last, a, b), new.target_params,
                                  carry.target_params)
            return new.replace(step=step0, rng=rng0, target_params=target), metrics

        state, metrics = jax.lax.scan(body, state, (jnp.arange(n), micro))
        metrics = {k: v[-1] if k in steps.SETTING_METRICS else jnp.mean(v, axis=0)
                   for k, v in metrics.items()}
        return state.replace(step=step0 + 1), metrics

    return accumulated


def stack_micro_batches(batches: Iterator[dict], n: int) -> Iterator[dict]:
    """Groups an iterator of ordinary batches into accumulated ones: n consecutive batches stacked
    on axis 1 (``[B, n, ...]``), the input of ``accumulate_step``. Batch number i of the result is
    batches n·i .. n·i+n-1 of the input, so the data position advances by n per update."""
    while True:
        group = [next(batches) for _ in range(n)]
        yield {k: np.stack([b[k] for b in group], axis=1) for k in group[0]}
