"""The config names every layer shares; it imports nothing, so models/, data/, train/ and
``selfgait_jax.config_defaults`` all read them from here.

``SIZES``: what a config builder's size argument may be: "full" (the paper's setting) or "tiny"
(tests and CPU smoke runs: tiny network, tiny SynthGait, a few steps). ``STAGES``: what a training
config's ``stage`` may be: "pretrain" (BYOL on pretext batches, the ``byol`` section) or "triplet"
(batch-all triplet loss on labelled batches, the ``triplet`` section). ``METRICS``: the distances
the evaluation ranks by (``eval.metric``), checked before training so a typo cannot end a run.
"""

SIZES = ("full", "tiny")
# A training stage → the config section that only it carries (config_defaults.base_config).
STAGE_SECTIONS = {"pretrain": "byol", "triplet": "triplet"}
STAGES = tuple(STAGE_SECTIONS)
METRICS = ("euclidean", "cosine")
