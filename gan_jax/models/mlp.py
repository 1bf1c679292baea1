"""Multilayer-perceptron generator and discriminator.

``MaxoutDiscriminator`` is PacGAN's 2-D critic: LinearMaxout layers (a dense layer of
``units * pieces`` outputs, then the max over each unit's ``pieces``), no other
nonlinearity; ``MLPGenerator(batch_norm=True)`` is its generator (BatchNorm before each
hidden ReLU).

References:
  Goodfellow et al. 2014, "Generative Adversarial Nets" (MLP players); Mirza & Osindero
  2014, "Conditional Generative Adversarial Nets" (labels as extra inputs).
  Goodfellow et al. 2013, "Maxout Networks", eq. 1 (the maxout unit).
  Lin et al. 2018, "PacGAN", Section 5.1 and Appendix (G: 4 x 400 BN + ReLU; D: 3
  LinearMaxout layers of 200 units and 5 pieces, N(0, 0.02) initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import blocks


def _with_labels(h: jax.Array, labels: jax.Array | None, num_classes: int, dtype: Any):
  """Concatenates one-hot labels to flat features when the model is conditional."""
  if num_classes <= 0:
    return h
  if labels is None:
    raise ValueError("This model is class-conditional: pass labels.")
  return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=dtype)], axis=-1)


ACTIVATIONS = ("relu", "leaky_relu", "tanh")


def _activation(name: str, default):
  """The hidden layers' nonlinearity: ``relu``, ``leaky_relu`` (slope 0.2), ``tanh``."""
  if name and name not in ACTIVATIONS:
    raise ValueError(f"Unknown MLP activation {name!r}; valid: {list(ACTIVATIONS)}")
  if not name:
    return default
  return {"relu": nn.relu, "leaky_relu": lambda h: nn.leaky_relu(h, 0.2), "tanh": jnp.tanh}[name]


class MLPGenerator(nn.Module):
  """Maps ``z [batch, z_dim]`` to samples ``[batch, *output_shape]``.

  Attributes:
    output_shape: shape of one sample, ``(2,)`` for 2-D points or ``(H, W, C)``.
    hidden: widths of the hidden ReLU layers.
    num_classes: 0 for an unconditional model, else the number of classes.
    output_activation: ``"tanh"`` for images in [-1, 1], ``"linear"`` for points.
    batch_norm: BatchNorm before each hidden ReLU (PacGAN's G).
    kernel_init: initialiser of every kernel (None: flax's default).
    dtype: compute dtype; parameters stay float32.
    activation: ``relu`` | ``leaky_relu`` | ``tanh`` after each hidden layer (``""``:
      ReLU).
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
  """

  output_shape: Sequence[int]
  hidden: Sequence[int] = (256, 256)
  num_classes: int = 0
  output_activation: str = "tanh"
  batch_norm: bool = False
  kernel_init: Any = None
  dtype: Any = jnp.float32
  activation: str = ""
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    init = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
    act = _activation(self.activation, nn.relu)
    h = _with_labels(z.astype(self.dtype), labels, self.num_classes, self.dtype)
    for width in self.hidden:
      h = nn.Dense(width, dtype=self.dtype, **init)(h)
      if self.batch_norm:  # momentum 0.9 / eps 1e-5: PyTorch's and TensorFlow's defaults
        h = nn.BatchNorm(
          use_running_average=not train,
          momentum=0.9,
          epsilon=1e-5,
          dtype=self.dtype,
          axis_name=self.axis_name,
        )(h)
      h = act(h)
    h = nn.Dense(math.prod(self.output_shape), dtype=self.dtype, **init)(h)
    if self.output_activation == "tanh":
      h = jnp.tanh(h)
    return h.astype(jnp.float32).reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """Maps samples ``[batch, ...]`` to logits ``[batch]``.

  Attributes:
    hidden: widths of the hidden LeakyReLU(0.2) layers.
    num_classes: 0 for an unconditional model, else the number of classes.
    dtype: compute dtype; parameters stay float32.
    kernel_init: initialiser of every kernel (None: flax's default).
    minibatch: ``none`` | ``stddev`` | ``discrimination`` before the logit
      (``blocks.apply_minibatch``).
    activation: ``leaky_relu`` (slope 0.2) | ``relu`` | ``tanh`` after each hidden layer
      (``""``: LeakyReLU 0.2).
  """

  hidden: Sequence[int] = (256, 256)
  num_classes: int = 0
  dtype: Any = jnp.float32
  kernel_init: Any = None
  minibatch: str = "none"
  activation: str = ""

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del train
    init = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
    act = _activation(self.activation, lambda h: nn.leaky_relu(h, 0.2))
    h = x.reshape((x.shape[0], -1)).astype(self.dtype)
    h = _with_labels(h, labels, self.num_classes, self.dtype)
    for width in self.hidden:
      h = act(nn.Dense(width, dtype=self.dtype, **init)(h))
    h = blocks.apply_minibatch(self.minibatch, h, self.dtype)
    return nn.Dense(1, dtype=self.dtype, **init)(h)[:, 0].astype(jnp.float32)


class MaxoutDiscriminator(nn.Module):
  """Maps samples ``[batch, ...]`` to logits ``[batch]`` through LinearMaxout layers.

  Each layer: ``h_u = max_k (x W + b)[u, k]`` for ``units`` outputs of ``pieces`` each;
  then a dense layer to one logit.

  Attributes:
    hidden: units of each LinearMaxout layer.
    pieces: linear pieces per unit.
    num_classes: 0 for an unconditional model, else the number of classes.
    kernel_init: initialiser of every kernel (None: flax's default).
    dtype: compute dtype; parameters stay float32.
    minibatch: ``none`` | ``stddev`` | ``discrimination`` before the logit.
  """

  hidden: Sequence[int] = (200, 200, 200)
  pieces: int = 5
  num_classes: int = 0
  kernel_init: Any = None
  dtype: Any = jnp.float32
  minibatch: str = "none"

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del train
    init = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
    h = x.reshape((x.shape[0], -1)).astype(self.dtype)
    h = _with_labels(h, labels, self.num_classes, self.dtype)
    for units in self.hidden:
      h = nn.Dense(units * self.pieces, dtype=self.dtype, **init)(h)
      h = jnp.max(h.reshape(h.shape[0], units, self.pieces), axis=-1)
    h = blocks.apply_minibatch(self.minibatch, h, self.dtype)
    return nn.Dense(1, dtype=self.dtype, **init)(h)[:, 0].astype(jnp.float32)
