"""ResNet generators and discriminators of SN-GAN, SAGAN and BigGAN.

One generator and one discriminator, each built from a table of blocks:

- ``GBlock``: ``norm -> ReLU -> nearest x2 -> conv3 -> norm -> ReLU -> conv3`` plus the
  shortcut ``nearest x2 -> conv1`` (a learned 1x1 when the width changes or the block
  upsamples). The norm is plain BatchNorm (unconditional), a per-class gain and bias
  (SN-GAN's categorical conditional BatchNorm) or gain ``1 + W_g c`` and bias ``W_b c``
  for a conditioning vector ``c`` (BigGAN: the shared class embedding, concatenated with
  the block's chunk of ``z`` when latents are hierarchical; or the one-hot class).
- ``DBlock``: ``[ReLU] -> conv3 -> ReLU -> conv3 -> [avgpool 2]`` plus the shortcut
  ``conv1 -> avgpool`` (pre-activated blocks) or ``avgpool -> conv1`` (the first,
  "optimised" block, which has no leading ReLU). Hidden width is the output's (``wide``,
  BigGAN and SAGAN) or the input's (SN-GAN).
- ``ResNetDiscriminator``: the blocks, ReLU, global sum pooling, a linear logit and the
  projection term ``<embed(y), h>`` of a class-conditional D.

``sngan_arch`` and ``biggan_arch`` give the references' tables (SN-GAN 32 / 48 px, BigGAN
32 / 64 / 128 px; 16 px tables of our own for the digits). The ``sngan`` family uses the
SN-GAN code's Glorot initialisation (block convs with gain sqrt(2): ``glorot_relu``).
Convolutions, dense layers and embeddings are spectrally normalised where
the reference does it: everywhere in D, and in BigGAN's G except its class embedding.

References:
  Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks",
  Appendix B (the ResNet architectures for CIFAR-10 and STL-10).
  Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3 (the
  projection; conditional BatchNorm in G).
  Zhang et al. 2019, "Self-Attention Generative Adversarial Networks" (attention block).
  Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image Synthesis",
  Section 3 and Appendix B (shared embedding, hierarchical latents, widths).
  Gulrajani et al. 2017, Appendix F (the "optimised" first D block).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import blocks
from gan_jax.models.blocks import SNConv, SNDense, SNEmbed

Array = jax.Array

COND_NORMS = ("none", "categorical", "shared", "onehot")


def upsample2(x: Array) -> Array:
  """Nearest-neighbour x2 upsampling of ``[N, H, W, C]`` (PyTorch ``interpolate``'s default)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avgpool2(x: Array) -> Array:
  """2x2 average pooling with stride 2 (``AvgPool2d(2)``)."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2), padding="VALID")


@dataclasses.dataclass(frozen=True)
class GArch:
  """A generator table: ``in_ch`` / ``out_ch`` per up-block, attention after the blocks
  whose output side is in ``attention``, a ``bottom`` x ``bottom`` start."""

  in_ch: tuple[int, ...]
  out_ch: tuple[int, ...]
  bottom: int = 4
  attention: tuple[int, ...] = ()

  def resolution(self, i: int) -> int:
    return self.bottom * 2 ** (i + 1)


@dataclasses.dataclass(frozen=True)
class DArch:
  """A discriminator table: ``out_ch`` and ``downsample`` per block, and the indices of
  the blocks followed by self-attention."""

  out_ch: tuple[int, ...]
  downsample: tuple[bool, ...]
  attention_after: tuple[int, ...] = ()


def sngan_arch(resolution: int, g_ch: int | None = None, d_ch: int | None = None):
  """SN-GAN's ResNets (Miyato et al. 2018, Appendix B).

  32 px (CIFAR-10): G z -> 4x4x256, 3 up-blocks of 256; D optimised block 128, a
  down-block and two blocks of 128. 48 px (STL-10): G z -> 6x6x512, up-blocks to 256, 128,
  64; D 64 (optimised), 128, 256, 512 (down), 1024. ``g_ch`` / ``d_ch`` scale the widths
  (defaults: the paper's 256 / 128 at 32 px, 512 / 1024 at 48 px).
  """
  if resolution == 32:
    g, d = g_ch or 256, d_ch or 128
    return GArch((g,) * 3, (g,) * 3, 4), DArch((d,) * 4, (True, True, False, False))
  if resolution == 16:  # not the paper's: the 32 px nets less one block each, for digits
    g, d = g_ch or 256, d_ch or 128
    return GArch((g,) * 2, (g,) * 2, 4), DArch((d,) * 3, (True, True, False))
  if resolution == 48:
    g, d = g_ch or 512, d_ch or 1024
    g_in = (g, g // 2, g // 4)
    g_out = (g // 2, g // 4, g // 8)
    d_out = (d // 16, d // 8, d // 4, d // 2, d)
    return GArch(g_in, g_out, 6), DArch(d_out, (True,) * 4 + (False,))
  raise ValueError(f"model 'sngan' has tables for 16, 32 and 48 px images; got {resolution}.")


# Multipliers of the width per block. 16 px is not the reference's: the 32 px tables less
# one block each, for runs of minutes on the embedded digits.
_BIGGAN_G = {
  16: ((4, 4), (4, 4)),
  32: ((4, 4, 4), (4, 4, 4)),
  64: ((16, 16, 8, 4), (16, 8, 4, 2)),
  128: ((16, 16, 8, 4, 2), (16, 8, 4, 2, 1)),
}
_BIGGAN_D = {
  32: ((4, 4, 4, 4), (True, True, False, False)),
  64: ((1, 2, 4, 8, 16), (True,) * 4 + (False,)),
  16: ((4, 4, 4), (True, True, False)),
  128: ((1, 2, 4, 8, 16, 16), (True,) * 5 + (False,)),
}


def biggan_arch(resolution: int, g_ch: int = 64, d_ch: int = 64, attention: int = 0):
  """BigGAN's tables (Brock et al. 2019, Appendix B; BigGAN-PyTorch
  ``G_arch`` / ``D_arch``) at 32, 64 and 128 px for widths ``g_ch`` / ``d_ch``, with
  self-attention at side ``attention`` (0: none; BigGAN uses 64 at 128 px): after the
  block that outputs that side, in G and in D. (At 32 px the reference's D table lists
  every block's side as 16; here the real sides 16, 8, 8, 8 are used.)
  """
  if resolution not in _BIGGAN_G:
    raise ValueError(f"model 'biggan' has tables for {sorted(_BIGGAN_G)} px; got {resolution}.")
  g_in, g_out = _BIGGAN_G[resolution]
  g = GArch(tuple(g_ch * m for m in g_in), tuple(g_ch * m for m in g_out), 4, (attention,))
  d_out, down = _BIGGAN_D[resolution]
  side, after = resolution, []
  for i, pooled in enumerate(down):
    side //= 2 if pooled else 1
    if side == attention:
      after.append(i)
  return g, DArch(tuple(d_ch * m for m in d_out), down, tuple(after))


def _plain_bn(train: bool, axis_name, dtype, name=None) -> nn.BatchNorm:
  """BatchNorm with gain and bias, momentum 0.1 (PyTorch) and eps 1e-5."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=0.9,
    epsilon=1e-5,
    axis_name=axis_name,
    dtype=dtype,
    name=name,
  )


class _CondNorm(nn.Module):
  """The block's BatchNorm: plain, per class (``categorical``), or linear in ``cond``."""

  kind: str
  num_classes: int = 0
  spectral_norm: bool = True
  kernel_init: Any = "ortho"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, cond, *, train: bool) -> Array:
    if self.kind == "none":
      return _plain_bn(train, self.axis_name, self.dtype, "bn")(x)
    if self.kind == "categorical":
      return blocks.CategoricalConditionalBatchNorm(
        self.num_classes, axis_name=self.axis_name, dtype=self.dtype, name="cbn"
      )(x, cond, train=train)
    # BigGAN: spectrally normalised linear maps of the shared embedding; plain tables
    # (an embedding, here a linear map of the one-hot class) without it.
    return blocks.LinearConditionalBatchNorm(
      spectral_norm=self.spectral_norm and self.kind == "shared",
      kernel_init=self.kernel_init,
      axis_name=self.axis_name,
      dtype=self.dtype,
      name="cbn",
    )(x, cond, train=train)


class GBlock(nn.Module):
  """Up residual block (Miyato et al. 2018, Appendix B; BigGAN-PyTorch ``GBlock``).

  Attributes:
    features: output channels (also the hidden width).
    norm: ``none`` | ``categorical`` | ``shared`` | ``onehot`` (see ``_CondNorm``).
    num_classes: classes of a ``categorical`` norm.
    spectral_norm: normalise the convolutions (and the norm's linear maps).
    kernel_init: initialiser of the two 3x3 convolutions; ``sc_init`` of the 1x1 shortcut and
      ``norm_init`` of the norm's linear maps.
    upsample: double the resolution.
  """

  features: int
  norm: str = "none"
  num_classes: int = 0
  spectral_norm: bool = True
  kernel_init: Any = "ortho"
  sc_init: Any = "ortho"
  norm_init: Any = "ortho"
  upsample: bool = True
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, cond=None, *, train: bool) -> Array:
    def conv(k, init, name):
      return SNConv(
        self.features, (k, k), padding="SAME", spectral_norm=self.spectral_norm,
        kernel_init=init, dtype=self.dtype, name=name,
      )  # fmt: skip

    def norm(name):
      return _CondNorm(
        self.norm, self.num_classes, self.spectral_norm, self.norm_init, self.axis_name,
        self.dtype, name=name,
      )  # fmt: skip

    h = nn.relu(norm("bn1")(x, cond, train=train))
    if self.upsample:
      h, x = upsample2(h), upsample2(x)
    h = conv(3, self.kernel_init, "conv1")(h, update_stats=train)
    h = nn.relu(norm("bn2")(h, cond, train=train))
    h = conv(3, self.kernel_init, "conv2")(h, update_stats=train)
    if x.shape[-1] != self.features or self.upsample:
      x = conv(1, self.sc_init, "conv_sc")(x, update_stats=train)
    return h + x.astype(h.dtype)


class DBlock(nn.Module):
  """Down residual block (Miyato et al. 2018, Appendix B; BigGAN-PyTorch ``DBlock``).

  Attributes:
    features: output channels.
    wide: hidden width = ``features`` (BigGAN, SAGAN) rather than the input's (SN-GAN;
      its first block is wide all the same).
    preactivation: a leading ReLU; the shortcut is ``conv1 -> pool`` (else the first,
      "optimised" block: no leading ReLU, shortcut ``pool -> conv1``).
    downsample: 2x2 average pooling at the end of both paths.
    spectral_norm: normalise the convolutions.
    kernel_init / sc_init: initialisers of the 3x3 convolutions and of the 1x1 shortcut.
  """

  features: int
  wide: bool = True
  preactivation: bool = True
  downsample: bool = True
  spectral_norm: bool = True
  kernel_init: Any = "ortho"
  sc_init: Any = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    def conv(features, k, init, name):
      return SNConv(
        features, (k, k), padding="SAME", spectral_norm=self.spectral_norm, kernel_init=init,
        dtype=self.dtype, name=name,
      )  # fmt: skip

    # The optimised first block is wide in both references (SN-GAN's OptimizedBlock).
    hidden = self.features if self.wide or not self.preactivation else x.shape[-1]
    h = nn.relu(x) if self.preactivation else x
    h = conv(hidden, 3, self.kernel_init, "conv1")(h, update_stats=train)
    h = conv(self.features, 3, self.kernel_init, "conv2")(nn.relu(h), update_stats=train)
    if self.downsample:
      h = avgpool2(h)
    if x.shape[-1] != self.features or self.downsample:
      sc = conv(self.features, 1, self.sc_init, "conv_sc")
      if self.preactivation:
        x = sc(x, update_stats=train)
        x = avgpool2(x) if self.downsample else x
      else:
        x = avgpool2(x) if self.downsample else x
        x = sc(x, update_stats=train)
    return h + x.astype(h.dtype)


class ResNetGenerator(nn.Module):
  """``(z [N, z_dim], labels [N] | None) -> images [N, R, R, channels]`` in [-1, 1].

  ``Dense(z) -> bottom x bottom x in_ch[0]``, the up-blocks (self-attention after those
  whose side is in ``arch.attention``), then ``BN -> ReLU -> conv3 -> tanh``.

  Conditioning (``cond``): ``none``; ``categorical`` (SN-GAN: a gain and bias per class
  in every block); ``shared`` (BigGAN: a class embedding of ``shared_dim`` shared by all
  blocks, each block's gain and bias linear in it); ``onehot`` (BigGAN without the shared
  embedding: linear in the one-hot class, i.e. a gain and bias table per block). With
  ``hier`` (BigGAN's hierarchical latents) ``z`` splits into ``len(blocks) + 1`` chunks:
  the first feeds the dense layer, chunk ``i + 1`` joins block ``i``'s conditioning
  vector (unconditional: the chunk alone).

  Attributes:
    arch: the block table.
    channels: output channels.
    num_classes: 0 for unconditional.
    cond: ``none`` | ``categorical`` | ``shared`` | ``onehot`` (ignored when unconditional).
    shared_dim: size of the shared class embedding (0: ``z_dim``, as BigGAN-PyTorch).
    hier: hierarchical latents.
    spectral_norm: normalise convs and linear layers (BigGAN yes, SN-GAN no).
    kernel_init / block_init / sc_init: initialisers of the dense, first-and-output layers,
      of the blocks' 3x3 convolutions and of their 1x1 shortcuts.
  """

  arch: GArch
  channels: int = 3
  num_classes: int = 0
  cond: str = "shared"
  shared_dim: int = 0
  hier: bool = False
  spectral_norm: bool = True
  kernel_init: Any = "ortho"
  block_init: Any = "ortho"
  sc_init: Any = "ortho"
  axis_name: str | None = None
  dtype: Any = jnp.float32

  def _check(self, z_dim: int) -> tuple[str, int]:
    if self.cond not in COND_NORMS:
      raise ValueError(f"Unknown generator conditioning {self.cond!r}; valid: {COND_NORMS}")
    cond = self.cond if self.num_classes else "none"
    if self.hier and cond in ("categorical", "onehot"):
      raise ValueError("Hierarchical latents need the shared embedding (cond='shared').")
    slots = len(self.arch.out_ch) + 1
    if self.hier and z_dim % slots:
      raise ValueError(f"With hier, z_dim ({z_dim}) must split into {slots} equal chunks.")
    return cond, (z_dim // slots if self.hier else z_dim)

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None, train: bool = True) -> Array:
    cond, chunk = self._check(z.shape[-1])
    if cond != "none" and labels is None:
      raise ValueError("This generator is class-conditional: pass labels.")
    z = z.astype(self.dtype)
    zs = jnp.split(z, len(self.arch.out_ch) + 1, axis=-1) if self.hier else [z]
    if cond == "shared":
      y = nn.Embed(
        self.num_classes, self.shared_dim or z.shape[-1],
        embedding_init=blocks.weight_init(self.kernel_init), dtype=self.dtype, name="shared",
      )(labels)  # fmt: skip
    elif cond == "onehot":
      y = jax.nn.one_hot(labels, self.num_classes, dtype=self.dtype)
    elif cond == "categorical":
      y = labels
    else:
      y = None
    if self.hier:
      conds = [zi if y is None else jnp.concatenate([y, zi], -1) for zi in zs[1:]]
      norm = "shared"  # linear in the conditioning vector
    else:
      conds = [y] * len(self.arch.out_ch)
      norm = cond
    a = self.arch
    h = SNDense(
      a.bottom * a.bottom * a.in_ch[0],
      spectral_norm=self.spectral_norm,
      kernel_init=self.kernel_init,
      dtype=self.dtype,
      name="linear",
    )(zs[0], update_stats=train)
    h = h.reshape(z.shape[0], a.bottom, a.bottom, a.in_ch[0])
    for i, (features, c) in enumerate(zip(a.out_ch, conds, strict=True)):
      h = GBlock(
        features, norm, self.num_classes, self.spectral_norm, self.block_init, self.sc_init,
        self.kernel_init, True, self.axis_name, self.dtype, name=f"block{i}",
      )(h, c, train=train)  # fmt: skip
      if a.resolution(i) in a.attention:
        h = blocks.SelfAttention(
          self.spectral_norm, kernel_init=self.kernel_init, dtype=self.dtype, name=f"attention{i}"
        )(h, train=train)
    h = nn.relu(_plain_bn(train, self.axis_name, self.dtype, "bn_out")(h))
    h = SNConv(
      self.channels, (3, 3), spectral_norm=self.spectral_norm, kernel_init=self.kernel_init,
      dtype=self.dtype, name="conv_out",
    )(h, update_stats=train)  # fmt: skip
    return jnp.tanh(h).astype(jnp.float32)


class ResNetDiscriminator(nn.Module):
  """``(x [N, R, R, C], labels [N] | None) -> logits [N]``, spectrally normalised.

  The blocks (the first one "optimised", self-attention after ``arch.attention_after``),
  ReLU, global sum pooling to ``h``, then ``linear(h) + <embed(y), h>`` (the projection
  discriminator; the second term only when conditional).

  Attributes:
    arch: the block table.
    num_classes: 0 for unconditional.
    wide: hidden width of the blocks (see ``DBlock``).
    spectral_norm: normalise every layer (both references do).
    kernel_init / block_init / sc_init: initialisers of the output layers (linear, embedding,
      attention), of the blocks' 3x3 convolutions and of their shortcuts.
  """

  arch: DArch
  num_classes: int = 0
  wide: bool = True
  spectral_norm: bool = True
  kernel_init: Any = "ortho"
  block_init: Any = "ortho"
  sc_init: Any = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None, train: bool = True) -> Array:
    h = x.astype(self.dtype)
    for i, (features, down) in enumerate(zip(self.arch.out_ch, self.arch.downsample, strict=True)):
      h = DBlock(
        features, self.wide, i > 0, down, self.spectral_norm, self.block_init, self.sc_init,
        self.dtype, name=f"block{i}",
      )(h, train=train)  # fmt: skip
      if i in self.arch.attention_after:
        h = blocks.SelfAttention(
          self.spectral_norm, kernel_init=self.kernel_init, dtype=self.dtype, name=f"attention{i}"
        )(h, train=train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    out = SNDense(
      1,
      spectral_norm=self.spectral_norm,
      kernel_init=self.kernel_init,
      dtype=self.dtype,
      name="linear",
    )(h, update_stats=train)[:, 0]
    if self.num_classes:
      if labels is None:
        raise ValueError("This discriminator is class-conditional: pass labels.")
      e = SNEmbed(
        self.num_classes, h.shape[-1], spectral_norm=self.spectral_norm,
        embedding_init=self.kernel_init, dtype=self.dtype, name="embed",
      )(labels, update_stats=train)  # fmt: skip
      out = out + jnp.sum(e * h, axis=-1)
    return out.astype(jnp.float32)


def param_count(module: nn.Module, *inputs: Any) -> int:
  """Trainable parameters of ``module`` (no allocation: shapes only)."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))
  return sum(math.prod(s.shape) for s in jax.tree.leaves(shapes["params"]))


def inputs_of(resolution: int, channels: int, z_dim: int, num_classes: int, n: int = 2):
  """Example ``(z, labels)`` and ``(x, labels)`` for ``init``."""
  labels = jnp.zeros((n,), jnp.int32) if num_classes else None
  return (
    (jnp.zeros((n, z_dim), jnp.float32), labels),
    (jnp.zeros((n, resolution, resolution, channels), jnp.float32), labels),
  )
