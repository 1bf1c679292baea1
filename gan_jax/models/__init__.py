"""Model families: name -> builder of named networks, and each family's tiny sizes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.games.base import Network
from gan_jax.models import blocks, dcgan28, resnet_gan, sr_family, stylegan2, translation
from gan_jax.models.dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MaxoutDiscriminator, MLPDiscriminator, MLPGenerator

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"Unknown model.dtype {name!r}; valid: {sorted(DTYPES)}")
  return DTYPES[name]


def _gan_inputs(cfg, shape, num_classes):
  """Example inputs of a ``(z, labels) -> sample`` generator and its discriminator.

  With ``model.pack = m`` > 1 (PacGAN) D takes m samples concatenated on the last axis
  (channels of images, features of points); its architecture is otherwise unchanged.
  """
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  z = jnp.zeros((2, cfg.z_dim), jnp.float32)
  packed = (*shape[:-1], shape[-1] * cfg.get("pack", 1))
  return (z, labels), (jnp.zeros((2, *packed), jnp.float32), labels)


def _players(cfg, g: nn.Module, d: nn.Module, shape, num_classes) -> dict[str, Network]:
  g_in, d_in = _gan_inputs(cfg, shape, num_classes)
  return {"g": Network(g, g_in, role="g"), "d": Network(d, d_in, role="d")}


MLP_INITS = {
  "default": None,
  "N02": nn.initializers.normal(0.02),
  "ortho_1.4": nn.initializers.orthogonal(1.4),  # the unrolled GAN notebook's
}
MLP_D_LAYERS = ("dense", "maxout")


def _mlp(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """MLP players: ``model.hidden`` widths; ``model.g_norm`` none | batch;
  ``model.d_layer`` dense (LeakyReLU) | maxout (PacGAN's LinearMaxout of
  ``model.maxout_pieces``, ``model.d_hidden`` units, default ``hidden``);
  ``model.mlp_init`` default (flax's) | N02 | ortho_1.4; ``model.mlp_activation`` of
  the hidden layers of both (``""``: ReLU in G, LeakyReLU 0.2 in a dense D)."""
  del input_shape
  dtype = compute_dtype(cfg.dtype)
  hidden = tuple(cfg.get("hidden", (256, 256)))
  act = "linear" if len(shape) == 1 else "tanh"
  init_name, layer = cfg.get("mlp_init", "default"), cfg.get("d_layer", "dense")
  g_norm = cfg.get("g_norm", "none")
  if init_name not in MLP_INITS or layer not in MLP_D_LAYERS or g_norm not in ("none", "batch"):
    raise ValueError(
      f"model.mlp_init {init_name!r} / d_layer {layer!r} / g_norm {g_norm!r}: valid are "
      f"{list(MLP_INITS)} / {list(MLP_D_LAYERS)} / ['none', 'batch']"
    )
  init, minibatch = MLP_INITS[init_name], cfg.get("d_minibatch", "none")
  blocks.check_minibatch(minibatch)
  acts = cfg.get("mlp_activation", "")
  g = MLPGenerator(
    tuple(shape), hidden, num_classes, act, g_norm == "batch", init, dtype, acts, axis_name
  )
  d_hidden = tuple(cfg.get("d_hidden", ()) or hidden)
  if layer == "maxout":
    d = MaxoutDiscriminator(
      d_hidden, cfg.get("maxout_pieces", 5), num_classes, init, dtype, minibatch
    )
  else:
    d = MLPDiscriminator(d_hidden, num_classes, dtype, init, minibatch, acts)
  return _players(cfg, g, d, shape, num_classes)


def _mlp_tiny(c: ml_collections.ConfigDict) -> None:
  c.model.hidden = (16, 16)
  c.model.z_dim = 8


def _dcgan(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  del input_shape
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in RESOLUTIONS:
    raise ValueError(
      f"model 'dcgan' needs square images with a side in {list(RESOLUTIONS)}; "
      f"the data gives samples of shape {tuple(shape)}."
    )
  dtype = compute_dtype(cfg.dtype)
  width = cfg.get("width", 64)
  max_width = cfg.get("max_width", 1024)
  g = DCGANGenerator(
    shape[0], shape[2], cfg.get("g_width", width), max_width, num_classes, axis_name, dtype
  )
  d = DCGANDiscriminator(
    shape[0],
    cfg.get("d_width", width),
    max_width,
    cfg.get("d_norm", "batch"),
    num_classes,
    axis_name,
    dtype,
    cfg.get("d_minibatch", "none"),
  )
  return _players(cfg, g, d, shape, num_classes)


def _dcgan_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 8
  c.model.width = 8
  c.model.z_dim = 8


def _dcgan28(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """The unrolled GAN's 28x28 DCGAN (PacGAN's Table 3): ``model.g_width`` (8: G's
  64 / 32 / 16 / 8 channels) and ``model.d_width`` (2: D at 1/4 of G; 4: at 1/2)."""
  del input_shape
  if tuple(shape[:2]) != (dcgan28.RESOLUTION,) * 2 or len(shape) != 3:
    raise ValueError(
      f"model 'dcgan28' needs 28x28 images (data.resolution=28); the data gives {tuple(shape)}."
    )
  if num_classes:
    raise ValueError("model 'dcgan28' is unconditional: model.conditional=False.")
  dtype = compute_dtype(cfg.dtype)
  g = dcgan28.DCGAN28Generator(shape[2], cfg.get("g_width", 8), axis_name, dtype)
  d = dcgan28.DCGAN28Discriminator(
    cfg.get("d_width", 2), axis_name, dtype, cfg.get("d_minibatch", "none")
  )
  return _players(cfg, g, d, shape, num_classes)


def _dcgan28_tiny(c: ml_collections.ConfigDict) -> None:
  c.model.g_width = 2
  c.model.d_width = 1
  c.model.z_dim = 8


def _pix2pix(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """The U-Net generator ``g`` and PatchGAN ``d`` of pix2pix (Isola et al. 2017)."""
  del num_classes
  if input_shape is None or len(shape) != 3:
    raise ValueError("model 'pix2pix' needs paired image data (an input and a target image).")
  dtype = compute_dtype(cfg.dtype)
  width = cfg.get("width", 64)
  num_downs = cfg.get("num_downs", 0) or translation.unet_num_downs(min(shape[:2]))
  norm = cfg.get("norm", "batch")
  g = translation.UnetGenerator(
    shape[-1], num_downs, cfg.get("g_width", width), norm, cfg.get("dropout", True), axis_name,
    dtype,
  )  # fmt: skip
  d_width, arch = cfg.get("d_width", width), cfg.get("d_arch", "patch")
  if arch == "patch":
    d = translation.NLayerDiscriminator(d_width, cfg.get("n_layers", 3), norm, axis_name, dtype)
  elif arch == "pixel":
    d = translation.PixelDiscriminator(d_width, norm, axis_name, dtype)
  else:
    raise ValueError(f"Unknown model.d_arch {arch!r}; valid: ['patch', 'pixel']")
  x = jnp.zeros((2, *input_shape), jnp.float32)
  pair = jnp.zeros((2, *shape[:2], input_shape[-1] + shape[-1]), jnp.float32)
  return {"g": Network(g, (x,), role="g"), "d": Network(d, (pair,), role="d")}


def _pix2pix_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 32
  c.model.width = 8
  c.model.num_downs = 0


def _cyclegan(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """ResNet generators ``g_ab``, ``g_ba`` and PatchGANs ``d_a``, ``d_b`` (Zhu et al. 2017)."""
  del num_classes, input_shape
  if len(shape) != 3:
    raise ValueError("model 'cyclegan' needs image data of two domains.")
  dtype = compute_dtype(cfg.dtype)
  width, norm = cfg.get("width", 64), cfg.get("norm", "instance")
  nets = {}
  for name in ("g_ab", "g_ba"):
    g = translation.ResnetGenerator(
      shape[-1], cfg.get("g_width", width), cfg.get("n_blocks", 9), norm, False, "reflect",
      axis_name, dtype,
    )  # fmt: skip
    nets[name] = Network(g, (jnp.zeros((2, *shape), jnp.float32),), role="g")
  for name in ("d_a", "d_b"):
    d = translation.NLayerDiscriminator(
      cfg.get("d_width", width), cfg.get("n_layers", 3), norm, axis_name, dtype
    )
    nets[name] = Network(d, (jnp.zeros((2, *shape), jnp.float32),), role="d")
  return nets


def _cyclegan_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 16
  c.model.width = 4
  c.model.n_blocks = 1
  c.model.n_layers = 1


def _square_side(name: str, shape) -> int:
  if len(shape) != 3 or shape[0] != shape[1]:
    raise ValueError(f"model {name!r} needs square images; the data gives {tuple(shape)}.")
  return shape[0]


def _sngan(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """SN-GAN's ResNets (Miyato et al. 2018): Glorot init, G without spectral norm,
  categorical conditional BatchNorm in G and a projection D when conditional."""
  del input_shape
  side = _square_side("sngan", shape)
  g_arch, d_arch = resnet_gan.sngan_arch(
    side, cfg.get("g_width", 0) or None, cfg.get("d_width", 0) or None
  )
  inits = dict(kernel_init="glorot", block_init="glorot_relu", sc_init="glorot")
  dtype = compute_dtype(cfg.dtype)
  g = resnet_gan.ResNetGenerator(
    g_arch, shape[-1], num_classes, "categorical", spectral_norm=False, axis_name=axis_name,
    dtype=dtype, **inits,
  )  # fmt: skip
  d = resnet_gan.ResNetDiscriminator(d_arch, num_classes, wide=False, dtype=dtype, **inits)
  return _players(cfg, g, d, shape, num_classes)


def _sngan_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 16
  c.model.g_width = 16
  c.model.d_width = 16
  c.model.z_dim = 8


def _biggan(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """BigGAN (Brock et al. 2019): spectral norm in G and D, shared class embedding and
  hierarchical latents as configured, self-attention at ``model.attention`` px."""
  del input_shape
  side = _square_side("biggan", shape)
  width = cfg.get("width", 64)
  g_arch, d_arch = resnet_gan.biggan_arch(
    side, cfg.get("g_width", width), cfg.get("d_width", width), cfg.get("attention", 0)
  )
  init, dtype = cfg.get("init", "ortho"), compute_dtype(cfg.dtype)
  g = resnet_gan.ResNetGenerator(
    g_arch, shape[-1], num_classes, cfg.get("cond", "shared"), cfg.get("shared_dim", 0),
    cfg.get("hier", False), True, init, init, init, axis_name, dtype,
  )  # fmt: skip
  d = resnet_gan.ResNetDiscriminator(
    d_arch, num_classes, cfg.get("d_wide", True), True, init, init, init, dtype
  )
  return _players(cfg, g, d, shape, num_classes)


def _biggan_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 16
  c.model.width = 4
  c.model.g_width = 4
  c.model.d_width = 4
  c.model.z_dim = 12
  c.model.shared_dim = 8
  c.model.attention = 8


def _stylegan2(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """StyleGAN2 (Karras et al. 2020): the mapping + skip synthesis generator and the residual
  discriminator, float32. ``model.z_dim``, ``model.w_dim`` (512), ``model.map_layers`` (8;
  the reference's small configs use 2), ``model.d_map_layers`` (8: D's label mapping),
  ``model.lr_mul`` (0.01: the mapping networks), ``model.w_avg_beta`` (0.995),
  ``model.channel_base`` (32768; the reference's ``fmaps * 32768``), ``model.channel_max``
  (512), ``model.mbstd_group`` (4), ``model.mbstd_channels`` (1), ``model.cmap_dim`` (0:
  the 4x4 channels), ``model.noise_mode`` (auto | random | const | none) and
  ``model.fused_modconv`` (True). Square power-of-two images of at least 8 px; class
  labels condition both networks when ``num_classes`` > 0."""
  del axis_name, input_shape
  side = _square_side("stylegan2", shape)
  if cfg.get("dtype", "float32") != "float32":
    raise ValueError(f"model 'stylegan2' runs in float32; got model.dtype {cfg.dtype!r}.")
  stylegan2.check_resolution(side, 8)
  base, cmax = cfg.get("channel_base", 32768), cfg.get("channel_max", 512)
  lr_mul = cfg.get("lr_mul", 0.01)
  g = stylegan2.StyleGAN2Generator(
    side, shape[-1], cfg.z_dim, cfg.get("w_dim", 512), num_classes, cfg.get("map_layers", 8),
    lr_mul, cfg.get("w_avg_beta", 0.995), base, cmax, cfg.get("noise_mode", "auto"),
    cfg.get("fused_modconv", True),
  )  # fmt: skip
  d = stylegan2.StyleGAN2Discriminator(
    side, num_classes, base, cmax, cfg.get("mbstd_group", 4), cfg.get("mbstd_channels", 1),
    cfg.get("cmap_dim", 0), cfg.get("d_map_layers", 8), lr_mul,
  )  # fmt: skip
  return _players(cfg, g, d, shape, num_classes)


def _stylegan2_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 16
  c.model.z_dim = 16
  c.model.w_dim = 16
  c.model.map_layers = 2
  c.model.d_map_layers = 2
  c.model.channel_base = 128  # 16 channels at 4 and 8 px, 8 at 16 px
  c.model.channel_max = 16


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """A model family: ``build(model_cfg, sample_shape, num_classes, axis_name,
  input_shape) -> {name: Network}`` and ``tiny(config)``, its sizes for a run of seconds.
  ``input_shape`` is the shape of a conditioning input (paired data), else None."""

  build: Callable[..., dict[str, Network]]
  tiny: Callable[[ml_collections.ConfigDict], None]


MODELS: dict[str, ModelFamily] = {
  "mlp": ModelFamily(_mlp, _mlp_tiny),
  "dcgan": ModelFamily(_dcgan, _dcgan_tiny),
  "dcgan28": ModelFamily(_dcgan28, _dcgan28_tiny),
  "pix2pix": ModelFamily(_pix2pix, _pix2pix_tiny),
  "cyclegan": ModelFamily(_cyclegan, _cyclegan_tiny),
  "sngan": ModelFamily(_sngan, _sngan_tiny),
  "biggan": ModelFamily(_biggan, _biggan_tiny),
  "sr": ModelFamily(sr_family.build, sr_family.tiny),
  "stylegan2": ModelFamily(_stylegan2, _stylegan2_tiny),
}


def get_family(name: str) -> ModelFamily:
  if name not in MODELS:
    raise ValueError(f"Unknown model {name!r}; valid models: {sorted(MODELS)}")
  return MODELS[name]


def build_networks(
  model_cfg: ml_collections.ConfigDict,
  sample_shape: Sequence[int],
  num_classes: int = 0,
  axis_name: str | None = None,
  input_shape: Sequence[int] | None = None,
) -> dict[str, Network]:
  """Builds the named networks of ``model_cfg.name``.

  Args:
    model_cfg: ``config.model``.
    sample_shape: shape of one data sample, ``(2,)`` or ``(H, W, C)``.
    num_classes: 0 for unconditional models, else the number of classes.
    axis_name: pmap axis name for cross-device BatchNorm statistics, or None.
    input_shape: shape of one conditioning input (paired data), else None.

  Returns:
    ``{name: Network}``; the GAN families give ``g`` and ``d``.
  """
  family = get_family(model_cfg.name)
  shape_in = tuple(input_shape) if input_shape is not None else None
  return family.build(model_cfg, tuple(sample_shape), num_classes, axis_name, shape_in)
