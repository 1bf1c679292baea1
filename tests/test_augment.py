"""Tests for gan_jax.augment (DiffAugment) against a float64 numpy transcription.

The references below transcribe the authors' PyTorch DiffAugment line by line into numpy
on NCHW arrays (``meshgrid`` with ``ij`` indexing, one-pixel zero padding and clamped
indices for translation, a mask written through clamped indices for cutout), with the
random draws passed in, and transpose to NHWC only to compare.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment

SHAPE = (4, 8, 12, 3)  # non-square, so height/width conventions cannot be swapped unnoticed
KEY = jax.random.key(0)


def _images(shape=SHAPE, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _nchw(x) -> np.ndarray:
  return np.transpose(np.asarray(x, np.float64), (0, 3, 1, 2))


def _nhwc(x) -> np.ndarray:
  return np.transpose(x, (0, 2, 3, 1))


# --------------------------------------------------------------------------------------
# The reference, in float64 numpy, with the draws as arguments.
# --------------------------------------------------------------------------------------


def ref_brightness(x, r):
  x = _nchw(x)
  r = np.asarray(r, np.float64).reshape(-1, 1, 1, 1)
  return _nhwc(x + (r - 0.5))


def ref_saturation(x, r):
  x = _nchw(x)
  r = np.asarray(r, np.float64).reshape(-1, 1, 1, 1)
  x_mean = x.mean(axis=1, keepdims=True)
  return _nhwc((x - x_mean) * (r * 2) + x_mean)


def ref_contrast(x, r):
  x = _nchw(x)
  r = np.asarray(r, np.float64).reshape(-1, 1, 1, 1)
  x_mean = x.mean(axis=(1, 2, 3), keepdims=True)
  return _nhwc((x - x_mean) * (r + 0.5) + x_mean)


def _ref_translation_grid(n, h, w, tx, ty):
  tx = np.asarray(tx).reshape(n, 1, 1)
  ty = np.asarray(ty).reshape(n, 1, 1)
  grid_batch, grid_x, grid_y = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
  grid_x = np.clip(grid_x + tx + 1, 0, h + 1)
  grid_y = np.clip(grid_y + ty + 1, 0, w + 1)
  return grid_batch, grid_x, grid_y


def ref_translation(x, tx, ty):
  x = _nchw(x)
  n, _, h, w = x.shape
  grid = _ref_translation_grid(n, h, w, tx, ty)
  x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
  out = np.transpose(np.transpose(x_pad, (0, 2, 3, 1))[grid], (0, 3, 1, 2))
  return _nhwc(out)


def ref_translation_vjp(w_out, tx, ty):
  """The adjoint of the reference's gather: scatter-add the cotangent, drop the padding."""
  n, h, w, c = w_out.shape
  grid = _ref_translation_grid(n, h, w, tx, ty)
  g_pad = np.zeros((n, h + 2, w + 2, c))
  np.add.at(g_pad, grid, np.asarray(w_out, np.float64))
  return g_pad[:, 1:-1, 1:-1]


def ref_cutout_mask(n, h, w, ox, oy, size):
  ox = np.asarray(ox).reshape(n, 1, 1)
  oy = np.asarray(oy).reshape(n, 1, 1)
  grid_batch, grid_x, grid_y = np.meshgrid(
    np.arange(n), np.arange(size[0]), np.arange(size[1]), indexing="ij"
  )
  grid_x = np.clip(grid_x + ox - size[0] // 2, 0, h - 1)
  grid_y = np.clip(grid_y + oy - size[1] // 2, 0, w - 1)
  mask = np.ones((n, h, w))
  mask[grid_batch, grid_x, grid_y] = 0
  return mask


def ref_cutout(x, ox, oy, size):
  x = _nchw(x)
  n, _, h, w = x.shape
  mask = ref_cutout_mask(n, h, w, ox, oy, size)
  return _nhwc(x * mask[:, None])


def _uniform(key, n):
  return jax.random.uniform(key, (n,))


def _translation_draws(key, shape, ratio=0.125):
  n, h, w, _ = shape
  sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
  kx, ky = jax.random.split(key)
  return (
    np.asarray(jax.random.randint(kx, (n,), -sx, sx + 1)),
    np.asarray(jax.random.randint(ky, (n,), -sy, sy + 1)),
  )


def _cutout_draws(key, shape, ratio=0.5):
  n, h, w, _ = shape
  size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
  kx, ky = jax.random.split(key)
  ox = jax.random.randint(kx, (n,), 0, h + (1 - size[0] % 2))
  oy = jax.random.randint(ky, (n,), 0, w + (1 - size[1] % 2))
  return np.asarray(ox), np.asarray(oy), size


# --------------------------------------------------------------------------------------
# Fixed draws: each op equals the reference.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
  "op, ref",
  [
    (augment.brightness, ref_brightness),
    (augment.saturation, ref_saturation),
    (augment.contrast, ref_contrast),
  ],
)
def test_colour_ops_match_reference(op, ref):
  x = _images()
  r = np.array([0.0, 0.25, 0.5, 0.999], np.float32)
  np.testing.assert_allclose(np.asarray(op(x, r), np.float64), ref(x, r), rtol=0, atol=2e-6)


TRANSLATIONS = [
  ([0, 0, 0, 0], [0, 0, 0, 0]),  # identity
  ([-1, 0, 1, 1], [2, -2, 0, 1]),  # the default ratio's range for 8x12
  ([3, -5, 7, -8], [-11, 4, 12, 6]),  # large shifts, down to an all-zero image
  ([9, -20, 100, 2], [0, 13, -3, -100]),  # beyond the image: the clamps land on the border
]


@pytest.mark.parametrize("tx, ty", TRANSLATIONS)
def test_translation_matches_reference(tx, ty):
  x = _images()
  out = augment.translation(x, jnp.array(tx), jnp.array(ty))
  np.testing.assert_array_equal(np.asarray(out, np.float64), ref_translation(x, tx, ty))


def test_translation_moves_along_height_then_width():
  x = _images()
  out = np.asarray(augment.translation(x, jnp.array([1] * 4), jnp.array([-2] * 4)))
  # out[b, i, j] = x[b, i + 1, j - 2] inside the image, zero on the vacated border.
  np.testing.assert_array_equal(out[:, :-1, 2:], x[:, 1:, :-2])
  assert not out[:, -1].any() and not out[:, :, :2].any()


CUTOUTS = [
  ((4, 6), [0, 3, 8, 5], [0, 6, 12, 1]),  # even sizes, the reference's offset range
  ((5, 3), [0, 2, 7, 4], [11, 0, 1, 6]),  # odd sizes
  ((1, 1), [0, 7, 3, 4], [0, 11, 5, 6]),
  ((8, 12), [4, 0, 8, 2], [6, 0, 12, 3]),  # the whole image
  ((4, 6), [-3, 20, -1, 11], [30, -7, 14, -2]),  # offsets outside: clamped to the border
  ((0, 6), [3, 3, 3, 3], [6, 6, 6, 6]),  # an empty rectangle cuts nothing
]


@pytest.mark.parametrize("size, ox, oy", CUTOUTS)
def test_cutout_matches_reference(size, ox, oy):
  x = _images()
  out = augment.cutout(x, jnp.array(ox), jnp.array(oy), size)
  np.testing.assert_array_equal(np.asarray(out, np.float64), ref_cutout(x, ox, oy, size))


# --------------------------------------------------------------------------------------
# Random ops: the documented draws, their ranges, per sample.
# --------------------------------------------------------------------------------------


def test_random_ops_use_documented_draws():
  x = _images()
  n = x.shape[0]
  k = jax.random.key(7)
  np.testing.assert_array_equal(
    augment.rand_brightness(x, k), augment.brightness(x, _uniform(k, n))
  )
  np.testing.assert_array_equal(
    augment.rand_saturation(x, k), augment.saturation(x, _uniform(k, n))
  )
  np.testing.assert_array_equal(augment.rand_contrast(x, k), augment.contrast(x, _uniform(k, n)))
  for ratio in (0.125, 0.3):
    tx, ty = _translation_draws(k, x.shape, ratio)
    np.testing.assert_array_equal(
      augment.rand_translation(x, k, ratio), ref_translation(x, tx, ty).astype(np.float32)
    )
  for ratio in (0.5, 0.625):
    ox, oy, size = _cutout_draws(k, x.shape, ratio)
    np.testing.assert_array_equal(
      augment.rand_cutout(x, k, ratio), ref_cutout(x, ox, oy, size).astype(np.float32)
    )


BIG = (256, 8, 12, 1)


def test_colour_draws_are_per_sample_and_in_range():
  n = BIG[0]
  k = jax.random.key(3)
  offsets = np.asarray(augment.rand_brightness(jnp.zeros(BIG), k))[:, 0, 0, 0]
  # A pixel [-0.5, 0, 0.5] has channel mean 0: saturation scales it by 2r in [0, 2).
  px = jnp.broadcast_to(jnp.array([-0.5, 0.0, 0.5]), (n, 2, 2, 3))
  sat = np.asarray(augment.rand_saturation(px, k))[:, 0, 0, 2] / 0.5
  # A +-0.5 checkerboard has mean 0: contrast scales it by r + 0.5 in [0.5, 1.5).
  board = 0.5 * (-1.0) ** (np.arange(4)[:, None] + np.arange(4)[None, :])
  board = jnp.broadcast_to(jnp.asarray(board, jnp.float32)[None, :, :, None], (n, 4, 4, 1))
  con = np.asarray(augment.rand_contrast(board, k))[:, 0, 0, 0] / 0.5
  for values, lo, hi in ((offsets, -0.5, 0.5), (sat, 0.0, 2.0), (con, 0.5, 1.5)):
    assert len(np.unique(values)) == n  # one draw per sample
    assert values.min() >= lo and values.max() < hi
    assert values.min() < lo + 0.1 and values.max() > hi - 0.1


@pytest.mark.parametrize("ratio", [0.125, 0.25])
def test_translation_draws_cover_reference_range(ratio):
  n, h, w, _ = BIG
  sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
  x = 1.0 + np.arange(np.prod(BIG), dtype=np.float32).reshape(BIG)  # no zeros, all distinct
  out = np.asarray(augment.rand_translation(x, jax.random.key(4), ratio))
  shifts = set()
  for b in range(n):
    # The first unvacated pixel out[b, i, j] = x[b, i + tx, j + ty] identifies the shift.
    i, j = np.argwhere(out[b, :, :, 0] != 0)[0]
    src = np.argwhere(x[b, :, :, 0] == out[b, i, j, 0])[0]
    tx, ty = int(src[0] - i), int(src[1] - j)
    np.testing.assert_array_equal(out[b : b + 1], ref_translation(x[b : b + 1], [tx], [ty]))
    shifts.add((tx, ty))
  expected = {(a, c) for a in range(-sx, sx + 1) for c in range(-sy, sy + 1)}
  assert shifts == expected


@pytest.mark.parametrize("ratio", [0.5, 0.625])
def test_cutout_draws_cover_reference_range(ratio):
  n, h, w, _ = BIG
  size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
  out = np.asarray(augment.rand_cutout(jnp.ones(BIG), jax.random.key(5), ratio))[..., 0]
  offsets = set()
  for b in range(n):
    cut = out[b] == 0
    rows, cols = np.flatnonzero(cut.any(axis=1)), np.flatnonzero(cut.any(axis=0))
    centre = []
    for idx, s in ((rows, size[0]), (cols, size[1])):
      # The cut interval is [o - s // 2, o - s // 2 + s - 1] clipped to the image.
      centre.append(int(idx[0] + s // 2 if idx[0] > 0 else idx[-1] - s + 1 + s // 2))
    np.testing.assert_array_equal(out[b], ref_cutout_mask(1, h, w, *centre, size)[0])
    offsets.add(tuple(centre))
  ox_range = range(0, h + (1 - size[0] % 2))
  oy_range = range(0, w + (1 - size[1] % 2))
  assert {o[0] for o in offsets} == set(ox_range)
  assert {o[1] for o in offsets} == set(oy_range)


# --------------------------------------------------------------------------------------
# The policy.
# --------------------------------------------------------------------------------------


def test_empty_policy_is_identity():
  x = jnp.asarray(_images())
  assert augment.diff_augment(x, KEY, "") is x
  np.testing.assert_array_equal(jax.jit(augment.diff_augment, static_argnums=2)(x, KEY, ""), x)


def test_unknown_policy_lists_valid_names():
  assert augment.POLICIES == ("color", "translation", "cutout")
  with pytest.raises(ValueError) as err:
    augment.diff_augment(jnp.zeros(SHAPE), KEY, "color,colour")
  assert "colour" in str(err.value)
  for name in augment.POLICIES:
    assert name in str(err.value)


def test_policy_applies_groups_in_order_with_folded_keys():
  x = _images()
  out = augment.diff_augment(x, KEY, "color,translation,cutout")
  k0, k1, k2 = (jax.random.fold_in(KEY, i) for i in range(3))
  y = x
  for j, op in enumerate((augment.rand_brightness, augment.rand_saturation, augment.rand_contrast)):
    y = op(y, jax.random.fold_in(k0, j))
  y = augment.rand_translation(y, jax.random.fold_in(k1, 0))
  y = augment.rand_cutout(y, jax.random.fold_in(k2, 0))
  np.testing.assert_array_equal(out, y)
  # The default policy is the paper's full one.
  np.testing.assert_array_equal(augment.diff_augment(x, KEY), out)


def test_jit_matches_eager_and_keys_determine_draws():
  x = _images()
  aug = jax.jit(augment.diff_augment, static_argnames="policy")
  eager = augment.diff_augment(x, KEY, policy="color,translation,cutout")
  jitted = aug(x, KEY, policy="color,translation,cutout")
  np.testing.assert_allclose(jitted, eager, rtol=0, atol=1e-6)
  np.testing.assert_array_equal(aug(x, KEY, policy="color,translation,cutout"), jitted)
  other = aug(x, jax.random.key(1), policy="color,translation,cutout")
  for b in range(x.shape[0]):  # every sample gets other draws from another key
    assert not np.allclose(other[b], jitted[b])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_shapes_and_dtypes_kept(dtype):
  x = jnp.asarray(_images(), dtype)
  ops = [
    lambda x, k: augment.rand_brightness(x, k),
    lambda x, k: augment.rand_saturation(x, k),
    lambda x, k: augment.rand_contrast(x, k),
    lambda x, k: augment.rand_translation(x, k),
    lambda x, k: augment.rand_cutout(x, k),
    lambda x, k: augment.diff_augment(x, k),
  ]
  for op in ops:
    out = op(x, KEY)
    assert out.shape == x.shape and out.dtype == dtype
  if dtype == jnp.bfloat16:  # the same values as in float32, to bfloat16 precision
    ref = augment.diff_augment(x.astype(jnp.float32), KEY)
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=0, atol=0.05)


# --------------------------------------------------------------------------------------
# Gradients.
# --------------------------------------------------------------------------------------


def _grad(fn, x, w):
  return np.asarray(jax.grad(lambda x: jnp.sum(fn(x) * w))(jnp.asarray(x)), np.float64)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradients_flow_through_policy(policy):
  x, w = _images(seed=1), _images(seed=2)
  g = _grad(lambda x: augment.diff_augment(x, KEY, policy), x, w)
  assert np.isfinite(g).all() and np.abs(g).sum() > 0
  for b in range(x.shape[0]):
    assert np.abs(g[b]).sum() > 0


def test_colour_gradients_match_adjoint():
  x, w = _images(seed=1), _images(seed=2)
  r = np.array([0.1, 0.4, 0.6, 0.9], np.float32)
  s = r.reshape(-1, 1, 1, 1).astype(np.float64)
  w64 = w.astype(np.float64)
  # Each op is affine in x; its adjoint applied to w.
  expected = {
    augment.brightness: w64,
    augment.saturation: (w64 - w64.mean(3, keepdims=True)) * 2 * s + w64.mean(3, keepdims=True),
    augment.contrast: (w64 - w64.mean((1, 2, 3), keepdims=True)) * (s + 0.5)
    + w64.mean((1, 2, 3), keepdims=True),
  }
  for op, g_ref in expected.items():
    g = _grad(lambda x, op=op: op(x, r), x, w)
    assert np.isfinite(g).all() and np.abs(g).sum() > 0
    np.testing.assert_allclose(g, g_ref, rtol=0, atol=1e-6)


def test_translation_and_cutout_gradients_are_shift_and_mask():
  x, w = _images(seed=1), _images(seed=2)
  k = jax.random.key(11)
  tx, ty = _translation_draws(k, x.shape)
  g = _grad(lambda x: augment.rand_translation(x, k), x, w)
  np.testing.assert_array_equal(g, ref_translation_vjp(w, tx, ty))
  assert np.abs(g).sum() > 0
  ox, oy, size = _cutout_draws(k, x.shape)
  g = _grad(lambda x: augment.rand_cutout(x, k), x, w)
  mask = ref_cutout_mask(x.shape[0], x.shape[1], x.shape[2], ox, oy, size)
  np.testing.assert_array_equal(g, w * mask[..., None])
  assert np.abs(g).sum() > 0
