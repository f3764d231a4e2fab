"""Optimiser and learning-rate schedule from ``config.optimizer``.

Keys: ``name`` (adam | sgd), ``lr``, ``schedule`` (constant | warmup_cosine | multistep),
``warmup_steps``, ``boundaries`` (multistep: steps where the lr is multiplied by ``decay_factor``),
``decay_factor``, ``momentum`` and ``weight_decay`` (sgd; the authors' code used 0.9 / 4e-4).

Bigger batches than memory: ``accumulate`` = N > 1 wraps the optimiser in ``optax.MultiSteps``:
the gradients of N micro-batches are averaged and applied as one update (the training step then
scans over N micro-batches, ``experiment.accumulate_step``). ``lr_scaling`` = "linear" multiplies
``lr`` by ``effective batch / lr_base_batch`` (effective batch = global batch × N; Goyal et al.'s
linear rule), so a recipe tuned at one batch moves to another without hand edits; "none" (the
default) uses ``lr`` as given. A gentle fine-tune: ``frozen`` (parameter-path prefixes whose updates
are zero) and ``lr_multipliers`` (``PREFIX=FACTOR,...``: lr × factor under a prefix). The optimiser's
step count, the schedule and ``total_steps`` count updates, not micro-batches.
"""

import jax
import optax

from selfgait_jax.errors import ConfigError

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
    tx = _per_module(tx, opt_cfg)
    n = accumulate(opt_cfg)
    if n < 1:
        raise ValueError(f"optimizer.accumulate={n} must be a positive integer")
    if n > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=n).gradient_transformation()
    return tx, schedule


def parse_lr_multipliers(spec: str) -> dict[str, float]:
    """``"backbone=0.1,mtb=0.5"`` → {"backbone": 0.1, "mtb": 0.5} (``optimizer.lr_multipliers``)."""
    out = {}
    for item in filter(None, (x.strip() for x in (spec or "").split(","))):
        prefix, sep, value = item.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = -1.0
        if not sep or not prefix.strip() or factor < 0:
            raise ConfigError("optimizer.lr_multipliers", f"{item!r} is not PARAM_PATH=FACTOR with a "
                              f"factor >= 0 (e.g. backbone=0.1,fc_bins=1)")
        out[prefix.strip().strip("/")] = factor
    return out


def parse_frozen(spec: str) -> tuple[str, ...]:
    """``"backbone/block1,part_fcs"`` → its parameter-path prefixes (``optimizer.frozen``)."""
    return tuple(p.strip().strip("/") for p in (spec or "").split(",") if p.strip())


def _per_module(tx, opt_cfg):
    """A gentle fine-tune: the updates of parameters under each ``optimizer.frozen`` prefix are zero,
    and those under an ``optimizer.lr_multipliers`` prefix are scaled by its factor (the longest
    matching prefix wins), i.e. their learning rate is lr × factor. Paths are the parameter tree's
    keys joined by "/", e.g. ``backbone/block1``. A prefix that matches no parameter is an error
    (raised when the optimiser state is built), so a typo cannot silently train everything."""
    multipliers = parse_lr_multipliers(opt_cfg.lr_multipliers)
    frozen = parse_frozen(opt_cfg.frozen)
    if not multipliers and not frozen:
        return tx
    rules = {**multipliers, **{p: 0.0 for p in frozen}}

    def labels(params):
        paths = ["/".join(str(getattr(k, "key", k)) for k in path)
                 for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        for prefix in rules:
            if not any(p == prefix or p.startswith(prefix + "/") for p in paths):
                key = "optimizer.frozen" if prefix in frozen else "optimizer.lr_multipliers"
                raise ConfigError(key, f"{prefix!r} matches no parameter; top-level names: "
                                  f"{sorted({p.split('/')[0] for p in paths})}")

        def label(path, _):
            name = "/".join(str(getattr(k, "key", k)) for k in path)
            matches = [p for p in rules if name == p or name.startswith(p + "/")]
            return max(matches, key=len) if matches else "default"

        return jax.tree_util.tree_map_with_path(label, params)

    transforms = {p: optax.set_to_zero() if f == 0 else optax.scale(f) for p, f in rules.items()}
    transforms["default"] = optax.identity()
    return optax.chain(tx, optax.multi_transform(transforms, labels))
