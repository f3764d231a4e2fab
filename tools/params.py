"""Print each network's parameter table and total for a model config.

    python3 tools/params.py --model=selfgait [--size=full] [--no-part-fcs] [--mtb-bias]

For the SelfGait family (selfgait, selfgait_no_hpm, selfgait_no_mtb) it prints the online, target
and embedding networks; for the baselines (gaitset, gaitpart) the embedding network. Shapes come
from ``jax.eval_shape``, so nothing is computed or compiled. The full-size counts are listed in
docs/models.md.
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
from clu import parameter_overview

from selfgait_jax import models
from selfgait_jax.config_names import SIZES

FRAMES, STEPS, HEIGHT, WIDTH = 2, 3, 64, 44


def abstract_params(model, *args, **kwargs):
    """The model's parameter tree as shapes only (no compilation, no random numbers drawn)."""
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), *args, **kwargs))
    return variables["params"]


def network_params(cfg) -> dict[str, dict]:
    """``{network name: abstract params}`` for the networks of ``cfg``."""
    frames = jnp.zeros((FRAMES, STEPS, HEIGHT, WIDTH))
    mask = jnp.ones((FRAMES, STEPS), bool)
    nets = {}
    if models.registry.MODELS[cfg.name].byol is not None:
        online, target = models.build_byol_models(cfg)
        nets["online"] = abstract_params(online, frames, mask, train=False)
        nets["target"] = abstract_params(target, frames[:, 0], train=False)
    nets["embed"] = abstract_params(models.build_embed_model(cfg), frames, mask)
    return nets


def count(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="selfgait", choices=models.MODEL_NAMES,
                        help="the network to count (default: %(default)s)")
    parser.add_argument("--size", default="full", choices=SIZES, help="its size (default: %(default)s)")
    parser.add_argument("--no-part-fcs", action="store_true",
                        help="drop the per-part FCs before the MTB (the authors' code)")
    parser.add_argument("--mtb-bias", action="store_true", help="MTB convolutions with bias")
    args = parser.parse_args(argv)
    cfg = models.model_config(args.model, args.size)
    if args.no_part_fcs:
        cfg.part_fcs = False
    if args.mtb_bias:
        cfg.mtb_bias = True
    for net, params in network_params(cfg).items():
        print(f"== {args.model} ({args.size}) {net} network ==")
        print(parameter_overview.get_parameter_overview(params, include_stats=False))
        print("by submodule: " + ", ".join(f"{k} {count(v):,}" for k, v in params.items()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
