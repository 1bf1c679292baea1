"""The ``sr`` model family: super-resolution networks ``g`` (LR -> HR) and ``d``, and the
frozen VGG19 ``vgg`` of the perceptual loss.

``model.g_arch``: ``srresnet`` (Ledig et al. 2017; ``model.norm`` batch | none),
``msrresnet`` (SRResNet without BatchNorm) or ``rrdbnet`` (Wang et al. 2018, ESRGAN);
``model.width`` features, ``model.n_blocks`` residual blocks, ``model.scale`` the upscaling
factor. ``model.d_arch``: ``srgan`` (the SRGAN discriminator, ``model.d_width``),
``vgg_style`` (ESRGAN's, for 128 or 256 pixel crops) or ``none`` (SRResNet: no D).
``model.vgg_layer`` (e.g. ``relu5_4``, ``conv5_4``; "" none) adds ``vgg``, whose weights
come from the converted VGG19 file (``python -m gan_jax.models.convert_vgg``): a run that
asks for it without the file stops at start-up, naming the command.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import ml_collections

from gan_jax.games.base import Network
from gan_jax.models import sr, vgg

G_ARCHS = ("srresnet", "msrresnet", "rrdbnet")
D_ARCHS = ("none", "srgan", "vgg_style")


class PerceptualVGG(vgg.VGG19Features):
  """VGG19 features at ``layer`` of gan_jax images in [-1, 1] (ImageNet normalisation
  inside); a frozen network of the SR games."""

  layer: str = "relu5_4"

  def __call__(self, x, train: bool = False):  # noqa: D102
    del train
    return super().__call__(vgg.preprocess(x), layer=self.layer)


def build(cfg, shape: Sequence[int], num_classes: int, axis_name, input_shape=None):
  """``g``, ``d`` (unless ``d_arch='none'``) and ``vgg`` (with ``vgg_layer``)."""
  from gan_jax.models import compute_dtype

  del input_shape
  if num_classes or len(shape) != 3:
    raise ValueError("model 'sr' takes unlabelled images.")
  h, w, c = shape
  scale = cfg.get("scale", 4)
  if h % scale or w % scale:
    raise ValueError(f"data.resolution={h} must be a multiple of model.scale={scale}.")
  dtype = compute_dtype(cfg.dtype)
  arch, d_arch = cfg.get("g_arch", "srresnet"), cfg.get("d_arch", "none")
  if arch not in G_ARCHS or d_arch not in D_ARCHS:
    raise ValueError(
      f"model 'sr': g_arch {arch!r} / d_arch {d_arch!r}; valid are {list(G_ARCHS)} / "
      f"{list(D_ARCHS)}"
    )
  width, blocks = cfg.get("width", 64), cfg.get("n_blocks", 16)
  if arch == "srresnet":
    g = sr.SRResNet(scale, width, blocks, cfg.get("norm", "batch"), c, axis_name, dtype)
  elif arch == "msrresnet":
    g = sr.MSRResNet(scale, width, blocks, c, dtype)
  else:
    g = sr.RRDBNet(scale, width, blocks, cfg.get("num_grow_ch", 32), c, dtype)
  hr = jnp.zeros((2, h, w, c), jnp.float32)
  nets = {"g": Network(g, (jnp.zeros((2, h // scale, w // scale, c), jnp.float32),), role="g")}
  d_width = cfg.get("d_width", 0) or width
  if d_arch == "srgan":
    d = sr.SRGANDiscriminator(d_width, cfg.get("d_norm", "batch"), axis_name=axis_name, dtype=dtype)
    nets["d"] = Network(d, (hr,), role="d")
  elif d_arch == "vgg_style":
    d = sr.VGGStyleDiscriminator(d_width, input_size=h, axis_name=axis_name, dtype=dtype)
    nets["d"] = Network(d, (hr,), role="d")
  layer = cfg.get("vgg_layer", "")
  if layer:
    vgg._check_layers((layer,))
    nets["vgg"] = Network(
      PerceptualVGG(layer=layer), (hr,), role="d", trained=False, load=vgg.load_variables
    )
  return nets


def tiny(c: ml_collections.ConfigDict) -> None:
  """Width 8 with 2 blocks, 16-pixel HR crops."""
  c.data.resolution = 16
  c.model.width = 8
  c.model.n_blocks = 2
  c.model.d_width = 8
