"""Optimiser and learning-rate schedule from ``config.optimizer``.

Keys: ``name`` (adam | sgd), ``lr``, ``schedule`` (constant | warmup_cosine | multistep),
``warmup_steps``, ``boundaries`` (multistep: steps where the lr is multiplied by ``decay_factor``),
``decay_factor``, ``momentum`` and ``weight_decay`` (sgd; the authors' code used 0.9 / 4e-4).
"""

import optax

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "warmup_cosine", "multistep")


def make_schedule(opt_cfg, total_steps: int) -> optax.Schedule:
    """The learning rate as a function of the step."""
    lr = float(opt_cfg.lr)
    if opt_cfg.schedule == "constant":
        return optax.constant_schedule(lr)
    if opt_cfg.schedule == "warmup_cosine":
        warmup = int(opt_cfg.warmup_steps)
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=lr, warmup_steps=warmup,
            decay_steps=max(int(total_steps), warmup + 1), end_value=0.0)
    if opt_cfg.schedule == "multistep":
        return optax.piecewise_constant_schedule(
            lr, {int(b): float(opt_cfg.decay_factor) for b in opt_cfg.boundaries})
    raise ValueError(
        f"optimizer.schedule={opt_cfg.schedule!r} is not one of {', '.join(SCHEDULES)}")


def make_optimizer(opt_cfg, total_steps: int):
    """Returns ``(tx, schedule)``; the schedule is kept to log the lr of each step."""
    schedule = make_schedule(opt_cfg, total_steps)
    if opt_cfg.name == "adam":
        tx = optax.adam(schedule)
    elif opt_cfg.name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(float(opt_cfg.weight_decay)),
            optax.sgd(schedule, momentum=float(opt_cfg.momentum) or None))
    else:
        raise ValueError(f"optimizer.name={opt_cfg.name!r} is not one of {', '.join(OPTIMIZERS)}")
    return tx, schedule
