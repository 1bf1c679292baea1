"""Image-to-image translation networks: the pix2pix U-Net and PatchGAN, the CycleGAN ResNet.

Layer for layer the networks of the authors' reference implementation, in NHWC layout:

- ``UnetGenerator`` (pix2pix): ``num_downs`` stride-2 4x4 convolutions down to a 1x1
  bottleneck (for a side of ``2**num_downs``) and as many stride-2 4x4 transposed
  convolutions back up, each level concatenating its skip features; tanh output.
- ``ResnetGenerator`` (CycleGAN, after Johnson et al. 2016): 7x7 stem, two stride-2
  downsamplings, ``n_blocks`` residual blocks, two stride-2 upsamplings, 7x7 tanh head.
- ``NLayerDiscriminator`` (the PatchGAN): a fully convolutional map of logits, one per
  overlapping patch; ``n_layers=3`` sees 70x70 patches.
- ``PixelDiscriminator`` (the 1x1 "PixelGAN"): one logit per pixel.

Every module is called as ``module.apply(variables, x, train=...)`` with ``x`` a float
``[batch, height, width, channels]`` array in [-1, 1] (for the pix2pix discriminator, the
channel concatenation of the input and the real or translated output, input first).

Normalisation (``norm``):

- ``"batch"``: BatchNorm over (batch, height, width) with learned scale and offset, eps 1e-5
  and running averages updated with momentum 0.1 (``momentum=0.9`` in flax's convention)
  in the ``"batch_stats"`` collection. Train mode normalises with the batch statistics and
  updates the running ones; eval mode uses the running ones. As in the reference, the
  running variance is the unbiased batch variance (the normalisation uses the biased one).
- ``"instance"``: per-sample, per-channel normalisation over (height, width), eps 1e-5, no
  learned parameters and no running statistics (the same in train and eval mode).
- ``"none"``: no normalisation.

Convolutions before a normalisation have a bias only for ``norm="instance"``, as in the
reference (whose rule ``use_bias = norm_layer == InstanceNorm2d`` also drops them for
``"none"``); the first discriminator convolution, the last one of the PatchGAN and the
output layers of the generators always have one. Weights start from N(0, 0.02), biases
from 0, BatchNorm scales from N(1, 0.02).

In the reference's U-Net the LeakyReLU that opens every inner level acts in place on that
level's input, which is also the skip tensor concatenated after the upsampling. The
concatenation only ever feeds the next level's ReLU, and ``relu(leaky_relu(x)) == relu(x)``,
so this port concatenates the level's input as it is: outputs and gradients are the same.

References:
  Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
  Section 3.2 and Appendix 6.1 (U-Net with skips and dropout, PatchGAN receptive fields).
  Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
  Networks", Appendix 7.2 (ResNet generator with instance normalisation, 70x70 PatchGAN).
  Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and
  Super-Resolution" (the residual generator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models.layers import Conv, ConvTranspose

NORMS = ("batch", "instance", "none")
PADDING_TYPES = ("reflect", "replicate", "zero")
EPSILON = 1e-5
UNET_MIN_DOWNS = 5  # the reference always builds the four outer levels and the innermost

_init = nn.initializers.normal(0.02)


def unet_num_downs(resolution: int) -> int:
  """Number of U-Net downsamplings that bring a ``resolution`` side to a 1x1 bottleneck.

  Args:
    resolution: image side, a power of two of at least ``2**5 = 32``.

  Returns:
    ``log2(resolution)``: 5 for 32, 7 for 128 ("unet_128"), 8 for 256 ("unet_256").

  Raises:
    ValueError: for a side that is not a power of two or is below 32.
  """
  if (
    not isinstance(resolution, int)
    or resolution < 2**UNET_MIN_DOWNS
    or resolution & (resolution - 1)
  ):
    raise ValueError(
      f"The U-Net generator needs a power-of-two image side of at least {2**UNET_MIN_DOWNS} "
      f"(32, 64, 128, 256, ...); got {resolution!r}."
    )
  return resolution.bit_length() - 1


def _check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise ValueError(f"Unknown norm {norm!r}; valid: {list(NORMS)}")


def _check_images(x: jax.Array, who: str) -> None:
  if x.ndim != 4:
    raise ValueError(f"{who} takes NHWC images [batch, height, width, channels]; got {x.shape}.")


def _conv_padding(p: int) -> tuple[tuple[int, int], tuple[int, int]]:
  return ((p, p), (p, p))


def _transpose_padding(k: int, p: int, output_padding: int = 0):
  """Padding of the stride-dilated input equal to a torch ``ConvTranspose2d(k, p, op)``."""
  return ((k - 1 - p, k - 1 - p + output_padding),) * 2


def _bn_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class BatchNorm(nn.Module):
  """BatchNorm over all axes but the last, with the running statistics of the reference.

  Differs from ``flax.linen.BatchNorm`` in two details that change eval-mode outputs: the
  running variance averages the unbiased batch variance, and the batch variance is the
  two-pass mean of squared deviations. Statistics and normalisation run in float32.

  Attributes:
    use_running_average: normalise with the running statistics (eval) instead of the batch
      statistics, which are then folded into the running ones (train).
    momentum: weight of the old running statistics (flax's convention: torch's 0.1 is 0.9).
    epsilon: added to the variance.
    axis_name: pmap axis over which the batch statistics are averaged, if any.
    dtype: output dtype.

  References:
    Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by
    Reducing Internal Covariate Shift", Algorithm 2 (unbiased variance for inference).
  """

  use_running_average: bool
  momentum: float = 0.9
  epsilon: float = EPSILON
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Normalises ``x [..., channels]``.

    Args:
      x: features; statistics are taken over every axis but the last.

    Returns:
      The normalised, scaled and shifted features in ``dtype``.
    """
    c = x.shape[-1]
    scale = self.param("scale", _bn_scale_init, (c,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (c,), jnp.float32)
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    h = x.astype(jnp.float32)
    if self.use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      axes = tuple(range(h.ndim - 1))
      count = math.prod(h.shape[:-1])
      mean = jnp.mean(h, axes)
      if self.axis_name is not None:
        mean = lax.pmean(mean, self.axis_name)
        count = count * lax.psum(1, self.axis_name)
      var = jnp.mean(jnp.square(h - mean), axes)
      if self.axis_name is not None:
        var = lax.pmean(var, self.axis_name)
      if not self.is_initializing():
        unbiased = var * (count / jnp.maximum(count - 1, 1))
        m = self.momentum
        ra_mean.value = m * ra_mean.value + (1.0 - m) * mean
        ra_var.value = m * ra_var.value + (1.0 - m) * unbiased
    y = (h - mean) * lax.rsqrt(var + self.epsilon) * scale + bias
    return y.astype(self.dtype)


def instance_norm(x: jax.Array, epsilon: float = EPSILON) -> jax.Array:
  """Normalises each sample and channel of ``x [batch, height, width, channels]`` over space.

  Args:
    x: NHWC features.
    epsilon: added to the (biased) variance.

  Returns:
    The normalised features in the dtype of ``x`` (statistics in float32).

  References:
    Ulyanov et al. 2016, "Instance Normalization: The Missing Ingredient for Fast
    Stylization", eq. 4.
  """
  h = x.astype(jnp.float32)
  mean = jnp.mean(h, axis=(1, 2), keepdims=True)
  var = jnp.mean(jnp.square(h - mean), axis=(1, 2), keepdims=True)
  return ((h - mean) * lax.rsqrt(var + epsilon)).astype(x.dtype)


def _norm_layer(
  norm: str, train: bool, axis_name: str | None, dtype: Any, name: str
) -> Callable[[jax.Array], jax.Array]:
  """The normalisation ``norm`` as a callable; ``name`` names the BatchNorm submodule."""
  if norm == "batch":
    return BatchNorm(use_running_average=not train, axis_name=axis_name, dtype=dtype, name=name)
  if norm == "instance":
    return instance_norm
  return lambda h: h


def _pad(x: jax.Array, p: int, padding_type: str) -> jax.Array:
  """Pads height and width by ``p`` with reflection (``"reflect"``) or edge copies."""
  mode = {"reflect": "reflect", "replicate": "edge"}[padding_type]
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)


class UnetGenerator(nn.Module):
  """The pix2pix U-Net: maps images ``[batch, H, W, C]`` to ``[batch, H, W, out_channels]``.

  Level ``i`` (0 = outermost) downsamples with a 4x4 stride-2 convolution to
  ``min(ngf * 2**i, ngf * 8)`` channels, preceded by LeakyReLU(0.2) and followed by the
  norm except at the outermost (neither) and innermost (no norm) levels. On the way up,
  ReLU, a 4x4 stride-2 transposed convolution and the norm, then the level's skip features
  are concatenated in front; the outermost level ends in tanh instead. The ``num_downs - 5``
  levels just outside the innermost (those with ``ngf * 8`` channels on both sides) apply
  Dropout(0.5) after their upsampling norm when ``use_dropout`` is set (pix2pix's default:
  the noise ``z`` of the paper, active at train time).

  Attributes:
    out_channels: channels of the output image.
    num_downs: number of downsamplings, at least 5; ``unet_num_downs(side)`` gives the
      1x1-bottleneck value (7 for 128, 8 for 256). Height and width must be multiples of
      ``2**num_downs``.
    ngf: channels of the outermost level.
    norm: ``"batch"``, ``"instance"`` or ``"none"``.
    use_dropout: apply Dropout(0.5) in the ``num_downs - 5`` intermediate levels; in train
      mode this needs an rng named ``"dropout"``.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
    Sections 3.1-3.2 and Appendix 6.1.1.
    Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation".
  """

  out_channels: int = 3
  num_downs: int = 8
  ngf: int = 64
  norm: str = "batch"
  use_dropout: bool = True
  axis_name: str | None = None
  dtype: Any = jnp.float32

  def _check(self, x: jax.Array) -> None:
    _check_norm(self.norm)
    _check_images(x, "UnetGenerator")
    n = self.num_downs
    if not isinstance(n, int) or n < UNET_MIN_DOWNS:
      raise ValueError(f"UnetGenerator needs num_downs >= {UNET_MIN_DOWNS}; got {n!r}.")
    side = 2**n
    if x.shape[1] % side or x.shape[2] % side:
      raise ValueError(
        f"UnetGenerator with num_downs={n} needs a height and width divisible by "
        f"2**{n} = {side} ({side}, {2 * side}, {3 * side}, ...; num_downs = "
        f"unet_num_downs(side) fits a power-of-two side); got {x.shape[1]}x{x.shape[2]}."
      )

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Translates ``x``.

    Args:
      x: ``[batch, H, W, C]`` float images in [-1, 1].
      train: batch statistics (updated into ``"batch_stats"``) and active dropout if True;
        running statistics and no dropout if False.

    Returns:
      ``[batch, H, W, out_channels]`` float32 images in [-1, 1].
    """
    self._check(x)
    n = self.num_downs
    use_bias = self.norm == "instance"
    inner = [min(self.ngf * 2**i, self.ngf * 8) for i in range(n)]
    outer = [self.out_channels] + inner[:-1]

    def norm(name: str):
      return _norm_layer(self.norm, train, self.axis_name, self.dtype, name)

    h = x.astype(self.dtype)
    skips = []
    for i in range(n):
      if i > 0:
        skips.append(h)  # concatenated after the upsampling of level i
        h = nn.leaky_relu(h, 0.2)
      h = Conv(
        inner[i],
        (4, 4),
        (2, 2),
        _conv_padding(1),
        use_bias=use_bias,
        kernel_init=_init,
        dtype=self.dtype,
        name=f"down{i}",
      )(h)
      if 0 < i < n - 1:
        h = norm(f"down{i}_norm")(h)
    for i in reversed(range(n)):
      h = nn.relu(h)
      h = ConvTranspose(
        outer[i],
        (4, 4),
        (2, 2),
        _transpose_padding(4, 1),
        use_bias=use_bias or i == 0,
        kernel_init=_init,
        dtype=self.dtype,
        name=f"up{i}",
      )(h)
      if i == 0:
        break
      h = norm(f"up{i}_norm")(h)
      if self.use_dropout and UNET_MIN_DOWNS - 1 <= i < n - 1:
        h = nn.Dropout(0.5, deterministic=not train, name=f"up{i}_dropout")(h)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    return jnp.tanh(h).astype(jnp.float32)


class ResnetBlock(nn.Module):
  """``x + norm(conv3(pad(relu(norm(conv3(pad(x)))))))`` with an optional Dropout(0.5).

  Attributes:
    norm: ``"batch"``, ``"instance"`` or ``"none"``.
    use_dropout: Dropout(0.5) after the first ReLU (needs an rng ``"dropout"`` in train).
    padding_type: ``"reflect"``, ``"replicate"`` or ``"zero"`` padding of 1 per conv.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    He et al. 2016, "Deep Residual Learning for Image Recognition".
    Zhu et al. 2017, Appendix 7.2 ("R256").
  """

  norm: str = "instance"
  use_dropout: bool = False
  padding_type: str = "reflect"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Applies the block.

    Args:
      x: ``[batch, H, W, C]`` features.
      train: batch statistics and active dropout if True.

    Returns:
      ``[batch, H, W, C]`` features.
    """
    _check_norm(self.norm)
    if self.padding_type not in PADDING_TYPES:
      raise ValueError(f"Unknown padding_type {self.padding_type!r}; valid: {list(PADDING_TYPES)}")
    c = x.shape[-1]
    h = x
    for j in range(2):
      p = 1
      if self.padding_type != "zero":
        h, p = _pad(h, 1, self.padding_type), 0
      h = nn.Conv(
        c,
        (3, 3),
        padding=_conv_padding(p),
        use_bias=self.norm == "instance",
        kernel_init=_init,
        dtype=self.dtype,
        name=f"conv{j}",
      )(h)
      h = _norm_layer(self.norm, train, self.axis_name, self.dtype, f"norm{j}")(h)
      if j == 0:
        h = nn.relu(h)
        if self.use_dropout:
          h = nn.Dropout(0.5, deterministic=not train, name="dropout")(h)
    return x + h


class ResnetGenerator(nn.Module):
  """The CycleGAN generator: maps ``[batch, H, W, C]`` to ``[batch, H, W, out_channels]``.

  ReflectionPad(3)-Conv7(ngf)-norm-ReLU; two Conv3 stride-2 downsamplings to 2 and 4 ngf
  channels (norm, ReLU); ``n_blocks`` ``ResnetBlock`` at 4 ngf; two ConvTranspose3 stride-2
  upsamplings (padding 1, output padding 1) to 2 and 1 ngf (norm, ReLU);
  ReflectionPad(3)-Conv7(out_channels)-tanh.

  Attributes:
    out_channels: channels of the output image.
    ngf: channels of the first layer.
    n_blocks: residual blocks (CycleGAN: 6 for 128x128 images, 9 for 256x256).
    norm: ``"batch"``, ``"instance"`` (CycleGAN's choice) or ``"none"``.
    use_dropout: Dropout(0.5) inside every residual block (off in CycleGAN).
    padding_type: padding inside the residual blocks: ``"reflect"``, ``"replicate"`` or
      ``"zero"``.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks", Appendix 7.2.
    Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", supplementary material.
  """

  out_channels: int = 3
  ngf: int = 64
  n_blocks: int = 9
  norm: str = "instance"
  use_dropout: bool = False
  padding_type: str = "reflect"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  def _check(self, x: jax.Array) -> None:
    _check_norm(self.norm)
    _check_images(x, "ResnetGenerator")
    if self.padding_type not in PADDING_TYPES:
      raise ValueError(f"Unknown padding_type {self.padding_type!r}; valid: {list(PADDING_TYPES)}")
    if not isinstance(self.n_blocks, int) or self.n_blocks < 0:
      raise ValueError(f"ResnetGenerator needs n_blocks >= 0; got {self.n_blocks!r}.")
    hgt, wid = x.shape[1:3]
    if hgt % 4 or wid % 4 or min(hgt, wid) < 8:
      raise ValueError(
        "ResnetGenerator needs a height and width that are multiples of 4 and at least 8 "
        f"(8, 12, 16, ..., 128, 256, ...); got {hgt}x{wid}."
      )

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Translates ``x``.

    Args:
      x: ``[batch, H, W, C]`` float images in [-1, 1].
      train: batch statistics (updated into ``"batch_stats"``) and active dropout if True.

    Returns:
      ``[batch, H, W, out_channels]`` float32 images in [-1, 1].
    """
    self._check(x)
    use_bias = self.norm == "instance"

    def conv(features: int, k: int, stride: int, padding: int, bias: bool, name: str):
      return Conv(
        features,
        (k, k),
        (stride, stride),
        _conv_padding(padding),
        use_bias=bias,
        kernel_init=_init,
        dtype=self.dtype,
        name=name,
      )

    def norm(name: str):
      return _norm_layer(self.norm, train, self.axis_name, self.dtype, name)

    h = _pad(x.astype(self.dtype), 3, "reflect")
    h = nn.relu(norm("stem_norm")(conv(self.ngf, 7, 1, 0, use_bias, "stem")(h)))
    for i in range(2):
      h = conv(self.ngf * 2 ** (i + 1), 3, 2, 1, use_bias, f"down{i}")(h)
      h = nn.relu(norm(f"down{i}_norm")(h))
    for j in range(self.n_blocks):
      h = ResnetBlock(
        self.norm,
        self.use_dropout,
        self.padding_type,
        self.axis_name,
        self.dtype,
        name=f"block{j}",
      )(h, train)
    for i in range(2):
      h = ConvTranspose(
        self.ngf * 2 ** (1 - i),
        (3, 3),
        (2, 2),
        _transpose_padding(3, 1, output_padding=1),
        use_bias=use_bias,
        kernel_init=_init,
        dtype=self.dtype,
        name=f"up{i}",
      )(h)
      h = nn.relu(norm(f"up{i}_norm")(h))
    h = conv(self.out_channels, 7, 1, 0, True, "out")(_pad(h, 3, "reflect"))
    return jnp.tanh(h).astype(jnp.float32)


class NLayerDiscriminator(nn.Module):
  """The PatchGAN: maps images ``[batch, H, W, C]`` to a logit map ``[batch, H', W', 1]``.

  4x4 convolutions with padding 1 and LeakyReLU(0.2): ``n_layers`` stride-2 ones with
  ``min(ndf * 2**i, ndf * 8)`` channels (no norm on the first), one stride-1 with
  ``min(ndf * 2**n_layers, ndf * 8)`` channels, then a stride-1 convolution to one logit per
  position. Each logit sees a square patch of 16, 34, 70, 142, 286 pixels for
  ``n_layers`` = 1..5 (70 is pix2pix's and CycleGAN's default);
  ``H' = H // 2**max(n_layers, 1) - 2``.
  For pix2pix, ``x`` is the channel concatenation of the input and the output image.

  Attributes:
    ndf: channels of the first layer.
    n_layers: stride-2 layers; 0 gives the layout of 1 with ``ndf`` channels in the
      stride-1 layer, as in the reference.
    norm: ``"batch"``, ``"instance"`` or ``"none"``.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
    Section 3.2.2 and Appendix 6.1.2 (C64-C128-C256-C512).
    Li & Wand 2016, "Precomputed Real-Time Texture Synthesis with Markovian Generative
    Adversarial Networks".
  """

  ndf: int = 64
  n_layers: int = 3
  norm: str = "batch"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  def _check(self, x: jax.Array) -> None:
    _check_norm(self.norm)
    _check_images(x, "NLayerDiscriminator")
    if not isinstance(self.n_layers, int) or self.n_layers < 0:
      raise ValueError(f"NLayerDiscriminator needs n_layers >= 0; got {self.n_layers!r}.")
    smallest = 3 * 2 ** max(self.n_layers, 1)
    if min(x.shape[1:3]) < smallest:
      raise ValueError(
        f"NLayerDiscriminator with n_layers={self.n_layers} needs a height and width of at "
        f"least {smallest} (its logit map would be empty); got {x.shape[1]}x{x.shape[2]}."
      )

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Scores the patches of ``x``.

    Args:
      x: ``[batch, H, W, C]`` float images in [-1, 1].
      train: batch statistics (updated into ``"batch_stats"``) if True.

    Returns:
      ``[batch, H', W', 1]`` float32 logits, ``H' = H // 2**max(n_layers, 1) - 2``.
    """
    self._check(x)
    use_bias = self.norm == "instance"
    h = x.astype(self.dtype)
    for i in range(self.n_layers + 1):
      last = i == self.n_layers
      h = Conv(
        min(self.ndf * 2**i, self.ndf * 8),
        (4, 4),
        (1, 1) if last and i > 0 else (2, 2),
        _conv_padding(1),
        use_bias=use_bias or i == 0,
        kernel_init=_init,
        dtype=self.dtype,
        name=f"conv{i}",
      )(h)
      if i > 0:
        h = _norm_layer(self.norm, train, self.axis_name, self.dtype, f"norm{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    if self.n_layers == 0:  # the reference still adds its stride-1 ndf layer
      h = nn.Conv(
        self.ndf,
        (4, 4),
        padding=_conv_padding(1),
        use_bias=use_bias,
        kernel_init=_init,
        dtype=self.dtype,
        name="conv1",
      )(h)
      h = _norm_layer(self.norm, train, self.axis_name, self.dtype, "norm1")(h)
      h = nn.leaky_relu(h, 0.2)
    h = nn.Conv(
      1, (4, 4), padding=_conv_padding(1), kernel_init=_init, dtype=self.dtype, name="logits"
    )(h)
    return h.astype(jnp.float32)


class PixelDiscriminator(nn.Module):
  """The 1x1 PixelGAN: maps images ``[batch, H, W, C]`` to logits ``[batch, H, W, 1]``.

  Conv1x1(ndf)-LeakyReLU(0.2)-Conv1x1(2 ndf)-norm-LeakyReLU(0.2)-Conv1x1(1). As in the
  reference, the logit convolution has a bias only for ``norm="instance"``.

  Attributes:
    ndf: channels of the first layer.
    norm: ``"batch"``, ``"instance"`` or ``"none"``.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
    Section 4.4 (PixelGAN, 1x1 patches).
  """

  ndf: int = 64
  norm: str = "batch"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Scores every pixel of ``x``.

    Args:
      x: ``[batch, H, W, C]`` float images in [-1, 1].
      train: batch statistics (updated into ``"batch_stats"``) if True.

    Returns:
      ``[batch, H, W, 1]`` float32 logits.
    """
    _check_norm(self.norm)
    _check_images(x, "PixelDiscriminator")
    use_bias = self.norm == "instance"

    def conv(features: int, bias: bool, name: str):
      return nn.Conv(
        features, (1, 1), use_bias=bias, kernel_init=_init, dtype=self.dtype, name=name
      )

    h = nn.leaky_relu(conv(self.ndf, True, "conv0")(x.astype(self.dtype)), 0.2)
    h = conv(2 * self.ndf, use_bias, "conv1")(h)
    h = _norm_layer(self.norm, train, self.axis_name, self.dtype, "norm1")(h)
    h = conv(1, use_bias, "logits")(nn.leaky_relu(h, 0.2))
    return h.astype(jnp.float32)
