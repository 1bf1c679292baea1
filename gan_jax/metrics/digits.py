"""Sample-quality and mode metrics for the embedded digits, with a small in-project classifier.

Inception-v3 knows nothing of 8x8 handwritten digits, so the ``digits`` and ``stacked_digits``
datasets are scored with a small MLP trained here on scikit-learn's digits, prepared exactly
as ``gan_jax.data.embedded.load_digits`` prepares them for training (pixels scaled to [-1, 1],
bilinearly resized to the run's resolution):

- ``digits_is``: the Inception Score with the classifier's softmax in place of Inception's.
- ``digits_fd``: the Frechet distance between Gaussians fitted to the classifier's
  penultimate (128-d) features of generated samples and of all 1,797 real digits.
- Stacked digits: each of the R, G, B channels is classified; the 1,000 digit triples are the
  modes, counted when at least one sample lands on them, and ``reverse_kl`` is
  ``KL(generated mode histogram || uniform over 1,000)``.

Training is deterministic (fixed seed, split and batch order; Adam) and takes seconds. The
classifier always trains and runs on the host CPU, whatever accelerator the GAN uses, so its
weights and numbers do not depend on the backend. The weights are cached on disk under
``$GAN_JAX_CACHE`` (default ``~/.cache/gan_jax``), keyed by resolution and ``VERSION``, so
every evaluation of a run uses the same classifier.
Numbers are therefore comparable only between results with the same ``protocol`` entries.

References:
  Salimans et al. 2016, "Improved Techniques for Training GANs", Section 4 (Inception Score).
  Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule...", Section 4 (FID).
  Metz et al. 2017, "Unrolled Generative Adversarial Networks", Section 3.3.1 (stacked MNIST,
  1,000 modes, KL to uniform); Srivastava et al. 2017 (VEEGAN), Section 5.2; Lin et al. 2018
  (PacGAN), Section 5.2 and Table 3.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from scipy import special

from gan_jax.metrics import fid, inception_score

VERSION = "digits_mlp_v1"  # bump when the architecture, data or training recipe changes
SEED = 0
NUM_HELD_OUT = 297  # of 1,797 digits; the other 1,500 train the classifier
NUM_EPOCHS = 15
BATCH_SIZE = 50
LEARNING_RATE = 2e-3
FEATURE_DIM = 128
MAX_INPUT = 16  # larger inputs are resized to 16x16 first: the digits hold 8x8 of detail
NUM_MODES_STACKED = 1000
NUM_REAL = 1797  # real digits behind the Frechet-distance statistics
CONFIDENT = 0.9  # stacked digits' ``confident_share``: a reading whose top probability exceeds it


class DigitsMLP(nn.Module):
  """An MLP for ``[N, R, R, 1]`` digits in [-1, 1]: returns ``(logits, features)``.

  Dense layers, not convolutions: XLA's CPU convolutions made training a CNN take minutes,
  while this trains in seconds and still classifies held-out digits at about 98 %.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    n, r = x.shape[0], x.shape[1]
    if r > MAX_INPUT:
      x = jax.image.resize(x, (n, MAX_INPUT, MAX_INPUT, x.shape[-1]), "linear", antialias=True)
    h = nn.relu(nn.Dense(256)(x.reshape(n, -1)))
    features = nn.relu(nn.Dense(FEATURE_DIM)(h))  # [N, 128]
    return nn.Dense(10)(features), features


@dataclasses.dataclass(frozen=True)
class Classifier:
  """Trained weights of ``DigitsMLP`` for one resolution and their held-out accuracy."""

  resolution: int
  params: dict
  accuracy: float

  def __call__(self, images, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[N, 10]`` and features ``[N, 128]`` of ``[N, R, R, 1]`` images in [-1, 1]."""
    images = np.asarray(images, np.float32)
    want = (self.resolution, self.resolution, 1)
    if images.ndim != 4 or images.shape[1:] != want:
      raise ValueError(
        f"images must have shape [N, {', '.join(map(str, want))}], got {images.shape}."
      )
    logits, feats = [], []
    with jax.default_device(_cpu()):
      for i in range(0, len(images), batch_size):
        lo, fe = _apply(self.params, images[i : i + batch_size])
        logits.append(np.asarray(lo, np.float64))
        feats.append(np.asarray(fe, np.float64))
    if not logits:
      return np.zeros((0, 10)), np.zeros((0, FEATURE_DIM))
    return np.concatenate(logits), np.concatenate(feats)


def _cpu() -> jax.Device:
  return jax.local_devices(backend="cpu")[0]


@jax.jit
def _apply(params, images):
  return DigitsMLP().apply({"params": params}, images)


def split(resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """The fixed train / held-out split of the real digits at ``resolution``.

  Args:
    resolution: image side, as ``config.data.resolution``.

  Returns:
    ``(train_images, train_labels, held_out_images, held_out_labels)``; images
    ``[n, R, R, 1]`` float32 in [-1, 1].
  """
  from gan_jax.data.embedded import load_digits

  images, labels = load_digits(resolution)
  perm = np.random.default_rng(SEED).permutation(len(images))
  test, train = perm[:NUM_HELD_OUT], perm[NUM_HELD_OUT:]
  return images[train], labels[train], images[test], labels[test]


def train_classifier(resolution: int) -> Classifier:
  """Trains ``DigitsMLP`` on the fixed split with Adam and a fixed seed (seconds on a CPU).

  Args:
    resolution: image side.

  Returns:
    The trained ``Classifier`` with its held-out accuracy.
  """
  with jax.default_device(_cpu()):
    return _train_classifier(resolution)


def _train_classifier(resolution: int) -> Classifier:
  x_train, y_train, x_test, y_test = split(resolution)
  model = DigitsMLP()
  key = jax.random.key(SEED)
  params = model.init(key, jnp.zeros((1, resolution, resolution, 1)))["params"]
  tx = optax.adam(LEARNING_RATE)
  steps = len(x_train) // BATCH_SIZE

  def loss_fn(p, x, y):
    logits, _ = model.apply({"params": p}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def one(carry, idx):
    p, o = carry
    g = jax.grad(loss_fn)(p, xs[idx], ys[idx])
    updates, o = tx.update(g, o, p)
    return (optax.apply_updates(p, updates), o), None

  @jax.jit
  def run(p, batches):  # one compiled call for all epochs
    return jax.lax.scan(one, (p, tx.init(p)), batches)[0]

  rng = np.random.default_rng(SEED)
  batches = np.concatenate(
    [rng.permutation(len(x_train))[: steps * BATCH_SIZE] for _ in range(NUM_EPOCHS)]
  ).reshape(NUM_EPOCHS * steps, BATCH_SIZE)  # [epochs * steps, batch] example indices
  xs, ys = jnp.asarray(x_train), jnp.asarray(y_train)
  t0 = time.time()
  carry = run(params, batches)
  params = jax.tree.map(np.asarray, carry[0])
  clf = Classifier(resolution, params, 0.0)
  accuracy = float(np.mean(np.argmax(clf(x_test)[0], axis=1) == y_test))
  logging.info(
    "Trained the digits classifier at %dx%d in %.1f s: held-out accuracy %.4f.",
    resolution,
    resolution,
    time.time() - t0,
    accuracy,
  )
  return Classifier(resolution, params, accuracy)


def cache_dir() -> str:
  """``$GAN_JAX_CACHE`` if set, else ``~/.cache/gan_jax``."""
  return os.environ.get("GAN_JAX_CACHE") or os.path.join(
    os.path.expanduser("~"), ".cache", "gan_jax"
  )


def cache_path(resolution: int) -> str:
  """Where the classifier for ``resolution`` is cached."""
  return os.path.join(cache_dir(), f"{VERSION}_r{resolution}.msgpack")


def load_classifier(resolution: int) -> Classifier:
  """The classifier for ``resolution``: from memory, else the disk cache, else trained and cached.

  Args:
    resolution: image side.

  Returns:
    A ``Classifier``.
  """
  return _load_classifier(resolution, cache_path(resolution))


@functools.lru_cache(maxsize=8)
def _load_classifier(resolution: int, path: str) -> Classifier:
  if os.path.exists(path):
    try:
      with open(path, "rb") as f:
        state = serialization.msgpack_restore(f.read())
      if state.get("version") == VERSION and int(state["resolution"]) == resolution:
        return Classifier(resolution, state["params"], float(state["accuracy"]))
      logging.warning("Ignoring %s: made for another version or resolution.", path)
    except Exception as e:  # noqa: BLE001 (a corrupt cache file is retrained, not fatal)
      logging.warning("Ignoring unreadable classifier cache %s: %s", path, e)
  clf = train_classifier(resolution)
  state = {
    "version": VERSION,
    "resolution": resolution,
    "accuracy": clf.accuracy,
    "params": clf.params,
  }
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
      f.write(serialization.msgpack_serialize(state))
    os.replace(tmp, path)  # atomic: concurrent evaluators never read half a file
  except OSError as e:  # a read-only cache costs a retraining per process, nothing else
    logging.warning("Could not cache the digits classifier at %s: %s", path, e)
  return clf


@functools.lru_cache(maxsize=8)
def _real_statistics(resolution: int, path: str) -> tuple[np.ndarray, np.ndarray]:
  from gan_jax.data.embedded import load_digits

  images, _ = load_digits(resolution)
  return fid.statistics(_load_classifier(resolution, path)(images)[1])


def protocol(resolution: int, n_fake: int, n_real: int) -> dict:
  """The settings a digits result depends on, stored beside its numbers."""
  clf = load_classifier(resolution)
  return {
    "name": "digits_classifier",
    "classifier_version": VERSION,
    "classifier_accuracy": round(clf.accuracy, 4),
    "resolution": resolution,
    "n_fake": n_fake,
    "n_real": n_real,
  }


def digits_metrics(images, real_images=None, splits: int = 10) -> dict[str, float]:
  """Digits Inception Score and Frechet distance of generated ``[N, R, R, 1]`` digits.

  Args:
    images: ``[N, R, R, 1]`` generated images in [-1, 1].
    real_images: ``[M, R, R, 1]`` real images to compare with; ``None`` for all 1,797 real
      digits at resolution ``R`` (their statistics are computed once per process).
    splits: Inception Score parts (capped by ``N``).

  Returns:
    ``digits_is``, ``digits_is_std`` and ``digits_fd``.

  References:
    Salimans et al. 2016, Section 4 (IS); Heusel et al. 2017, Section 4 (FID), both with the
    digits classifier in place of Inception-v3.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f"images must have shape [N, R, R, 1], got {images.shape}.")
  clf = load_classifier(images.shape[1])
  logits, feats = clf(images)
  if real_images is None:
    mu_r, sigma_r = _real_statistics(clf.resolution, cache_path(clf.resolution))
  else:
    mu_r, sigma_r = fid.statistics(clf(real_images)[1])
  is_mean, is_std = inception_score.inception_score(logits, min(splits, len(images)))
  return {
    "digits_is": is_mean,
    "digits_is_std": is_std,
    "digits_fd": fid.frechet_distance(*fid.statistics(feats), mu_r, sigma_r),
  }


def mode_histogram_metrics(modes, num_modes: int = NUM_MODES_STACKED) -> dict[str, float]:
  """Modes hit and KL to uniform of a set of mode ids.

  Args:
    modes: ``[N]`` integer mode ids in ``[0, num_modes)``.
    num_modes: number of modes of the target (1,000 for stacked digits).

  Returns:
    ``modes_covered``: modes with at least one sample; ``reverse_kl``:
    ``KL(p_gen || uniform) = sum_k p_k log(p_k num_modes)`` over modes with ``p_k > 0``
    (0 for a uniform histogram, ``log(num_modes)`` for one mode).

  References:
    Metz et al. 2017, Section 3.3.1; Lin et al. 2018 (PacGAN), Table 3.
  """
  modes = np.asarray(modes, np.int64).reshape(-1)
  if modes.size == 0:
    return {"modes_covered": 0, "reverse_kl": math.inf}
  if modes.min() < 0 or modes.max() >= num_modes:
    raise ValueError(f"mode ids must lie in [0, {num_modes}).")
  counts = np.bincount(modes, minlength=num_modes)
  p = counts[counts > 0] / modes.size
  return {
    "modes_covered": int(np.sum(counts > 0)),
    "reverse_kl": float(np.sum(p * np.log(p * num_modes))),
  }


def stacked_mode_metrics(digits) -> dict[str, float]:
  """Mode count and KLs of classified stacked digits.

  Args:
    digits: ``[N, 3]`` the digit (0..9) read in each sample's R, G and B channel.

  Returns:
    ``modes_covered`` and ``reverse_kl`` of the 1,000 triples (``100 R + 10 G + B``; see
    ``mode_histogram_metrics``), and ``channel_kl``: the sum over the three channels of
    ``KL(digit histogram || uniform over 10)``, which is the reverse KL of the product of
    the channels' histograms. ``reverse_kl - channel_kl`` is what the dependence between
    channels (missing or favoured triples) adds; ``channel_kl`` alone is the share of
    digits drawn too often or too rarely, whatever they are stacked with; and
    ``digit_share_<d>`` for d in 0..9: the share of the ``3 N`` channel readings that are
    digit d (0.1 each for uniform channels), which names the digits behind ``channel_kl``;
    ``digit_kl``: the KL of those shares to uniform over 10 (the readings of all channels
    pooled).
  """
  digits = np.asarray(digits, np.int64)
  if digits.ndim != 2 or digits.shape[1] != 3:
    raise ValueError(f"digits must have shape [N, 3], got {digits.shape}.")
  result = mode_histogram_metrics(100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
  result["channel_kl"] = float(
    sum(mode_histogram_metrics(digits[:, c], 10)["reverse_kl"] for c in range(3))
  )
  shares = np.bincount(digits.reshape(-1), minlength=10) / max(digits.size, 1)
  result.update({f"digit_share_{d}": float(shares[d]) for d in range(10)})
  result["digit_kl"] = mode_histogram_metrics(digits.reshape(-1), 10)["reverse_kl"]
  return result


def stacked_digits_metrics(images, splits: int = 10) -> dict[str, float]:
  """Mode count and KL of generated stacked digits, plus digits IS / FD of their channels.

  Args:
    images: ``[N, R, R, 3]`` generated images in [-1, 1]; channel c holds one digit.
    splits: Inception Score parts for the per-channel digits IS.

  Returns:
    ``modes_covered`` (of 1,000), ``reverse_kl`` and ``channel_kl`` (see
    ``stacked_mode_metrics``), ``confident_share`` (the share of the 3 N channel readings
    the classifier makes with a top softmax probability above ``CONFIDENT``: how many of
    the channels read as clean digits rather than blends), ``confident_digit_kl`` (the
    ``digit_kl`` of those confident readings alone: whether the digits drawn too often or
    too rarely are drawn so as clean digits, or only read so in blends, which the
    classifier's argmax gives to some digits more than others), and ``digits_is``,
    ``digits_is_std``, ``digits_fd`` of the 3 N channels taken as single digits (the
    channels in order R, G, B of each sample).

  References:
    Metz et al. 2017, Section 3.3.1 (stacked MNIST); Srivastava et al. 2017 (VEEGAN), Section
    5.2; Lin et al. 2018 (PacGAN), Section 5.2.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must have shape [N, R, R, 3], got {images.shape}.")
  n, r = images.shape[0], images.shape[1]
  channels = np.moveaxis(images, -1, 1).reshape(3 * n, r, r, 1)  # [(sample, channel), R, R, 1]
  logits, _ = load_classifier(r)(channels)
  digits = np.argmax(logits, axis=1).reshape(n, 3)
  result = stacked_mode_metrics(digits)
  top = special.softmax(logits, axis=1).max(axis=1)  # each reading's top probability
  result["confident_share"] = float(np.mean(top > CONFIDENT)) if len(top) else 0.0
  confident = digits.reshape(-1)[top > CONFIDENT]  # readings in (sample, channel) order
  result["confident_digit_kl"] = mode_histogram_metrics(confident, 10)["reverse_kl"]
  result.update(digits_metrics(channels, splits=splits))
  return result


@functools.lru_cache(maxsize=8)
def _real_class_statistics(resolution: int, path: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
  from gan_jax.data.embedded import load_digits

  images, labels = load_digits(resolution)
  feats = _load_classifier(resolution, path)(images)[1]
  return tuple(fid.statistics(feats[labels == k]) for k in range(10))


def class_conditional_metrics(images, labels, splits: int = 10) -> dict[str, float]:
  """How well a class-conditional generator draws the digit it is asked for.

  Args:
    images: ``[N, R, R, 1]`` generated digits in [-1, 1].
    labels: ``[N]`` the classes they were generated for (every class 0..9 present).
    splits: Inception Score parts per class (capped by the class's sample count).

  Returns:
    ``class_accuracy``: the fraction the classifier reads as the requested class.
    ``intra_digits_fd``: the Frechet distance between the classifier features of the
    samples of class k and of the real digits of class k (about 180 each), averaged over
    the 10 classes (the intra-class FID of Miyato & Koyama 2018, Section 5.1).
    ``intra_digits_is``: the digits Inception Score within each class, averaged (near 1
    when every sample of a class is read as one digit; it grows with confusion).

  References:
    Miyato & Koyama 2018, "cGANs with Projection Discriminator", Section 5.1 (intra
    FID, classification accuracy of the generated images); Salimans et al. 2016, Section 4.
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int64).reshape(-1)
  if images.ndim != 4 or len(images) != len(labels):
    raise ValueError(f"need [N, R, R, 1] images and N labels; got {images.shape}, {labels.shape}")
  missing = sorted(set(range(10)) - set(labels.tolist()))
  if missing:
    raise ValueError(f"every class needs samples; none for {missing}")
  clf = load_classifier(images.shape[1])
  logits, feats = clf(images)
  real = _real_class_statistics(clf.resolution, cache_path(clf.resolution))
  fds, iss = [], []
  for k in range(10):
    sel = labels == k
    fds.append(fid.frechet_distance(*fid.statistics(feats[sel]), *real[k]))
    iss.append(inception_score.inception_score(logits[sel], min(splits, int(sel.sum())))[0])
  return {
    "class_accuracy": float(np.mean(np.argmax(logits, axis=1) == labels)),
    "intra_digits_fd": float(np.mean(fds)),
    "intra_digits_is": float(np.mean(iss)),
  }
