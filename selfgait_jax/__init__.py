"""SelfGait in JAX/Flax: self-supervised gait recognition that scales on accelerators."""

__version__ = "0.1.0"
