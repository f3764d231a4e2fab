"""The networks' contract with the rest of the code: what goes in, what comes out.

In: silhouettes ``uint8 [N, T, H, W]`` (0 / 255, as every dataset stores them) and a prefix mask
``bool [N, T]`` (True on real frames). The networks take frames as floats in [0, 1]
(:func:`frames_to_float`) and cast them to their compute dtype themselves. Out: float32.

Training, evaluation and the exported model all embed through :func:`embed`, so a sequence gets
the same embedding from each of them.
"""

import jax
import jax.numpy as jnp

from selfgait_jax.models import xla_cpu


def frames_to_float(frames):
    """uint8 0/255 silhouettes -> float32 in [0, 1]."""
    return frames.astype(jnp.float32) / 255.0


def check_inputs(frames, mask, where: str):
    """One clear error for inputs that break the contract (frames [N, T, H, W], mask bool [N, T])."""
    if frames.ndim != 4:
        raise ValueError(f"{where}: frames must be [N, T, H, W], got shape {frames.shape}")
    if mask.shape != frames.shape[:2]:
        raise ValueError(f"{where}: mask shape {mask.shape} does not match frames' [N, T] "
                         f"{frames.shape[:2]}")
    if mask.dtype != jnp.bool_:
        raise ValueError(f"{where}: mask must be bool, got {mask.dtype}")


def dummy_inputs(num_frames: int, frame_shape, rows: int = 2):
    """``(frames float32 [rows, num_frames, H, W], mask bool [rows, num_frames])`` to initialise a
    network on (its parameters depend on the shapes only)."""
    frames = jnp.zeros((rows, num_frames, *frame_shape), jnp.float32)
    return frames, jnp.ones((rows, num_frames), bool)


def embed(model, variables, frames, mask):
    """The embedding ``float32 [N, parts, dim]`` of ``uint8`` frames ``[N, T, H, W]`` with ``mask``
    (inference: ``train=False``)."""
    return model.apply(variables, frames_to_float(frames), mask, train=False).astype(jnp.float32)


def make_embed_fn(model):
    """``jit(variables, frames uint8 [B, T, H, W], mask bool [B, T]) -> float32 [B, parts, dim]``,
    compiled with :func:`xla_cpu.compiler_options` (like the training steps)."""
    return jax.jit(lambda variables, frames, mask: embed(model, variables, frames, mask),
                   compiler_options=xla_cpu.compiler_options())
