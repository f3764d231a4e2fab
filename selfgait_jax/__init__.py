"""SelfGait in JAX/Flax: self-supervised gait recognition that scales on accelerators."""

import jax

# With jax 0.10's default (partitionable) threefry, XLA:CPU takes ~40 s to compile the random
# initialisation of even the tiny model; the classic threefry lowering compiles in ~5 s. Our random
# numbers are drawn replicated (parameter init, sampling keys), so the partitionable form buys nothing.
jax.config.update("jax_threefry_partitionable", False)

__version__ = "0.1.0"
