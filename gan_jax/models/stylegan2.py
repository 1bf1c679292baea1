"""StyleGAN2's generator and discriminator (config F networks), float32, NHWC.

Generator (``StyleGAN2Generator``) = mapping network + synthesis network:

- ``MappingNetwork``: ``z`` (and, when conditional, the embedded one-hot label), each
  normalised to unit second moment and concatenated, through ``num_layers`` equalised-lr
  dense layers (leaky ReLU, learning-rate multiplier 0.01) to ``w [N, w_dim]``, broadcast
  to ``ws [N, num_ws, w_dim]``. The moving average ``w_avg`` of ``w`` is state; truncation
  pulls ``ws`` (all, or the first ``truncation_cutoff``) toward it.
- ``SynthesisNetwork``: a learned 4x4 constant, then per resolution ``r`` = 4, 8, ...,
  ``resolution`` two 3x3 modulated convolutions (one at 4 px; the first upsamples x2) with
  ``min(channel_base // r, channel_max)`` channels, per-layer noise, leaky ReLU; the "skip"
  output: every resolution's ToRGB (a modulated 1x1 convolution without demodulation) is
  added to the FIR-upsampled image of the resolution below. ``num_ws = 2 log2(res) - 2``:
  conv ``i`` reads ``ws[:, i]``, the ToRGB of a resolution reads the next resolution's
  first entry (the last one its own).

Discriminator (``StyleGAN2Discriminator``): the "resnet" architecture: FromRGB (1x1) at the
input resolution, per resolution ``r`` down to 8 a block ``conv3 -> conv3 (FIR down x2)``
plus the skip ``1x1 (FIR down x2)``, summed and scaled by sqrt(0.5); then the 4x4
epilogue: minibatch standard deviation, conv3, dense, output. A conditional D maps the
one-hot label (a mapping network without ``z``) to ``cmap`` and returns
``sum(out * cmap) / sqrt(cmap_dim)`` (projection).

State. ``w_avg`` lives in the ``"w_avg"`` collection (``W_AVG_COLLECTION``), under
``mapping_network``. A training application (``train=True`` with the collection mutable)
sets ``w_avg <- w_avg + (1 - beta) (mean_batch(w) - w_avg)``, beta 0.995; any other
application leaves it. gan_jax's training step threads every non-``params`` collection
this way (and averages it across devices under data parallelism: the average of the
per-device updates is the update by the global batch mean).

Noise. Each synthesis layer adds ``noise_strength * n`` (``noise_strength`` a learned
scalar, init 0), ``n [N, r, r, 1]`` broadcast over channels. ``noise_mode``:

- ``"auto"`` (default): ``n ~ N(0, 1)`` drawn from the ``"dropout"`` rng when the
  application has one (gan_jax's training passes one in train mode; an inference caller may
  pass ``rngs={"dropout": key}``), else the layer's constant noise.
- ``"random"``: always from the ``"dropout"`` rng (an error without one).
- ``"const"``: the layer's constant noise: a fixed ``[r, r]`` N(0, 1) image drawn by numpy
  from ``CONST_NOISE_SEED`` and the layer's index when the program is traced (a constant,
  not a variable: nothing to checkpoint or to average across devices); the same for every
  sample, as the reference's ``noise_const`` buffer.
- ``"none"``: no noise.

So inference without a key gives the reference's ``noise_mode='const'`` images and with a
key its ``'random'`` ones. ``G(z)`` and ``G.synthesis(G.mapping(z))`` draw the same noise
from the same key (the draws depend on the layer's path, not on the method).

Differences from the reference code (stylegan2-ada-pytorch): no mixed precision and no
``conv_clamp`` (both serve float16); only the "skip" G and "resnet" D architectures; the
modulated convolution is fused (one grouped convolution) in training too, unless
``fused_modconv=False``.

References:
  Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Sections
  2-4 and Appendix B (modulated convolution, weight demodulation, skip generator, residual
  discriminator, minibatch standard deviation; config F).
  Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial
  Networks", Sections 2-3 and Appendix B (mapping network, styles, noise inputs, the
  moving average of ``w`` and the truncation trick).
  Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
  Variation", Sections 3 and 4.1 (minibatch standard deviation, equalised learning rate).
  Karras et al. 2020b, "Training Generative Adversarial Networks with Limited Data"
  (stylegan2-ada-pytorch, whose ``training/networks.py`` these networks follow, and its
  conditional mapping and projection).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import blocks
from gan_jax.models.blocks import EqualizedConv, EqualizedDense

Array = jax.Array

W_AVG_COLLECTION = "w_avg"
NOISE_RNG = "dropout"
NOISE_MODES = ("auto", "random", "const", "none")
# Seed of the synthesis layers' constant noise (folded with each layer's index).
CONST_NOISE_SEED = 2020


def check_resolution(resolution: int, minimum: int = 4) -> int:
  """``log2(resolution)``; raises ValueError unless it is a power of two >= ``minimum``."""
  log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
  if resolution < minimum or 2**log2 != resolution:
    raise ValueError(f"StyleGAN2 needs a power-of-two resolution >= {minimum}, got {resolution}.")
  return log2


def num_ws_at(resolution: int) -> int:
  """Entries of ``ws`` the synthesis network reads: ``2 log2(resolution) - 2``."""
  return 2 * check_resolution(resolution) - 2


def num_ws_of(model_cfg: Any, sample_shape: Sequence[int]) -> int:
  """``num_ws`` of the ``stylegan2`` family's generator for samples of ``sample_shape``
  (``[R, R, C]``); ``model_cfg`` (``config.model``) does not change it (skip generator)."""
  del model_cfg
  if len(sample_shape) != 3 or sample_shape[0] != sample_shape[1]:
    raise ValueError(f"StyleGAN2 needs square images; got samples of shape {sample_shape}.")
  return num_ws_at(sample_shape[0])


def w_avg_of(collections: Mapping[str, Any]) -> Array:
  """The generator's ``w_avg [w_dim]`` from its collections (``{"w_avg": ...}``)."""
  return collections[W_AVG_COLLECTION]["mapping_network"]["w_avg"]


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
  """Feature maps at ``resolution``: ``min(channel_base // resolution, channel_max)``."""
  return min(channel_base // resolution, channel_max)


def _label_vectors(labels: Array | None, c_dim: int) -> Array:
  """``[N, c_dim]`` float32: one-hot of integer ``[N]`` labels, or ``[N, c_dim]`` as given."""
  if labels is None:
    raise ValueError("This network is class-conditional: pass labels.")
  if labels.ndim == 1:
    return jax.nn.one_hot(labels, c_dim, dtype=jnp.float32)
  if labels.shape[-1] != c_dim:
    raise ValueError(f"Label vectors must have {c_dim} entries, got shape {labels.shape}.")
  return labels.astype(jnp.float32)


class MappingNetwork(nn.Module):
  """``(z, labels) -> w [N, w_dim]``, or ``ws [N, num_ws, w_dim]`` when ``num_ws`` is set.

  Params: ``embed`` (when ``c_dim``; lr multiplier 1, linear) and ``fc0`` ...
  ``fc{num_layers-1}`` (``EqualizedDense``, lrelu, ``lr_mul``). State: ``w_avg [w_dim]``
  in the ``"w_avg"`` collection when ``num_ws`` and ``w_avg_beta`` are set (zeros at init).

  Attributes:
    z_dim: latent size; 0 for a label-only mapping (the discriminator's).
    c_dim: number of classes; 0 for unconditional.
    w_dim: output size.
    num_ws: broadcast ``w`` to this many entries; None returns ``[N, w_dim]``.
    num_layers: dense layers.
    embed_features: label embedding size (None: ``w_dim``).
    layer_features: hidden width (None: ``w_dim``).
    lr_mul: learning-rate multiplier of the dense layers.
    w_avg_beta: decay of the moving average of ``w``; None keeps none.
  """

  z_dim: int
  c_dim: int
  w_dim: int
  num_ws: int | None
  num_layers: int = 8
  embed_features: int | None = None
  layer_features: int | None = None
  lr_mul: float = 0.01
  w_avg_beta: float | None = 0.995

  @nn.compact
  def __call__(
    self,
    z: Array | None,
    labels: Array | None = None,
    train: bool = True,
    truncation_psi: float | Array = 1.0,
    truncation_cutoff: int | None = None,
  ) -> Array:
    """Maps latents (and labels) to ``w``, updates ``w_avg`` in training, truncates.

    Args:
      z: ``[N, z_dim]`` latents (None when ``z_dim`` is 0).
      labels: ``[N]`` integer classes or ``[N, c_dim]`` label vectors (conditional only).
      train: update ``w_avg`` (needs the ``"w_avg"`` collection mutable; an application
        without it mutable leaves ``w_avg`` as it is).
      truncation_psi: ``w_avg + psi (w - w_avg)``; 1 is no truncation, 0 gives ``w_avg``.
      truncation_cutoff: truncate only ``ws[:, :cutoff]`` (None: all).

    Returns:
      ``[N, num_ws, w_dim]`` (``[N, w_dim]`` when ``num_ws`` is None), float32.

    References:
      Karras et al. 2019, Section 2 (mapping network) and Section 3 / Appendix B
      (truncation trick in W, the moving average of ``w``); stylegan2-ada-pytorch
      ``MappingNetwork`` (normalize_2nd_moment of ``z`` and of the label embedding).
    """
    parts = []
    if self.z_dim:
      if z is None or z.shape[-1] != self.z_dim:
        raise ValueError(f"Expected z of shape [N, {self.z_dim}], got {getattr(z, 'shape', z)}.")
      parts.append(blocks.normalize_2nd_moment(z.astype(jnp.float32)))
    if self.c_dim:
      y = EqualizedDense(self.embed_features or self.w_dim, name="embed")(
        _label_vectors(labels, self.c_dim)
      )
      parts.append(blocks.normalize_2nd_moment(y))
    if not parts:
      raise ValueError("A mapping network needs z_dim > 0 or c_dim > 0.")
    x = jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
    width = self.layer_features or self.w_dim
    for i in range(self.num_layers):
      features = self.w_dim if i == self.num_layers - 1 else width
      x = EqualizedDense(features, lr_mul=self.lr_mul, activation="lrelu", name=f"fc{i}")(x)

    tracked = self.num_ws is not None and self.w_avg_beta is not None
    if tracked:
      w_avg = self.variable(W_AVG_COLLECTION, "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
      if train and self.is_mutable_collection(W_AVG_COLLECTION) and not self.is_initializing():
        batch_mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
        w_avg.value = w_avg.value + (1.0 - self.w_avg_beta) * (batch_mean - w_avg.value)
    if self.num_ws is None:
      if truncation_cutoff is not None or not _is_one(truncation_psi):
        raise ValueError("Truncation needs num_ws and w_avg_beta.")
      return x
    x = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.num_ws, self.w_dim))
    if _is_one(truncation_psi):
      return x
    if not tracked:
      raise ValueError("Truncation needs the moving average of w (w_avg_beta).")
    avg = w_avg.value
    truncated = avg + jnp.asarray(truncation_psi, jnp.float32) * (x - avg)
    if truncation_cutoff is None:
      return truncated
    keep = (jnp.arange(self.num_ws) >= truncation_cutoff)[None, :, None]
    return jnp.where(keep, x, truncated)


def _is_one(psi: Any) -> bool:
  return isinstance(psi, int | float) and psi == 1


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution (optionally up x2), noise, bias and leaky ReLU.

  Params: ``affine`` (``EqualizedDense`` ``w -> styles [N, Cin]``, bias init 1),
  ``weight [K, K, Cin, features]`` (N(0, 1); demodulation makes its scale irrelevant),
  ``noise_strength`` (scalar, 0) and ``bias [features]`` (0).

  Attributes:
    features: output channels.
    resolution: output side.
    kernel_size: ``K``.
    up: 1 or 2.
    noise_mode: see the module docstring.
    noise_index: this layer's index in the synthesis network (its constant noise).
    fused: ``modulated_conv2d``'s ``fused``.
    resample_taps: FIR taps of the upsampling.
  """

  features: int
  resolution: int
  kernel_size: int = 3
  up: int = 1
  noise_mode: str = "auto"
  noise_index: int = 0
  fused: bool = True
  resample_taps: tuple[float, ...] = blocks.FIR_TAPS

  @nn.compact
  def __call__(self, x: Array, w: Array, gain: float = 1.0) -> Array:
    """``x [N, r / up, r / up, Cin]``, ``w [N, w_dim]`` -> ``[N, r, r, features]``.

    References:
      Karras et al. 2020, Section 2.2 and Figure 2c/d; Karras et al. 2019, Section 3.2
      (noise inputs); stylegan2-ada-pytorch ``SynthesisLayer``.
    """
    if self.noise_mode not in NOISE_MODES:
      raise ValueError(f"Unknown noise_mode {self.noise_mode!r}; valid: {list(NOISE_MODES)}")
    cin, k = x.shape[-1], self.kernel_size
    styles = EqualizedDense(cin, bias_init=1.0, name="affine")(w)
    weight = self.param(
      "weight", nn.initializers.normal(1.0), (k, k, cin, self.features), jnp.float32
    )
    strength = self.param("noise_strength", nn.initializers.zeros, (), jnp.float32)
    y = blocks.modulated_conv2d(
      x,
      weight,
      styles,
      up=self.up,
      padding=k // 2,
      resample_taps=self.resample_taps,
      fused=self.fused,
    )
    noise = self._noise(x.shape[0])
    if noise is not None:
      y = y + noise * strength
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    return blocks.bias_act(y, bias, "lrelu", blocks.ACTIVATION_GAINS["lrelu"] * gain)

  def _noise(self, n: int) -> Array | None:
    r = self.resolution
    mode = self.noise_mode
    if mode == "auto":
      mode = "random" if self.has_rng(NOISE_RNG) else "const"
    if mode == "random":
      return jax.random.normal(self.make_rng(NOISE_RNG), (n, r, r, 1), jnp.float32)
    if mode == "const":
      return jnp.asarray(const_noise(self.noise_index, r)[None, :, :, None])
    return None


def const_noise(index: int, resolution: int) -> np.ndarray:
  """The constant noise ``[r, r]`` of synthesis layer ``index``: N(0, 1) from numpy's
  generator seeded with ``(CONST_NOISE_SEED, index)``, a constant of the traced program."""
  rng = np.random.default_rng((CONST_NOISE_SEED, index))
  return rng.standard_normal((resolution, resolution)).astype(np.float32)


class ToRGBLayer(nn.Module):
  """Modulated 1x1 convolution without demodulation, then the bias.

  Params: ``affine`` (bias init 1; the styles are scaled by ``1 / sqrt(Cin)``, the
  equalised-lr gain of the weight), ``weight [1, 1, Cin, channels]`` and ``bias``.

  References:
    Karras et al. 2020, Section 4.1 and Figure 7b (tRGB); stylegan2-ada-pytorch
    ``ToRGBLayer``.
  """

  channels: int
  kernel_size: int = 1
  fused: bool = True

  @nn.compact
  def __call__(self, x: Array, w: Array) -> Array:
    """``x [N, r, r, Cin]``, ``w [N, w_dim]`` -> ``[N, r, r, channels]``."""
    cin, k = x.shape[-1], self.kernel_size
    styles = EqualizedDense(cin, bias_init=1.0, name="affine")(w) / math.sqrt(cin * k * k)
    weight = self.param(
      "weight", nn.initializers.normal(1.0), (k, k, cin, self.channels), jnp.float32
    )
    y = blocks.modulated_conv2d(x, weight, styles, demodulate=False, fused=self.fused)
    bias = self.param("bias", nn.initializers.zeros, (self.channels,), jnp.float32)
    return blocks.bias_act(y, bias, "linear")


class SynthesisBlock(nn.Module):
  """One resolution of the skip generator: (const |) conv0 (up) -> conv1 -> ToRGB.

  Params: ``const [4, 4, C]`` (N(0, 1); first block only), ``conv0`` (not in the first
  block), ``conv1``, ``torgb``.

  Attributes:
    in_channels: channels of the block below; 0 for the 4x4 block.
    out_channels: channels of this block.
    resolution: output side.
    img_channels: image channels.
    noise_mode: see the module docstring.
    first_index: layer index of this block's first convolution (its constant noise).
    fused: ``modulated_conv2d``'s ``fused``.
    resample_taps: FIR taps of the upsampling.
  """

  in_channels: int
  out_channels: int
  resolution: int
  img_channels: int
  noise_mode: str = "auto"
  first_index: int = 0
  fused: bool = True
  resample_taps: tuple[float, ...] = blocks.FIR_TAPS

  @property
  def num_conv(self) -> int:
    return 1 if self.in_channels == 0 else 2

  @nn.compact
  def __call__(self, x: Array | None, img: Array | None, ws: Array) -> tuple[Array, Array]:
    """``ws [N, num_conv + 1, w_dim]`` -> ``(features, image)`` at this resolution.

    References:
      Karras et al. 2020, Figure 7b (skip generator); stylegan2-ada-pytorch
      ``SynthesisBlock`` (architecture ``skip``).
    """
    layer = dict(
      features=self.out_channels,
      resolution=self.resolution,
      noise_mode=self.noise_mode,
      fused=self.fused,
      resample_taps=self.resample_taps,
    )
    if self.in_channels == 0:
      const = self.param(
        "const",
        nn.initializers.normal(1.0),
        (self.resolution, self.resolution, self.out_channels),
        jnp.float32,
      )
      x = jnp.broadcast_to(const[None], (ws.shape[0], *const.shape))
    else:
      x = SynthesisLayer(**layer, up=2, noise_index=self.first_index, name="conv0")(x, ws[:, 0])
    index = self.first_index + self.num_conv - 1
    x = SynthesisLayer(**layer, noise_index=index, name="conv1")(x, ws[:, self.num_conv - 1])
    if img is not None:
      img = blocks.upsample2d(img, blocks.setup_filter(self.resample_taps))
    y = ToRGBLayer(self.img_channels, fused=self.fused, name="torgb")(x, ws[:, self.num_conv])
    return x, (y if img is None else img + y)


class SynthesisNetwork(nn.Module):
  """``ws [N, num_ws, w_dim] -> images [N, resolution, resolution, img_channels]``.

  Blocks ``b4``, ``b8``, ..., ``b{resolution}`` (``SynthesisBlock``).

  Attributes:
    resolution: output side (a power of two >= 4).
    img_channels: image channels.
    channel_base: channels at ``r`` are ``min(channel_base // r, channel_max)``.
    channel_max: see ``channel_base``.
    noise_mode: see the module docstring.
    fused_modconv: ``modulated_conv2d``'s ``fused``.
  """

  resolution: int
  img_channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  noise_mode: str = "auto"
  fused_modconv: bool = True

  @property
  def num_ws(self) -> int:
    return num_ws_at(self.resolution)

  @nn.compact
  def __call__(self, ws: Array, train: bool = True) -> Array:
    """Synthesises images from ``ws`` (``train`` is unused: the noise follows the rngs).

    References:
      Karras et al. 2020, Section 4.1 and Figure 7b; stylegan2-ada-pytorch
      ``SynthesisNetwork``.
    """
    del train
    if ws.ndim != 3 or ws.shape[1] != self.num_ws:
      raise ValueError(f"Expected ws of shape [N, {self.num_ws}, w_dim], got {ws.shape}.")
    ws = ws.astype(jnp.float32)
    x = img = None
    w_idx = 0
    for i in range(2, check_resolution(self.resolution) + 1):
      res = 2**i
      in_ch = channels_at(res // 2, self.channel_base, self.channel_max) if res > 4 else 0
      block = SynthesisBlock(
        in_ch,
        channels_at(res, self.channel_base, self.channel_max),
        res,
        self.img_channels,
        self.noise_mode,
        first_index=max(2 * (i - 2) - 1, 0),
        fused=self.fused_modconv,
        name=f"b{res}",
      )
      x, img = block(x, img, ws[:, w_idx : w_idx + block.num_conv + 1])
      w_idx += block.num_conv
    return img


class StyleGAN2Generator(nn.Module):
  """``(z [N, z_dim], labels [N] | None) -> images [N, resolution, resolution, channels]``.

  Submodules ``mapping_network`` (``MappingNetwork``) and ``synthesis_network``
  (``SynthesisNetwork``); state ``w_avg`` in the ``"w_avg"`` collection. Images are not
  squashed (no tanh), as in the reference; their scale follows the data's [-1, 1].
  ``mapping`` and ``synthesis`` are methods for ``module.apply(..., method="mapping")``
  (style mixing, the path-length penalty).

  Attributes:
    resolution: output side (a power of two >= 4).
    channels: image channels.
    z_dim: latent size.
    w_dim: size of ``w``.
    num_classes: 0 for unconditional.
    map_layers: dense layers of the mapping network.
    lr_mul: learning-rate multiplier of the mapping network.
    w_avg_beta: decay of the moving average of ``w``.
    channel_base: channels at ``r`` are ``min(channel_base // r, channel_max)``.
    channel_max: see ``channel_base``.
    noise_mode: ``auto`` | ``random`` | ``const`` | ``none`` (module docstring).
    fused_modconv: modulated convolutions as one grouped convolution (True) or by
      scaling activations (False); the same function.
  """

  resolution: int
  channels: int = 3
  z_dim: int = 512
  w_dim: int = 512
  num_classes: int = 0
  map_layers: int = 8
  lr_mul: float = 0.01
  w_avg_beta: float | None = 0.995
  channel_base: int = 32768
  channel_max: int = 512
  noise_mode: str = "auto"
  fused_modconv: bool = True

  @property
  def num_ws(self) -> int:
    """Entries of ``ws``: ``2 log2(resolution) - 2``."""
    return num_ws_at(self.resolution)

  def setup(self):
    self.mapping_network = MappingNetwork(
      self.z_dim,
      self.num_classes,
      self.w_dim,
      self.num_ws,
      self.map_layers,
      lr_mul=self.lr_mul,
      w_avg_beta=self.w_avg_beta,
    )
    self.synthesis_network = SynthesisNetwork(
      self.resolution,
      self.channels,
      self.channel_base,
      self.channel_max,
      self.noise_mode,
      self.fused_modconv,
    )

  def __call__(
    self,
    z: Array,
    labels: Array | None = None,
    train: bool = True,
    truncation_psi: float | Array = 1.0,
    truncation_cutoff: int | None = None,
  ) -> Array:
    """``synthesis(mapping(z, labels, ...))``: images ``[N, R, R, channels]``, float32.

    References:
      Karras et al. 2020, Figure 2d and Section 4.1; Karras et al. 2019, Figure 1b.
    """
    ws = self.mapping(z, labels, train, truncation_psi, truncation_cutoff)
    return self.synthesis(ws, train)

  def mapping(
    self,
    z: Array,
    labels: Array | None = None,
    train: bool = True,
    truncation_psi: float | Array = 1.0,
    truncation_cutoff: int | None = None,
  ) -> Array:
    """``ws [N, num_ws, w_dim]``; see ``MappingNetwork.__call__``."""
    return self.mapping_network(z, labels, train, truncation_psi, truncation_cutoff)

  def synthesis(self, ws: Array, train: bool = True) -> Array:
    """Images ``[N, R, R, channels]`` from ``ws [N, num_ws, w_dim]``."""
    return self.synthesis_network(ws, train)


class DiscriminatorBlock(nn.Module):
  """One resolution of the residual discriminator (``fromrgb`` on the first block).

  ``y = skip(x) sqrt(0.5)`` (1x1, FIR down x2, no bias, linear);
  ``x = conv1(conv0(x)) sqrt(0.5)`` (3x3 lrelu, then 3x3 lrelu with FIR down x2); ``x + y``.

  Attributes:
    tmp_channels: channels of ``fromrgb`` and ``conv0``.
    out_channels: channels of ``conv1`` and ``skip``.
    first: whether this block reads the image (``fromrgb``, 1x1 lrelu).
    resample_taps: FIR taps of the downsampling.
  """

  tmp_channels: int
  out_channels: int
  first: bool = False
  resample_taps: tuple[float, ...] = blocks.FIR_TAPS

  @nn.compact
  def __call__(self, x: Array | None, img: Array | None) -> Array:
    """``[N, r, r, C] -> [N, r / 2, r / 2, out_channels]``.

    References:
      Karras et al. 2020, Figure 7c (residual discriminator); stylegan2-ada-pytorch
      ``DiscriminatorBlock`` (architecture ``resnet``).
    """
    taps = self.resample_taps
    if self.first:
      x = EqualizedConv(self.tmp_channels, 1, activation="lrelu", name="fromrgb")(img)
    half = math.sqrt(0.5)
    y = EqualizedConv(
      self.out_channels, 1, use_bias=False, down=2, resample_taps=taps, name="skip"
    )(x, gain=half)
    x = EqualizedConv(self.tmp_channels, 3, activation="lrelu", name="conv0")(x)
    x = EqualizedConv(
      self.out_channels, 3, activation="lrelu", down=2, resample_taps=taps, name="conv1"
    )(x, gain=half)
    return y + x


class DiscriminatorEpilogue(nn.Module):
  """4x4 head: minibatch stddev, conv3 (lrelu), dense (lrelu), output (and projection).

  The dense layer reads the features flattened channel-major (``[C, H, W]``, the
  reference's order, so that its kernel rows match the reference's weight columns).

  Attributes:
    channels: feature maps in and out of ``conv`` and ``fc``.
    cmap_dim: size of the label projection; 0 for unconditional (one output).
    mbstd_group: minibatch stddev group size (``min(group, N)``).
    mbstd_channels: minibatch stddev feature maps; 0 disables the layer.
  """

  channels: int
  cmap_dim: int = 0
  mbstd_group: int = 4
  mbstd_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, cmap: Array | None) -> Array:
    """``[N, 4, 4, C]`` -> ``[N, 1]``.

    References:
      Karras et al. 2020, Appendix B; Karras et al. 2018, Section 3; stylegan2-ada-pytorch
      ``DiscriminatorEpilogue`` (the ``cmap`` projection scaled by ``1 / sqrt(cmap_dim)``).
    """
    if self.mbstd_channels > 0:
      x = blocks.minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = EqualizedConv(self.channels, 3, activation="lrelu", name="conv")(x)
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
    x = EqualizedDense(self.channels, activation="lrelu", name="fc")(x)
    x = EqualizedDense(self.cmap_dim or 1, name="out")(x)
    if self.cmap_dim:
      x = jnp.sum(x * cmap, axis=1, keepdims=True) / math.sqrt(self.cmap_dim)
    return x


class StyleGAN2Discriminator(nn.Module):
  """``(x [N, R, R, C], labels [N] | None) -> logits [N]`` (residual StyleGAN2 D).

  Blocks ``b{R}``, ..., ``b8`` (``DiscriminatorBlock``), the label ``mapping`` when
  conditional (``MappingNetwork`` without ``z`` or ``w_avg``), the epilogue ``b4``.

  Attributes:
    resolution: input side (a power of two >= 8).
    num_classes: 0 for unconditional.
    channel_base: channels at ``r`` are ``min(channel_base // r, channel_max)``.
    channel_max: see ``channel_base``.
    mbstd_group: minibatch stddev group size (the batch must divide into groups).
    mbstd_channels: minibatch stddev feature maps (0: none).
    cmap_dim: label projection size (0: the 4x4 channels, the reference's default).
    map_layers: dense layers of the label mapping (the reference keeps 8).
    lr_mul: learning-rate multiplier of the label mapping.
  """

  resolution: int
  num_classes: int = 0
  channel_base: int = 32768
  channel_max: int = 512
  mbstd_group: int = 4
  mbstd_channels: int = 1
  cmap_dim: int = 0
  map_layers: int = 8
  lr_mul: float = 0.01

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None, train: bool = True) -> Array:
    """Logits ``[N]``, float32 (``train`` is unused: the discriminator has no state).

    References:
      Karras et al. 2020, Figure 7c and Appendix B; stylegan2-ada-pytorch
      ``Discriminator``.
    """
    del train
    log2 = check_resolution(self.resolution, 8)
    if x.ndim != 4 or x.shape[1:3] != (self.resolution, self.resolution):
      raise ValueError(
        f"Expected images [N, {self.resolution}, {self.resolution}, C], got {x.shape}."
      )

    def ch(res):
      return channels_at(res, self.channel_base, self.channel_max)

    img, h = x.astype(jnp.float32), None
    for i in range(log2, 2, -1):
      res = 2**i
      first = res == self.resolution
      h = DiscriminatorBlock(ch(res), ch(res // 2), first, name=f"b{res}")(
        h, img if first else None
      )
    cmap_dim, cmap = 0, None
    if self.num_classes:
      cmap_dim = self.cmap_dim or ch(4)
      cmap = MappingNetwork(
        0,
        self.num_classes,
        cmap_dim,
        None,
        self.map_layers,
        lr_mul=self.lr_mul,
        w_avg_beta=None,
        name="mapping",
      )(None, labels)
    out = DiscriminatorEpilogue(ch(4), cmap_dim, self.mbstd_group, self.mbstd_channels, name="b4")(
      h, cmap
    )
    return out[:, 0]
