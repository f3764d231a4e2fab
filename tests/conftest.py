"""Test setup: force 4 CPU devices before JAX starts, so sharded paths run in CI, and apply the JAX
settings every entry point runs with (``selfgait_jax.configure_jax``)."""

import atexit
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import selfgait_jax  # noqa: E402  (after the environment above; sets TensorFlow's env defaults)

selfgait_jax.configure_jax()

# The subprocesses the tests start (``python -m selfgait_jax.main`` on the tiny configs, again and
# again, at other step counts) share one JAX persistent compilation cache, so a program of the same
# shapes is compiled once a suite and then read from disk. Set after JAX has started in
# this process, which keeps its own settings; set now, so that an environment a test module builds
# when imported has it. A cached program is the same program: no test passes or fails by it.
_COMPILATION_CACHE = tempfile.mkdtemp(prefix="selfgait_jax_tests_jax_cache_")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _COMPILATION_CACHE)
atexit.register(shutil.rmtree, _COMPILATION_CACHE, ignore_errors=True)
