"""Multilayer-perceptron generator and discriminator.

References:
  Goodfellow et al. 2014, "Generative Adversarial Nets" (MLP players); Mirza & Osindero
  2014, "Conditional Generative Adversarial Nets" (labels as extra inputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _with_labels(h: jax.Array, labels: jax.Array | None, num_classes: int, dtype: Any):
  """Concatenates one-hot labels to flat features when the model is conditional."""
  if num_classes <= 0:
    return h
  if labels is None:
    raise ValueError("This model is class-conditional: pass labels.")
  return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=dtype)], axis=-1)


class MLPGenerator(nn.Module):
  """Maps ``z [batch, z_dim]`` to samples ``[batch, *output_shape]``.

  Attributes:
    output_shape: shape of one sample, ``(2,)`` for 2-D points or ``(H, W, C)``.
    hidden: widths of the hidden ReLU layers.
    num_classes: 0 for an unconditional model, else the number of classes.
    output_activation: ``"tanh"`` for images in [-1, 1], ``"linear"`` for points.
    dtype: compute dtype; parameters stay float32.
  """

  output_shape: Sequence[int]
  hidden: Sequence[int] = (256, 256)
  num_classes: int = 0
  output_activation: str = "tanh"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del train  # No batch statistics.
    h = _with_labels(z.astype(self.dtype), labels, self.num_classes, self.dtype)
    for width in self.hidden:
      h = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
    h = nn.Dense(math.prod(self.output_shape), dtype=self.dtype)(h)
    if self.output_activation == "tanh":
      h = jnp.tanh(h)
    return h.astype(jnp.float32).reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """Maps samples ``[batch, ...]`` to logits ``[batch]``.

  Attributes:
    hidden: widths of the hidden LeakyReLU(0.2) layers.
    num_classes: 0 for an unconditional model, else the number of classes.
    dtype: compute dtype; parameters stay float32.
  """

  hidden: Sequence[int] = (256, 256)
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del train
    h = x.reshape((x.shape[0], -1)).astype(self.dtype)
    h = _with_labels(h, labels, self.num_classes, self.dtype)
    for width in self.hidden:
      h = nn.leaky_relu(nn.Dense(width, dtype=self.dtype)(h), 0.2)
    return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
