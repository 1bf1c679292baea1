"""Tests for gan_jax.metrics.mixtures: 2-D mixture datasets and mode-coverage metrics."""

import math

import numpy as np
import pytest

from gan_jax.metrics import mixtures

# P(||z|| <= 3) for z ~ N(0, I_2): the chi distribution with 2 dof.
_P_WITHIN_3_SIGMA = 1.0 - math.exp(-4.5)


def test_grid_means_exact():
  means, sigma = mixtures.mixture_spec("grid")
  expected = np.array(
    [[-4.0 + 2 * i, -4.0 + 2 * j] for i in range(5) for j in range(5)], np.float32
  )
  assert means.shape == (25, 2) and means.dtype == np.float32
  np.testing.assert_array_equal(means, expected)
  np.testing.assert_array_equal(mixtures.grid_means(), expected.astype(np.float64))
  assert sigma == mixtures.GRID_SIGMA == 0.05


def test_ring_means():
  means, sigma = mixtures.mixture_spec("ring")
  assert means.shape == (8, 2) and means.dtype == np.float32
  assert sigma == mixtures.RING_SIGMA == 0.01
  np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(means[0], [1.0, 0.0], atol=1e-7)
  np.testing.assert_allclose(means[2], [0.0, 1.0], atol=1e-7)
  np.testing.assert_allclose(
    mixtures.ring_means(4, radius=2.0), [[2, 0], [0, 2], [-2, 0], [0, -2]], atol=1e-12
  )


def test_unknown_name_raises_listing_valid_names():
  with pytest.raises(ValueError, match="grid.*ring"):
    mixtures.mixture_spec("spiral")
  with pytest.raises(ValueError):
    mixtures.sample_mixture("spiral", 10, seed=0)


def test_sample_mixture_shape_dtype_and_determinism():
  a = mixtures.sample_mixture("grid", 100, seed=3, step=7)
  b = mixtures.sample_mixture("grid", 100, seed=3, step=7)
  assert a.shape == (100, 2) and a.dtype == np.float32
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, mixtures.sample_mixture("grid", 100, seed=3, step=8))
  assert not np.array_equal(a, mixtures.sample_mixture("grid", 100, seed=4, step=7))
  assert mixtures.sample_mixture("ring", 0, seed=0).shape == (0, 2)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_true_mixture_samples(name):
  means, sigma = mixtures.mixture_spec(name)
  samples = mixtures.sample_mixture(name, 2500, seed=0)
  m = mixtures.mode_metrics(samples, means, sigma)
  assert m["n_samples"] == 2500 and m["n_modes"] == len(means)
  assert m["modes_covered"] == len(means)
  # Binomial std at n=2500 is ~0.002; 0.01 is ~5 std.
  assert abs(m["high_quality_fraction"] - _P_WITHIN_3_SIGMA) < 0.01
  # Plug-in KL bias is ~(n_modes - 1) / (2 n) <= 0.005 here.
  assert 0.0 <= m["reverse_kl"] < 0.02


def test_true_mixture_high_quality_fraction_large_n():
  means, sigma = mixtures.mixture_spec("grid")
  samples = mixtures.sample_mixture("grid", 200_000, seed=1)
  m = mixtures.mode_metrics(samples, means, sigma)
  assert abs(m["high_quality_fraction"] - _P_WITHIN_3_SIGMA) < 0.002
  assert m["reverse_kl"] < 1e-3


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_all_samples_at_one_mode(name):
  means, sigma = mixtures.mixture_spec(name)
  samples = np.repeat(means[3:4], 500, axis=0)
  m = mixtures.mode_metrics(samples, means, sigma)
  assert m["modes_covered"] == 1
  assert m["high_quality_fraction"] == 1.0
  assert m["reverse_kl"] == pytest.approx(math.log(len(means)), rel=1e-12)


def test_hand_made_example():
  means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
  sigma = 1.0  # high quality <=> within distance 3 of the nearest mean.
  samples = np.array(
    [
      [0.5, 0.0],  # mode 0, high quality
      [0.0, -2.0],  # mode 0, high quality
      [1.0, 1.0],  # mode 0, high quality
      [10.0, 2.9],  # mode 1, high quality
      [0.0, 12.0],  # mode 2, high quality
      [4.0, 10.0],  # mode 2 (distance 4), low quality
      [4.0, 4.0],  # mode 0 (distance ~5.7), low quality
    ]
  )
  m = mixtures.mode_metrics(samples, means, sigma, min_count=2)
  # High-quality histogram: [3, 1, 1, 0] over 5 samples -> p = [0.6, 0.2, 0.2, 0].
  expected_kl = 0.6 * math.log(0.6 * 4) + 2 * 0.2 * math.log(0.2 * 4)
  assert m == {
    "modes_covered": 1,
    "high_quality_fraction": pytest.approx(5 / 7),
    "reverse_kl": pytest.approx(expected_kl, rel=1e-12),
    "n_samples": 7,
    "n_modes": 4,
  }
  assert mixtures.mode_metrics(samples, means, sigma, min_count=1)["modes_covered"] == 3
  assert mixtures.mode_metrics(samples, means, sigma, min_count=4)["modes_covered"] == 0


def test_min_count_default_is_twenty():
  means, sigma = mixtures.mixture_spec("ring")
  samples = np.concatenate([np.repeat(means[:1], 20, 0), np.repeat(means[1:2], 19, 0)])
  m = mixtures.mode_metrics(samples, means, sigma)
  assert m["modes_covered"] == 1


def test_no_high_quality_samples_and_empty_input():
  means, sigma = mixtures.mixture_spec("grid")
  far = np.full((10, 2), 100.0, np.float32)
  m = mixtures.mode_metrics(far, means, sigma)
  assert m["modes_covered"] == 0 and m["high_quality_fraction"] == 0.0
  assert m["reverse_kl"] == float("inf")
  empty = mixtures.mode_metrics(np.zeros((0, 2)), means, sigma)
  assert empty["n_samples"] == 0 and empty["modes_covered"] == 0
  assert empty["reverse_kl"] == float("inf")


def test_mode_metrics_validates_inputs():
  means, sigma = mixtures.mixture_spec("ring")
  with pytest.raises(ValueError):
    mixtures.mode_metrics(np.zeros((5, 3)), means, sigma)
  with pytest.raises(ValueError):
    mixtures.mode_metrics(np.zeros((5, 2)), means, 0.0)
  with pytest.raises(ValueError):
    mixtures.mode_metrics(np.zeros((5, 2)), means, sigma, min_count=0)
