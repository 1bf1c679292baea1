"""Shared layers of SN-GAN / SAGAN / BigGAN and StyleGAN2, and minibatch layers against collapse.

- ``SNConv``, ``SNDense``, ``SNEmbed``: convolution, dense and embedding layers whose
  weight is divided by its largest singular value, estimated by power iteration
  (spectral normalisation), with the weight initialisations of the reference code
  (``weight_init``: orthogonal, N(0, 0.02), Glorot uniform).
- ``CategoricalConditionalBatchNorm`` (SN-GAN / projection cGAN: a gain and a bias per
  class) and ``LinearConditionalBatchNorm`` (BigGAN: gain and bias linear in a
  conditioning vector): batch normalisation without its own affine transform.
- ``SelfAttention``: the SAGAN non-local block as BigGAN implements it.
- ``minibatch_stddev`` / ``MinibatchStdDev`` (ProGAN, StyleGAN2 group form) and
  ``MinibatchDiscrimination`` (Salimans et al. 2016).
- ``orthogonal_regularization``: BigGAN's off-diagonal orthogonal penalty.
- StyleGAN2 ops: ``EqualizedDense`` / ``EqualizedConv`` (equalised learning rate with a
  learning-rate multiplier, fused ``bias_act``), ``upfirdn2d`` / ``upsample2d`` /
  ``downsample2d`` (FIR resampling with the ``[1, 3, 3, 1]`` filter) and
  ``modulated_conv2d`` (modulation and demodulation as one grouped convolution).

Layout is NHWC; kernels are ``[KH, KW, Cin, Cout]`` (flax's), which reshape to the
``[KH * KW * Cin, Cout]`` matrix whose singular values and Gram matrix ``W^T W`` equal
those of the ``[Cout, Cin * KH * KW]`` weight of the reference code. Modules take a
compute ``dtype``; parameters (and the power-iteration state) stay float32.

State. Spectral normalisation keeps its power-iteration vector ``u`` (and the last
``sigma``, for logging) in the ``"batch_stats"`` collection, next to the layer's params: a
training application passes ``update_stats=True`` (``train=True`` for the blocks that hold
spectrally normalised layers) with ``mutable=["batch_stats"]`` and gets the advanced ``u``
back; any other application is a pure function of params and state. It is the collection
BatchNorm's running statistics use, so a step that already threads ``batch_stats`` carries
these too (under data parallelism every device holds the same ``u``, so averaging the
collection across devices leaves it unchanged). The conditional batch norms keep their
running ``mean`` / ``var`` there as well.

The power iteration is this module's own rather than ``flax.linen.SpectralNorm``: that
wrapper writes the normalised kernel back into ``params`` at initialisation (and in any
application with ``params`` mutable), so the raw weights would not start from the chosen
initialisation, where the references normalise only the weight they apply.

Deviations from the reference code, each documented where it occurs: the running variance
of the conditional batch norms is the biased batch variance (flax) where PyTorch and
Chainer store the unbiased one; minibatch discrimination omits the reference's
weight-normalised parameterisation of T and its data-dependent initialisation.

References:
  Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks",
  Section 2.1, eq. 8 and Appendix A (Algorithm 1).
  Miyato & Koyama 2018, "cGANs with Projection Discriminator", Section 4 (conditional
  batch normalisation in the generator).
  de Vries et al. 2017, "Modulating early visual processing by language" (conditional BN).
  Zhang et al. 2019, "Self-Attention Generative Adversarial Networks", Section 3, eqs. 1-3.
  Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
  Synthesis", Sections 3 and 3.1 (eq. 3), Appendix B.
  Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
  Variation", Section 3.
  Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN" (the group
  form of minibatch standard deviation, ``num_channels``).
  Salimans et al. 2016, "Improved Techniques for Training GANs", Section 3.2.
  Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial
  Networks" (learning-rate multiplier, 2nd-moment normalisation of the latents).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import layers

Array = jax.Array
Initializer = Callable[..., Array]
PaddingLike = str | int | Sequence[int | tuple[int, int]]

# Where spectral normalisation keeps u and sigma.
SPECTRAL_COLLECTION = "batch_stats"
# eps of the l2 normalisations in the power iteration, as in both reference codes.
SN_EPSILON = 1e-12

_INITS = {
  "ortho": nn.initializers.orthogonal(),
  "N02": nn.initializers.normal(0.02),
  "glorot": nn.initializers.glorot_uniform(),
  # Glorot uniform with gain sqrt(2) (variance x 2): the SN-GAN code's block convolutions.
  "glorot_relu": nn.initializers.variance_scaling(2.0, "fan_avg", "uniform"),
  "xavier": nn.initializers.glorot_uniform(),
}


def weight_init(init: str | Initializer) -> Initializer:
  """Kernel initialiser by the reference code's name, or ``init`` itself if callable.

  Args:
    init: ``"ortho"`` (orthogonal columns of the ``[fan_in, out]`` matrix: PyTorch's
      ``orthogonal_`` on the ``[out, fan_in]`` weight, BigGAN's default), ``"N02"``
      (N(0, 0.02), DCGAN/BigGAN option), ``"glorot"`` or ``"xavier"`` (Glorot uniform,
      the SN-GAN projection code's choice), ``"glorot_relu"`` (Glorot uniform with gain
      sqrt(2), that code's residual-block convolutions), or an initialiser.

  Returns:
    A flax initialiser ``(key, shape, dtype) -> array``.

  References:
    Brock et al. 2019, Appendix B (orthogonal initialisation; BigGAN-PyTorch
    ``init_weights``). Saxe et al. 2014, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks".
  """
  if callable(init):
    return init
  if init not in _INITS:
    raise ValueError(f"Unknown init {init!r}; valid: {sorted(_INITS)} or a callable.")
  return _INITS[init]


def _l2_normalize(x: Array, eps: float) -> Array:
  """``x / max(||x||, eps)``, PyTorch's ``F.normalize`` (BigGAN-PyTorch's power iteration)."""
  return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)


def spectral_normalize(
  kernel: Array, u: Array, n_power_iterations: int = 1, epsilon: float = SN_EPSILON
) -> tuple[Array, Array, Array]:
  """Divides ``kernel`` by its largest singular value, estimated by power iteration from ``u``.

  ``W`` is ``kernel`` reshaped to ``[fan_in, out]`` (all axes but the last flattened).
  Each step: ``v = l2n(u W^T)``, ``u = l2n(v W)``; then ``sigma = v W u^T`` with ``u``
  and ``v`` held constant under differentiation, so the gradient flows through ``W``
  only, as in both reference codes. A zero ``sigma`` (a zero kernel) divides by 1.

  Args:
    kernel: weight of any shape with ``ndim >= 2``; the last axis is the output axis.
    u: ``[1, out]`` current estimate of the leading left singular vector of ``W^T``
      (the references' ``u``, of size ``out``); need not be normalised.
    n_power_iterations: power-iteration steps (at least 1).
    epsilon: lower bound of the norms in the l2 normalisations.

  Returns:
    ``(kernel / sigma, new u [1, out], sigma)``; ``u`` and ``sigma`` carry no gradient
    through ``u`` and ``v``.

  References:
    Miyato et al. 2018, Appendix A, Algorithm 1 (and eq. 8); BigGAN-PyTorch
    ``layers.power_iteration`` / ``SN.W_``.
  """
  _check_iterations(n_power_iterations)
  w = kernel.reshape(-1, kernel.shape[-1])
  u = jax.lax.stop_gradient(u.astype(w.dtype))
  ws = jax.lax.stop_gradient(w)
  for _ in range(n_power_iterations):
    v = _l2_normalize(u @ ws.T, epsilon)
    u = _l2_normalize(v @ ws, epsilon)
  sigma = (v @ w @ u.T)[0, 0]
  return kernel / jnp.where(sigma != 0, sigma, 1), u, sigma


def _check_iterations(n: int) -> None:
  if n < 1:
    raise ValueError(f"n_power_iterations must be at least 1, got {n}.")


def _sn_kernel(module: nn.Module, kernel: Array, update_stats: bool) -> Array:
  """``kernel`` divided by its spectral norm, with ``u`` / ``sigma`` in ``module``'s state.

  ``u`` starts as N(0, 1) (the references' ``torch.randn(1, out)``) from the ``params``
  rng; ``sigma`` (kept for logging, as the references do) starts at 1. Both are written
  only when ``update_stats`` is true.
  """
  if not module.spectral_norm:
    return kernel
  u_var = module.variable(
    module.collection_name,
    "u",
    lambda: jax.random.normal(module.make_rng("params"), (1, kernel.shape[-1]), jnp.float32),
  )
  sigma_var = module.variable(module.collection_name, "sigma", lambda: jnp.ones((), jnp.float32))
  kernel_bar, u, sigma = spectral_normalize(
    kernel, u_var.value, module.n_power_iterations, module.epsilon
  )
  if update_stats:
    u_var.value = u
    sigma_var.value = sigma
  return kernel_bar


def _conv_padding(padding: PaddingLike, n: int) -> str | list[tuple[int, int]]:
  if isinstance(padding, str):
    return padding.upper()
  if isinstance(padding, int):
    return [(padding, padding)] * n
  pads = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
  if len(pads) != n:
    raise ValueError(f"Expected {n} padding entries, got {padding!r}.")
  return pads


class SNConv(nn.Module):
  """2-D convolution whose kernel is divided by its spectral norm (power iteration).

  Params ``kernel [KH, KW, Cin, Cout]`` and ``bias [Cout]``, as ``nn.Conv``'s, stay as
  initialised and trained: only the applied kernel is ``kernel / sigma``
  (``spectral_normalize`` on the ``[KH * KW * Cin, Cout]`` matrix, ``n_power_iterations``
  steps per application from the stored ``u``). State in ``collection_name``:
  ``u [1, Cout]`` and ``sigma``, written only when ``update_stats`` is true. With
  ``spectral_norm=False`` this is the plain convolution, same params and no state.

  Attributes:
    features: output channels.
    kernel_size: ``(KH, KW)``.
    strides: stride per spatial axis, or one int.
    padding: ``"SAME"``, ``"VALID"``, an int, or one int or ``(low, high)`` pair per axis.
    use_bias: whether to add a bias (not normalised).
    spectral_norm: whether to normalise the kernel.
    n_power_iterations: power-iteration steps per application (the references use 1).
    epsilon: lower bound of the norms in the power iteration (1e-12, as the references).
    kernel_init: ``weight_init`` name or initialiser.
    collection_name: collection holding ``u`` and ``sigma``.
    dtype: compute dtype; parameters and state stay float32.
  """

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: int | Sequence[int] = 1
  padding: PaddingLike = "SAME"
  use_bias: bool = True
  spectral_norm: bool = True
  n_power_iterations: int = 1
  epsilon: float = SN_EPSILON
  kernel_init: str | Initializer = "ortho"
  collection_name: str = SPECTRAL_COLLECTION
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, update_stats: bool) -> Array:
    """Applies the (spectrally normalised) convolution.

    Args:
      x: ``[N, H, W, Cin]`` input.
      update_stats: store the advanced ``u`` and ``sigma`` (training; needs
        ``collection_name`` mutable). False leaves the state untouched.

    Returns:
      ``[N, Ho, Wo, features]`` in ``dtype``.

    References:
      Miyato et al. 2018, eq. 8 and Algorithm 1; BigGAN-PyTorch ``layers.SNConv2d``.
    """
    ks = tuple(self.kernel_size)
    strides = (self.strides,) * 2 if isinstance(self.strides, int) else tuple(self.strides)
    kernel = self.param(
      "kernel", weight_init(self.kernel_init), ks + (x.shape[-1], self.features), jnp.float32
    )
    kernel = _sn_kernel(self, kernel, update_stats)
    y = jax.lax.conv_general_dilated(
      x.astype(self.dtype),
      kernel.astype(self.dtype),
      strides,
      _conv_padding(self.padding, len(ks)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
        self.dtype
      )
    return y


class SNDense(nn.Module):
  """Dense layer whose ``[in, out]`` kernel is divided by its spectral norm.

  Params ``kernel`` and ``bias`` as ``nn.Dense``'s; state ``u [1, out]`` and ``sigma`` in
  ``collection_name``, as ``SNConv``.

  Attributes:
    features: output features.
    use_bias: whether to add a bias (not normalised).
    spectral_norm: whether to normalise the kernel.
    n_power_iterations: power-iteration steps per application.
    epsilon: lower bound of the norms in the power iteration.
    kernel_init: ``weight_init`` name or initialiser.
    collection_name: collection holding ``u`` and ``sigma``.
    dtype: compute dtype; parameters and state stay float32.
  """

  features: int
  use_bias: bool = True
  spectral_norm: bool = True
  n_power_iterations: int = 1
  epsilon: float = SN_EPSILON
  kernel_init: str | Initializer = "ortho"
  collection_name: str = SPECTRAL_COLLECTION
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, update_stats: bool) -> Array:
    """Applies the (spectrally normalised) dense layer.

    Args:
      x: ``[..., in]`` input.
      update_stats: store the advanced ``u`` and ``sigma`` (training).

    Returns:
      ``[..., features]`` in ``dtype``.

    References:
      Miyato et al. 2018, eq. 8 and Algorithm 1; BigGAN-PyTorch ``layers.SNLinear``.
    """
    kernel = self.param(
      "kernel", weight_init(self.kernel_init), (x.shape[-1], self.features), jnp.float32
    )
    kernel = _sn_kernel(self, kernel, update_stats)
    y = jnp.dot(x.astype(self.dtype), kernel.astype(self.dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
        self.dtype
      )
    return y


class SNEmbed(nn.Module):
  """Embedding whose ``[num_embeddings, features]`` table is divided by its spectral norm.

  The projection discriminator's class embedding (SN-GAN projection, BigGAN). Param
  ``embedding`` as ``nn.Embed``'s; state ``u [1, features]`` and ``sigma``. (BigGAN's
  ``SNEmbedding`` iterates on the transposed table; the singular values are the same.)

  Attributes:
    num_embeddings: number of classes.
    features: embedding size.
    spectral_norm: whether to normalise the table.
    n_power_iterations: power-iteration steps per application.
    epsilon: lower bound of the norms in the power iteration.
    embedding_init: ``weight_init`` name or initialiser.
    collection_name: collection holding ``u`` and ``sigma``.
    dtype: compute dtype; parameters and state stay float32.
  """

  num_embeddings: int
  features: int
  spectral_norm: bool = True
  n_power_iterations: int = 1
  epsilon: float = SN_EPSILON
  embedding_init: str | Initializer = "ortho"
  collection_name: str = SPECTRAL_COLLECTION
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, labels: Array, *, update_stats: bool) -> Array:
    """Looks up the (spectrally normalised) rows of ``labels``.

    Args:
      labels: integer class indices of any shape.
      update_stats: store the advanced ``u`` and ``sigma`` (training).

    Returns:
      ``labels.shape + (features,)`` in ``dtype``.

    References:
      Miyato & Koyama 2018, eq. 3 (the projection ``y^T V phi(x)``); Miyato et al. 2018,
      Algorithm 1; BigGAN-PyTorch ``layers.SNEmbedding``.
    """
    table = self.param(
      "embedding",
      weight_init(self.embedding_init),
      (self.num_embeddings, self.features),
      jnp.float32,
    )
    table = _sn_kernel(self, table, update_stats)
    return jnp.take(table.astype(self.dtype), labels, axis=0)


def _bn(module: nn.Module, train: bool) -> nn.BatchNorm:
  """BatchNorm without gain and bias; running ``mean`` / ``var`` in ``batch_stats``."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=module.momentum,
    epsilon=module.epsilon,
    use_bias=False,
    use_scale=False,
    axis_name=module.axis_name,
    dtype=module.dtype,
    name="bn",
  )


def _modulate(h: Array, gain: Array, bias: Array) -> Array:
  """``h * gain + bias`` with per-sample ``[N, C]`` gain and bias broadcast over space."""
  shape = (h.shape[0],) + (1,) * (h.ndim - 2) + (h.shape[-1],)
  return h * gain.reshape(shape).astype(h.dtype) + bias.reshape(shape).astype(h.dtype)


class CategoricalConditionalBatchNorm(nn.Module):
  """Batch normalisation whose gain and bias are looked up per class (SN-GAN style).

  ``y = gain[c] * (x - mean) / sqrt(var + eps) + bias[c]``, with batch statistics over
  all axes but the last in training (running averages updated, flax momentum 0.9 ==
  PyTorch momentum 0.1 == Chainer decay 0.9) and the running ones otherwise. Params:
  ``gain/embedding`` (init 1) and ``bias/embedding`` (init 0), ``[num_classes, C]``;
  named ``embedding`` so that ``orthogonal_regularization`` skips them by default.
  State: ``bn/mean`` and ``bn/var`` in ``batch_stats``.

  Deviations: the stored running variance is the biased batch variance (flax), where
  Chainer and PyTorch store the unbiased one (a factor ``m / (m - 1)``, ``m`` = values
  per channel); eval outputs differ by that factor's effect only. Chainer's default eps
  is 2e-5; this module defaults to BigGAN's 1e-5.

  Attributes:
    num_classes: number of classes.
    momentum: running-average decay (flax convention).
    epsilon: added to the variance.
    axis_name: pmap/shard_map axis over which batch statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
  """

  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, labels: Array, *, train: bool) -> Array:
    """Normalises ``x`` and applies each sample's class gain and bias.

    Args:
      x: ``[N, ..., C]`` input (NHWC or ``[N, C]``).
      labels: ``[N]`` integer classes, or ``[N, num_classes]`` class weights (one-hot or
        soft), giving ``sum_k w_k gain[k]`` as the reference's ``weights`` option does.
      train: use and update batch statistics (needs ``batch_stats`` mutable).

    Returns:
      The normalised, modulated input, shape of ``x``, in ``dtype``.

    References:
      Miyato & Koyama 2018, Section 4; de Vries et al. 2017, Section 3 (CBN);
      Ioffe & Szegedy 2015, Algorithm 1.
    """
    c = x.shape[-1]
    tables = [
      nn.Embed(self.num_classes, c, embedding_init=init, dtype=self.dtype, name=name)
      for name, init in (("gain", nn.initializers.ones), ("bias", nn.initializers.zeros))
    ]
    if labels.ndim == 1:
      gain, bias = (t(labels) for t in tables)
    else:
      weights = labels.astype(self.dtype)
      # The full tables by lookup, then the weighted sum over classes.
      gain, bias = (weights @ t(jnp.arange(self.num_classes)) for t in tables)
    h = _bn(self, train)(x)
    return _modulate(h, gain, bias)


class LinearConditionalBatchNorm(nn.Module):
  """Batch normalisation with gain ``1 + W_g y`` and bias ``W_b y`` (BigGAN's ``ccbn``).

  ``y`` is the conditioning vector: BigGAN's shared class embedding concatenated with
  this block's chunk of ``z`` (hierarchical latents). ``W_g`` and ``W_b`` are
  spectrally normalised dense layers without bias, as in BigGAN-PyTorch (its
  ``which_linear`` with ``bias=False`` for the shared embedding); params
  ``gain/kernel`` and ``bias/kernel`` (``[D, C]``, orthogonal init), their ``u`` and
  ``sigma`` under ``gain`` and ``bias`` and the running ``mean`` / ``var`` under ``bn``,
  all state in ``batch_stats``. Momentum 0.9 (PyTorch 0.1) and eps 1e-5 as in the reference.
  Deviation: the running variance is the biased batch variance (see
  ``CategoricalConditionalBatchNorm``).

  Attributes:
    spectral_norm: whether ``W_g`` and ``W_b`` are spectrally normalised (BigGAN: yes).
    use_bias: whether ``W_g`` and ``W_b`` carry a bias (BigGAN: no).
    n_power_iterations: power-iteration steps per application.
    kernel_init: ``weight_init`` name or initialiser of ``W_g`` and ``W_b``.
    momentum: running-average decay (flax convention).
    epsilon: added to the variance.
    axis_name: pmap/shard_map axis over which batch statistics are averaged, if any.
    dtype: compute dtype; parameters stay float32.
  """

  spectral_norm: bool = True
  use_bias: bool = False
  n_power_iterations: int = 1
  kernel_init: str | Initializer = "ortho"
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, y: Array, *, train: bool) -> Array:
    """Normalises ``x`` and applies the gain and bias computed from ``y``.

    Args:
      x: ``[N, ..., C]`` input.
      y: ``[N, D]`` conditioning vectors.
      train: batch statistics and power-iteration updates (needs ``batch_stats``
        mutable); False uses the running statistics and stored ``u`` without change.

    Returns:
      The normalised, modulated input, shape of ``x``, in ``dtype``.

    References:
      Brock et al. 2019, Section 3 and Appendix B (shared embedding, hierarchical
      latents, class-conditional BatchNorm); BigGAN-PyTorch ``layers.ccbn``.
    """
    c = x.shape[-1]
    linear = dict(
      features=c,
      use_bias=self.use_bias,
      spectral_norm=self.spectral_norm,
      n_power_iterations=self.n_power_iterations,
      kernel_init=self.kernel_init,
      dtype=self.dtype,
    )
    y = y.astype(self.dtype)
    gain = 1 + SNDense(**linear, name="gain")(y, update_stats=train)
    bias = SNDense(**linear, name="bias")(y, update_stats=train)
    h = _bn(self, train)(x)
    return _modulate(h, gain, bias)


class SelfAttention(nn.Module):
  """SAGAN self-attention block, identity at initialisation (BigGAN's ``Attention``).

  With 1x1 convolutions (no bias) ``theta, phi: C -> C/8``, ``g: C -> C/2`` and
  ``o: C/2 -> C``, and 2x2 max-pooling ``P``:
  ``beta = softmax_j(theta(x)_i . P(phi(x))_j)`` over the ``HW/4`` pooled positions,
  ``out_i = x_i + gamma * o(sum_j beta_ij P(g(x))_j)``, ``gamma`` a learned scalar
  initialised to 0. The softmax runs in float32 whatever ``dtype``. Params: ``theta``,
  ``phi``, ``g``, ``o`` (``SNConv``), ``gamma``.

  Attributes:
    spectral_norm: spectrally normalise the four convolutions (BigGAN and SAGAN do).
    n_power_iterations: power-iteration steps per application.
    kernel_init: ``weight_init`` name or initialiser of the convolutions.
    dtype: compute dtype; parameters stay float32.
  """

  spectral_norm: bool = True
  n_power_iterations: int = 1
  kernel_init: str | Initializer = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    """Adds the attention output to ``x``.

    Args:
      x: ``[N, H, W, C]`` with ``C >= 8`` and even ``H``, ``W`` (pooling floors odd
        sizes, as PyTorch's ``max_pool2d`` does).
      train: update the power-iteration state of the convolutions (needs
        ``batch_stats`` mutable when ``spectral_norm``).

    Returns:
      ``[N, H, W, C]`` in ``dtype``.

    References:
      Zhang et al. 2019, Section 3, eqs. 1-3; Wang et al. 2018, "Non-local Neural
      Networks" (the block); BigGAN-PyTorch ``layers.Attention`` (C/8, C/8, C/2 widths
      and the 2x2 max-pooling of ``phi`` and ``g``).
    """
    n, h, w, c = x.shape
    if c < 8:
      raise ValueError(f"SelfAttention needs at least 8 channels, got {c}.")
    x = x.astype(self.dtype)

    def conv(features, name):
      return SNConv(
        features,
        (1, 1),
        padding="VALID",
        use_bias=False,
        spectral_norm=self.spectral_norm,
        n_power_iterations=self.n_power_iterations,
        kernel_init=self.kernel_init,
        dtype=self.dtype,
        name=name,
      )

    def pool(t):
      return nn.max_pool(t, (2, 2), strides=(2, 2), padding="VALID")

    theta = conv(c // 8, "theta")(x, update_stats=train).reshape(n, h * w, c // 8)
    phi = pool(conv(c // 8, "phi")(x, update_stats=train))
    g = pool(conv(c // 2, "g")(x, update_stats=train))
    phi = phi.reshape(n, -1, c // 8)
    g = g.reshape(n, -1, c // 2)
    logits = jnp.einsum("nic,njc->nij", theta, phi)
    beta = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
    attended = jnp.einsum("nij,njc->nic", beta, g).reshape(n, h, w, c // 2)
    o = conv(c, "o")(attended, update_stats=train)
    gamma = self.param("gamma", nn.initializers.zeros, (), jnp.float32)
    return x + gamma.astype(self.dtype) * o


def minibatch_stddev(x: Array, group_size: int = 4, num_channels: int = 1) -> Array:
  """Appends the minibatch standard deviation as ``num_channels`` extra feature maps.

  The batch splits into groups of ``G = min(group_size, N)`` samples, sample ``k`` in
  group ``k mod (N / G)`` (the references' ``reshape(G, -1, ...)``); the channels split
  into ``num_channels`` consecutive blocks. For each group and block: the standard
  deviation over the group of every feature and pixel (``sqrt(var + 1e-8)``, biased
  variance), averaged over the block's channels and all pixels, then broadcast over the
  group's samples and pixels. Computed in float32, returned in ``x.dtype``.
  ``num_channels=1`` with ``group_size >= N`` is ProGAN's single statistic.

  Args:
    x: ``[N, H, W, C]``, ``N`` divisible by ``min(group_size, N)`` and ``C`` by
      ``num_channels``.
    group_size: samples per group.
    num_channels: number of appended feature maps (channel blocks).

  Returns:
    ``[N, H, W, C + num_channels]``.

  References:
    Karras et al. 2018, Section 3; Karras et al. 2020 (StyleGAN2), Appendix B /
    ``minibatch_stddev_layer(group_size=4, num_new_features=1)``.
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g or c % num_channels:
    raise ValueError(
      f"Batch {n} must divide into groups of {g} and channels {c} into {num_channels} blocks."
    )
  y = x.astype(jnp.float32).reshape(g, n // g, h, w, num_channels, c // num_channels)
  y = y - jnp.mean(y, axis=0, keepdims=True)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # [M, H, W, F, c]
  y = jnp.mean(y, axis=(1, 2, 4))  # [M, F]
  y = jnp.tile(y, (g, 1)).astype(x.dtype)  # [N, F]: sample g * M + m gets y[m]
  y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, num_channels))
  return jnp.concatenate([x, y], axis=-1)


class MinibatchStdDev(nn.Module):
  """Module form of ``minibatch_stddev`` (no parameters).

  Attributes:
    group_size: samples per group.
    num_channels: number of appended feature maps.
  """

  group_size: int = 4
  num_channels: int = 1

  def __call__(self, x: Array) -> Array:
    """Appends the minibatch standard deviation feature maps.

    Args:
      x: ``[N, H, W, C]``.

    Returns:
      ``[N, H, W, C + num_channels]``.

    References:
      Karras et al. 2018, Section 3; Karras et al. 2020, Appendix B.
    """
    return minibatch_stddev(x, self.group_size, self.num_channels)


class MinibatchDiscrimination(nn.Module):
  """Appends, per sample, its closeness to the rest of the minibatch (Salimans et al.).

  ``M_i = f(x_i) T`` reshaped to ``[B, C]`` with ``T`` the ``[A, B * C]`` param
  ``kernel``; ``c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1)`` and
  ``o(x_i)_b = sum_j c_b(x_i, x_j)``. The paper's sum runs over all ``j`` (so ``j = i``
  adds the constant 1); the authors' code (improved-gan ``MinibatchLayer``) excludes
  ``j = i`` by adding 1e6 to the diagonal distances, and ``include_self=False`` (the
  default) follows the code. The output is ``[f(x_i), o(x_i)]`` concatenated, as in both.
  Deviations from that code: ``T`` is a plain parameter (the code reparameterises it by
  weight normalisation with a data-dependent initialisation), and the code's learned
  offset of ``o`` (init -1) is optional (``use_bias``). Computed in float32.

  Attributes:
    num_kernels: ``B``.
    kernel_dim: ``C``.
    include_self: count ``j = i`` in the sum (the paper's formula) or not (the code).
    use_bias: add a learned offset ``b`` (init -1) to ``o``, as the authors' code does.
    kernel_init: initialiser of ``T`` (N(0, 0.05), the code's).
    dtype: compute dtype of the projection; parameters stay float32.
  """

  num_kernels: int = 100
  kernel_dim: int = 5
  include_self: bool = False
  use_bias: bool = False
  kernel_init: Initializer = nn.initializers.normal(0.05)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Appends the minibatch features.

    Args:
      x: ``[N, ...]`` features, flattened to ``[N, A]``.

    Returns:
      ``[N, A + num_kernels]`` in ``dtype``.

    References:
      Salimans et al. 2016, Section 3.2 and Figure 1.
    """
    f = x.reshape(x.shape[0], -1).astype(self.dtype)
    t = self.param(
      "kernel", self.kernel_init, (f.shape[-1], self.num_kernels * self.kernel_dim), jnp.float32
    )
    m = (f @ t.astype(self.dtype)).astype(jnp.float32)
    m = m.reshape(-1, self.num_kernels, self.kernel_dim)  # [N, B, C]
    dist = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # [N, N, B]
    closeness = jnp.exp(-dist)
    if not self.include_self:
      # A mask rather than subtracting exp(0) = 1, which would round small sums away.
      closeness = closeness * (1.0 - jnp.eye(f.shape[0], dtype=jnp.float32))[:, :, None]
    o = jnp.sum(closeness, axis=1)  # [N, B]
    if self.use_bias:
      o = o + self.param("bias", nn.initializers.constant(-1.0), (self.num_kernels,), jnp.float32)
    return jnp.concatenate([f, o.astype(self.dtype)], axis=-1)


MINIBATCH_LAYERS = ("none", "stddev", "discrimination")


def check_minibatch(name: str) -> None:
  if name not in MINIBATCH_LAYERS:
    raise ValueError(f"Unknown minibatch layer {name!r}; valid: {list(MINIBATCH_LAYERS)}")


def apply_minibatch(name: str, h: Array, dtype: Any = jnp.float32) -> Array:
  """A discriminator's minibatch layer on its last features, by name.

  ``none``: ``h`` as it is. ``stddev``: ``minibatch_stddev`` (groups of 4, one
  feature map) on ``[N, H, W, C]`` features, or on ``[N, C]`` taken as 1x1 maps.
  ``discrimination``: ``MinibatchDiscrimination`` (100 kernels of 5 dimensions) on the
  flattened features. Call it inside a compact module (the discrimination layer has
  parameters). Returns the features with the statistics appended (flattened for
  ``discrimination``).
  """
  check_minibatch(name)
  if name == "stddev":
    flat = h.ndim == 2
    y = minibatch_stddev(h[:, None, None, :] if flat else h)
    return y[:, 0, 0, :] if flat else y
  if name == "discrimination":
    return MinibatchDiscrimination(dtype=dtype)(h)
  return h


def _default_filter(path: tuple[str, ...], x: Array) -> bool:
  return x.ndim >= 2 and path[-1] != "embedding"


def orthogonal_regularization(
  params: Any,
  weight: float = 1e-4,
  filter: Callable[[tuple[str, ...], Array], bool] | None = None,
) -> Array:
  """BigGAN's orthogonal penalty ``weight * sum_W ||W^T W * (1 - I)||_F^2``.

  Each selected kernel reshapes to the ``[fan_in, out]`` matrix ``W`` (all axes but the
  last flattened), so ``W^T W`` is the ``[out, out]`` Gram matrix of the filters, the
  ``w w^T`` of the reference's ``[out, fan_in]`` view; the diagonal (filter norms) is not
  penalised. BigGAN-PyTorch (``utils.ortho``) adds the gradient ``2 s (w w^T * (1 - I)) w``
  directly for strength ``s``: that is the gradient of this loss with ``weight = s / 2``
  (the paper's ``beta = 1e-4`` is ``weight = 1e-4`` here; the code's ``--G_ortho 1e-4`` is
  ``weight = 5e-5``). Sums in float32.

  Args:
    params: a pytree of parameters (e.g. the generator's ``params``).
    weight: ``beta``.
    filter: ``(path, leaf) -> bool`` selecting the kernels, ``path`` the tuple of dict
      keys. Default: every leaf with ``ndim >= 2`` except embedding tables (leaves named
      ``embedding``; the reference leaves out G's shared class embedding). Spectral-norm
      state lives in ``batch_stats``, not in ``params``.

  Returns:
    A float32 scalar.

  References:
    Brock et al. 2019, Section 3.1, eq. 3; BigGAN-PyTorch ``utils.ortho``.
  """
  keep = _default_filter if filter is None else filter
  total = jnp.zeros((), jnp.float32)
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)
    if not keep(keys, leaf):
      continue
    w = jnp.asarray(leaf, jnp.float32)
    w = w.reshape(-1, w.shape[-1])
    gram = w.T @ w
    off = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    total = total + jnp.sum(jnp.square(off))
  return weight * total


# ------------------------------------------------------------------------------------------
# StyleGAN2 ops (Karras et al. 2020): equalised learning rate, FIR resampling, modulated
# convolution. NHWC throughout; kernels ``[KH, KW, Cin, Cout]``.

# The binomial low-pass filter of StyleGAN2's resampling, as separable taps.
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
# Default slope and gain of the leaky ReLU of StyleGAN2 (``bias_act``'s ``lrelu``).
LRELU_ALPHA = 0.2
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


def setup_filter(taps: Sequence[float] = FIR_TAPS) -> np.ndarray:
  """The 2-D FIR filter of ``taps``: their outer product, normalised to sum 1.

  Args:
    taps: 1-D filter taps (StyleGAN2: ``[1, 3, 3, 1]``).

  Returns:
    A float32 ``[len(taps), len(taps)]`` numpy array (a constant, never a parameter).

  References:
    Karras et al. 2020, Section 2 / Appendix B (bilinear-like ``[1, 3, 3, 1]`` filter);
    stylegan2-ada-pytorch ``upfirdn2d.setup_filter`` (non-separable, ``normalize=True``).
  """
  f = np.asarray(taps, np.float64)
  if f.ndim != 1 or f.size == 0:
    raise ValueError(f"Filter taps must be a non-empty 1-D sequence, got {taps!r}.")
  f = np.outer(f, f)
  return (f / f.sum()).astype(np.float32)


def _padding4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
  """``(left, right, top, bottom)`` of an int or a 2- or 4-sequence (x first, y second)."""
  if isinstance(padding, int):
    return (padding,) * 4
  p = tuple(int(v) for v in padding)
  if len(p) == 2:
    return p[0], p[0], p[1], p[1]
  if len(p) != 4:
    raise ValueError(f"padding must be an int or 2 or 4 ints, got {padding!r}.")
  return p  # type: ignore[return-value]


def upfirdn2d(
  x: Array,
  f: Any,
  up: int = 1,
  down: int = 1,
  padding: int | Sequence[int] = 0,
  gain: float = 1.0,
  flip_filter: bool = False,
) -> Array:
  """Upsample, pad, FIR-filter and downsample a batch of images, channel by channel.

  In order: insert ``up - 1`` zeros after every pixel along each spatial axis; pad with
  zeros (negative padding crops); convolve every channel with the 2-D filter ``f`` times
  ``gain`` (a true convolution: ``f`` flipped, unless ``flip_filter``); keep every
  ``down``-th pixel. One ``lax.pad`` (interior padding for the zeros), then for a separable
  filter (rank 1, as StyleGAN2's) two 1-D passes of weighted strided slices, else one
  depthwise convolution; differentiable to any order.

  Args:
    x: ``[N, H, W, C]``.
    f: ``[FH, FW]`` filter (e.g. ``setup_filter()``).
    up: upsampling factor.
    down: downsampling factor.
    padding: int, ``(x, y)`` or ``(left, right, top, bottom)``, in pixels of the
      upsampled image (the reference's ``[x0, x1, y0, y1]``).
    gain: scale of the filter (``f * gain``: ``gain ** (f.ndim / 2)`` for a 2-D ``f``).
    flip_filter: correlate with ``f`` instead of convolving.

  Returns:
    ``[N, (H * up + top + bottom - FH + 1) / down, ..., C]`` (rounded up), ``x.dtype``.

  References:
    Karras et al. 2020, Appendix B; stylegan2-ada-pytorch ``upfirdn2d._upfirdn2d_ref``.
  """
  if up < 1 or down < 1:
    raise ValueError(f"up and down must be >= 1, got {up} and {down}.")
  px0, px1, py0, py1 = _padding4(padding)
  c = x.shape[-1]
  zero = jnp.zeros((), x.dtype)
  # Zero insertion (interior) and the trailing up - 1 zeros, then the padding / cropping.
  x = jax.lax.pad(
    x, zero, [(0, 0, 0), (py0, py1 + up - 1, up - 1), (px0, px1 + up - 1, up - 1), (0, 0, 0)]
  )
  f = np.asarray(f, np.float32) * np.float32(gain ** (np.ndim(f) / 2))
  if f.ndim != 2:
    raise ValueError(f"upfirdn2d takes a 2-D filter, got shape {f.shape}.")
  if not flip_filter:
    f = f[::-1, ::-1]
  taps = _separable(f)
  if taps is not None:  # weighted sums of strided slices: no depthwise convolution
    return _fir_1d(_fir_1d(x, taps[0], 1, down), taps[1], 2, down)
  kernel = jnp.asarray(np.tile(f[:, :, None, None], (1, 1, 1, c)), x.dtype)
  x = jax.lax.conv_general_dilated(
    x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c
  )
  return x[:, ::down, ::down]


def _separable(f: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
  """``(a, b)`` with ``f = outer(a, b)`` when the 2-D filter has rank 1 (StyleGAN2's
  ``[1, 3, 3, 1]`` filter does), else None."""
  u, sv, vt = np.linalg.svd(np.asarray(f, np.float64))
  if sv.size > 1 and sv[1] > 1e-7 * sv[0]:
    return None
  return u[:, 0] * sv[0], vt[0]


def _fir_1d(x: Array, taps: np.ndarray, axis: int, down: int) -> Array:
  """The correlation of ``x`` with ``taps`` along ``axis`` ("VALID"), every ``down``-th
  output: ``sum_t taps[t] * x[i + t]``, as strided slices and adds (XLA on CPU runs a
  depthwise convolution and its gradients many times slower)."""
  n = x.shape[axis] - len(taps) + 1
  out = None
  for t, w in enumerate(taps):
    if w == 0:
      continue
    term = jax.lax.slice_in_dim(x, t, t + n, down, axis) * jnp.asarray(w, x.dtype)
    out = term if out is None else out + term
  if out is None:  # an all-zero filter
    return jnp.zeros_like(jax.lax.slice_in_dim(x, 0, n, down, axis))
  return out


def upsample2d(x: Array, f: Any = None, up: int = 2) -> Array:
  """``[N, H, W, C] -> [N, H * up, W * up, C]``: zero insertion and the FIR filter with gain
  ``up ** 2`` (so that a constant image stays constant).

  References:
    stylegan2-ada-pytorch ``upfirdn2d.upsample2d`` (its padding and gain).
  """
  f = setup_filter() if f is None else np.asarray(f, np.float32)
  fh, fw = f.shape
  pad = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
  return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)


def downsample2d(x: Array, f: Any = None, down: int = 2) -> Array:
  """``[N, H, W, C] -> [N, H / down, W / down, C]``: the FIR filter, then every ``down``-th
  pixel.

  References:
    stylegan2-ada-pytorch ``upfirdn2d.downsample2d`` (its padding).
  """
  f = setup_filter() if f is None else np.asarray(f, np.float32)
  fh, fw = f.shape
  pad = ((fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2)
  return upfirdn2d(x, f, down=down, padding=pad)


def bias_act(
  x: Array, b: Array | None = None, act: str = "linear", gain: float | None = None
) -> Array:
  """``act(x + b) * gain`` with ``b`` on the last axis (StyleGAN2's ``bias_act``).

  Args:
    x: ``[..., C]``.
    b: ``[C]`` bias, or None.
    act: ``linear`` or ``lrelu`` (slope 0.2).
    gain: output scale; None gives the activation's default (``linear`` 1, ``lrelu``
      sqrt(2), which keeps the second moment of N(0, 1) inputs).

  Returns:
    An array like ``x``.

  References:
    Karras et al. 2020; stylegan2-ada-pytorch ``bias_act`` (``def_gain``, ``def_alpha``).
  """
  if act not in ACTIVATION_GAINS:
    raise ValueError(f"Unknown activation {act!r}; valid: {sorted(ACTIVATION_GAINS)}")
  if b is not None:
    x = x + b.astype(x.dtype)
  if act == "lrelu":
    x = jax.nn.leaky_relu(x, LRELU_ALPHA)
  g = ACTIVATION_GAINS[act] if gain is None else gain
  return x * g if g != 1 else x


def normalize_2nd_moment(x: Array, axis: int = -1, eps: float = 1e-8) -> Array:
  """``x / sqrt(mean(x ** 2) + eps)`` along ``axis`` (Karras et al. 2019, mapping input)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


def _normal_over(scale: float) -> Initializer:
  """N(0, 1) / ``scale``: an equalised-lr weight stored for learning-rate multiplier ``scale``."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype) / scale

  return init


def equalized_gain(fan_in: int, lr_mul: float = 1.0) -> float:
  """Runtime scale of an equalised-lr weight: ``lr_mul / sqrt(fan_in)`` (Karras et al. 2018,
  Section 4.1; StyleGAN's ``lr_multiplier``)."""
  return lr_mul / math.sqrt(fan_in)


class EqualizedDense(nn.Module):
  """Dense layer with equalised learning rate and a fused bias and activation.

  Param ``kernel [in, out]`` is stored as N(0, 1) / ``lr_mul`` and applied times
  ``lr_mul / sqrt(in)``; ``bias [out]`` is stored as ``bias_init`` and applied times
  ``lr_mul``. Output ``bias_act(x W, b, activation)``.

  Attributes:
    features: output features.
    use_bias: whether to add the bias.
    bias_init: stored initial value of the bias (the styles' affine layers: 1).
    lr_mul: learning-rate multiplier (StyleGAN's mapping network: 0.01).
    activation: ``linear`` or ``lrelu``.

  References:
    Karras et al. 2018, Section 4.1 (equalised learning rate); Karras et al. 2019, Section
    2 / Appendix C (``lr_mul`` of the mapping network); stylegan2-ada-pytorch
    ``FullyConnectedLayer``.
  """

  features: int
  use_bias: bool = True
  bias_init: float = 0.0
  lr_mul: float = 1.0
  activation: str = "linear"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """``[..., in] -> [..., features]``."""
    fan_in = x.shape[-1]
    kernel = self.param("kernel", _normal_over(self.lr_mul), (fan_in, self.features), jnp.float32)
    w = kernel * equalized_gain(fan_in, self.lr_mul)
    b = None
    if self.use_bias:
      b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
      b = b * self.lr_mul
    return bias_act(x @ w.astype(x.dtype), b, self.activation)


class EqualizedConv(nn.Module):
  """2-D convolution with equalised learning rate, optional FIR downsampling by 2 and a
  fused bias and activation.

  Param ``kernel [K, K, Cin, Cout]`` is stored as N(0, 1) / ``lr_mul`` and applied times
  ``lr_mul / sqrt(Cin * K * K)``; ``bias [Cout]`` (zeros) times ``lr_mul``. Padding
  ``K // 2`` keeps the size. With ``down=2``: the FIR filter (padded so that the result is
  exactly half the size), then the convolution with stride 2 (a 1x1 kernel: FIR
  downsampling, then the convolution), as the reference's ``conv2d_resample``. Output
  ``bias_act(conv, b, activation, gain=activation_gain * gain)``.

  Attributes:
    features: output channels.
    kernel_size: ``K``.
    use_bias: whether to add the bias.
    activation: ``linear`` or ``lrelu``.
    down: 1 or 2.
    lr_mul: learning-rate multiplier.
    resample_taps: taps of the FIR filter.

  References:
    Karras et al. 2018, Section 4.1; Karras et al. 2020, Appendix B; stylegan2-ada-pytorch
    ``Conv2dLayer`` and ``conv2d_resample``.
  """

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  activation: str = "linear"
  down: int = 1
  lr_mul: float = 1.0
  resample_taps: tuple[float, ...] = FIR_TAPS

  @nn.compact
  def __call__(self, x: Array, gain: float = 1.0) -> Array:
    """``[N, H, W, Cin] -> [N, H / down, W / down, features]``; ``gain`` scales the output
    (the residual blocks' sqrt(0.5))."""
    if self.down not in (1, 2):
      raise ValueError(f"EqualizedConv supports down 1 or 2, got {self.down}.")
    k, cin = self.kernel_size, x.shape[-1]
    shape = (k, k, cin, self.features)
    kernel = self.param("kernel", _normal_over(self.lr_mul), shape, jnp.float32)
    w = (kernel * equalized_gain(cin * k * k, self.lr_mul)).astype(x.dtype)
    p = k // 2
    dn = ("NHWC", "HWIO", "NHWC")
    if self.down == 1:
      y = jax.lax.conv_general_dilated(x, w, (1, 1), [(p, p), (p, p)], dimension_numbers=dn)
    else:
      f = setup_filter(self.resample_taps)
      fw, d = f.shape[1], self.down
      lo, hi = p + (fw - d + 1) // 2, p + (fw - d) // 2
      pad = (lo, hi, lo, hi)
      if k == 1:
        y = upfirdn2d(x, f, down=d, padding=pad)
        y = jax.lax.conv_general_dilated(y, w, (1, 1), "VALID", dimension_numbers=dn)
      else:
        y = upfirdn2d(x, f, padding=pad)
        y = jax.lax.conv_general_dilated(y, w, (d, d), "VALID", dimension_numbers=dn)
    b = None
    if self.use_bias:
      b = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32) * self.lr_mul
    return bias_act(y, b, self.activation, ACTIVATION_GAINS[self.activation] * gain)


def _conv_up2(x: Array, w: Array, padding: int, f: np.ndarray, groups: int) -> Array:
  """Transposed convolution with stride 2, then the FIR filter (gain 4): the reference's
  ``conv2d_resample(up=2)``. ``w`` is ``[K, K, Cin / groups, Cout]``; the transposed
  convolution is the correlation of the zero-upsampled input with the flipped kernel.

  Ungrouped, it runs as ``layers.conv_transpose`` (by output phases, with a kernel
  gradient that avoids XLA CPU's slow one for the dilated input: 146 against 13 ms for
  the gradients of a 16 -> 32 px, 64-channel layer at batch 16 on 2 cores); grouped (the
  fused modulated convolution), as XLA's lhs-dilated convolution."""
  kh, kw = w.shape[:2]
  if groups == 1:
    y = layers.conv_transpose(x, w[::-1, ::-1], (2, 2), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
  else:
    y = jax.lax.conv_general_dilated(
      x,
      w[::-1, ::-1],
      (1, 1),
      [(kh - 1, kh - 1), (kw - 1, kw - 1)],
      lhs_dilation=(2, 2),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      feature_group_count=groups,
    )
  fh, fw = f.shape
  px0, px1 = padding + (fw + 1) // 2 - (kw - 1), padding + (fw - 2) // 2 - (kw - 2)
  py0, py1 = padding + (fh + 1) // 2 - (kh - 1), padding + (fh - 2) // 2 - (kh - 2)
  return upfirdn2d(y, f, padding=(px0, px1, py0, py1), gain=4.0)


def _conv(x: Array, w: Array, padding: int, up: int, f: np.ndarray, groups: int = 1) -> Array:
  if up == 2:
    return _conv_up2(x, w, padding, f, groups)
  return jax.lax.conv_general_dilated(
    x,
    w,
    (1, 1),
    [(padding, padding)] * 2,
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    feature_group_count=groups,
  )


def modulated_conv2d(
  x: Array,
  weight: Array,
  styles: Array,
  *,
  demodulate: bool = True,
  up: int = 1,
  padding: int | None = None,
  resample_taps: Sequence[float] = FIR_TAPS,
  fused: bool = True,
  eps: float = 1e-8,
) -> Array:
  """StyleGAN2's modulated convolution, with weight demodulation and optional up x2.

  Per sample ``n``: ``w'_n = weight * styles[n]`` on the input channels and, with
  ``demodulate``, ``w''_n = w'_n / sqrt(sum_{kh, kw, cin} w'_n ** 2 + eps)`` per output
  channel; the output is ``x[n]`` convolved with ``w''_n``. ``fused=True`` runs all
  samples as one grouped convolution: the batch moves into the channels
  (``[1, H, W, N * Cin]``), the per-sample kernels stack to ``[K, K, Cin, N * Cout]`` and
  ``feature_group_count = N``. ``fused=False`` is the reference's other form: scale the
  activations by the styles, one ordinary convolution with the shared ``weight``, scale the
  outputs by the demodulation coefficients (the same function; no per-sample kernels).
  ``up=2``: a stride-2 transposed convolution, then the ``resample_taps`` FIR filter (gain
  4), as the reference's ``conv2d_resample`` (its up layers use the kernel un-flipped,
  ``flip_weight=False``: the transposed convolution of ``weight``).

  Args:
    x: ``[N, H, W, Cin]``.
    weight: ``[K, K, Cin, Cout]`` (runtime weight; the caller applies any gain).
    styles: ``[N, Cin]``.
    demodulate: divide each sample's output channels by the norm of their kernel.
    up: 1 or 2.
    padding: of the (upsampled) image; None gives ``K // 2`` (size kept, or doubled).
    resample_taps: FIR taps of the up path.
    fused: grouped convolution (True) or activation scaling (False).
    eps: added to the squared norm before the inverse square root.

  Returns:
    ``[N, H * up, W * up, Cout]``.

  References:
    Karras et al. 2020, Section 2.2, eqs. 1-3 and Appendix B (grouped-convolution
    implementation); stylegan2-ada-pytorch ``modulated_conv2d``.
  """
  if up not in (1, 2):
    raise ValueError(f"modulated_conv2d supports up 1 or 2, got {up}.")
  n, h, wd, cin = x.shape
  kh, kw, _, cout = weight.shape
  p = kh // 2 if padding is None else padding
  f = setup_filter(resample_taps)
  styles = styles.astype(x.dtype)
  weight = weight.astype(x.dtype)
  dcoefs = None
  if demodulate:
    # sum_{kh, kw, cin} (weight * s_n)^2 = sum_cin s_n^2 sum_{kh, kw} weight^2: one matrix
    # product in float32, without building the [N, K, K, Cin, Cout] per-sample kernels
    # that only the fused path needs.
    sq = jnp.sum(jnp.square(weight.astype(jnp.float32)), axis=(0, 1))  # [Cin, Cout]
    norms = jnp.dot(jnp.square(styles.astype(jnp.float32)), sq)  # [N, Cout]
    dcoefs = jax.lax.rsqrt(norms + eps).astype(x.dtype)
  if not fused:
    y = _conv(x * styles[:, None, None, :], weight, p, up, f)
    return y * dcoefs[:, None, None, :] if demodulate else y
  w = weight[None] * styles[:, None, None, :, None]  # [N, K, K, Cin, Cout]
  if demodulate:
    w = w * dcoefs[:, None, None, None, :]
  xg = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, h, wd, n * cin)
  wg = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(kh, kw, cin, n * cout)
  y = _conv(xg, wg, p, up, f, groups=n)  # [1, H', W', N * Cout]
  return jnp.transpose(y.reshape(*y.shape[1:3], n, cout), (2, 0, 1, 3))
