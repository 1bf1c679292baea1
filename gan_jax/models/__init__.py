"""Model families: name -> builder of named networks, and each family's tiny sizes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.games.base import Network
from gan_jax.models.dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"Unknown model.dtype {name!r}; valid: {sorted(DTYPES)}")
  return DTYPES[name]


def _gan_inputs(cfg, shape, num_classes):
  """Example inputs of a ``(z, labels) -> sample`` generator and its discriminator."""
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  z = jnp.zeros((2, cfg.z_dim), jnp.float32)
  return (z, labels), (jnp.zeros((2, *shape), jnp.float32), labels)


def _players(cfg, g: nn.Module, d: nn.Module, shape, num_classes) -> dict[str, Network]:
  g_in, d_in = _gan_inputs(cfg, shape, num_classes)
  return {"g": Network(g, g_in, role="g"), "d": Network(d, d_in, role="d")}


def _mlp(cfg: ml_collections.ConfigDict, shape: Sequence[int], num_classes: int, axis_name):
  del axis_name
  dtype = compute_dtype(cfg.dtype)
  hidden = tuple(cfg.get("hidden", (256, 256)))
  act = "linear" if len(shape) == 1 else "tanh"
  g = MLPGenerator(tuple(shape), hidden, num_classes, act, dtype)
  d = MLPDiscriminator(hidden, num_classes, dtype)
  return _players(cfg, g, d, shape, num_classes)


def _mlp_tiny(c: ml_collections.ConfigDict) -> None:
  c.model.hidden = (16, 16)
  c.model.z_dim = 8


def _dcgan(cfg: ml_collections.ConfigDict, shape: Sequence[int], num_classes: int, axis_name):
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
  )
  return _players(cfg, g, d, shape, num_classes)


def _dcgan_tiny(c: ml_collections.ConfigDict) -> None:
  c.data.resolution = 8
  c.model.width = 8
  c.model.z_dim = 8


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """A model family: ``build(model_cfg, sample_shape, num_classes, axis_name) ->
  {name: Network}`` and ``tiny(config)``, its sizes for a run of seconds."""

  build: Callable[..., dict[str, Network]]
  tiny: Callable[[ml_collections.ConfigDict], None]


MODELS: dict[str, ModelFamily] = {
  "mlp": ModelFamily(_mlp, _mlp_tiny),
  "dcgan": ModelFamily(_dcgan, _dcgan_tiny),
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
) -> dict[str, Network]:
  """Builds the named networks of ``model_cfg.name``.

  Args:
    model_cfg: ``config.model``.
    sample_shape: shape of one data sample, ``(2,)`` or ``(H, W, C)``.
    num_classes: 0 for unconditional models, else the number of classes.
    axis_name: pmap axis name for cross-device BatchNorm statistics, or None.

  Returns:
    ``{name: Network}``; the GAN families give ``g`` and ``d``.
  """
  family = get_family(model_cfg.name)
  return family.build(model_cfg, tuple(sample_shape), num_classes, axis_name)
