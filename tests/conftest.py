"""Test setup: force 4 CPU devices before JAX starts, so sharded paths run in CI, and apply the JAX
settings every entry point runs with (``selfgait_jax.configure_jax``)."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import selfgait_jax  # noqa: E402  (after the environment above; sets TensorFlow's env defaults)

selfgait_jax.configure_jax()
