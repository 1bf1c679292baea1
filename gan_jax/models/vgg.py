"""A frozen VGG19 feature network in Flax, for the perceptual (content) losses of SRGAN/ESRGAN.

``VGG19Features`` is configuration E of Simonyan & Zisserman (2015) without its classifier:
the 16 3x3 convolutions (padding 1, stride 1, with bias) of torchvision's
``vgg19().features``, each followed by ReLU, with a 2x2 max-pool of stride 2 closing each of
the five blocks. Layout is NHWC. Layers are named ``conv{b}_{i}``, ``relu{b}_{i}`` and
``pool{b}`` (block ``b`` = 1..5, ``i`` = 1..2 in blocks 1-2 and 1..4 in blocks 3-5); the
parameter tree is ``params/conv{b}_{i}/{kernel,bias}``. ``TORCHVISION_INDEX`` maps each name
to its index in torchvision's ``features``, so a layer ``name`` here is the output of
``features[:TORCHVISION_INDEX[name] + 1]`` there:

  block  convolutions (index in ``features``)           pool
  1      conv1_1 0, conv1_2 2                           pool1 4
  2      conv2_1 5, conv2_2 7                           pool2 9
  3      conv3_1 10, conv3_2 12, conv3_3 14, conv3_4 16  pool3 18
  4      conv4_1 19, conv4_2 21, conv4_3 23, conv4_4 25  pool4 27
  5      conv5_1 28, conv5_2 30, conv5_3 32, conv5_4 34  pool5 36

and ``relu{b}_{i}`` sits right after ``conv{b}_{i}`` (relu1_2 = 3, relu5_4 = 35).

The layers the super-resolution papers use:

- SRGAN's "VGG54" loss (Ledig et al. 2017, Section 2.2.1, Equation 5: "the feature map
  obtained by the j-th convolution (after activation) before the i-th maxpooling layer")
  is ``relu5_4`` (``features[:36]``); its VGG22 is ``relu2_2``.
- ESRGAN (Wang et al. 2018, Section 3.3) moves the loss before the activation:
  ``conv5_4``, i.e. BasicSR's ``features[:35]`` (``layer_weights={"conv5_4": 1}``).

The network stops at the deepest layer asked for: ``layer="conv5_4"`` runs 16 convolutions,
15 ReLUs and 4 max-pools, never ``relu5_4`` or ``pool5``.

``VGG19Features`` takes input already normalised the way torchvision's ImageNet weights
expect; ``preprocess`` maps gan_jax images in [-1, 1] there (to [0, 1], then per channel
``(v - IMAGENET_MEAN) / IMAGENET_STD``, grayscale repeated to RGB) and ``features`` applies
both, with the variables held constant (``jax.lax.stop_gradient``): gradients flow to the
images only.

Weights are never downloaded: ``load_variables`` reads an ``.npz`` written once by
``python -m gan_jax.models.convert_vgg --src=PATH/vgg19-dcbb9e9d.pth`` from torchvision's
ImageNet VGG19 file, which the user fetches (``MISSING_WEIGHTS_HELP``).

References:
  Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition" (Table 1, configuration E).
  Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and
  Super-Resolution" (feature reconstruction loss, Section 3.2).
  Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
  Adversarial Network" (SRGAN, Section 2.2.1, Equation 5).
  Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks"
  (Section 3.3: perceptual loss before activation).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ENV_WEIGHTS = "GAN_JAX_VGG19"
PTH_NAME = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1
PTH_URL = "https://download.pytorch.org/models/" + PTH_NAME

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (channels, convolutions) of the five blocks of configuration E.
BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))

Variables = dict[str, Any]  # {"params": {"conv1_1": {"kernel", "bias"}, ...}}


def _layer_names() -> tuple[str, ...]:
  names = []
  for b, (_, n) in enumerate(BLOCKS, start=1):
    for i in range(1, n + 1):
      names += [f"conv{b}_{i}", f"relu{b}_{i}"]
    names.append(f"pool{b}")
  return tuple(names)


LAYERS: tuple[str, ...] = _layer_names()  # in order: conv1_1, relu1_1, ..., pool5
TORCHVISION_INDEX: dict[str, int] = {name: k for k, name in enumerate(LAYERS)}
CONVS: tuple[str, ...] = tuple(n for n in LAYERS if n.startswith("conv"))


def _check_layers(layers: Sequence[str]) -> None:
  unknown = [n for n in layers if n not in TORCHVISION_INDEX]
  if unknown or not layers:
    raise ValueError(f"unknown VGG19 layers {unknown or list(layers)}; valid: {list(LAYERS)}")


# ---------------------------------------------------------------------------------------
# Network.


class VGG19Features(nn.Module):
  """VGG19's convolutional part: [B, H, W, 3] normalised images -> activations at a layer.

  Attributes:
    dtype: computation dtype (parameters stay float32); outputs are float32.
    precision: convolution precision (``"highest"`` keeps float32 on GPUs/TPUs).

  ``__call__(x, layer="relu5_4", layers=None)``:
    x: ``[B, H, W, 3]`` input normalised with ``IMAGENET_MEAN`` / ``IMAGENET_STD`` (see
      ``preprocess``); H and W should be multiples of 2 ** (pools passed) (torchvision
      floors odd sizes the same way).
    layer: one name of ``LAYERS``; the activation there is returned.
    layers: several names instead; ``{name: activation}`` is returned (``layer`` unused).
    Computation stops at the deepest layer asked for.

  References:
    Simonyan & Zisserman 2015, Table 1 (configuration E).
  """

  dtype: Any = jnp.float32
  precision: Any = "highest"

  @nn.compact
  def __call__(self, x, layer: str = "relu5_4", layers: Sequence[str] | None = None):
    wanted = (layer,) if layers is None else tuple(layers)
    _check_layers(wanted)
    last = max(TORCHVISION_INDEX[n] for n in wanted)
    out = {}
    x = jnp.asarray(x, self.dtype)
    for name in LAYERS[: last + 1]:
      if name.startswith("conv"):
        b = int(name[4])
        x = nn.Conv(
          BLOCKS[b - 1][0],
          (3, 3),
          padding=((1, 1), (1, 1)),
          dtype=self.dtype,
          param_dtype=jnp.float32,
          precision=self.precision,
          name=name,
        )(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = nn.max_pool(x, (2, 2), (2, 2), "VALID")
      if name in wanted:
        out[name] = x.astype(jnp.float32)
    return out[layer] if layers is None else out


@functools.cache
def variable_shapes() -> dict[str, tuple[int, ...]]:
  """``{"params/conv1_1/kernel": (3, 3, 3, 64), ...}`` without computing anything."""
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  tree = jax.eval_shape(
    functools.partial(VGG19Features().init, layer="pool5"), jax.random.key(0), x
  )
  return {k: tuple(s.shape) for k, s in _flatten(tree).items()}


def random_variables(seed: int = 0) -> Variables:
  """Random variables (He-normal kernels, small random biases), for tests only.

  Features computed with them are not perceptual features; use ``load_variables`` for the
  ImageNet weights.
  """
  rng = np.random.default_rng(seed)
  flat = {}
  for key, shape in variable_shapes().items():
    if key.endswith("kernel"):
      v = rng.normal(size=shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
    else:
      v = 0.1 * rng.normal(size=shape)
    flat[key] = v.astype(np.float32)
  return _unflatten(flat)


# ---------------------------------------------------------------------------------------
# Input handling.


def preprocess(x: jax.Array) -> jax.Array:
  """gan_jax images ``[..., H, W, C]`` in [-1, 1] -> torchvision's ImageNet normalisation.

  ``v = (x + 1) / 2`` in [0, 1], then ``(v - IMAGENET_MEAN) / IMAGENET_STD`` per channel, in
  float32. One channel (grayscale) is repeated to three; other counts than 1 or 3 raise.
  """
  x = jnp.asarray(x, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  elif x.shape[-1] != 3:
    raise ValueError(f"VGG19 takes 1 or 3 channels, got images of shape {x.shape}")
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
  std = jnp.asarray(IMAGENET_STD, jnp.float32)
  return ((x + 1.0) * 0.5 - mean) / std


def features(
  variables: Variables,
  x: jax.Array,
  layers: str | Sequence[str] = "relu5_4",
  *,
  dtype: Any = jnp.float32,
  precision: Any = "highest",
) -> jax.Array | dict[str, jax.Array]:
  """VGG19 activations of gan_jax images in [-1, 1]: ``preprocess`` then ``VGG19Features``.

  The variables are constants here (``stop_gradient``); gradients reach ``x`` only. Under
  ``jax.jit`` make ``layers``, ``dtype`` and ``precision`` static.

  Args:
    variables: ``load_variables()`` (or ``random_variables`` in tests).
    x: ``[B, H, W, C]`` images in [-1, 1], C = 1 or 3.
    layers: a name of ``LAYERS`` (returns that activation) or a sequence of names
      (returns ``{name: activation}``).
    dtype: computation dtype.
    precision: convolution precision.

  Returns:
    float32 ``[B, H', W', C']`` activations (NHWC), one array or a dict by name.
  """
  net = VGG19Features(dtype=dtype, precision=precision)
  variables = jax.lax.stop_gradient(variables)
  if isinstance(layers, str):
    return net.apply(variables, preprocess(x), layer=layers)
  return net.apply(variables, preprocess(x), layers=tuple(layers))


# ---------------------------------------------------------------------------------------
# Weights: conversion from torchvision's state_dict, .npz storage.

MISSING_WEIGHTS_HELP = (
  "Fetch torchvision's ImageNet VGG19 weights file {pth} yourself ({url}; gan_jax never "
  "downloads) and convert it once with "
  "`python -m gan_jax.models.convert_vgg --src=PATH/{pth} --dst={dst}` "
  "(torch is needed only for this command), or point ${env} at a converted .npz."
)


def default_weights_path() -> str:
  """``$GAN_JAX_VGG19`` if set, else ``~/.cache/gan_jax/vgg19.npz``."""
  return os.environ.get(ENV_WEIGHTS) or os.path.join(
    os.path.expanduser("~"), ".cache", "gan_jax", "vgg19.npz"
  )


def convert_state_dict(state_dict: dict[str, Any]) -> Variables:
  """Converts torchvision's ``vgg19().state_dict()`` to this module's variables.

  ``features.{k}.weight`` / ``features.{k}.bias`` become ``conv{b}_{i}/kernel`` (OIHW ->
  HWIO) / ``bias`` for the convolution at index k of ``features`` (``TORCHVISION_INDEX``);
  ``classifier.*`` is ignored. Any other key, or a missing or misshapen convolution, raises.

  Args:
    state_dict: name -> array (numpy arrays, or anything ``np.asarray`` takes).

  Returns:
    ``{"params": {"conv1_1": {"kernel", "bias"}, ...}}`` of float32 numpy arrays.
  """
  params: dict = {}
  unused = []
  for key, value in state_dict.items():
    parts = key.split(".")
    if parts[0] == "classifier":
      continue
    if len(parts) != 3 or parts[0] != "features" or parts[2] not in ("weight", "bias"):
      unused.append(key)
      continue
    k = int(parts[1]) if parts[1].isdigit() else -1
    if not 0 <= k < len(LAYERS) or not LAYERS[k].startswith("conv"):
      unused.append(key)
      continue
    value = np.asarray(value)
    if parts[2] == "weight":
      name, value = "kernel", value.transpose(2, 3, 1, 0) if value.ndim == 4 else value
    else:
      name = "bias"
    params.setdefault(LAYERS[k], {})[name] = np.ascontiguousarray(value, dtype=np.float32)
  if unused:
    raise ValueError(f"state_dict keys not part of VGG19's features: {unused}")
  out = {"params": params}
  check_variables(out)
  return out


def check_variables(variables: Variables) -> None:
  """Raises unless ``variables`` has exactly the network's variables and shapes."""
  want = variable_shapes()
  got = {k: tuple(np.shape(v)) for k, v in _flatten(variables).items()}
  missing = sorted(set(want) - set(got))
  extra = sorted(set(got) - set(want))
  bad = sorted(k for k in set(want) & set(got) if want[k] != got[k])
  if missing or extra or bad:
    raise ValueError(
      "not VGG19 weights: "
      f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
      f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}, "
      f"wrong shapes {[(k, got[k], want[k]) for k in bad[:5]]}"
    )


def save_variables(variables: Variables, path: str) -> None:
  """Writes variables as an ``.npz`` with one entry per leaf, keyed ``params/conv1_1/kernel``."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, **{k: np.asarray(v) for k, v in _flatten(variables).items()})
  os.replace(tmp, path)


def load_variables(path: str | None = None) -> Variables:
  """Reads converted weights, raising FileNotFoundError (with the command) when missing.

  Args:
    path: an ``.npz`` written by ``convert_vgg``; ``None`` for ``default_weights_path()``.

  Returns:
    ``{"params": ...}`` nested dicts of float32 numpy arrays.
  """
  path = os.path.expanduser(path or default_weights_path())
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"VGG19 weights not found at {path}. "
      + MISSING_WEIGHTS_HELP.format(pth=PTH_NAME, url=PTH_URL, dst=path, env=ENV_WEIGHTS)
    )
  with np.load(path) as f:
    variables = _unflatten({k: f[k] for k in f.files})
  check_variables(variables)
  return variables


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      flat.update(_flatten(v, f"{prefix}{k}/"))
    else:
      flat[prefix + k] = v
  return flat


def _unflatten(flat: dict[str, Any]) -> dict:
  tree: dict = {}
  for key, v in flat.items():
    *path, leaf = key.split("/")
    node = tree
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = v
  return tree
