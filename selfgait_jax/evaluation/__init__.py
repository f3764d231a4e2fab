"""Evaluation: the cross-view protocol, its tables, embedding a source, and whole-checkpoint runs.

`evaluate_workdir` is imported lazily so that `selfgait_jax.evaluation.ranking` stays light. The
training loop never imports this package: `selfgait_jax.main` hands `evaluation.api` to it.
"""


def __getattr__(name):
    if name in ("evaluate_workdir", "evaluate_trained", "evaluate_model", "summary_scalars",
                "PeriodicEvaluator"):
        from selfgait_jax.evaluation import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
