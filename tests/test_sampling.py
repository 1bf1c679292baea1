"""Tests for gan_jax.sampling: slerp, interpolation grids, truncation and image output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import sampling


def _slerp_ref(z0, z1, t):
  """Shoemake's slerp in float64: sin((1-t)W)/sin W z0 + sin(tW)/sin W z1."""
  z0, z1, t = (np.asarray(a, np.float64) for a in (z0, z1, t))
  u0 = z0 / np.linalg.norm(z0, axis=-1, keepdims=True)
  u1 = z1 / np.linalg.norm(z1, axis=-1, keepdims=True)
  omega = np.arccos(np.clip(np.sum(u0 * u1, -1, keepdims=True), -1, 1))
  return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


# jit: one compilation per shape instead of one per eager op.
_slerp = jax.jit(sampling.slerp)


def _key(seed):
  # The "rbg" PRNG compiles much faster than threefry on CPU; the code under test is
  # agnostic to the key's implementation.
  return jax.random.key(seed, impl="rbg")


_interpolation_latents = jax.jit(sampling.interpolation_latents, static_argnums=(1, 2, 3))


def _normal(seed, shape):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------------------
# slerp.


def test_slerp_matches_reference():
  z0, z1 = _normal(0, (5, 16)), _normal(1, (5, 16))
  t = np.array([0.1, 0.25, 0.5, 0.75, 0.9], np.float32)[:, None, None]  # [T, 1, 1]
  out = np.asarray(_slerp(z0[None], z1[None], t))
  assert out.shape == (5, 5, 16) and out.dtype == np.float32
  np.testing.assert_allclose(out, _slerp_ref(z0[None], z1[None], t), rtol=1e-4, atol=1e-5)
  # A scalar t and per-row t broadcast too.
  np.testing.assert_allclose(_slerp(z0, z1, 0.3), _slerp_ref(z0, z1, 0.3), rtol=1e-4, atol=1e-5)
  t_rows = np.linspace(0, 1, 5, dtype=np.float32)[:, None]
  np.testing.assert_allclose(
    _slerp(z0, z1, t_rows), _slerp_ref(z0, z1, t_rows), rtol=1e-4, atol=1e-5
  )
  # Unequal norms: the formula is applied to the raw vectors, not the unit ones.
  np.testing.assert_allclose(
    _slerp(z0, 3 * z1, 0.6), _slerp_ref(z0, 3 * z1, 0.6), rtol=1e-4, atol=1e-5
  )


def test_slerp_endpoints():
  z0, z1 = _normal(2, (8, 32)), _normal(3, (8, 32))
  # Exact up to float32 rounding of sin(W) z0 / sin(W) (one ulp).
  np.testing.assert_allclose(_slerp(z0, z1, 0.0), z0, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(_slerp(z0, z1, 1.0), z1, rtol=1e-6, atol=1e-6)


def test_slerp_keeps_norm_for_equal_norm_endpoints():
  z0, z1 = _normal(4, (3, 64)), _normal(5, (3, 64))
  z1 = z1 / np.linalg.norm(z1, axis=-1, keepdims=True) * np.linalg.norm(z0, axis=-1, keepdims=True)
  t = np.linspace(0, 1, 11, dtype=np.float32)[:, None, None]
  out = np.asarray(_slerp(z0[None], z1[None], t))
  norms = np.linalg.norm(out, axis=-1)
  np.testing.assert_allclose(
    norms, np.broadcast_to(np.linalg.norm(z0, axis=-1), norms.shape), rtol=1e-5
  )
  # Control: the straight line loses norm in the middle (the vectors are not parallel).
  lerp_mid = np.linalg.norm(0.5 * (z0 + z1), axis=-1)
  assert np.all(lerp_mid < 0.9 * np.linalg.norm(z0, axis=-1))


def test_slerp_parallel_falls_back_to_lerp():
  z0 = _normal(6, (4, 16))
  t = np.linspace(0, 1, 7, dtype=np.float32)[:, None, None]
  for z1 in (z0, 3.0 * z0, z0 * (1 + 1e-7) + 1e-7 * _normal(7, (4, 16))):
    out = np.asarray(_slerp(z0[None], z1[None], t))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, (1 - t) * z0 + t * z1, rtol=1e-5, atol=1e-5)
  # Opposite vectors have no unique great circle; the result must at least be finite.
  assert np.all(np.isfinite(np.asarray(_slerp(z0[None], -z0[None], t))))


# ------------------------------------------------------------------------------------------
# interpolation_latents.


def test_interpolation_latents():
  rows, cols, z_dim = 3, 6, 256
  z = np.asarray(_interpolation_latents(_key(0), rows, cols, z_dim))
  assert z.shape == (rows * cols, z_dim) and z.dtype == np.float32
  grid = z.reshape(rows, cols, z_dim)
  t = np.linspace(0, 1, cols)[:, None]
  for r in range(rows):
    start, end = grid[r, 0], grid[r, -1]
    # Endpoints look like N(0, I) draws, and each row walks by slerp between its own.
    for e in (start, end):
      assert 0.8 < np.linalg.norm(e) / np.sqrt(z_dim) < 1.2
    np.testing.assert_allclose(grid[r], _slerp_ref(start[None], end[None], t), rtol=1e-4, atol=1e-4)
  assert not np.allclose(grid[0, 0], grid[1, 0])
  assert not np.allclose(grid[0, 0], grid[0, -1])
  np.testing.assert_array_equal(_interpolation_latents(_key(0), rows, cols, z_dim), z)
  assert not np.allclose(_interpolation_latents(_key(1), rows, cols, z_dim), z)


# ------------------------------------------------------------------------------------------
# Truncation.


def test_truncate():
  z = jnp.asarray(_normal(8, (64, 16)) * 2.0)
  np.testing.assert_array_equal(sampling.truncate(z, 1.0), z)
  np.testing.assert_array_equal(sampling.truncate(z, 0.0), np.zeros_like(z))
  np.testing.assert_allclose(sampling.truncate(z, 0.7), 0.7 * np.asarray(z), rtol=1e-6)
  clipped = np.asarray(sampling.truncate(z, 1.0, threshold=1.5))
  assert np.abs(clipped).max() == pytest.approx(1.5)
  np.testing.assert_array_equal(clipped, np.clip(z, -1.5, 1.5))
  inside = np.abs(np.asarray(z)) < 1.5
  np.testing.assert_array_equal(clipped[inside], np.asarray(z)[inside])
  np.testing.assert_allclose(
    sampling.truncate(z, 0.5, threshold=1.0), 0.5 * np.clip(z, -1.0, 1.0), rtol=1e-6
  )


@pytest.mark.parametrize("threshold", (0.5, 2.0))
def test_truncated_normal(threshold):
  z = np.asarray(sampling.truncated_normal(_key(3), 2000, 8, threshold))
  assert z.shape == (2000, 8) and z.dtype == np.float32
  assert np.abs(z).max() <= threshold
  assert np.abs(z).max() > 0.95 * threshold
  assert abs(z.mean()) < 0.03
  # Standard normal truncated at +-2 has std 0.880; at +-0.5, 0.2866.
  expected_std = {0.5: 0.2866, 2.0: 0.8796}[threshold]
  assert abs(z.std() / expected_std - 1) < 0.05


# ------------------------------------------------------------------------------------------
# Images.


def test_to_uint8():
  x = np.array([-1.0, 1.0, 0.0, -2.0, 2.0, 0.5, -0.999, 0.999], np.float32)
  out = sampling.to_uint8(x)
  assert out.dtype == np.uint8 and out.shape == x.shape
  np.testing.assert_array_equal(out, [0, 255, 128, 0, 255, 191, 0, 255])
  img = np.zeros((2, 3, 4, 1), np.float32)
  assert sampling.to_uint8(img).shape == (2, 3, 4, 1)


@pytest.mark.parametrize(
  ("n", "ncol", "pad", "channels"),
  [(5, 3, 1, 1), (5, None, 1, 3), (4, None, 2, 1), (6, 6, 0, 3), (7, 2, 1, 1)],
)
def test_make_grid(n, ncol, pad, channels):
  h, w = 3, 4
  images = np.random.default_rng(0).uniform(-1, 1, (n, h, w, channels)).astype(np.float32)
  grid = sampling.make_grid(images, ncol=ncol, pad=pad)
  cols = ncol or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / cols))
  assert grid.dtype == np.uint8
  assert grid.shape == (rows * (h + pad) + pad, cols * (w + pad) + pad, channels)
  tiles = sampling.to_uint8(images)
  covered = np.zeros(grid.shape[:2], bool)
  for i in range(n):
    r, c = divmod(i, cols)
    y, x = pad + r * (h + pad), pad + c * (w + pad)
    np.testing.assert_array_equal(grid[y : y + h, x : x + w], tiles[i])
    covered[y : y + h, x : x + w] = True
  assert np.all(grid[~covered] == 255)  # padding and empty cells are white


@pytest.mark.parametrize(
  ("channels", "scale", "mode"), [(1, 1, "L"), (1, 3, "L"), (3, 1, "RGB"), (3, 2, "RGB")]
)
def test_save_image(tmp_path, channels, scale, mode):
  image = np.random.default_rng(1).integers(0, 256, (5, 7, channels), dtype=np.uint8)
  path = tmp_path / "nested" / "dir" / "img.png"
  sampling.save_image(str(path), image, scale=scale)
  with Image.open(path) as img:
    assert img.format == "PNG"
    assert img.mode == mode
    assert img.size == (7 * scale, 5 * scale)  # PIL sizes are (width, height)
    pixels = np.asarray(img)
  expected = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
  if channels == 1:
    expected = expected[..., 0]
  np.testing.assert_array_equal(pixels, expected)


def _is_blue(pixel):
  r, g, b = (int(v) for v in pixel)
  return b > 150 and r < 100 and g < 150


def test_scatter_plot_draws_samples_where_they_are():
  size = 64
  samples = np.array([[0.5, 0.5]])
  img = sampling.scatter_plot(samples, size=size, extent=1.0)
  assert img.shape == (size, size, 3) and img.dtype == np.uint8
  # x = 0.5 -> column (0.5 + 1) * 32 = 48; y = 0.5 -> row (1 - 0.5) * 32 = 16.
  assert _is_blue(img[16, 48])
  assert np.all(img[40:, :30] == 255)  # far from the sample: white
  # Default extent: 1.2 * max |coordinate|; (2, 0) lands at column (2 / 2.4 + 1) * 32.
  img = sampling.scatter_plot(np.array([[2.0, 0.0]]), size=size)
  assert _is_blue(img[32, 58])
  # Means are drawn as red rings.
  img = sampling.scatter_plot(samples, means=np.array([[-0.5, -0.5]]), size=size, extent=1.0)
  ring = img[48 - 8 : 48 + 9, 16 - 8 : 16 + 9].reshape(-1, 3).astype(int)
  assert np.any((ring[:, 0] > 180) & (ring[:, 1] < 100) & (ring[:, 2] < 100))
  assert _is_blue(img[16, 48])


def test_scatter_plot_many_samples():
  pts = np.random.default_rng(2).standard_normal((500, 2))
  img = sampling.scatter_plot(pts, size=128)
  assert img.shape == (128, 128, 3) and img.dtype == np.uint8
  blue = (img[..., 2] > 150) & (img[..., 0] < 100)
  assert blue.sum() > 100
  rows, cols = np.nonzero(blue)
  assert abs(rows.mean() - 64) < 10 and abs(cols.mean() - 64) < 10  # centred cloud


def test_scatter_plot_handles_nan_and_inf():
  pts = np.array([[0.5, 0.5], [np.nan, 0.0], [np.inf, 1.0], [0.0, -np.inf]])
  img = sampling.scatter_plot(pts, size=64)
  assert img.shape == (64, 64, 3) and img.dtype == np.uint8
  # extent from the finite points only: 1.2 * 0.5 = 0.6; (0.5, 0.5) -> (58.67, 5.33).
  assert _is_blue(img[5, 58])
  all_nan = np.full((10, 2), np.nan)
  img = sampling.scatter_plot(all_nan, size=32)
  assert img.shape == (32, 32, 3)
  img = sampling.scatter_plot(all_nan, means=np.array([[1.0, 0.0]]), size=32)
  assert img.shape == (32, 32, 3)


def test_scatter_plot_collapsed_at_origin():
  img = sampling.scatter_plot(np.zeros((16, 2)), size=32)
  assert img.shape == (32, 32, 3)
