"""SelfGait in JAX/Flax: self-supervised gait recognition that scales on accelerators.

Importing the package changes no global JAX or TensorFlow setting. Entry points (``selfgait_jax.main``,
the tools, the tests' conftest) call :func:`configure_jax` once, before anything is computed.
"""

__version__ = "0.1.0"


def configure_jax() -> None:
    """Applies the JAX settings this project's numbers are made with; call it once at the start of
    an entry point, before any JAX computation.

    ``jax_threefry_partitionable=False``: the classic threefry lowering of ``jax.random``. Every
    checkpoint and reported number of this project was drawn with it (the same seed draws other
    numbers without it), and XLA:CPU compiles the random initialisation of the networks much faster
    with it. Our random numbers are drawn replicated (parameter init, sampling keys), so the
    partitionable form would buy nothing.
    """
    import jax  # pylint: disable=g-import-not-at-top

    # With jax 0.10's default (partitionable) threefry, XLA:CPU took ~40 s to compile the random
    # initialisation of even the tiny model; the classic lowering ~5 s.
    jax.config.update("jax_threefry_partitionable", False)
