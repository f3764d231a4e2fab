"""2-D "same" convolution (NHWC input, HWIO kernel, stride 1, no bias), as ``flax.linen.Conv``.

How it is computed is a setting, ``model.conv_formulation``, passed down to every :class:`Conv`;
all formulations give the same numbers up to float reassociation:

- ``"lax"``: XLA's convolution, differentiated by XLA (the reference);
- ``"im2col"``: XLA's forward and input gradient, the weight gradient as an im2col product
  (``xla_cpu.py``: XLA:CPU's own weight gradient is slow);
- ``"auto"`` (the default): ``"im2col"`` when lowered for CPU, ``"lax"`` on every other platform.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from selfgait_jax.models import xla_cpu

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
FORMULATIONS = ("auto", "lax", "im2col")


def lax_conv2d(x, kernel):
    """The reference: XLA's convolution, differentiated by XLA's own rules."""
    return lax.conv_general_dilated(x, kernel, (1, 1), xla_cpu.same_padding(kernel.shape),
                                    dimension_numbers=DIMENSION_NUMBERS)


im2col_conv2d = xla_cpu.with_im2col_weight_grad(lax_conv2d)


def check_formulation(formulation: str) -> str:
    if formulation not in FORMULATIONS:
        raise ValueError(f"model.conv_formulation={formulation!r}: expected one of {FORMULATIONS}")
    return formulation


def conv2d(x, kernel, formulation: str = "auto"):
    """"SAME" convolution, stride 1, no bias: ``x [B, H, W, C]``, ``kernel [kh, kw, C, F]``, computed
    as ``formulation`` says (module docstring)."""
    if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
        raise ValueError(f"conv2d: expected x [B, H, W, C] and kernel [kh, kw, C, F], got "
                         f"{x.shape} and {kernel.shape}")
    check_formulation(formulation)
    if formulation == "lax":
        return lax_conv2d(x, kernel)
    if formulation == "im2col":
        return im2col_conv2d(x, kernel)
    return lax.platform_dependent(x, kernel, cpu=im2col_conv2d, default=lax_conv2d)


class Conv(nn.Module):
    """Drop-in for ``nn.Conv(features, kernel_size, padding="SAME", use_bias=False, dtype=dtype)``:
    the same parameter (``kernel [kh, kw, C, F]``, float32, LeCun normal init, so the same values
    from the same rng) and the same outputs, computed by :func:`conv2d` as ``formulation`` says."""
    features: int
    kernel_size: Sequence[int]
    dtype: Any = jnp.float32
    formulation: str = "auto"

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (kh, kw, x.shape[-1], self.features), jnp.float32)
        return conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.formulation)
