"""How far training moved the embedding network's weights: ‖θ_end − θ_start‖ / ‖θ_start‖ per module.

    python3 tools/weight_drift.py --end=RUN [--start=RUN | --start=init]

``--end`` and ``--start`` are workdirs (a stage of a chain, e.g. runs/study/sg6/seed0/finetune),
each read at its latest checkpoint. ``--start=init`` (the default) is the run's own random
initialisation, rebuilt from its config and seed exactly as the training loop draws it. Only the
embedding network's parameters count (BYOL heads and the target are left out), grouped by top-level
module (backbone, part FCs, MTB, FC bins), plus "all".

Why: a fine-tuning run that moves the weights several times further than its pretraining did is
unlikely to keep much of where it started (docs/reproduction.md uses it that way).
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

import selfgait_jax
from selfgait_jax import workdir as workdir_lib


def module_vectors(params) -> dict[str, np.ndarray]:
    """The parameters flattened into one vector per top-level module, plus "all"."""
    vectors: dict[str, list[np.ndarray]] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        module = str(getattr(path[0], "key", path[0]))
        vectors.setdefault(module, []).append(np.asarray(leaf, np.float64).ravel())
    out = {module: np.concatenate(parts) for module, parts in sorted(vectors.items())}
    out["all"] = np.concatenate(list(out.values()))
    return out


def relative_drift(end, start) -> dict[str, float]:
    """‖end − start‖ / ‖start‖ for every top-level module and for all parameters together."""
    a, b = module_vectors(end), module_vectors(start)
    if a.keys() != b.keys():
        raise ValueError(f"the two networks have different modules: {sorted(a)} vs {sorted(b)}")
    return {m: float(np.linalg.norm(a[m] - b[m]) / np.linalg.norm(b[m])) for m in a}


def trained_params(workdir: str):
    """(config, the embedding network's parameters) at the workdir's latest checkpoint."""
    config, _, variables, _ = workdir_lib.load_for_inference(workdir)
    return config, variables["params"]


def initial_params(config):
    """The embedding network's parameters as the training loop initialised them (same key)."""
    from selfgait_jax.train import experiment  # noqa: PLC0415  (a tool may import train)

    exp = experiment.build_experiment(config)
    state = exp.init_state(jax.random.PRNGKey(config.seed))
    return workdir_lib.embed_subset(exp.embed_model, state.params, state.batch_stats)["params"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--end", required=True, help="the trained workdir")
    parser.add_argument("--start", default="init",
                        help="a workdir, or 'init': the end run's own random initialisation (default: %(default)s)")
    args = parser.parse_args(argv)
    selfgait_jax.configure_jax()
    config, end = trained_params(args.end)
    start = initial_params(config) if args.start == "init" else trained_params(args.start)[1]
    drift = relative_drift(end, start)
    print(f"|end - start| / |start|, end={args.end}, start={args.start}")
    for module, value in drift.items():
        print(f"  {module:12s} {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
