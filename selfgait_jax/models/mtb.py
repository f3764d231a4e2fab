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
    """1-D convolution over time, stride 1, zero "same" padding, applied to sequences ``[B, T, ..., C]``
    with ``mask [B, T]``.

    ``parts=None`` shares one kernel ``[k, C, F]`` (any ``[B, T, ..., C]``). ``parts=P`` gives every
    part its own kernel (stacked as ``[P, k, C, F]``) and takes part-major sequences ``[P·N, T, C]``
    (part ``p`` of sequence ``n`` at row ``p·N + n``), so each tap is one batched matrix product with
    the part as its leading batch axis. Padded frames are zeroed first, so they act as the zero
    padding of the unpadded sequence.
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
            shape, batch_axis = (self.kernel_size, in_features, self.features), ()
        else:
            if x.ndim != 3 or x.shape[0] % self.parts:
                raise ValueError(f"TemporalConv built for {self.parts} parts expects part-major "
                                 f"sequences [parts·N, T, C], got shape {x.shape}")
            shape, batch_axis = (self.parts, self.kernel_size, in_features, self.features), (0,)
        kernel = self.param("kernel", nn.initializers.lecun_normal(batch_axis=batch_axis), shape)
        # One product per tap on the shifted sequence (no stacked [B, T, k, C] windows).
        shifts = masking.temporal_shifts(masking.zero_padded(x, mask), self.kernel_size, 0)
        kernel = kernel.astype(self.dtype)
        if self.parts is None:
            y = sum(jnp.einsum("...c,cf->...f", shifted.astype(self.dtype), kernel[j])
                    for j, shifted in enumerate(shifts))
        else:
            y = sum(jnp.einsum("pmc,pcf->pmf",
                               shifted.astype(self.dtype).reshape(self.parts, -1, in_features),
                               kernel[:, j]) for j, shifted in enumerate(shifts))
            y = y.reshape(x.shape[:-1] + (self.features,))
        if self.use_bias:
            bias_shape = (self.features,) if self.parts is None else (self.parts, self.features)
            bias = self.param("bias", nn.initializers.zeros, bias_shape).astype(self.dtype)
            if self.parts is not None:  # row p·N + n gets part p's bias
                bias = jnp.repeat(bias, x.shape[0] // self.parts, axis=0)[:, None, :]
            y = y + bias
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

        n, steps, parts, _ = x.shape
        if parts != self.parts:
            raise ValueError(f"MTB built for {self.parts} parts got {parts} (input shape {x.shape})")
        # Part-major sequences [P·N, T, C] with the mask repeated per part: the per-part products
        # then batch over a leading axis, which XLA:CPU runs several times faster (forward and
        # backward) than products batched over the part axis in the middle of [N, T, P, C].
        x = jnp.transpose(x.astype(self.dtype), (2, 0, 1, 3)).reshape(parts * n, steps, channels)
        mask = jnp.tile(mask, (parts, 1))
        hidden1 = act(conv(hidden, 3, "branch1_conv_a")(x, mask))
        att1 = conv(channels, 1, "branch1_conv_b")(hidden1, mask)
        hidden2 = act(conv(hidden, 3, "branch2_conv_a")(x, mask))
        att2 = conv(channels, 3, "branch2_conv_b")(hidden2, mask)
        template1 = masking.masked_avg_pool(x, mask, 3) + masking.masked_max_pool(x, mask, 3)
        template2 = masking.masked_avg_pool(x, mask, 5) + masking.masked_max_pool(x, mask, 5)
        out = template1 * jax.nn.sigmoid(att1) + template2 * jax.nn.sigmoid(att2)
        return masking.masked_max(out, mask).reshape(parts, n, channels).transpose(1, 0, 2)


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
