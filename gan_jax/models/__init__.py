"""Generator / discriminator families and the name -> constructor registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.models.dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"Unknown model.dtype {name!r}; valid: {sorted(DTYPES)}")
  return DTYPES[name]


def _mlp(cfg: ml_collections.ConfigDict, shape: Sequence[int], num_classes: int, axis_name):
  del axis_name
  dtype = compute_dtype(cfg.dtype)
  hidden = tuple(cfg.get("hidden", (256, 256)))
  act = "linear" if len(shape) == 1 else "tanh"
  g = MLPGenerator(tuple(shape), hidden, num_classes, act, dtype)
  d = MLPDiscriminator(hidden, num_classes, dtype)
  return g, d


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
  return g, d


ModelBuilder = Callable[..., tuple[nn.Module, nn.Module]]

MODELS: dict[str, ModelBuilder] = {
  "mlp": _mlp,
  "dcgan": _dcgan,
}


def build_models(
  model_cfg: ml_collections.ConfigDict,
  sample_shape: Sequence[int],
  num_classes: int = 0,
  axis_name: str | None = None,
) -> tuple[nn.Module, nn.Module]:
  """Builds ``(generator, discriminator)`` for ``model_cfg.name``.

  Args:
    model_cfg: ``config.model``.
    sample_shape: shape of one data sample, ``(2,)`` or ``(H, W, C)``.
    num_classes: 0 for unconditional models, else the number of classes.
    axis_name: pmap axis name for cross-device BatchNorm statistics, or None.

  Returns:
    The two Flax modules.
  """
  if model_cfg.name not in MODELS:
    raise ValueError(f"Unknown model {model_cfg.name!r}; valid models: {sorted(MODELS)}")
  return MODELS[model_cfg.name](model_cfg, tuple(sample_shape), num_classes, axis_name)
