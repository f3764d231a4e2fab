"""SelfGait in JAX/Flax: self-supervised gait recognition that scales on accelerators.

Importing the package changes no global JAX setting and imports no TensorFlow. Entry points
(``selfgait_jax.main``, the tools, the tests' conftest) call :func:`configure_jax` once, before
anything is computed. It does set ``TENSORFLOW_ENV_DEFAULTS`` (see there), which TensorFlow reads
when it loads, unless they are already set.
"""

import os as _os

__version__ = "0.1.0"

# TensorFlow (only the input pipeline uses it) writes C++ start-up notices to stderr as it loads.
# On AVX-512 CPUs it prints "oneDNN custom operations are on ..." twice, each after absl's
# "WARNING: All log messages before absl::InitializeLog() is called ...", whatever
# TF_CPP_MIN_LOG_LEVEL says (tried with TensorFlow 2.21); only TF_ENABLE_ONEDNN_OPTS=0 stops it.
# Nothing is lost without oneDNN's custom operations: TensorFlow here only gathers, reshapes and
# batches integers. TF_CPP_MIN_LOG_LEVEL=2 keeps its other INFO and WARNING lines (the CPU feature
# notice, "did not fully read the dataset being cached") off stderr too; errors still show. Set
# here, in the package that every entry point imports first, so they are in place before anything
# imports TensorFlow; a value the user set wins (TF_ENABLE_ONEDNN_OPTS=1 brings the notice back).
TENSORFLOW_ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
for _name, _value in TENSORFLOW_ENV_DEFAULTS.items():
    _os.environ.setdefault(_name, _value)
del _name, _value


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
