"""Datasets that ship with a dependency or are generated: nothing is downloaded.

- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits, resized to
  ``data.resolution``, labels 0-9 kept.
- ``stacked_digits``: three independently drawn digits stacked as the R, G, B channels
  (1,000 modes, the Stacked MNIST test of mode collapse); label ``100 d_R + 10 d_G + d_B``.
- ``lfw``: the 100 face crops (25x25 grayscale) of scikit-image's LFW subset.
- ``ring`` / ``grid``: 2-D Gaussian mixtures of the PacGAN and VEEGAN papers (8 modes on
  the unit circle with sigma 0.01; 25 modes on a 5x5 grid with sigma 0.05).
- ``synthetic``: uniform noise images of ``data.resolution`` and ``data.channels`` with
  ``data.num_classes`` random labels, for benchmarks and shape checks (nothing to learn).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from gan_jax.metrics import mixtures


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What the models need to know about a dataset."""

  sample_shape: tuple[int, ...]  # (H, W, C) for images, (2,) for points; the target if paired.
  num_classes: int  # 0 when there are no labels.
  kind: str  # "image", "points" or "paired" (batches {"input", "target", "label"}).
  input_shape: tuple[int, ...] | None = None  # (H, W, C_in) of a paired input; None otherwise.


class Source:
  """Base class: a deterministic function from (step, n_critic) to a local batch."""

  spec: DataSpec

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def close(self) -> None:
    """Releases threads and open streams; ``batch`` may reopen them."""


class ShardedSource(Source):
  """A source whose global batch of a step is split over processes: each process reads
  its share ``[offset, offset + local_batch)`` of the global batch."""

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    self.global_batch = data_cfg.batch_size
    self.local_batch = data_cfg.batch_size // process_count
    self.offset = process_index * self.local_batch
    self.seed = seed

  def _share(self, a: np.ndarray) -> np.ndarray:
    """This process's share ``[:, offset : offset + B_local]`` of ``[n_critic, B, ...]``."""
    return a[:, self.offset : self.offset + self.local_batch]

  def _positions(self, step: int, n_critic: int) -> np.ndarray:
    """This process's positions in the stream of examples: ``[n_critic, B_local]``."""
    start = step * n_critic * self.global_batch
    return self._share(start + np.arange(n_critic * self.global_batch).reshape(n_critic, -1))


def _resize(images: np.ndarray, resolution: int) -> np.ndarray:
  """Bilinearly resizes ``[N, h, w, C]`` images to ``[N, resolution, resolution, C]``."""
  import jax

  n, _, _, c = images.shape
  out = jax.image.resize(images, (n, resolution, resolution, c), "linear", antialias=True)
  return np.asarray(out, np.float32)


class ArraySource(Source):
  """An in-memory dataset read in per-epoch permutations seeded by (seed, epoch)."""

  def __init__(
    self,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    data_cfg,
    seed: int,
    process_index: int,
    process_count: int,
  ):
    self.images = np.ascontiguousarray(images, np.float32)  # [N, ...] in [-1, 1]
    self.labels = labels.astype(np.int32)
    self.global_batch = data_cfg.batch_size
    self.local_batch = data_cfg.batch_size // process_count
    self.offset = process_index * self.local_batch
    self.seed = seed
    kind = "points" if self.images.ndim == 2 else "image"
    self.spec = DataSpec(tuple(self.images.shape[1:]), num_classes, kind)
    self.flip = bool(data_cfg.get("random_flip", False)) and kind == "image"

  @functools.lru_cache(maxsize=4)  # noqa: B019 (a handful of epochs, freed with the source)
  def _perm(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    n = len(self.images)
    start = step * n_critic * self.global_batch
    pos = start + np.arange(n_critic * self.global_batch).reshape(n_critic, -1)
    pos = pos[:, self.offset : self.offset + self.local_batch]  # this process's share
    idx = np.empty_like(pos)
    for epoch in np.unique(pos // n):
      sel = pos // n == epoch
      idx[sel] = self._perm(int(epoch))[pos[sel] % n]
    images = self.images[idx]
    if self.flip:  # Drawn for the global batch so process shards compose exactly.
      rng = np.random.default_rng([self.seed, step, 1])
      mask = rng.random((n_critic, self.global_batch)) < 0.5
      mask = mask[:, self.offset : self.offset + self.local_batch]
      images[mask] = images[mask][:, :, ::-1]
    return {"image": images, "label": self.labels[idx]}


class MixtureSource(Source):
  """Fresh samples of a 2-D Gaussian mixture for every step."""

  def __init__(self, name: str, data_cfg, seed: int, process_index: int, process_count: int):
    self.name = name
    self.global_batch = data_cfg.batch_size
    self.local_batch = data_cfg.batch_size // process_count
    self.offset = process_index * self.local_batch
    self.seed = seed
    self.spec = DataSpec((2,), 0, "points")

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    pts = mixtures.sample_mixture(self.name, n_critic * self.global_batch, self.seed, step)
    pts = pts.reshape(n_critic, self.global_batch, 2)[
      :, self.offset : self.offset + self.local_batch
    ]
    return {"image": pts, "label": np.zeros(pts.shape[:2], np.int32)}


class StackedDigitsSource(Source):
  """Three independently drawn digits stacked as channels: ``[R, R, 3]``, 1,000 classes.

  Every image of every step is a fresh draw (with replacement) of three of the 1,797 digits,
  from ``np.random.default_rng([seed, step])`` over the global batch, so a batch is a pure
  function of (seed, step) and process shards compose exactly. The label is
  ``100 d_R + 10 d_G + d_B``; a conditional model may use it (1,000 classes), but the mode
  count of ``gan_jax.metrics.digits`` only measures collapse for unconditional generators.

  References:
    Metz et al. 2017, "Unrolled Generative Adversarial Networks", Section 3.3.1.
  """

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    self.images, self.labels = load_digits(data_cfg.resolution)  # [1797, R, R, 1], [1797]
    self.global_batch = data_cfg.batch_size
    self.local_batch = data_cfg.batch_size // process_count
    self.offset = process_index * self.local_batch
    self.seed = seed
    r = data_cfg.resolution
    self.spec = DataSpec((r, r, 3), 1000, "image")

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step])
    idx = rng.integers(0, len(self.images), size=(n_critic, self.global_batch, 3))
    idx = idx[:, self.offset : self.offset + self.local_batch]  # this process's share
    images = np.concatenate([self.images[idx[..., c]] for c in range(3)], axis=-1)
    d = self.labels[idx]
    labels = 100 * d[..., 0] + 10 * d[..., 1] + d[..., 2]
    return {"image": images, "label": labels.astype(np.int32)}


def load_digits(resolution: int) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's digits as ``[1797, R, R, 1]`` floats in [-1, 1] and labels."""
  from sklearn.datasets import load_digits as sk_digits

  d = sk_digits()
  images = (d.images.astype(np.float32) / 8.0 - 1.0)[..., None]  # pixel range is 0..16
  if resolution != 8:
    images = np.clip(_resize(images, resolution), -1.0, 1.0)
  return images, d.target


def load_lfw(resolution: int) -> np.ndarray:
  """The 100 faces of scikit-image's LFW subset as ``[100, R, R, 1]`` in [-1, 1]."""
  from skimage.data import lfw_subset

  faces = lfw_subset()[:100].astype(np.float32)  # the first 100 are faces
  images = (faces * 2.0 - 1.0)[..., None]
  if resolution != images.shape[1]:
    images = np.clip(_resize(images, resolution), -1.0, 1.0)
  return images


def _digits(data_cfg, seed, pi, pc):
  images, labels = load_digits(data_cfg.resolution)
  return ArraySource(images, labels, 10, data_cfg, seed, pi, pc)


def _lfw(data_cfg, seed, pi, pc):
  images = load_lfw(data_cfg.resolution)
  return ArraySource(images, np.zeros(len(images)), 0, data_cfg, seed, pi, pc)


def _synthetic(data_cfg, seed, pi, pc):
  r, c = data_cfg.resolution, data_cfg.get("channels", 3)
  n = max(2 * data_cfg.batch_size, 256)
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1, 1, size=(n, r, r, c)).astype(np.float32)
  num_classes = data_cfg.get("num_classes", 0)
  labels = rng.integers(0, max(num_classes, 1), size=n)
  return ArraySource(images, labels, num_classes, data_cfg, seed, pi, pc)


EMBEDDED: dict[str, Callable[..., Source]] = {
  "digits": _digits,
  "stacked_digits": StackedDigitsSource,
  "lfw": _lfw,
  "ring": functools.partial(MixtureSource, "ring"),
  "grid": functools.partial(MixtureSource, "grid"),
  "synthetic": _synthetic,
}
