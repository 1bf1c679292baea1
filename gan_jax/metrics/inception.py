"""The FID Inception-v3 network in Flax: pool3 features and logits for FID / IS / KID.

``FIDInceptionV3`` is the network that pytorch-fid 0.3.0 builds with
``pytorch_fid.inception.fid_inception_v3``: torchvision's Inception-v3 with 1008 classes,
no auxiliary head, and the FID-specific blocks of the TensorFlow graph that the original
FID code used (``FIDInceptionA``/``C``/``E_1`` average-pool without counting the padding,
``FIDInceptionE_2`` max-pools in its pool branch). Every convolution is followed by
BatchNorm (epsilon 0.001, inference statistics) and ReLU. Layout is NHWC; the parameter
tree mirrors pytorch-fid's module names (``Mixed_5b/branch1x1/conv/kernel``), so a
PyTorch state_dict converts by renaming and transposing (``convert_state_dict``).

Two resize protocols bring images of any size to 299 x 299 (``RESIZES``):

- ``"pytorch_fid_bilinear"``: what pytorch-fid's ``InceptionV3(resize_input=True,
  normalize_input=True)`` does: ``F.interpolate(mode="bilinear", align_corners=False)``
  without antialiasing, on the float images, computed here as two exact interpolation
  matrices (PyTorch's source-index formula, clamped at the border) applied on device.
- ``"clean_bicubic"``: the clean-fid protocol: images are quantised to uint8
  (``floor(255 * (x + 1) / 2 + 0.5)``), each channel is resized on the host by PIL's
  bicubic filter on float32 ("F" mode; PIL antialiases when it downsamples), clipped to
  [0, 255] and mapped back to [-1, 1] by ``v / 127.5 - 1``.

Weights are never downloaded: ``load_variables`` reads an ``.npz`` written by
``python -m gan_jax.metrics.convert_inception`` (see ``MISSING_WEIGHTS_HELP``).

References:
  Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision"
  (Inception-v3, Figures 5-7 and Table 1).
  Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
  Nash Equilibrium" (FID, Section 4, Equation 6: statistics of the pool3 features).
  Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation"
  (clean-fid, Section 3: antialiased PIL bicubic resizing of quantised images).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

INPUT_SIZE = 299
POOL_DIM = 2048
NUM_CLASSES = 1008
BN_EPSILON = 1e-3

ENV_WEIGHTS = "GAN_JAX_INCEPTION"
PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PTH_NAME

Variables = dict[str, Any]  # {"params": ..., "batch_stats": ...}, nested dicts of arrays

_AXIS = "batch"


# ---------------------------------------------------------------------------------------
# Network.


class BasicConv(nn.Module):
  """Convolution without bias, BatchNorm (eps 0.001, running statistics), ReLU."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)
  precision: Any = None

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(
      self.features,
      self.kernel,
      strides=(self.stride, self.stride),
      padding=((ph, ph), (pw, pw)),
      use_bias=False,
      precision=self.precision,
      name="conv",
    )(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  # FID blocks: count_include_pad=False, unlike torchvision's InceptionA/C/E.
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2), "VALID")


class InceptionA(nn.Module):
  """35 x 35 block (pytorch-fid's FIDInceptionA): 1x1, 5x5, double 3x3 and pool branches."""

  pool_features: int
  precision: Any = None

  @nn.compact
  def __call__(self, x):
    c = lambda f, k, p=(0, 0), name=None: BasicConv(
      f, k, padding=p, precision=self.precision, name=name
    )
    b1 = c(64, (1, 1), name="branch1x1")(x)
    b5 = c(48, (1, 1), name="branch5x5_1")(x)
    b5 = c(64, (5, 5), (2, 2), name="branch5x5_2")(b5)
    b3 = c(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = c(96, (3, 3), (1, 1), name="branch3x3dbl_2")(b3)
    b3 = c(96, (3, 3), (1, 1), name="branch3x3dbl_3")(b3)
    bp = c(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """35 -> 17 grid reduction (torchvision's InceptionB, Mixed_6a)."""

  precision: Any = None

  @nn.compact
  def __call__(self, x):
    p = self.precision
    b3 = BasicConv(384, (3, 3), stride=2, precision=p, name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), precision=p, name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), precision=p, name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), stride=2, precision=p, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  """17 x 17 block with factorised 7x7 convolutions (pytorch-fid's FIDInceptionC)."""

  channels_7x7: int
  precision: Any = None

  @nn.compact
  def __call__(self, x):
    c = lambda f, k, p=(0, 0), name=None: BasicConv(
      f, k, padding=p, precision=self.precision, name=name
    )
    c7 = self.channels_7x7
    b1 = c(192, (1, 1), name="branch1x1")(x)
    b7 = c(c7, (1, 1), name="branch7x7_1")(x)
    b7 = c(c7, (1, 7), (0, 3), name="branch7x7_2")(b7)
    b7 = c(192, (7, 1), (3, 0), name="branch7x7_3")(b7)
    bd = c(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = c(c7, (7, 1), (3, 0), name="branch7x7dbl_2")(bd)
    bd = c(c7, (1, 7), (0, 3), name="branch7x7dbl_3")(bd)
    bd = c(c7, (7, 1), (3, 0), name="branch7x7dbl_4")(bd)
    bd = c(192, (1, 7), (0, 3), name="branch7x7dbl_5")(bd)
    bp = c(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """17 -> 8 grid reduction (torchvision's InceptionD, Mixed_7a)."""

  precision: Any = None

  @nn.compact
  def __call__(self, x):
    c = lambda f, k, s=1, p=(0, 0), name=None: BasicConv(
      f, k, stride=s, padding=p, precision=self.precision, name=name
    )
    b3 = c(192, (1, 1), name="branch3x3_1")(x)
    b3 = c(320, (3, 3), 2, name="branch3x3_2")(b3)
    b7 = c(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = c(192, (1, 7), 1, (0, 3), name="branch7x7x3_2")(b7)
    b7 = c(192, (7, 1), 1, (3, 0), name="branch7x7x3_3")(b7)
    b7 = c(192, (3, 3), 2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """8 x 8 block with expanded filter banks (FIDInceptionE_1 or, with max_pool, E_2)."""

  max_pool: bool = False
  precision: Any = None

  @nn.compact
  def __call__(self, x):
    c = lambda f, k, p=(0, 0), name=None: BasicConv(
      f, k, padding=p, precision=self.precision, name=name
    )
    b1 = c(320, (1, 1), name="branch1x1")(x)
    b3 = c(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate(
      [
        c(384, (1, 3), (0, 1), name="branch3x3_2a")(b3),
        c(384, (3, 1), (1, 0), name="branch3x3_2b")(b3),
      ],
      axis=-1,
    )
    bd = c(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = c(384, (3, 3), (1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate(
      [
        c(384, (1, 3), (0, 1), name="branch3x3dbl_3a")(bd),
        c(384, (3, 1), (1, 0), name="branch3x3dbl_3b")(bd),
      ],
      axis=-1,
    )
    if self.max_pool:  # FIDInceptionE_2: the TF graph's last block max-pools here.
      pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = c(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """pytorch-fid's FID Inception-v3: [B, 299, 299, 3] in [-1, 1] -> (pool3, logits).

  Attributes:
    precision: matmul/convolution precision (``"highest"`` keeps float32 on GPUs/TPUs).

  Returns (from ``__call__``):
    ``(pool [B, 2048], logits [B, 1008])`` float32: the global average pool of Mixed_7c
    (pool3, the FID features) and the fc layer applied to it (the Inception Score logits).

  References:
    Szegedy et al. 2016, Table 1 (the layer sequence); Heusel et al. 2017, Section 4.
  """

  precision: Any = None

  @nn.compact
  def __call__(self, x):
    p = self.precision
    x = BasicConv(32, (3, 3), stride=2, precision=p, name="Conv2d_1a_3x3")(x)
    x = BasicConv(32, (3, 3), precision=p, name="Conv2d_2a_3x3")(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), precision=p, name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv(80, (1, 1), precision=p, name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), precision=p, name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)  # [B, 35, 35, 192]
    x = InceptionA(32, precision=p, name="Mixed_5b")(x)
    x = InceptionA(64, precision=p, name="Mixed_5c")(x)
    x = InceptionA(64, precision=p, name="Mixed_5d")(x)
    x = InceptionB(precision=p, name="Mixed_6a")(x)  # [B, 17, 17, 768]
    x = InceptionC(128, precision=p, name="Mixed_6b")(x)
    x = InceptionC(160, precision=p, name="Mixed_6c")(x)
    x = InceptionC(160, precision=p, name="Mixed_6d")(x)
    x = InceptionC(192, precision=p, name="Mixed_6e")(x)
    x = InceptionD(precision=p, name="Mixed_7a")(x)  # [B, 8, 8, 1280]
    x = InceptionE(max_pool=False, precision=p, name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, precision=p, name="Mixed_7c")(x)  # [B, 8, 8, 2048]
    pool = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(NUM_CLASSES, precision=p, name="fc")(pool)
    return pool, logits


@functools.cache
def variable_shapes() -> dict[str, tuple[int, ...]]:
  """``{"params/Mixed_5b/branch1x1/conv/kernel": shape, ...}`` without computing anything."""
  x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
  tree = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), x)
  return {k: tuple(s.shape) for k, s in _flatten(tree).items()}


def random_variables(seed: int = 0) -> Variables:
  """Random network variables (He-scaled kernels, positive BatchNorm scales and variances).

  For tests and smoke runs of the evaluation pipeline without the published weights; the
  numbers it gives are not FIDs.
  """
  rng = np.random.default_rng(seed)
  out: dict = {}
  for key, shape in variable_shapes().items():
    *path, leaf = key.split("/")
    node = out
    for part in path:
      node = node.setdefault(part, {})
    if leaf == "kernel":
      v = rng.normal(size=shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
    elif leaf in ("scale", "var"):
      v = 0.5 + rng.uniform(size=shape)
    else:
      v = 0.2 * rng.normal(size=shape)
    node[leaf] = v.astype(np.float32)
  return out


# ---------------------------------------------------------------------------------------
# Weights: conversion from a PyTorch state_dict, .npz storage.

MISSING_WEIGHTS_HELP = (
  "Download pytorch-fid's weights file {pth} (GitHub release of mseitzer/pytorch-fid: "
  "{url}) and convert it once with\n"
  "  python -m gan_jax.metrics.convert_inception --src=PATH/{pth} --dst={dst}\n"
  "(torch is needed only for this command), or point ${env} at a converted file."
)


def default_weights_path() -> str:
  """``$GAN_JAX_INCEPTION`` if set, else ``~/.cache/gan_jax/inception_fid.npz``."""
  return os.environ.get(ENV_WEIGHTS) or os.path.join(
    os.path.expanduser("~"), ".cache", "gan_jax", "inception_fid.npz"
  )


def convert_state_dict(state_dict: dict[str, Any]) -> Variables:
  """Converts pytorch-fid's FID Inception state_dict to this module's variables.

  Conv kernels go from PyTorch OIHW to Flax HWIO, the fc weight is transposed, BatchNorm
  weight/bias become scale/bias and its running mean/var the ``batch_stats``. Every key
  of the state_dict must be used (``num_batches_tracked`` is dropped) and every variable
  of the network filled with the right shape, or this raises.

  Args:
    state_dict: name -> array (numpy arrays, or anything ``np.asarray`` takes), as in
      ``fid_inception_v3().state_dict()`` or the published ``.pth`` file.

  Returns:
    ``{"params": ..., "batch_stats": ...}`` nested dicts of float32 numpy arrays.
  """
  out: Variables = {"params": {}, "batch_stats": {}}
  unused = []
  for key, value in state_dict.items():
    *path, module, leaf = key.split(".")
    value = np.asarray(value)
    if leaf == "num_batches_tracked":
      continue
    if module == "conv" and leaf == "weight" and value.ndim == 4:
      col, name, value = "params", "kernel", value.transpose(2, 3, 1, 0)
    elif module == "bn" and leaf in ("weight", "bias"):
      col, name = "params", {"weight": "scale", "bias": "bias"}[leaf]
    elif module == "bn" and leaf in ("running_mean", "running_var"):
      col, name = "batch_stats", {"running_mean": "mean", "running_var": "var"}[leaf]
    elif not path and module == "fc" and leaf in ("weight", "bias"):
      col, name = "params", {"weight": "kernel", "bias": "bias"}[leaf]
      value = value.T if leaf == "weight" else value
    else:
      unused.append(key)
      continue
    node = out[col]
    for part in [*path, module]:
      node = node.setdefault(part, {})
    node[name] = np.ascontiguousarray(value, dtype=np.float32)
  if unused:
    raise ValueError(f"state_dict keys not part of the FID Inception network: {unused}")
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
      "not FID Inception-v3 weights: "
      f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
      f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}, "
      f"wrong shapes {[(k, got[k], want[k]) for k in bad[:5]]}"
    )


def save_variables(variables: Variables, path: str) -> None:
  """Writes variables as an ``.npz`` with one entry per leaf, keyed ``params/a/b/kernel``."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, **{k: np.asarray(v) for k, v in _flatten(variables).items()})
  os.replace(tmp, path)


def load_variables(path: str | None = None) -> Variables:
  """Reads converted weights, raising a clear error (with the command) when missing.

  Args:
    path: an ``.npz`` written by ``convert_inception``; ``None`` for
      ``default_weights_path()``.

  Returns:
    ``{"params": ..., "batch_stats": ...}`` nested dicts of float32 numpy arrays.
  """
  path = path or default_weights_path()
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"FID Inception weights not found at {path}. "
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


# ---------------------------------------------------------------------------------------
# Resizing to 299 x 299.


def bilinear_matrix(in_size: int, out_size: int = INPUT_SIZE) -> np.ndarray:
  """``[out, in]`` matrix of PyTorch's bilinear interpolation, align_corners=False.

  Row ``o`` samples the source at ``s = max(0, (o + 0.5) * in / out - 0.5)`` and mixes
  pixels ``floor(s)`` and ``min(floor(s) + 1, in - 1)`` by ``1 - frac(s)`` and
  ``frac(s)``; no antialiasing, so downsampling skips pixels as PyTorch does. The
  arithmetic copies PyTorch's CPU kernel bit for bit: float32 ``scale = in / out`` and
  ``s`` rounded once to float32 (a fused multiply-add), giving the same weights.

  Args:
    in_size: source length along one axis.
    out_size: target length (299).

  Returns:
    ``[out_size, in_size]`` float32 matrix whose rows sum to 1.
  """
  scale = np.float32(in_size) / np.float32(out_size)
  # Exact in float64 (24-bit scale times a short integer + 0.5), then one rounding.
  src = (np.float64(scale) * (np.arange(out_size) + 0.5) - 0.5).astype(np.float32)
  src = np.maximum(src, np.float32(0))
  i0 = np.minimum(src.astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  lam1 = (src - i0.astype(np.float32)).astype(np.float32)
  m = np.zeros((out_size, in_size), np.float32)
  rows = np.arange(out_size)
  np.add.at(m, (rows, i0), np.float32(1) - lam1)
  np.add.at(m, (rows, i1), lam1)
  return m


def resize_bilinear(images: jax.Array, precision: Any = "highest") -> jax.Array:
  """pytorch-fid's resize: ``[B, H, W, C] -> [B, 299, 299, C]``, bilinear, no antialias."""
  _, h, w, _ = images.shape
  mh = jnp.asarray(bilinear_matrix(h))
  mw = jnp.asarray(bilinear_matrix(w))
  return jnp.einsum("oh,bhwc,pw->bopc", mh, images, mw, precision=precision)


def resize_clean_bicubic(images: np.ndarray) -> np.ndarray:
  """clean-fid's resize on the host: uint8 quantisation, PIL bicubic per channel.

  Args:
    images: ``[B, H, W, C]`` float in [-1, 1].

  Returns:
    ``[B, 299, 299, C]`` float32 in [-1, 1].

  References:
    Parmar et al. 2022 (clean-fid), Section 3 and its "clean" resizer: PIL bicubic on
    float32 channels of uint8 images, then clipped to [0, 255].
  """
  from PIL import Image

  q = np.floor((np.asarray(images, np.float32) + 1.0) * 127.5 + 0.5)
  q = np.clip(q, 0, 255).astype(np.uint8).astype(np.float32)
  out = np.empty((q.shape[0], INPUT_SIZE, INPUT_SIZE, q.shape[3]), np.float32)
  for i in range(q.shape[0]):
    for c in range(q.shape[3]):
      channel = Image.fromarray(q[i, :, :, c])  # mode "F"
      resized = channel.resize((INPUT_SIZE, INPUT_SIZE), resample=Image.Resampling.BICUBIC)
      out[i, :, :, c] = np.asarray(resized, np.float32)
  return np.clip(out, 0.0, 255.0) / np.float32(127.5) - np.float32(1.0)


RESIZES = ("pytorch_fid_bilinear", "clean_bicubic")


# ---------------------------------------------------------------------------------------
# Batched, data-parallel feature extraction.


@dataclasses.dataclass(frozen=True)
class InceptionExtractor:
  """Jitted FID Inception features over a 1-D mesh of this process's local devices.

  Build it with ``InceptionExtractor.load(path, resize)`` (converted weights file) or
  ``InceptionExtractor.from_variables(variables, resize)``; call ``.features``.
  """

  variables: Variables  # replicated on the mesh
  resize: str
  mesh: Mesh
  precision: Any
  _network: Callable = dataclasses.field(repr=False)
  _bilinear: Callable = dataclasses.field(repr=False)

  @classmethod
  def load(
    cls,
    path: str | None = None,
    resize: str = "pytorch_fid_bilinear",
    devices=None,
    precision: Any = "highest",
  ) -> InceptionExtractor:
    """Loads converted weights (``default_weights_path()`` when ``path`` is None)."""
    return cls.from_variables(load_variables(path), resize, devices, precision)

  @classmethod
  def from_variables(
    cls,
    variables: Variables,
    resize: str = "pytorch_fid_bilinear",
    devices=None,
    precision: Any = "highest",
  ) -> InceptionExtractor:
    """Builds the extractor from a ``{"params", "batch_stats"}`` dict (e.g. converted).

    Args:
      variables: network variables, as from ``convert_state_dict`` or ``load_variables``.
      resize: one of ``RESIZES``.
      devices: devices to shard the batch over; default ``jax.local_devices()``.
      precision: convolution / matmul precision. ``"highest"`` (the default) keeps
        float32 arithmetic on GPUs / TPUs, whose default may use TF32 or bfloat16
        passes; on CPU every setting computes in float32.

    Returns:
      An ``InceptionExtractor``.
    """
    if resize not in RESIZES:
      raise ValueError(f"unknown resize {resize!r}; valid: {list(RESIZES)}")
    check_variables(variables)
    devices = np.asarray(devices if devices is not None else jax.local_devices())
    mesh = Mesh(devices.reshape(-1), (_AXIS,))
    network, bilinear = _jitted(mesh, precision)
    variables = jax.device_put(
      jax.tree.map(lambda a: np.asarray(a, np.float32), variables), NamedSharding(mesh, P())
    )
    return cls(variables, resize, mesh, precision, network, bilinear)

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  def features(
    self,
    images: np.ndarray | jax.Array | Iterable[np.ndarray | jax.Array],
    batch_size: int = 64,
    log_every: int = 0,
  ) -> tuple[np.ndarray, np.ndarray]:
    """Pool3 features and logits of images, batched over the local devices.

    Args:
      images: ``[N, H, W, C]`` float in [-1, 1] (C = 3, or 1 for grayscale which is
        repeated to 3 channels), or an iterable of such batches of any sizes.
      batch_size: images per device call; rounded up to a multiple of the device count.
        The last batch is zero-padded and the padding dropped from the result.
      log_every: log progress every this many batches (0: never).

    Returns:
      ``(pool [N, 2048] float64, logits [N, 1008] float64)``.
    """
    n_dev = self.num_devices
    batch_size = -(-max(1, batch_size) // n_dev) * n_dev
    sharding = NamedSharding(self.mesh, P(_AXIS))
    pools, logits, done = [], [], 0
    pending = None  # the previous batch's outputs, fetched after the next is dispatched

    def fetch(p, lg, n_real):
      pools.append(np.asarray(p, np.float64)[:n_real])
      logits.append(np.asarray(lg, np.float64)[:n_real])

    from gan_jax import progress

    total = len(images) if hasattr(images, "shape") else None
    pbar = progress.bar(total=total, desc="Inception features", unit="img")
    for i, (batch, n_real) in enumerate(_fixed_batches(images, batch_size)):
      if self.resize == "clean_bicubic":
        x = jax.device_put(resize_clean_bicubic(batch), sharding)
      else:
        x = self._bilinear(jax.device_put(batch, sharding))
      out = (*self._network(self.variables, x), n_real)
      if pending is not None:
        fetch(*pending)
      pending = out
      done += n_real
      pbar.update(n_real)
      if log_every and (i + 1) % log_every == 0:
        logging.info("inception features: %d images", done)
    if pending is not None:
      fetch(*pending)
    pbar.close()
    if not pools:
      return np.zeros((0, POOL_DIM)), np.zeros((0, NUM_CLASSES))
    return np.concatenate(pools), np.concatenate(logits)


@functools.cache
def _jitted(mesh: Mesh, precision: Any) -> tuple[Callable, Callable]:
  """The network and the bilinear resize, jitted once per mesh (shared by extractors)."""
  replicated = NamedSharding(mesh, P())
  sharded = NamedSharding(mesh, P(_AXIS))
  net = FIDInceptionV3(precision=precision)
  network = jax.jit(
    lambda v, x: net.apply(v, x),
    in_shardings=(replicated, sharded),
    out_shardings=(sharded, sharded),
  )
  bilinear = jax.jit(
    lambda x: resize_bilinear(x, precision), in_shardings=sharded, out_shardings=sharded
  )
  return network, bilinear


def _fixed_batches(images, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
  """Re-chunks an array or an iterable of batches into ``[batch_size, H, W, 3]`` arrays.

  Yields ``(batch, n_real)``: the last batch is zero-padded to ``batch_size``.
  """
  if isinstance(images, np.ndarray | jax.Array):
    images = [images]
  buf: list[np.ndarray] = []
  count = 0
  for chunk in images:
    chunk = _check_images(np.asarray(chunk))
    buf.append(chunk)
    count += chunk.shape[0]
    while count >= batch_size:
      allx = np.concatenate(buf) if len(buf) > 1 else buf[0]
      yield allx[:batch_size], batch_size
      buf, count = [allx[batch_size:]], count - batch_size
  if count:
    allx = np.concatenate(buf)
    pad = np.zeros((batch_size - count, *allx.shape[1:]), allx.dtype)
    yield np.concatenate([allx, pad]), count


def _check_images(x: np.ndarray) -> np.ndarray:
  if x.ndim != 4 or x.shape[-1] not in (1, 3):
    raise ValueError(f"images must be [N, H, W, C] with C in (1, 3), got shape {x.shape}")
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"images must be float in [-1, 1], got dtype {x.dtype}")
  if x.size and (x.min() < -1.001 or x.max() > 1.001):
    raise ValueError(f"images must lie in [-1, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1)
  return x.astype(np.float32, copy=False)
