"""The offline face metrics: eigenfaces against an SVD-free covariance computation, the
Frechet distance of the real faces to themselves and to others, nearest-face distances."""

import numpy as np
import pytest

from gan_jax.data.embedded import load_lfw
from gan_jax.metrics import faces


def test_eigenfaces_are_the_covariance_eigenvectors_of_the_real_faces():
  real = load_lfw(16)
  mean, comps = faces.eigenfaces(real, 5)
  x = real.reshape(len(real), -1).astype(np.float64)
  cov = np.cov(x, rowvar=False)
  w, v = np.linalg.eigh(cov)
  top = v[:, ::-1][:, :5]
  np.testing.assert_allclose(mean, x.mean(0), atol=1e-6)
  np.testing.assert_allclose(np.abs(comps @ top), np.eye(5), atol=1e-6)  # up to sign


def test_face_fd_is_zero_on_the_real_faces_and_grows_with_distortion():
  real = load_lfw(16)
  assert faces.face_metrics(real, real)["face_fd"] == pytest.approx(0.0, abs=1e-6)
  assert faces.face_metrics(real, real)["face_nn"] == pytest.approx(0.0, abs=1e-6)
  rng = np.random.default_rng(0)
  noisy = np.clip(real + rng.normal(0, 0.1, real.shape), -1, 1)
  noise = rng.uniform(-1, 1, real.shape)
  fd_noisy = faces.face_metrics(noisy, real)["face_fd"]
  fd_noise = faces.face_metrics(noise, real)["face_fd"]
  assert 0 < fd_noisy < fd_noise
  # The nearest training face of a slightly noisy copy is its own face: RMS ~ the noise.
  assert faces.face_metrics(noisy, real)["face_nn"] < 0.11


def test_nearest_distance_against_a_loop():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(7, 4, 4, 1)), rng.normal(size=(5, 4, 4, 1))
  want = [min(np.sqrt(np.mean((x - y) ** 2)) for y in b) for x in a]
  np.testing.assert_allclose(faces.nearest_distance(a, b), want, rtol=1e-9)
