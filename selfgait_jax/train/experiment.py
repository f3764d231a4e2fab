"""What a config trains: networks, optimiser, state initialisation and the pure step.

No TensorFlow here: this is shared by the training loop and by ``load_for_inference``.
``config.stage`` is "pretrain" (BYOL on pretext batches) or "triplet" (batch-all triplet loss on
P×K batches: fine-tuning, supervised baselines, the w/o-PT ablation).
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from selfgait_jax.data.sequence import FRAME_SHAPE
from selfgait_jax.models import registry
from selfgait_jax.train import optim, state as state_lib, steps

STAGES = ("pretrain", "triplet")


@dataclasses.dataclass(frozen=True)
class Experiment:
    stage: str
    embed_model: Any
    tx: Any
    schedule: Callable
    init_state: Callable  # raw uint32 key -> TrainState
    step: Callable  # (TrainState, batch) -> (TrainState, metrics), not yet jitted
    global_batch: int


def global_batch_size(config) -> int:
    if config.stage == "pretrain":
        return int(config.byol.batch_size)
    return int(config.triplet.P) * int(config.triplet.K)


def init_embed_variables(embed_model, config) -> dict:
    frames = jnp.zeros((2, 4, *FRAME_SHAPE), jnp.float32)
    return embed_model.init(jax.random.PRNGKey(0), frames, jnp.ones((2, 4), bool), train=False)


def build_experiment(config) -> Experiment:
    """Builds everything from the config; raises ValueError naming the key on a bad value."""
    if config.stage not in STAGES:
        raise ValueError(f"stage={config.stage!r} is not one of {', '.join(STAGES)}")
    embed_model = registry.build_embed_model(config.model)
    tx, schedule = optim.make_optimizer(config.optimizer, config.total_steps)
    if config.stage == "pretrain":
        online, target = registry.build_byol_models(config.model)
        k = int(config.byol.k)

        def init_state(rng):
            return state_lib.init_pretrain_state(online, target, tx, rng, k, FRAME_SHAPE)

        step = steps.make_pretrain_step(online, target, tx, schedule, config.byol,
                                        config.total_steps)
    else:
        frames = int(config.triplet.frames)

        def init_state(rng):
            return state_lib.init_triplet_state(embed_model, tx, rng, frames, FRAME_SHAPE)

        step = steps.make_triplet_step(embed_model, tx, schedule, float(config.triplet.margin))
    return Experiment(config.stage, embed_model, tx, schedule, init_state, step,
                      global_batch_size(config))
