"""The unrolled GAN's small 28x28 DCGAN: the players of PacGAN's Table 3.

Metz et al. (2017) test mode collapse on Stacked MNIST with a deliberately weak
discriminator, and PacGAN (Lin et al. 2018, Section 5.2, Table 3) reuses their networks
at two discriminator sizes. As in PacGAN's released code for that table:

- G: ``z`` -> dense ``4 * 4 * 8w`` -> BatchNorm, ReLU -> three 3x3 stride-2 transposed
  convolutions to 7x7x4w, 14x14x2w and 28x28xw, each with BatchNorm and ReLU -> a 3x3
  stride-1 convolution to the image channels -> tanh. ``w = 8`` (64 / 32 / 16 / 8
  channels).
- D: three 3x3 stride-2 convolutions of ``d, 2d, 4d`` channels (28 -> 14 -> 7 -> 4), each
  followed by BatchNorm (the first too) and LeakyReLU with slope 0.3 -> dense to one
  logit. ``d = 2`` is the "D at 1/4 of G" setting, ``d = 4`` the "1/2 of G" one.
- Every kernel starts from N(0, 0.02) (the convolutions, D's and G's last, from TF1's
  truncated normal, cut at two standard deviations and not rescaled), biases and BatchNorm shifts
  from 0, BatchNorm scales from 1; BatchNorm keeps running statistics with momentum 0.9
  and epsilon 1e-5.

The transposed convolutions are TF's ``conv2d_transpose`` with ``SAME`` padding and the
output sizes 7, 14 and 28: the adjoint of the stride-2 ``SAME`` convolution from those
sizes. Here the kernel is stored in the layout of ``ConvTranspose(transpose_kernel=
False)``, i.e. TF's kernel flipped in space with its channel axes swapped: the same
function of an independently drawn N(0, 0.02) kernel.

References:
  Metz et al. 2017, "Unrolled Generative Adversarial Networks", Section 3.3.1 and
  Appendix (the Stacked MNIST networks).
  Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks",
  Section 5.2 and Table 3.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import blocks
from gan_jax.models.layers import Conv, ConvTranspose

RESOLUTION = 28
G_SIDES = (7, 14, 28)  # the transposed convolutions' output sides

_init = nn.initializers.normal(0.02)
# TF1's truncated_normal_initializer(0.02): a unit normal cut at +-2, times 0.02. JAX's
# truncated_normal rescales to the given standard deviation, so undo that rescaling.
_TRUNCATED_STD = 0.87962566103423978
_conv_init = nn.initializers.truncated_normal(0.02 * _TRUNCATED_STD)


def same_transpose_padding(in_side: int, out_side: int, k: int, s: int) -> tuple[int, int]:
  """Padding of the stride-dilated input for TF's ``SAME`` transposed convolution.

  The forward ``SAME`` convolution from ``out_side`` to ``in_side = ceil(out_side / s)``
  pads ``lo = total // 2`` before and ``total - lo`` after, ``total = max((in_side - 1) s
  + k - out_side, 0)``; its adjoint pads the dilated input by ``k - 1 - lo`` before and
  ``k - 1 - hi + r`` after, where ``r`` is the part of the padded input the forward
  windows do not reach.

  Args:
    in_side: the transposed convolution's input side.
    out_side: its output side.
    k: kernel side.
    s: stride.

  Returns:
    ``(low, high)``.
  """
  if -(-out_side // s) != in_side:
    raise ValueError(f"A SAME stride-{s} convolution maps {out_side} to {-(-out_side // s)}, "
                     f"not {in_side}.")  # fmt: skip
  total = max((in_side - 1) * s + k - out_side, 0)
  lo, hi = total // 2, total - total // 2
  r = (out_side + total - k) % s
  return k - 1 - lo, k - 1 - hi + r


def _batch_norm(train: bool, dtype: Any, axis_name: str | None) -> nn.BatchNorm:
  return nn.BatchNorm(
    use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype, axis_name=axis_name
  )


class DCGAN28Generator(nn.Module):
  """Maps ``z [batch, z_dim]`` to images ``[batch, 28, 28, channels]``.

  Attributes:
    channels: output channels (3 for stacked digits).
    width: channels of the last transposed convolution (8); earlier ones double it.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
  """

  channels: int
  width: int = 8
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del labels
    bn = lambda: _batch_norm(train, self.dtype, self.axis_name)  # noqa: E731
    h = nn.Dense(4 * 4 * 8 * self.width, kernel_init=_init, dtype=self.dtype)(z.astype(self.dtype))
    h = nn.relu(bn()(h.reshape((z.shape[0], 4, 4, 8 * self.width))))
    side = 4
    for i, out_side in enumerate(G_SIDES):
      pad = same_transpose_padding(side, out_side, 3, 2)
      ch = self.width * 2 ** (len(G_SIDES) - 1 - i)
      h = ConvTranspose(ch, (3, 3), (2, 2), (pad, pad), kernel_init=_init, dtype=self.dtype)(h)
      h = nn.relu(bn()(h))
      side = out_side
    h = Conv(self.channels, (3, 3), (1, 1), "SAME", kernel_init=_conv_init, dtype=self.dtype)(h)
    return jnp.tanh(h).astype(jnp.float32)


class DCGAN28Discriminator(nn.Module):
  """Maps images ``[batch, 28, 28, channels]`` to logits ``[batch]``.

  Attributes:
    width: channels of the first convolution (2: D at 1/4 of G; 4: at 1/2); the next
      two double it.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
    minibatch: ``none`` | ``stddev`` | ``discrimination`` before the logit, as in
      ``DCGANDiscriminator``.
  """

  width: int = 2
  axis_name: str | None = None
  dtype: Any = jnp.float32
  minibatch: str = "none"

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    del labels
    blocks.check_minibatch(self.minibatch)
    h = x.astype(self.dtype)
    for i in range(3):
      ch = self.width * 2**i
      h = Conv(ch, (3, 3), (2, 2), "SAME", kernel_init=_conv_init, dtype=self.dtype)(h)
      h = nn.leaky_relu(_batch_norm(train, self.dtype, self.axis_name)(h), 0.3)
    if self.minibatch == "stddev":
      h = blocks.apply_minibatch("stddev", h, self.dtype)
    h = h.reshape((x.shape[0], -1))  # [batch, 4 * 4 * 4 width]
    if self.minibatch == "discrimination":
      h = blocks.apply_minibatch("discrimination", h, self.dtype)
    return nn.Dense(1, kernel_init=_init, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
