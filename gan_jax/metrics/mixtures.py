"""2-D Gaussian-mixture toy datasets and their mode-coverage metrics.

The "ring" (8 modes on the unit circle, sigma 0.01) and "grid" (25 modes on a
5 x 5 lattice with spacing 2, sigma 0.05) mixtures are the synthetic benchmarks of
VEEGAN and PacGAN. ``mode_metrics`` implements their evaluation protocol: a
generated sample is *high quality* if it lies within three standard deviations of
its nearest mode, a mode is *recovered* if at least 20 high-quality samples are
assigned to it, and the *reverse KL* is ``KL(p_samples || uniform)`` between the
histogram of high-quality samples over modes and the uniform mixture weights.

Everything here is plain numpy (no JAX): the datasets are tiny and the metrics are
evaluated on host arrays, e.g. 2,500 generator samples as in PacGAN.

References:
  Srivastava et al. 2017, "VEEGAN: Reducing Mode Collapse in GANs using Implicit
  Variational Learning", Section 5.1.
  Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial
  networks", Section 5.1 and Table 1; released code
  github.com/fjxmlzn/PacGAN (synthetic_data_experiments: configs and MetricLogger).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

RING_SIGMA = 0.01
GRID_SIGMA = 0.05


def ring_means(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
  """Means of the ring mixture: ``n_modes`` points evenly spaced on a circle.

  Mode ``k`` sits at angle ``2 * pi * k / n_modes``, i.e. at
  ``radius * (cos(2 pi k / n), sin(2 pi k / n))``.

  Args:
    n_modes: number of mixture components (at least 1).
    radius: radius of the circle.

  Returns:
    ``[n_modes, 2]`` float64 array of means.

  References:
    Lin et al. 2018 (PacGAN), Section 5.1: 2D-ring, 8 modes on the unit circle.
  """
  if n_modes < 1:
    raise ValueError(f"n_modes must be >= 1, got {n_modes}.")
  angles = 2.0 * np.pi * np.arange(n_modes, dtype=np.float64) / n_modes
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_means(n: int = 5, spacing: float = 2.0) -> np.ndarray:
  """Means of the grid mixture: an ``n x n`` lattice centred on the origin.

  Mode ``i * n + j`` sits at ``(o + spacing * i, o + spacing * j)`` with
  ``o = -spacing * (n - 1) / 2``; the defaults give ``(-4 + 2i, -4 + 2j)`` for
  ``i, j`` in ``0..4``.

  Args:
    n: lattice points per axis (at least 1).
    spacing: distance between neighbouring modes.

  Returns:
    ``[n * n, 2]`` float64 array of means.

  References:
    Lin et al. 2018 (PacGAN), Section 5.1: 2D-grid, 25 modes at (-4+2i, -4+2j).
  """
  if n < 1:
    raise ValueError(f"n must be >= 1, got {n}.")
  coords = -spacing * (n - 1) / 2.0 + spacing * np.arange(n, dtype=np.float64)
  xs, ys = np.meshgrid(coords, coords, indexing="ij")
  return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)


# name -> (function returning the [n_modes, 2] means, isotropic standard deviation).
MIXTURES: dict[str, tuple[Callable[[], np.ndarray], float]] = {
  "ring": (ring_means, RING_SIGMA),
  "grid": (grid_means, GRID_SIGMA),
}


def mixture_spec(name: str) -> tuple[np.ndarray, float]:
  """Means and standard deviation of a named mixture.

  Args:
    name: a key of ``MIXTURES`` ("ring" or "grid").

  Returns:
    ``(means, sigma)``: ``[n_modes, 2]`` float32 means and the isotropic standard
    deviation shared by every component.

  Raises:
    ValueError: for an unknown name; the message lists the valid names.
  """
  if name not in MIXTURES:
    raise ValueError(f"Unknown mixture {name!r}; valid names are {sorted(MIXTURES)}.")
  means_fn, sigma = MIXTURES[name]
  return means_fn().astype(np.float32), float(sigma)


def sample_mixture(name: str, n: int, seed: int, step: int = 0) -> np.ndarray:
  """Draws ``n`` samples from a named mixture with uniform mixture weights.

  Each sample picks a mode uniformly at random and adds isotropic Gaussian noise of
  the mixture's sigma. The result is a pure function of ``(name, n, seed, step)``:
  the generator is ``np.random.default_rng([seed, step])``, so a training loop can
  pass its step counter to get a fresh, reproducible batch every step.

  Args:
    name: a key of ``MIXTURES``.
    n: number of samples (may be 0).
    seed: non-negative integer seed.
    step: non-negative integer, e.g. the training step.

  Returns:
    ``[n, 2]`` float32 samples.

  Raises:
    ValueError: for an unknown name or a negative ``n``.
  """
  means, sigma = mixture_spec(name)
  if n < 0:
    raise ValueError(f"n must be >= 0, got {n}.")
  rng = np.random.default_rng([seed, step])
  modes = rng.integers(0, means.shape[0], size=n)
  noise = rng.standard_normal(size=(n, means.shape[1]))
  samples = means.astype(np.float64)[modes] + sigma * noise
  return samples.astype(np.float32)


def _nearest_modes(samples: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Index of and Euclidean distance to the nearest mean for every sample.

  Loops over the (few) modes so memory stays ``O(n)``; ties go to the lowest index.
  """
  best_d2 = np.full(samples.shape[0], np.inf)
  best_idx = np.zeros(samples.shape[0], dtype=np.int64)
  for k in range(means.shape[0]):
    d2 = np.sum(np.square(samples - means[k]), axis=1)
    closer = d2 < best_d2
    best_d2 = np.where(closer, d2, best_d2)
    best_idx = np.where(closer, k, best_idx)
  return best_idx, np.sqrt(best_d2)


def mode_metrics(samples, means, sigma: float, min_count: int = 20) -> dict:
  """Mode-coverage metrics of generated samples for an isotropic Gaussian mixture.

  Every sample is assigned to its nearest mean (Euclidean distance; with a shared
  isotropic sigma this is also the nearest mode in standard deviations). A sample is
  *high quality* if that distance is at most ``3 * sigma``. Then:

  * ``modes_covered``: number of modes with at least ``min_count`` high-quality
    samples assigned (PacGAN's "modes recovered", ``min_count=20``). With
    ``min_count=1`` it is the looser "any high-quality sample" count that PacGAN's
    released ``MetricLogger`` logs as "mode coverage".
  * ``high_quality_fraction``: high-quality samples / all samples.
  * ``reverse_kl``: ``sum_k p_k log(p_k / (1 / n_modes))`` over modes with
    ``p_k > 0``, where ``p`` is the histogram of nearest-mode assignments of the
    HIGH-QUALITY samples only, normalised to sum to 1. PacGAN's Table 1 describes it
    as the KL between the histogram of samples over modes and the uniform target;
    its released code builds that histogram from high-quality samples only
    (low-quality samples are not assigned to any mode), and we follow it. It is
    ``log(n_modes)`` when all high-quality samples hit one mode, and
    ``float('inf')`` when there are no high-quality samples.

  For samples of the true mixture the expected high-quality fraction is
  ``P(chi_2 <= 3) = 1 - exp(-4.5) ~= 0.9889`` (modes far apart relative to sigma).

  Args:
    samples: ``[n, d]`` array-like of samples (``d = 2`` for ring/grid); any ``n``.
    means: ``[n_modes, d]`` array-like of mixture means.
    sigma: positive isotropic standard deviation of every component.
    min_count: high-quality samples a mode needs to count as covered (>= 1).

  Returns:
    Dict with ``modes_covered`` (int), ``high_quality_fraction`` (float; 0.0 when
    ``n == 0``), ``reverse_kl`` (float, possibly ``inf``), ``n_samples`` (int) and
    ``n_modes`` (int).

  Raises:
    ValueError: on mismatched shapes, a non-positive sigma or ``min_count < 1``.

  References:
    Lin et al. 2018 (PacGAN), Section 5.1 and Table 1 (modes recovered with >= 20
    high-quality samples, high-quality fraction, reverse KL to uniform).
    Srivastava et al. 2017 (VEEGAN), Section 5.1 (three-standard-deviation
    high-quality criterion, modes captured).
  """
  samples = np.asarray(samples, dtype=np.float64)
  means = np.asarray(means, dtype=np.float64)
  if means.ndim != 2 or means.shape[0] < 1:
    raise ValueError(f"means must have shape [n_modes >= 1, d], got {means.shape}.")
  if samples.ndim != 2 or samples.shape[1] != means.shape[1]:
    raise ValueError(f"samples must have shape [n, {means.shape[1]}], got {samples.shape}.")
  if not sigma > 0:
    raise ValueError(f"sigma must be positive, got {sigma}.")
  if min_count < 1:
    raise ValueError(f"min_count must be >= 1, got {min_count}.")

  n_samples, n_modes = samples.shape[0], means.shape[0]
  nearest, dist = _nearest_modes(samples, means)
  high_quality = dist <= 3.0 * sigma  # NaN samples compare False: never high quality.
  counts = np.bincount(nearest[high_quality], minlength=n_modes)
  n_hq = int(counts.sum())

  if n_hq == 0:
    reverse_kl = math.inf
  else:
    p = counts[counts > 0].astype(np.float64) / n_hq
    reverse_kl = float(np.sum(p * np.log(p * n_modes)))

  return {
    "modes_covered": int(np.sum(counts >= min_count)),
    "high_quality_fraction": n_hq / n_samples if n_samples else 0.0,
    "reverse_kl": reverse_kl,
    "n_samples": int(n_samples),
    "n_modes": int(n_modes),
  }
