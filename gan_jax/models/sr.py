"""Super-resolution networks of the SRGAN line: SRResNet, MSRResNet, RRDBNet and two critics.

Generators map a low-resolution batch ``[N, H, W, C]`` to ``[N, scale * H, scale * W,
out_channels]``; discriminators map a high-resolution batch to one logit per image,
``[N, 1]``. Layout is NHWC, convolution kernels ``[KH, KW, Cin, Cout]``; every module takes
a compute ``dtype`` (parameters and BatchNorm statistics stay float32) and returns float32.

- ``SRResNet`` (Ledig et al. 2017, Fig. 4): 9x9 conv + PReLU head, ``num_blocks`` residual
  blocks conv3-BN-PReLU-conv3-BN with identity skips, conv3-BN plus a long skip from the
  head, sub-pixel upsampling (conv3 to ``4 * width`` channels, pixel shuffle x2, PReLU) per
  factor 2, and a 9x9 conv tail. Linear output.
- ``MSRResNet``: the modified SRResNet of BasicSR's configuration (no BatchNorm, LeakyReLU
  0.1, blocks conv-ReLU-conv, Kaiming init scaled by 0.1) with a global residual: the
  output adds the bilinearly upsampled input.
- ``RRDBNet`` (Wang et al. 2018, ESRGAN, Section 3.1 and Fig. 4): residual-in-residual
  dense blocks, residual scaling 0.2, nearest-neighbour upsampling followed by convs.
- ``SRGANDiscriminator`` (Ledig et al. 2017, Fig. 4): eight 3x3 convs (64 to 512
  channels, four of stride 2) with BatchNorm and LeakyReLU 0.2, dense 1024, dense 1.
- ``VGGStyleDiscriminator`` (Wang et al. 2018, the ESRGAN critic, as BasicSR's
  configuration builds it for 128 or 256 px): pairs of a 3x3 stride-1 and a 4x4 stride-2
  conv with BatchNorm, then dense 100 and dense 1.

Images. Inputs and outputs are images in [-1, 1], scaled like the rest of gan_jax (the
references train on [0, 1]; the architectures are the same). The generators end in a
convolution, not a tanh, so outputs are not clipped: clip them (or not) where they are
consumed.

Layer conventions shared by every network here:

- Convolutions use the symmetric zero padding of the PyTorch references (``k // 2`` for
  3x3 and 9x9 kernels, 1 for the 4x4 stride-2 ones), never XLA's ``"SAME"`` (which pads a
  stride-2 conv on an even side only at the end).
- ``pixel_shuffle`` reads channel ``c * r * r + i * r + j`` as sub-pixel ``(i, j)`` of
  output channel ``c``, the order of PyTorch's ``pixel_shuffle``, so a conv kernel before
  it is the transposed PyTorch weight, channel for channel.
- Features are flattened in (C, H, W) order (PyTorch's ``view`` of NCHW) before the dense
  heads of the discriminators, so a dense kernel is the transposed PyTorch weight.
- ``norm="batch"`` is ``gan_jax.models.translation.BatchNorm``: PyTorch's BatchNorm2d
  (eps 1e-5, momentum 0.1, i.e. flax momentum 0.9, unbiased running variance), running
  statistics in ``"batch_stats"``; train mode normalises with the batch statistics and
  updates the running ones. Its scale starts from N(1, 0.02), its offset from 0.
  Convolutions followed by BatchNorm have no bias (it would be cancelled by the mean).
- PReLU (``flax.linen.PReLU``) learns one slope per layer, initialised to 0.25 (PyTorch's
  ``nn.PReLU()``).
- Initialisation: convolutions and dense layers not named otherwise draw their kernels from
  PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases start at 0. The MSRResNet
  convolutions and the ESRGAN dense-block convolutions use Kaiming normal (fan_in, gain
  sqrt(2)) scaled by 0.1, biases 0 (BasicSR's ``default_init_weights(scale=0.1)``).

References:
  Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
  Adversarial Network", Section 2.2 and Fig. 4 (SRResNet and the SRGAN discriminator).
  Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
  Section 3.1 and Fig. 3-4 (no BatchNorm, RRDB, residual scaling 0.2, smaller init).
  Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network" (pixel shuffle).
  He et al. 2015, "Delving Deep into Rectifiers" (PReLU; Kaiming initialisation).
  Lim et al. 2017, "Enhanced Deep Residual Networks for Single Image Super-Resolution"
  (residual blocks without BatchNorm).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import Conv
from gan_jax.models.translation import BatchNorm

Array = jax.Array

SR_NORMS = ("batch", "none")
SRRESNET_SCALES = (2, 3, 4, 8)
MSRRESNET_SCALES = (2, 3, 4)
RRDBNET_SCALES = (1, 2, 4, 8)
SRGAN_D_POOLS = ("flatten", "avg")
SRGAN_D_STAGES = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))  # (width x, stride)
VGG_INPUT_SIZES = (128, 256)

# PyTorch's default conv / linear weight init, kaiming_uniform_(a=sqrt(5)):
# U(-b, b) with b = 1 / sqrt(fan_in), variance 1 / (3 fan_in).
torch_default_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def scaled_kaiming_normal(scale: float = 0.1) -> nn.initializers.Initializer:
  """Kaiming normal (fan_in, gain sqrt(2), untruncated) times ``scale``.

  PyTorch's ``kaiming_normal_(w)`` (``a=0``, ``mode="fan_in"``) followed by ``w *= scale``:
  N(0, (scale * sqrt(2 / fan_in))**2), ``fan_in = KH * KW * Cin``.

  Args:
    scale: multiplier of the standard deviation (0.1: ESRGAN's smaller initialisation).

  Returns:
    A flax initialiser.

  References:
    He et al. 2015, Section 2.2; Wang et al. 2018, Section 3.1 ("smaller initialization").
  """
  return nn.initializers.variance_scaling(2.0 * scale**2, "fan_in", "normal")


_esrgan_init = scaled_kaiming_normal(0.1)


def pixel_shuffle(x: Array, r: int) -> Array:
  """Rearranges ``[N, H, W, C * r * r]`` into ``[N, r * H, r * W, C]`` (sub-pixel conv).

  Output pixel ``(r * h + i, r * w + j)`` of channel ``c`` is input channel
  ``c * r * r + i * r + j`` at ``(h, w)``: PyTorch's ``pixel_shuffle`` on NCHW, in NHWC.

  Args:
    x: ``[N, H, W, C * r * r]``.
    r: upscale factor.

  Returns:
    ``[N, r * H, r * W, C]`` in the dtype of ``x``.

  References:
    Shi et al. 2016, Section 2.2, eq. 4 (the periodic shuffling operator PS).
  """
  n, h, w, c = x.shape
  if c % (r * r):
    raise ValueError(f"pixel_shuffle by {r} needs channels divisible by {r * r}; got {c}.")
  out = c // (r * r)
  y = x.reshape(n, h, w, out, r, r).transpose(0, 1, 4, 2, 5, 3)
  return y.reshape(n, h * r, w * r, out)


def param_count(variables: Any) -> int:
  """Number of trainable parameters: the leaves of ``variables["params"]``.

  Args:
    variables: a module's variables (``init``'s output, or ``jax.eval_shape`` of it, whose
      leaves are shapes only), or a params tree itself. BatchNorm statistics are not
      counted (PyTorch's buffers are not parameters either).

  Returns:
    The total number of scalars.
  """
  tree = (
    variables["params"] if isinstance(variables, Mapping) and "params" in variables else variables
  )
  return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def upsample_bilinear(x: Array, scale: int) -> Array:
  """Bilinear upsampling of ``[N, H, W, C]`` by an integer ``scale``, half-pixel centres.

  Equal to PyTorch's ``interpolate(x, scale_factor=scale, mode="bilinear",
  align_corners=False)``: samples at ``(o + 0.5) / scale - 0.5``, the edge pixels
  repeated outside the image. Computed in float32.
  """
  n, h, w, c = x.shape
  return jax.image.resize(
    x.astype(jnp.float32), (n, h * scale, w * scale, c), "bilinear", antialias=False
  )


def upsample_nearest(x: Array, scale: int = 2) -> Array:
  """Nearest-neighbour upsampling of ``[N, H, W, C]`` (PyTorch ``interpolate``'s default)."""
  return jnp.repeat(jnp.repeat(x, scale, axis=1), scale, axis=2)


def _conv(
  features: int,
  k: int,
  name: str,
  dtype: Any,
  *,
  stride: int = 1,
  pad: int | None = None,
  use_bias: bool = True,
  init: nn.initializers.Initializer = torch_default_init,
) -> Conv:
  p = k // 2 if pad is None else pad
  return Conv(
    features,
    (k, k),
    (stride, stride),
    ((p, p), (p, p)),
    use_bias=use_bias,
    kernel_init=init,
    dtype=dtype,
    name=name,
  )


def _dense(features: int, name: str, dtype: Any) -> nn.Dense:
  return nn.Dense(features, kernel_init=torch_default_init, dtype=dtype, name=name)


def _prelu(name: str) -> nn.PReLU:
  return nn.PReLU(negative_slope_init=0.25, name=name)


def _check_images(x: Array, who: str) -> None:
  if x.ndim != 4:
    raise ValueError(f"{who} takes NHWC images [batch, height, width, channels]; got {x.shape}.")


def _check_choice(value: Any, valid: tuple, what: str) -> None:
  if value not in valid:
    raise ValueError(f"Unknown {what} {value!r}; valid: {list(valid)}")


def _check_count(value: Any, what: str, least: int) -> None:
  if not isinstance(value, int) or value < least:
    raise ValueError(f"{what} must be an integer of at least {least}; got {value!r}.")


def _upsample_steps(scale: int) -> list[int]:
  """Pixel-shuffle factors giving ``scale``: one 3, or ``log2(scale)`` factors 2."""
  return [3] if scale == 3 else [2] * (scale.bit_length() - 1)


def _flatten_chw(h: Array) -> Array:
  """``[N, H, W, C]`` to ``[N, C * H * W]`` in (C, H, W) order, PyTorch's ``view`` of NCHW."""
  return h.transpose(0, 3, 1, 2).reshape(h.shape[0], -1)


class SRResNetBlock(nn.Module):
  """``x + BN(conv3(PReLU(BN(conv3(x)))))``, the SRResNet residual block.

  Params: ``conv0``, ``conv1`` (3x3, no bias under BatchNorm), ``bn0``, ``bn1`` (for
  ``norm="batch"``), ``prelu`` (one slope).

  Attributes:
    norm: ``"batch"`` or ``"none"``.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Ledig et al. 2017, Fig. 4 (B residual blocks, k3n64s1); Gross & Wilber 2016,
    "Training and investigating residual nets" (the block without a final ReLU).
  """

  norm: str = "batch"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    """Applies the block to ``x [N, H, W, C]``; ``train``: BatchNorm batch statistics."""
    c = x.shape[-1]
    use_bn = self.norm == "batch"
    h = x
    for j in range(2):
      h = _conv(c, 3, f"conv{j}", self.dtype, use_bias=not use_bn)(h)
      if use_bn:
        h = BatchNorm(not train, axis_name=self.axis_name, dtype=self.dtype, name=f"bn{j}")(h)
      if j == 0:
        h = _prelu("prelu")(h)
    return x + h


class SRResNet(nn.Module):
  """SRResNet: maps ``[N, H, W, C]`` to ``[N, scale * H, scale * W, out_channels]``.

  Layers (Ledig et al. 2017, Fig. 4), with ``w = width``:

  - ``head``: 9x9 conv to ``w`` (bias), ``head_prelu``;
  - ``block0`` .. ``block{num_blocks - 1}``: ``SRResNetBlock`` (conv3-BN-PReLU-conv3-BN
    plus identity);
  - ``body_conv``: 3x3 conv to ``w``, ``body_bn``, plus the head's output (long skip);
  - ``up{i}`` with ``up{i}_prelu``, per pixel-shuffle step: 3x3 conv to ``4 w`` channels,
    ``pixel_shuffle(2)``, PReLU; ``log2(scale)`` steps for scale 2, 4, 8, or for scale 3
    one step of a conv to ``9 w`` channels and ``pixel_shuffle(3)``;
  - ``tail``: 9x9 conv to ``out_channels`` (bias), linear output.

  The convs before BatchNorm have a bias only for ``norm="none"``. At the paper's size
  (width 64, 16 blocks, x4, BatchNorm) this is 1,547,350 parameters for RGB.

  Attributes:
    scale: 2, 3, 4 or 8.
    width: feature channels (the paper's 64).
    num_blocks: residual blocks (the paper's 16).
    norm: ``"batch"`` (the paper) or ``"none"``.
    out_channels: channels of the output image.
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
    Adversarial Network", Section 2.2 and Fig. 4 (generator).
    Shi et al. 2016 (sub-pixel convolution).
  """

  scale: int = 4
  width: int = 64
  num_blocks: int = 16
  norm: str = "batch"
  out_channels: int = 3
  axis_name: str | None = None
  dtype: Any = jnp.float32

  def _check(self, x: Array) -> None:
    _check_images(x, "SRResNet")
    _check_choice(self.scale, SRRESNET_SCALES, "SRResNet scale")
    _check_choice(self.norm, SR_NORMS, "SRResNet norm")
    _check_count(self.num_blocks, "SRResNet num_blocks", 0)

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    """Super-resolves ``x``.

    Args:
      x: ``[N, H, W, C]`` float images in [-1, 1].
      train: BatchNorm with batch statistics (updated into ``"batch_stats"``, which must
        then be mutable) if True; running statistics if False.

    Returns:
      ``[N, scale * H, scale * W, out_channels]`` float32 images, unclipped.
    """
    self._check(x)
    w, use_bn = self.width, self.norm == "batch"
    head = _prelu("head_prelu")(_conv(w, 9, "head", self.dtype)(x.astype(self.dtype)))
    h = head
    for i in range(self.num_blocks):
      h = SRResNetBlock(self.norm, self.axis_name, self.dtype, name=f"block{i}")(h, train)
    h = _conv(w, 3, "body_conv", self.dtype, use_bias=not use_bn)(h)
    if use_bn:
      h = BatchNorm(not train, axis_name=self.axis_name, dtype=self.dtype, name="body_bn")(h)
    h = h + head
    for i, r in enumerate(_upsample_steps(self.scale)):
      h = pixel_shuffle(_conv(w * r * r, 3, f"up{i}", self.dtype)(h), r)
      h = _prelu(f"up{i}_prelu")(h)
    return _conv(self.out_channels, 9, "tail", self.dtype)(h).astype(jnp.float32)


class ResidualBlockNoBN(nn.Module):
  """``x + res_scale * conv3(ReLU(conv3(x)))``, without BatchNorm (MSRResNet's block).

  Params ``conv1``, ``conv2`` (3x3, bias), Kaiming normal scaled by 0.1, biases 0.

  Attributes:
    res_scale: multiplier of the residual branch (1 in MSRResNet).
    dtype: compute dtype; parameters stay float32.

  References:
    Lim et al. 2017, Section 3.1 and Fig. 2 (residual block without BatchNorm).
  """

  res_scale: float = 1.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the block to ``x [N, H, W, C]``."""
    c = x.shape[-1]
    h = nn.relu(_conv(c, 3, "conv1", self.dtype, init=_esrgan_init)(x))
    h = _conv(c, 3, "conv2", self.dtype, init=_esrgan_init)(h)
    return x + self.res_scale * h


class MSRResNet(nn.Module):
  """The modified SRResNet: ``[N, H, W, C]`` to ``[N, scale * H, scale * W, out_channels]``.

  Layers (BasicSR's configuration), ``f = num_feat``, LeakyReLU slope 0.1, every conv 3x3
  with bias, Kaiming normal scaled by 0.1 and zero bias:

  - ``conv_first`` to ``f``, LeakyReLU;
  - ``body_0`` .. ``body_{num_blocks - 1}``: ``ResidualBlockNoBN`` (conv-ReLU-conv,
    residual scale 1);
  - ``upconv1`` (``upconv2``): per pixel-shuffle step a conv to ``4 f`` channels (``9 f``
    for scale 3), ``pixel_shuffle``, LeakyReLU; one step for scale 2 or 3, two for 4;
  - ``conv_hr`` to ``f``, LeakyReLU, ``conv_last`` to ``out_channels``;
  - plus the input upsampled bilinearly (``upsample_bilinear``): the network learns the
    residual over bilinear interpolation, so ``out_channels`` must equal the input's.

  No BatchNorm (Wang et al. 2018, Section 3.1, remove it from SRResNet for stability and
  fewer artefacts). At width 64, 16 blocks, x4 this is 1,517,571 parameters for RGB.

  Attributes:
    scale: 2, 3 or 4.
    num_feat: feature channels (64).
    num_blocks: residual blocks (16).
    out_channels: channels of the output image, the input's.
    dtype: compute dtype; parameters stay float32.

  References:
    Ledig et al. 2017, Fig. 4 (SRResNet); Wang et al. 2018, Section 3.1 (BatchNorm
    removed; smaller initialisation); Lim et al. 2017 (blocks without BatchNorm).
  """

  scale: int = 4
  num_feat: int = 64
  num_blocks: int = 16
  out_channels: int = 3
  dtype: Any = jnp.float32

  def _check(self, x: Array) -> None:
    _check_images(x, "MSRResNet")
    _check_choice(self.scale, MSRRESNET_SCALES, "MSRResNet scale")
    _check_count(self.num_blocks, "MSRResNet num_blocks", 0)
    if x.shape[-1] != self.out_channels:
      raise ValueError(
        f"MSRResNet adds the upsampled input to its output: out_channels "
        f"({self.out_channels}) must equal the input's channels ({x.shape[-1]})."
      )

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    """Super-resolves ``x``.

    Args:
      x: ``[N, H, W, C]`` float images in [-1, 1].
      train: unused (no BatchNorm or dropout); accepted like every gan_jax network's.

    Returns:
      ``[N, scale * H, scale * W, C]`` float32 images, unclipped.
    """
    del train
    self._check(x)
    f = self.num_feat

    def conv(features: int, name: str) -> Conv:
      return _conv(features, 3, name, self.dtype, init=_esrgan_init)

    def lrelu(h: Array) -> Array:
      return nn.leaky_relu(h, 0.1)

    h = lrelu(conv(f, "conv_first")(x.astype(self.dtype)))
    for i in range(self.num_blocks):
      h = ResidualBlockNoBN(dtype=self.dtype, name=f"body_{i}")(h)
    for i, r in enumerate(_upsample_steps(self.scale)):
      h = lrelu(pixel_shuffle(conv(f * r * r, f"upconv{i + 1}")(h), r))
    h = conv(self.out_channels, "conv_last")(lrelu(conv(f, "conv_hr")(h)))
    return h.astype(jnp.float32) + upsample_bilinear(x, self.scale)


class ResidualDenseBlock(nn.Module):
  """ESRGAN's dense block: five 3x3 convs over the concatenated features, ``x + 0.2 x5``.

  ``x_k = lrelu(conv_k([x, x_1, ..., x_{k-1}]))`` with ``num_grow_ch`` channels for
  ``k = 1..4`` (LeakyReLU 0.2), ``x_5 = conv5([x, x_1, ..., x_4])`` with ``C`` channels;
  output ``x + 0.2 x_5``. Params ``conv1`` .. ``conv5`` (bias), Kaiming normal scaled by
  0.1, biases 0.

  Attributes:
    num_grow_ch: growth channels (32).
    dtype: compute dtype; parameters stay float32.

  References:
    Wang et al. 2018, Section 3.1 and Fig. 4 (dense block, residual scaling beta = 0.2,
    smaller initialisation); Zhang et al. 2018, "Residual Dense Network for Image
    Super-Resolution".
  """

  num_grow_ch: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the block to ``x [N, H, W, C]``."""
    feats = [x]
    for k in range(1, 6):
      features = x.shape[-1] if k == 5 else self.num_grow_ch
      h = _conv(features, 3, f"conv{k}", self.dtype, init=_esrgan_init)(
        jnp.concatenate(feats, axis=-1)
      )
      if k < 5:
        feats.append(nn.leaky_relu(h, 0.2))
    return x + 0.2 * h


class RRDB(nn.Module):
  """Residual-in-residual dense block: ``x + 0.2 * rdb3(rdb2(rdb1(x)))``.

  Attributes:
    num_grow_ch: growth channels of the ``ResidualDenseBlock``\\ s.
    dtype: compute dtype; parameters stay float32.

  References:
    Wang et al. 2018, Section 3.1 and Fig. 4 (RRDB, beta = 0.2).
  """

  num_grow_ch: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the block to ``x [N, H, W, C]``."""
    h = x
    for k in range(1, 4):
      h = ResidualDenseBlock(self.num_grow_ch, self.dtype, name=f"rdb{k}")(h)
    return x + 0.2 * h


class RRDBNet(nn.Module):
  """ESRGAN's generator: ``[N, H, W, C]`` to ``[N, scale * H, scale * W, out_channels]``.

  Layers, ``f = num_feat``, every conv 3x3 with bias, LeakyReLU slope 0.2:

  - ``conv_first`` to ``f`` (no activation);
  - ``body_0`` .. ``body_{num_blocks - 1}``: ``RRDB``;
  - ``conv_body``, plus ``conv_first``'s output (trunk skip);
  - ``conv_up1`` .. ``conv_up{log2(scale)}``: each after a nearest x2 upsampling, then
    LeakyReLU (two for scale 4, one for 2, none for 1);
  - ``conv_hr``, LeakyReLU, ``conv_last`` to ``out_channels``; linear output.

  The dense-block convs start from Kaiming normal scaled by 0.1 (zero biases), the others
  from PyTorch's default. At ESRGAN's size (64, 23 blocks, 32, x4) this is 16,697,987
  parameters for RGB. (BasicSR's configuration for x2 and x1, Real-ESRGAN's, instead
  pixel-unshuffles the input and keeps both upsamplings; that layout is not built here.)

  Attributes:
    scale: 1, 2, 4 or 8.
    num_feat: trunk channels (64).
    num_blocks: RRDBs (23).
    num_grow_ch: growth channels of the dense blocks (32).
    out_channels: channels of the output image.
    dtype: compute dtype; parameters stay float32.

  References:
    Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial
    Networks", Section 3.1 and Fig. 3-4.
  """

  scale: int = 4
  num_feat: int = 64
  num_blocks: int = 23
  num_grow_ch: int = 32
  out_channels: int = 3
  dtype: Any = jnp.float32

  def _check(self, x: Array) -> None:
    _check_images(x, "RRDBNet")
    _check_choice(self.scale, RRDBNET_SCALES, "RRDBNet scale")
    _check_count(self.num_blocks, "RRDBNet num_blocks", 0)

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    """Super-resolves ``x``.

    Args:
      x: ``[N, H, W, C]`` float images in [-1, 1].
      train: unused (no BatchNorm or dropout); accepted like every gan_jax network's.

    Returns:
      ``[N, scale * H, scale * W, out_channels]`` float32 images, unclipped.
    """
    del train
    self._check(x)
    f = self.num_feat
    feat = _conv(f, 3, "conv_first", self.dtype)(x.astype(self.dtype))
    h = feat
    for i in range(self.num_blocks):
      h = RRDB(self.num_grow_ch, self.dtype, name=f"body_{i}")(h)
    h = feat + _conv(f, 3, "conv_body", self.dtype)(h)
    for i in range(self.scale.bit_length() - 1):
      h = nn.leaky_relu(_conv(f, 3, f"conv_up{i + 1}", self.dtype)(upsample_nearest(h)), 0.2)
    h = nn.leaky_relu(_conv(f, 3, "conv_hr", self.dtype)(h), 0.2)
    return _conv(self.out_channels, 3, "conv_last", self.dtype)(h).astype(jnp.float32)


class SRGANDiscriminator(nn.Module):
  """SRGAN's discriminator: images ``[N, H, W, C]`` to logits ``[N, 1]``.

  Layers (Ledig et al. 2017, Fig. 4), ``w = width``, LeakyReLU slope 0.2, 3x3 convs with
  padding 1:

  - ``conv0`` to ``w``, stride 1, bias; LeakyReLU;
  - ``conv1`` .. ``conv7`` with ``norm1`` .. ``norm7``: conv-BN-LeakyReLU with (channels,
    stride) ``(w, 2), (2w, 1), (2w, 2), (4w, 1), (4w, 2), (8w, 1), (8w, 2)``; no bias
    under BatchNorm;
  - ``pool="flatten"`` (the paper): the ``[8w, H/16, W/16]`` features flattened in
    (C, H, W) order, so the input size fixes the size of ``fc1`` (96 px in the paper:
    ``512 * 6 * 6 = 18432`` inputs); ``pool="avg"``: global average pooling to ``8w``
    features, for any input size (small crops);
  - ``fc1`` to ``hidden`` (1024), LeakyReLU; ``fc2`` to 1: the logit (the paper's sigmoid
    belongs to the loss).

  At the paper's size (96 px RGB, width 64, BatchNorm, flatten) this is 23,563,649
  parameters. Sides that are not multiples of 16 are floored by the stride-2 convs, as in
  PyTorch.

  Attributes:
    width: channels of the first conv (64).
    norm: ``"batch"`` (the paper) or ``"none"`` (e.g. under a gradient penalty).
    pool: ``"flatten"`` or ``"avg"``.
    hidden: units of ``fc1`` (1024).
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
    Adversarial Network", Section 2.2 and Fig. 4 (discriminator).
  """

  width: int = 64
  norm: str = "batch"
  pool: str = "flatten"
  hidden: int = 1024
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    """Scores ``x``.

    Args:
      x: ``[N, H, W, C]`` float images in [-1, 1], ``H, W >= 16``.
      train: BatchNorm with batch statistics (updated into ``"batch_stats"``) if True.

    Returns:
      ``[N, 1]`` float32 logits.
    """
    _check_images(x, "SRGANDiscriminator")
    _check_choice(self.norm, SR_NORMS, "SRGANDiscriminator norm")
    _check_choice(self.pool, SRGAN_D_POOLS, "SRGANDiscriminator pool")
    if min(x.shape[1:3]) < 16:
      raise ValueError(f"SRGANDiscriminator needs sides of at least 16; got {x.shape[1:3]}.")
    use_bn = self.norm == "batch"
    h = nn.leaky_relu(_conv(self.width, 3, "conv0", self.dtype)(x.astype(self.dtype)), 0.2)
    for i, (mult, stride) in enumerate(SRGAN_D_STAGES, start=1):
      h = _conv(self.width * mult, 3, f"conv{i}", self.dtype, stride=stride, use_bias=not use_bn)(h)
      if use_bn:
        h = BatchNorm(not train, axis_name=self.axis_name, dtype=self.dtype, name=f"norm{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    h = _flatten_chw(h) if self.pool == "flatten" else jnp.mean(h, axis=(1, 2))
    h = nn.leaky_relu(_dense(self.hidden, "fc1", self.dtype)(h), 0.2)
    return _dense(1, "fc2", self.dtype)(h).astype(jnp.float32)


class VGGStyleDiscriminator(nn.Module):
  """ESRGAN's VGG-style discriminator for 128 or 256 px: images ``[N, S, S, C]`` to ``[N, 1]``.

  Layers (BasicSR's configuration), ``f = num_feat``, LeakyReLU slope 0.2, BatchNorm
  ``bn{i}_{j}`` after every conv but the first:

  - ``conv0_0``: 3x3 stride 1 to ``f``, bias; LeakyReLU;
  - ``conv0_1``: 4x4 stride 2 (padding 1) to ``f``, no bias; ``bn0_1``; LeakyReLU;
  - stages ``i = 1 .. 4`` (``.. 5`` for 256 px) with ``c_i = f * (2, 4, 8, 8, 8)[i - 1]``:
    ``conv{i}_0`` 3x3 stride 1 to ``c_i``, no bias, ``bn{i}_0``, LeakyReLU; ``conv{i}_1``
    4x4 stride 2 to ``c_i``, no bias, ``bn{i}_1``, LeakyReLU;
  - the ``[8f, 4, 4]`` features flattened in (C, H, W) order; ``linear1`` to 100,
    LeakyReLU; ``linear2`` to 1: the logit.

  At ``f = 64`` this is 14,499,401 parameters for 128 px RGB and 21,055,049 for 256 px
  (two more convs of 512 channels).

  Attributes:
    num_feat: channels of the first stage (64).
    input_size: 128 or 256; the input must be that square size (it fixes ``linear1``).
    axis_name: pmap axis over which BatchNorm statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.

  References:
    Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial
    Networks", Section 3 (the discriminator of SRGAN's design, with a relativistic loss).
    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition" (VGG-style stacks of 3x3 convs).
  """

  num_feat: int = 64
  input_size: int = 128
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    """Scores ``x``.

    Args:
      x: ``[N, input_size, input_size, C]`` float images in [-1, 1].
      train: BatchNorm with batch statistics (updated into ``"batch_stats"``) if True.

    Returns:
      ``[N, 1]`` float32 logits.
    """
    _check_images(x, "VGGStyleDiscriminator")
    _check_choice(self.input_size, VGG_INPUT_SIZES, "VGGStyleDiscriminator input_size")
    if x.shape[1:3] != (self.input_size, self.input_size):
      raise ValueError(
        f"VGGStyleDiscriminator(input_size={self.input_size}) takes "
        f"{self.input_size}x{self.input_size} images; got {x.shape[1]}x{x.shape[2]}."
      )
    f = self.num_feat
    widths = [f, 2 * f, 4 * f, 8 * f, 8 * f] + ([8 * f] if self.input_size == 256 else [])

    def bn(name: str):
      return BatchNorm(not train, axis_name=self.axis_name, dtype=self.dtype, name=name)

    h = x.astype(self.dtype)
    for i, c in enumerate(widths):
      if i == 0:
        h = _conv(c, 3, "conv0_0", self.dtype)(h)
      else:
        h = bn(f"bn{i}_0")(_conv(c, 3, f"conv{i}_0", self.dtype, use_bias=False)(h))
      h = nn.leaky_relu(h, 0.2)
      h = _conv(c, 4, f"conv{i}_1", self.dtype, stride=2, pad=1, use_bias=False)(h)
      h = nn.leaky_relu(bn(f"bn{i}_1")(h), 0.2)
    h = nn.leaky_relu(_dense(100, "linear1", self.dtype)(_flatten_chw(h)), 0.2)
    return _dense(1, "linear2", self.dtype)(h).astype(jnp.float32)
