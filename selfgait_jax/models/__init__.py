"""Flax networks of SelfGait, its ablations and the GaitSet / GaitPart baselines (no TensorFlow)."""

from selfgait_jax.models.registry import build_byol_models
from selfgait_jax.models.registry import build_embed_model
from selfgait_jax.models.registry import MODEL_NAMES
from selfgait_jax.models.registry import model_config
from selfgait_jax.models.registry import parts_and_dim
