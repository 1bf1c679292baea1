"""Tests for gan_jax.data: embedded datasets, determinism, epochs and multi-process shards."""

from __future__ import annotations

import functools
import math

import ml_collections
import numpy as np
import pytest

from gan_jax.data import DATASETS, DataSpec, build_source
from gan_jax.data.embedded import load_digits
from gan_jax.metrics import mixtures

N_DIGITS = 1797


def _cfg(
  name: str = "digits", batch_size: int = 64, resolution: int = 8, random_flip: bool = False
) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
    {
      "name": name,
      "batch_size": batch_size,
      "resolution": resolution,
      "random_flip": random_flip,
    }
  )


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
  """Independent reference: sklearn's digits mapped from 0..16 to [-1, 1]."""
  from sklearn.datasets import load_digits as sk_load_digits

  d = sk_load_digits()
  return d.images.astype(np.float64) / 8.0 - 1.0, d.target


def _keys(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
  """One hashable key per (label, image) pair, for multiset comparisons."""
  images = np.ascontiguousarray(images, np.float32).reshape(len(images), -1)
  labels = np.asarray(labels, np.int64)
  return [labels[i].tobytes() + images[i].tobytes() for i in range(len(images))]


def _dataset_keys(resolution: int = 8) -> list[bytes]:
  if resolution == 8:
    images, labels = _sklearn_digits()
  else:
    images, labels = load_digits(resolution)
  return sorted(_keys(images, labels))


def _flat(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Merges the n_critic axis into the batch axis."""
  image, label = batch["image"], batch["label"]
  return image.reshape(-1, *image.shape[2:]), label.reshape(-1)


# ------------------------------------------------------------------------------------------
# Datasets.


@pytest.mark.parametrize("resolution", (8, 16, 32))
def test_digits_batch_and_spec(resolution):
  source = build_source(_cfg(batch_size=16, resolution=resolution), seed=0)
  assert source.spec == DataSpec((resolution, resolution, 1), 10, "image")
  batch = source.batch(5, n_critic=3)
  image, label = batch["image"], batch["label"]
  assert image.shape == (3, 16, resolution, resolution, 1)
  assert image.dtype == np.float32
  assert image.min() >= -1.0 and image.max() <= 1.0
  assert image.max() > 0.5 and image.min() == -1.0  # ink on a blank background
  assert label.shape == (3, 16)
  assert np.issubdtype(label.dtype, np.integer)
  assert label.min() >= 0 and label.max() <= 9
  # Every (image, label) pair is one of the dataset's.
  dataset = set(_dataset_keys(resolution))
  assert all(k in dataset for k in _keys(*_flat(batch)))


def test_digits_values_match_sklearn():
  images, labels = load_digits(8)
  ref_images, ref_labels = _sklearn_digits()
  np.testing.assert_array_equal(labels, ref_labels)
  assert images.shape == (N_DIGITS, 8, 8, 1)
  np.testing.assert_allclose(images[..., 0], ref_images, atol=1e-7)


@pytest.mark.parametrize("resolution", (16, 32))
def test_resized_digits_resemble_originals(resolution):
  images, labels = load_digits(resolution)
  ref, ref_labels = _sklearn_digits()
  np.testing.assert_array_equal(labels, ref_labels)
  f = resolution // 8
  down = images[..., 0].astype(np.float64).reshape(N_DIGITS, 8, f, 8, f).mean(axis=(2, 4))
  a = down.reshape(N_DIGITS, -1)
  b = ref.reshape(N_DIGITS, -1)
  a = a - a.mean(1, keepdims=True)
  b = b - b.mean(1, keepdims=True)
  corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
  assert corr.min() > 0.9, corr.min()
  assert corr.mean() > 0.95, corr.mean()
  # Not a transposed or mirrored copy.
  bt = ref.transpose(0, 2, 1).reshape(N_DIGITS, -1)
  bt = bt - bt.mean(1, keepdims=True)
  corr_t = (a * bt).sum(1) / np.sqrt((a * a).sum(1) * (bt * bt).sum(1))
  assert corr_t.mean() < corr.mean() - 0.2
  # The source serves exactly these images: one 1797-image step is the whole dataset.
  source = build_source(_cfg(batch_size=N_DIGITS, resolution=resolution), seed=3)
  assert sorted(_keys(*_flat(source.batch(0)))) == _dataset_keys(resolution)


def test_lfw():
  from skimage.data import lfw_subset

  source = build_source(_cfg("lfw", batch_size=100, resolution=32), seed=0)
  assert source.spec == DataSpec((32, 32, 1), 0, "image")
  image, label = _flat(source.batch(0))
  assert image.shape == (100, 32, 32, 1) and image.dtype == np.float32
  assert image.min() >= -1.0 and image.max() <= 1.0
  np.testing.assert_array_equal(label, 0)
  assert len(set(_keys(image, label))) == 100  # one epoch: 100 different faces

  # At the native 25x25 the epoch is exactly the 100 faces (the first half of the subset).
  source = build_source(_cfg("lfw", batch_size=100, resolution=25), seed=0)
  assert source.spec == DataSpec((25, 25, 1), 0, "image")
  image, label = _flat(source.batch(0))
  faces = lfw_subset()[:100].astype(np.float32) * 2.0 - 1.0
  assert sorted(_keys(image, label)) == sorted(_keys(faces, np.zeros(100)))


@pytest.mark.parametrize("name", ("ring", "grid"))
def test_mixture_sources(name):
  means, sigma = mixtures.mixture_spec(name)
  source = build_source(_cfg(name, batch_size=1000), seed=0)
  assert source.spec == DataSpec((2,), 0, "points")
  batch = source.batch(3, n_critic=2)
  assert batch["image"].shape == (2, 1000, 2) and batch["image"].dtype == np.float32
  assert batch["label"].shape == (2, 1000)
  np.testing.assert_array_equal(batch["label"], 0)
  pts = batch["image"].reshape(-1, 2).astype(np.float64)
  d2 = ((pts[:, None, :] - means[None].astype(np.float64)) ** 2).sum(-1)
  nearest, dist = d2.argmin(1), np.sqrt(d2.min(1))
  assert dist.max() < 6 * sigma
  # Isotropic noise of the mixture's sigma; every mode used about equally often.
  resid = pts - means[nearest]
  assert abs(resid.std() / sigma - 1) < 0.1
  counts = np.bincount(nearest, minlength=len(means))
  expected = len(pts) / len(means)
  assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected
  metrics = mixtures.mode_metrics(pts, means, sigma)
  assert metrics["modes_covered"] == len(means)


# ------------------------------------------------------------------------------------------
# Determinism: the batch is a pure function of (seed, step).


@pytest.mark.parametrize("name", ("digits", "ring", "grid"))
def test_batches_are_a_function_of_seed_and_step(name):
  cfg = _cfg(name, batch_size=32)
  s1 = build_source(cfg, seed=5)
  s2 = build_source(cfg, seed=5)
  first = s1.batch(7, n_critic=2)
  for step in (0, 100, 3):  # other calls in between change nothing
    s2.batch(step, n_critic=2)
  for key in ("image", "label"):
    np.testing.assert_array_equal(s2.batch(7, n_critic=2)[key], first[key])
    np.testing.assert_array_equal(s1.batch(7, n_critic=2)[key], first[key])
  assert not np.array_equal(s1.batch(8, n_critic=2)["image"], first["image"])
  other_seed = build_source(cfg, seed=6).batch(7, n_critic=2)
  assert not np.array_equal(other_seed["image"], first["image"])
  # The critic steps of one batch differ from each other.
  assert not np.array_equal(first["image"][0], first["image"][1])


# ------------------------------------------------------------------------------------------
# Epochs.


@pytest.mark.parametrize(("batch_size", "n_critic"), [(64, 1), (64, 2), (100, 3)])
def test_digits_epochs_visit_every_image_once(batch_size, n_critic):
  source = build_source(_cfg(batch_size=batch_size), seed=1)
  per_step = batch_size * n_critic
  steps = math.ceil(2 * N_DIGITS / per_step)  # two full epochs
  images, labels = [], []
  for step in range(steps):
    batch = source.batch(step, n_critic)
    assert batch["image"].shape == (n_critic, batch_size, 8, 8, 1)
    assert batch["label"].shape == (n_critic, batch_size)
    assert np.all(np.isfinite(batch["image"]))
    image, label = _flat(batch)
    images.append(image)
    labels.append(label)
  keys = _keys(np.concatenate(images), np.concatenate(labels))
  dataset = _dataset_keys()
  epoch0, epoch1 = keys[:N_DIGITS], keys[N_DIGITS : 2 * N_DIGITS]
  assert sorted(epoch0) == dataset
  assert sorted(epoch1) == dataset  # the epoch that starts inside a batch, too
  assert epoch0 != epoch1  # reshuffled every epoch
  # The batch that crosses the boundary: its head ends epoch 0, its tail starts epoch 1.
  crossing = N_DIGITS // per_step
  head = N_DIGITS - crossing * per_step
  batch_keys = _keys(*_flat(source.batch(crossing, n_critic)))
  assert batch_keys[:head] == epoch0[-head:]
  assert batch_keys[head:] == epoch1[: per_step - head]


# ------------------------------------------------------------------------------------------
# Multi-process sharding.


@pytest.mark.parametrize("name", ("digits", "ring"))
@pytest.mark.parametrize("n_critic", (1, 2))
@pytest.mark.parametrize("process_count", (2, 4))
def test_process_shards_concatenate_to_global_batch(name, n_critic, process_count):
  cfg = _cfg(name, batch_size=16)
  full = build_source(cfg, seed=2).batch(1000, n_critic)
  shards = []
  for index in range(process_count):
    source = build_source(cfg, seed=2, process_index=index, process_count=process_count)
    assert source.spec == build_source(cfg, seed=2).spec
    shards.append(source.batch(1000, n_critic))
    assert shards[-1]["image"].shape[:2] == (n_critic, 16 // process_count)
  for key in ("image", "label"):
    np.testing.assert_array_equal(np.concatenate([s[key] for s in shards], axis=1), full[key])


def test_process_shards_with_random_flip():
  cfg = _cfg(batch_size=64, random_flip=True)
  full = build_source(cfg, seed=2).batch(3)
  shards = [build_source(cfg, seed=2, process_index=i, process_count=2).batch(3) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate([s["image"] for s in shards], 1), full["image"])


def test_batch_size_must_divide_over_processes():
  with pytest.raises(ValueError, match="batch_size"):
    build_source(_cfg(batch_size=6), seed=0, process_index=0, process_count=4)
  with pytest.raises(ValueError, match="batch_size"):
    build_source(_cfg("ring", batch_size=10), seed=0, process_index=1, process_count=3)


def test_unknown_dataset_raises():
  with pytest.raises(ValueError, match=r"'imagenet64'.*celeb_a.*cifar10.*digits.*folder"):
    build_source(_cfg("imagenet64"), seed=0)
  assert sorted(DATASETS) == [
    "celeb_a",
    "cifar10",
    "cycle_gan",
    "digits",
    "digits2styled",
    "div2k",
    "edges2digits",
    "fashion_mnist",
    "folder",
    "gray2color",
    "grid",
    "lfw",
    "mnist",
    "paired_folder",
    "paired_folders",
    "photos",
    "ring",
    "sr_folder",
    "stacked_digits",
    "svhn_cropped",
    "synthetic",
    "tfds",
    "unpaired_folders",
  ]


def test_synthetic_source_has_the_configured_shape():
  cfg = _cfg("synthetic", batch_size=8, resolution=16)
  cfg.channels, cfg.num_classes = 3, 5
  src = build_source(cfg, seed=0)
  assert src.spec.sample_shape == (16, 16, 3) and src.spec.num_classes == 5
  b = src.batch(0, 2)
  assert b["image"].shape == (2, 8, 16, 16, 3) and b["label"].max() < 5


# ------------------------------------------------------------------------------------------
# Random horizontal flips.


def _flip_mask(flipped: np.ndarray, plain: np.ndarray) -> np.ndarray:
  """Which images of ``flipped`` are the horizontal mirror of ``plain``'s (and not equal)."""
  differs = np.any(flipped != plain, axis=(2, 3, 4))
  mirrored = np.all(flipped == plain[:, :, :, ::-1], axis=(2, 3, 4))
  assert np.all(mirrored | ~differs), "a flipped image is not a horizontal mirror"
  return differs


def test_random_flip():
  cfg_flip = _cfg(batch_size=256, random_flip=True)
  cfg_plain = _cfg(batch_size=256)
  plain = build_source(cfg_plain, seed=0).batch(3, n_critic=2)
  flipped = build_source(cfg_flip, seed=0).batch(3, n_critic=2)
  np.testing.assert_array_equal(flipped["label"], plain["label"])
  mask = _flip_mask(flipped["image"], plain["image"])
  assert 0.35 < mask.mean() < 0.65, mask.mean()
  assert 0.3 < mask[0].mean() < 0.7 and 0.3 < mask[1].mean() < 0.7
  # Deterministic in (seed, step): a second source flips the same images ...
  again = build_source(cfg_flip, seed=0).batch(3, n_critic=2)
  np.testing.assert_array_equal(again["image"], flipped["image"])
  # ... and another step or seed flips others.
  mask4 = _flip_mask(
    build_source(cfg_flip, seed=0).batch(4, n_critic=2)["image"],
    build_source(cfg_plain, seed=0).batch(4, n_critic=2)["image"],
  )
  mask_seed = _flip_mask(
    build_source(cfg_flip, seed=1).batch(3, n_critic=2)["image"],
    build_source(cfg_plain, seed=1).batch(3, n_critic=2)["image"],
  )
  assert not np.array_equal(mask4, mask)
  assert not np.array_equal(mask_seed, mask)


def test_random_flip_ignored_for_points():
  plain = build_source(_cfg("ring", batch_size=32), seed=0).batch(2)
  flipped = build_source(_cfg("ring", batch_size=32, random_flip=True), seed=0).batch(2)
  np.testing.assert_array_equal(flipped["image"], plain["image"])
