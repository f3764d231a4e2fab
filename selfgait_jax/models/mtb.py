"""Temporal aggregation of part features ``[N, T, P, C]`` with ``mask [N, T]`` -> ``[N, P, C]``.

:class:`MTB` is GaitPart's micro-motion template builder with its own weights for every part. The
per-part weights are stacked (``[P, k, C_in, C_out]``) and applied to all parts in one einsum, so
there is no Python loop over parts (the official code's slowest part). :class:`PlainTCN` is the
"w/o MTB" ablation. Padding frames never influence the output (see :mod:`masking`).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from selfgait_jax.models import masking

ACTIVATIONS = {
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.01),  # paper / GaitPart default
    "relu": nn.relu,  # the authors' SelfGait code
}


def activation(name: str):
    """The activation called ``name``; error lists the choices (config key ``model.mtb_activation``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"model.mtb_activation={name!r}: expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class TemporalConv(nn.Module):
    """1-D convolution over time, stride 1, zero "same" padding, applied to ``[N, T, P, C]``.

    ``parts=None`` shares one kernel ``[k, C, F]`` across parts; ``parts=P`` gives every part its own
    kernel (stacked as ``[P, k, C, F]``, one einsum). Padded frames are zeroed first, so they act as
    the zero padding of the unpadded sequence.
    """
    features: int
    kernel_size: int
    parts: Optional[int] = None
    use_bias: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask):
        in_features = x.shape[-1]
        if self.parts is None:
            shape = (self.kernel_size, in_features, self.features)
            batch_axis, spec = (), "ntpc,cf->ntpf"
        else:
            if x.shape[2] != self.parts:
                raise ValueError(f"TemporalConv built for {self.parts} parts got {x.shape[2]}")
            shape, batch_axis = (self.parts, self.kernel_size, in_features, self.features), (0,)
            spec = "ntpc,pcf->ntpf"
        kernel = self.param("kernel", nn.initializers.lecun_normal(batch_axis=batch_axis), shape)
        # One product per tap on the shifted sequence (no stacked [N, T, k, P, C] windows).
        shifts = masking.temporal_shifts(masking.zero_padded(x, mask), self.kernel_size, 0)
        kernel = kernel.astype(self.dtype)
        y = sum(jnp.einsum(spec, shifted.astype(self.dtype), kernel[..., j, :, :])
                for j, shifted in enumerate(shifts))
        if self.use_bias:
            bias_shape = (self.features,) if self.parts is None else (self.parts, self.features)
            y = y + self.param("bias", nn.initializers.zeros, bias_shape).astype(self.dtype)
        return y


class MTB(nn.Module):
    """Micro-motion template builder, two branches, separate weights per part (``parts`` of them):

    branch 1: template = avgpool3 + maxpool3; attention = sigmoid(conv1(act(conv3(x)))), C→C/s→C;
    branch 2: template = avgpool5 + maxpool5; attention = sigmoid(conv3(act(conv3(x)))), C→C/s→C;
    out = template1·att1 + template2·att2, then max over the real frames.
    Pools and convs are stride 1 with "same" padding (PyTorch conventions: zeros counted in averages,
    -inf in maxima). Paper default: no bias, leaky ReLU; the authors' code: bias and ReLU.
    """
    parts: int
    squeeze: int = 4
    use_bias: bool = False
    activation: str = "leaky_relu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask):
        channels = x.shape[-1]
        hidden = channels // self.squeeze
        act = activation(self.activation)

        def conv(features, size, name):
            return TemporalConv(features, size, self.parts, self.use_bias, self.dtype, name=name)

        x = x.astype(self.dtype)
        hidden1 = act(conv(hidden, 3, "branch1_conv_a")(x, mask))
        att1 = conv(channels, 1, "branch1_conv_b")(hidden1, mask)
        hidden2 = act(conv(hidden, 3, "branch2_conv_a")(x, mask))
        att2 = conv(channels, 3, "branch2_conv_b")(hidden2, mask)
        template1 = masking.masked_avg_pool(x, mask, 3) + masking.masked_max_pool(x, mask, 3)
        template2 = masking.masked_avg_pool(x, mask, 5) + masking.masked_max_pool(x, mask, 5)
        out = template1 * jax.nn.sigmoid(att1) + template2 * jax.nn.sigmoid(att2)
        return masking.masked_max(out, mask)


class PlainTCN(nn.Module):
    """The "w/o MTB" ablation: a plain temporal conv net shared across parts,
    conv3 C→C, act, conv3 C→C, act, then max over the real frames (no templates, no attention)."""
    use_bias: bool = False
    activation: str = "leaky_relu"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask):
        channels = x.shape[-1]
        act = activation(self.activation)
        x = x.astype(self.dtype)
        h = act(TemporalConv(channels, 3, None, self.use_bias, self.dtype, name="conv_a")(x, mask))
        h = act(TemporalConv(channels, 3, None, self.use_bias, self.dtype, name="conv_b")(h, mask))
        return masking.masked_max(h, mask)
