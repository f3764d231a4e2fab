"""Optimiser and learning-rate schedule from ``config.optimizer``.

Keys: ``name`` (adam | sgd), ``lr``, ``schedule`` (constant | warmup_cosine | multistep),
``warmup_steps``, ``boundaries`` (multistep: steps where the lr is multiplied by ``decay_factor``),
``decay_factor``, ``momentum`` and ``weight_decay`` (sgd; the authors' code used 0.9 / 4e-4).

Bigger batches than memory: ``accumulate`` = N > 1 wraps the optimiser in ``optax.MultiSteps``:
the gradients of N micro-batches are averaged and applied as one update (the training step then
scans over N micro-batches, ``experiment.accumulate_step``). ``lr_scaling`` = "linear" multiplies
``lr`` by ``effective batch / lr_base_batch`` (effective batch = global batch × N; Goyal et al.'s
linear rule), so a recipe tuned at one batch moves to another without hand edits; "none" (the
default) uses ``lr`` as given. The optimiser's step count, the schedule and ``total_steps`` count
updates, not micro-batches.
"""

import optax

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "warmup_cosine", "multistep")
LR_SCALINGS = ("none", "linear")


def accumulate(opt_cfg) -> int:
    """Micro-batches per update (``optimizer.accumulate``)."""
    return int(opt_cfg.accumulate)


def effective_batch(opt_cfg, global_batch: int) -> int:
    """Sequences (or pretext windows) behind one update: the global batch × ``accumulate``."""
    return int(global_batch) * accumulate(opt_cfg)


def lr_scale(opt_cfg, global_batch: int | None) -> float:
    """The factor ``optimizer.lr_scaling`` applies to ``lr`` (1.0 unless "linear")."""
    rule = opt_cfg.lr_scaling
    if rule == "none":
        return 1.0
    if rule != "linear":
        raise ValueError(f"optimizer.lr_scaling={rule!r} is not one of {', '.join(LR_SCALINGS)}")
    base = int(opt_cfg.lr_base_batch)
    if base < 1 or not global_batch:
        raise ValueError("optimizer.lr_base_batch: lr_scaling='linear' needs the batch that lr was "
                         f"tuned for (a positive integer), got {base}")
    return effective_batch(opt_cfg, global_batch) / base


def make_schedule(opt_cfg, total_steps: int, scale: float = 1.0) -> optax.Schedule:
    """The learning rate as a function of the (update) step; ``scale`` multiplies ``lr``."""
    lr = float(opt_cfg.lr) * float(scale)
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


def make_optimizer(opt_cfg, total_steps: int, global_batch: int | None = None):
    """Returns ``(tx, schedule)``; the schedule is kept to log the lr of each step.

    ``global_batch`` (one micro-batch) is needed by ``lr_scaling="linear"`` only. With
    ``accumulate`` > 1, ``tx`` is ``optax.MultiSteps``: it returns zero updates for the first N-1
    micro-batches and the inner optimiser's update of their mean gradient on the N-th.
    """
    schedule = make_schedule(opt_cfg, total_steps, lr_scale(opt_cfg, global_batch))
    if opt_cfg.name == "adam":
        tx = optax.adam(schedule)
    elif opt_cfg.name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(float(opt_cfg.weight_decay)),
            optax.sgd(schedule, momentum=float(opt_cfg.momentum) or None))
    else:
        raise ValueError(f"optimizer.name={opt_cfg.name!r} is not one of {', '.join(OPTIMIZERS)}")
    n = accumulate(opt_cfg)
    if n < 1:
        raise ValueError(f"optimizer.accumulate={n} must be a positive integer")
    if n > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=n).gradient_transformation()
    return tx, schedule
