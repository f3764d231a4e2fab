"""Evaluation: the cross-view protocol, its tables, embedding a source, and whole-checkpoint runs
(``evaluation.api``). The training loop never imports this package: ``selfgait_jax.main`` hands
``evaluation.api`` to it.
"""
