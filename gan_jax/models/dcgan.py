"""DCGAN generator and discriminator for power-of-two resolutions from 8 to 128.

The generator projects ``z`` to a 4x4 feature map and doubles the resolution with
stride-2 transposed convolutions (BatchNorm + ReLU, tanh output); the discriminator
halves it with stride-2 convolutions (LeakyReLU 0.2, no normalisation on the first
layer) down to 4x4 and reads one logit. Weights start from N(0, 0.02).

Class-conditional variants concatenate a one-hot label to ``z`` (Mirza & Osindero
2014) and add a projection term to the logit (Miyato & Koyama 2018).

References:
  Radford et al. 2015, "Unsupervised Representation Learning with Deep Convolutional
  Generative Adversarial Networks", Section 3 and Figure 1.
  Gulrajani et al. 2017, Section 4: a critic trained with a gradient penalty must not
  use batch normalisation (layer normalisation is the suggested replacement).
  Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import blocks
from gan_jax.models.layers import Conv, ConvTranspose

RESOLUTIONS = (8, 16, 32, 64, 128)
D_NORMS = ("batch", "layer", "none")

_init = nn.initializers.normal(0.02)


def _num_stages(resolution: int) -> int:
  """Number of stride-2 stages between 4x4 and ``resolution``."""
  if resolution not in RESOLUTIONS:
    raise ValueError(f"DCGAN supports resolutions {list(RESOLUTIONS)}; got {resolution}.")
  return resolution.bit_length() - 3


def _batch_norm(train: bool, dtype: Any, axis_name: str | None) -> nn.BatchNorm:
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=0.9,
    epsilon=1e-5,
    dtype=dtype,
    scale_init=lambda k, s, d=jnp.float32: 1.0 + 0.02 * jax.random.normal(k, s, d),
    axis_name=axis_name,
  )


class DCGANGenerator(nn.Module):
  """Maps ``z [batch, z_dim]`` to images ``[batch, resolution, resolution, channels]``.

  Attributes:
    resolution: output side, a power of two in 8..128.
    channels: output channels (1 or 3).
    width: channels of the last hidden layer; each earlier stage doubles it.
    max_width: cap on the channels of any layer.
    num_classes: 0 for unconditional, else the number of classes.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
  """

  resolution: int
  channels: int
  width: int = 64
  max_width: int = 1024
  num_classes: int = 0
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    n = _num_stages(self.resolution)
    h = z.astype(self.dtype)
    if self.num_classes > 0:
      if labels is None:
        raise ValueError("This generator is class-conditional: pass labels.")
      h = jnp.concatenate([h, jax.nn.one_hot(labels, self.num_classes, dtype=self.dtype)], -1)
    ch = min(self.width * 2 ** (n - 1), self.max_width)
    # A dense projection to 4x4 is the paper's 4x4 "valid" transposed conv on a 1x1 map.
    h = nn.Dense(4 * 4 * ch, use_bias=False, kernel_init=_init, dtype=self.dtype)(h)
    h = h.reshape((z.shape[0], 4, 4, ch))
    h = nn.relu(_batch_norm(train, self.dtype, self.axis_name)(h))
    for i in range(n - 1):
      ch = min(self.width * 2 ** (n - 2 - i), self.max_width)
      h = ConvTranspose(
        ch, (4, 4), (2, 2), "SAME", use_bias=False, kernel_init=_init, dtype=self.dtype
      )(h)
      h = nn.relu(_batch_norm(train, self.dtype, self.axis_name)(h))
    h = ConvTranspose(self.channels, (4, 4), (2, 2), "SAME", kernel_init=_init, dtype=self.dtype)(h)
    return jnp.tanh(h).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
  """Maps images ``[batch, resolution, resolution, channels]`` to logits ``[batch]``.

  Attributes:
    resolution: input side, a power of two in 8..128.
    width: channels of the first layer; each later stage doubles it.
    max_width: cap on the channels of any layer.
    norm: ``"batch"``, ``"layer"`` or ``"none"`` after every conv but the first.
    num_classes: 0 for unconditional, else the number of classes (projection head).
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
    minibatch: ``none`` | ``stddev`` (on the last 4x4 maps) | ``discrimination`` (on the
      flattened features), before the logit (``blocks.apply_minibatch``).
  """

  resolution: int
  width: int = 64
  max_width: int = 1024
  norm: str = "batch"
  num_classes: int = 0
  axis_name: str | None = None
  dtype: Any = jnp.float32
  minibatch: str = "none"

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    if self.norm not in D_NORMS:
      raise ValueError(f"Unknown discriminator norm {self.norm!r}; valid: {list(D_NORMS)}")
    blocks.check_minibatch(self.minibatch)
    n = _num_stages(self.resolution)
    h = x.astype(self.dtype)
    for i in range(n):
      ch = min(self.width * 2**i, self.max_width)
      h = Conv(
        ch,
        (4, 4),
        (2, 2),
        "SAME",
        use_bias=(i == 0 or self.norm == "none"),
        kernel_init=_init,
        dtype=self.dtype,
      )(h)
      if i > 0 and self.norm == "batch":
        h = _batch_norm(train, self.dtype, self.axis_name)(h)
      elif i > 0 and self.norm == "layer":
        h = nn.LayerNorm(reduction_axes=(-3, -2, -1), dtype=self.dtype)(h)
      h = nn.leaky_relu(h, 0.2)
    if self.minibatch == "stddev":  # a feature map of the batch's spread (ProGAN)
      h = blocks.apply_minibatch("stddev", h, self.dtype)
    h = h.reshape((x.shape[0], -1))  # [batch, 4 * 4 * ch (+ 16)]
    if self.minibatch == "discrimination":  # closeness to the batch (Salimans et al.)
      h = blocks.apply_minibatch("discrimination", h, self.dtype)
    logits = nn.Dense(1, kernel_init=_init, dtype=self.dtype)(h)[:, 0]
    if self.num_classes > 0:
      if labels is None:
        raise ValueError("This discriminator is class-conditional: pass labels.")
      embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=_init, dtype=self.dtype)
      logits = logits + jnp.sum(embed(labels) * h, axis=-1)
    return logits.astype(jnp.float32)
