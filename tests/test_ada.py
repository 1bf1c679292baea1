"""Tests for ADA's ``bgc`` pipeline and its p controller in gan_jax.augment.

The colour checks compare with float64 numpy formulas of the matrices of Karras et al.
2020, "Training Generative Adversarial Networks with Limited Data" (the authors'
``AugmentPipe``) and with what each op does to a pixel; the geometric checks compare
with numpy's flips, rotations and rolls and with ``scipy.ndimage.shift``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from gan_jax import augment

KEY = jax.random.key(0)
LUMA = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
SHAPE = (4, 16, 16, 3)  # one shape for most geometric checks: one compilation per mode

# Compiled once per shape and mode, shared by the tests.
_apply = jax.jit(augment.ada_apply, static_argnames=("resample", "exact_blit"))
_augment = jax.jit(augment.ada_augment, static_argnames=("resample", "exact_blit"))
_draw = jax.jit(augment.ada_draw_params, static_argnums=(2, 3, 4))


def _images(shape=SHAPE, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _params(batch: int, **values) -> augment.AdaParams:
  """Identity parameters with some fields set to per-sample values (or one for all)."""
  base = augment.ada_identity_params(batch)
  return base._replace(
    **{k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (batch,)) for k, v in values.items()}
  )


# --------------------------------------------------------------------------------------
# Identity.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("resample", augment.ADA_RESAMPLE)
def test_p_zero_is_identity(resample):
  x = jnp.asarray(_images())
  np.testing.assert_array_equal(_augment(x, KEY, 0.0, resample=resample), x)


def test_identity_params_give_identity_matrices():
  params = augment.ada_identity_params(2)
  np.testing.assert_array_equal(
    augment.geometric_matrix(params), np.broadcast_to(np.eye(3), (2, 3, 3))
  )
  np.testing.assert_array_equal(augment.color_matrix(params), np.broadcast_to(np.eye(4), (2, 4, 4)))


# --------------------------------------------------------------------------------------
# Colour: the matrices and what they do to pixels, in float64 numpy.
# --------------------------------------------------------------------------------------


def np_brightness(b):
  m = np.eye(4)
  m[:3, 3] = b
  return m


def np_contrast(c):
  return np.diag([c, c, c, 1.0])


def np_lumaflip(i):
  v = np.append(LUMA, 0.0)
  return np.eye(4) - 2 * np.outer(v, v) * i


def np_hue(theta):
  # Rodrigues: R = cos I + sin [v]_x + (1 - cos) v v^T.
  v = LUMA
  cross = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
  m = np.eye(4)
  m[:3, :3] = np.cos(theta) * np.eye(3) + np.sin(theta) * cross
  m[:3, :3] += (1 - np.cos(theta)) * np.outer(v, v)
  return m


def np_saturation(s):
  v = np.append(LUMA, 0.0)
  return np.outer(v, v) + (np.eye(4) - np.outer(v, v)) * s


def px_brightness(x, b):
  return x + b


def px_contrast(x, c):
  return x * c


def px_lumaflip(x, i):
  return x - 2 * i * x.mean(-1, keepdims=True)


def px_hue(x, theta):
  # Rotate the chroma (component orthogonal to the luma axis) about the axis.
  luma = x.mean(-1, keepdims=True)
  chroma = x - luma
  return luma + np.cos(theta) * chroma + np.sin(theta) * np.cross(LUMA, chroma)


def px_saturation(x, s):
  luma = x.mean(-1, keepdims=True)
  return luma + (x - luma) * s


COLOUR_OPS = {
  "brightness": (augment.brightness_matrix, np_brightness, px_brightness, [0.3, -0.25, 0.0]),
  "contrast": (augment.contrast_matrix, np_contrast, px_contrast, [1.7, 0.4, 1.0]),
  "lumaflip": (augment.lumaflip_matrix, np_lumaflip, px_lumaflip, [1.0, 0.0, 1.0]),
  "hue": (augment.hue_matrix, np_hue, px_hue, [0.9, -2.5, np.pi]),
  "saturation": (augment.saturation_matrix, np_saturation, px_saturation, [0.2, 3.1, 1.0]),
}


@pytest.mark.parametrize("name", list(COLOUR_OPS))
def test_colour_op_matches_numpy(name):
  matrix_fn, np_matrix, px_formula, draws = COLOUR_OPS[name]
  m = np.asarray(matrix_fn(jnp.asarray(draws, jnp.float32)))
  expected_m = np.stack([np_matrix(d) for d in draws])
  np.testing.assert_allclose(m, expected_m, rtol=0, atol=1e-6)

  x = _images((3, 6, 5, 3))
  draws64 = np.asarray(np.float32(draws), np.float64)  # the float32 draws, as the op sees them
  expected = np.stack([px_formula(np.float64(x[b]), draws64[b]) for b in range(len(draws))])
  out = augment.apply_color(jnp.asarray(x), augment.color_matrix(_params(3, **{name: draws})))
  np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)


def test_colour_ops_compose_in_reference_order():
  values = dict(brightness=0.2, contrast=1.5, lumaflip=1.0, hue=0.7, saturation=0.6)
  c = np.asarray(augment.color_matrix(_params(1, **values)))[0]
  expected = np_saturation(0.6) @ np_hue(0.7) @ np_lumaflip(1.0) @ np_contrast(1.5)
  expected = expected @ np_brightness(0.2)
  np.testing.assert_allclose(c, expected, rtol=0, atol=1e-6)
  x = _images((3, 6, 5, 3), seed=1)
  out = augment.apply_color(jnp.asarray(x), jnp.asarray(c[None].repeat(3, 0)))
  hom = np.concatenate([np.float64(x), np.ones(x.shape[:3] + (1,))], -1)
  np.testing.assert_allclose(out, (hom @ expected.T)[..., :3], rtol=0, atol=3e-6)


def test_one_channel_colour_averages_the_rows():
  x = _images((2, 8, 8, 1))
  params = _params(2, brightness=[0.1, -0.3], contrast=[1.3, 0.8], lumaflip=[1.0, 0.0])
  params = params._replace(hue=jnp.array([1.0, 2.0]), saturation=jnp.array([0.5, 3.0]))
  out = augment.apply_color(jnp.asarray(x), augment.color_matrix(params))
  # Grey pixels: luma flip negates, hue and saturation do nothing.
  scale = np.array([1.3, 0.8]).reshape(2, 1, 1, 1)
  expected = (np.float64(x) + np.array([0.1, -0.3]).reshape(2, 1, 1, 1)) * scale
  expected[0] *= -1
  np.testing.assert_allclose(out, expected, rtol=0, atol=3e-6)
  with pytest.raises(ValueError, match="1 or 3 channels"):
    augment.apply_color(jnp.zeros((1, 4, 4, 2)), jnp.eye(4)[None])


# --------------------------------------------------------------------------------------
# Geometry.
# --------------------------------------------------------------------------------------


def _rot(theta):
  c, s = np.cos(theta), np.sin(theta)
  return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def test_geometric_ops_compose_in_reference_order():
  values = dict(
    xflip=1.0,
    rotate90=3.0,
    xint_x=2.0,
    xint_y=-1.0,
    scale=1.25,
    rotate_pre=0.4,
    aniso=0.8,
    rotate_post=-1.1,
    xfrac_x=0.3,
    xfrac_y=-0.7,
  )
  params = _params(1, **values)
  g = np.asarray(augment.geometric_matrix(params))[0]

  def translate_inv(tx, ty):
    return np.array([[1, 0, -tx], [0, 1, -ty], [0, 0, 1.0]])

  # The reference's inverse factors, right-multiplied: the first op acts on the image first.
  blit = np.diag([-1.0, 1, 1]) @ _rot(np.pi / 2 * 3) @ translate_inv(2.0, -1.0)
  general = np.diag([1 / 1.25, 1 / 1.25, 1]) @ _rot(0.4) @ np.diag([1 / 0.8, 0.8, 1])
  general = general @ _rot(-1.1) @ translate_inv(0.3, -0.7)
  np.testing.assert_allclose(augment.blit_matrix(params)[0], blit, rtol=0, atol=1e-6)
  np.testing.assert_allclose(augment.general_matrix(params)[0], general, rtol=0, atol=2e-6)
  np.testing.assert_allclose(g, blit @ general, rtol=0, atol=2e-6)


@pytest.mark.parametrize("resample", augment.ADA_RESAMPLE)
def test_xflip_and_rot90_are_numpy_flips(resample):
  x = _images()
  out = _apply(jnp.asarray(x), _params(4, xflip=[1.0, 0.0, 1.0, 0.0]), resample=resample)
  np.testing.assert_allclose(out[0::2], x[0::2, :, ::-1], rtol=0, atol=1e-6)
  np.testing.assert_array_equal(out[1::2], x[1::2])
  out = _apply(jnp.asarray(x), _params(4, rotate90=[0.0, 1.0, 2.0, 3.0]), resample=resample)
  for k in range(4):
    np.testing.assert_allclose(out[k], np.rot90(x[k], k), rtol=0, atol=1e-6)


def _reflect_shift(image, tx, ty):
  """``image`` moved right by ``tx`` and down by ``ty``, filled by whole-sample reflection."""
  h, w = image.shape[:2]
  padded = np.pad(image, ((h - 1, h - 1), (w - 1, w - 1), (0, 0)), mode="reflect")
  return padded[h - 1 - ty : 2 * h - 1 - ty, w - 1 - tx : 2 * w - 1 - tx]


@pytest.mark.parametrize("resample", augment.ADA_RESAMPLE)
@pytest.mark.parametrize("shape", [SHAPE, (2, 10, 14, 3)])
def test_integer_translation_is_a_roll_with_reflect_padding(resample, shape):
  x = _images(shape)
  tx, ty = np.array([3, -2, 1, 0])[: shape[0]], np.array([-1, 2, 0, 2])[: shape[0]]
  params = _params(shape[0], xint_x=tx, xint_y=ty)
  out = np.asarray(_apply(jnp.asarray(x), params, resample=resample))
  for b in range(shape[0]):
    rolled = np.roll(x[b], (ty[b], tx[b]), axis=(0, 1))  # content moves right tx, down ty
    np.testing.assert_allclose(out[b, 2:-2, 3:-3], rolled[2:-2, 3:-3], rtol=0, atol=1e-6)
    # Everywhere, border included: the whole-sample reflection of the image.
    np.testing.assert_allclose(out[b], _reflect_shift(x[b], tx[b], ty[b]), rtol=0, atol=1e-6)


def test_reference_numerics_blit_through_the_filters():
  """``exact_blit=False``: integer shifts stay exact, flips pick up the sym6 filter pair."""
  x = _images()
  params = _params(4, xint_x=[2.0, 0.0, 0.0, 0.0], xint_y=[-3.0, 0.0, 0.0, 0.0])
  params = params._replace(xflip=jnp.array([0.0, 1.0, 0.0, 0.0]))
  params = params._replace(rotate90=jnp.array([0.0, 0.0, 1.0, 0.0]))
  out = np.asarray(_apply(jnp.asarray(x), params, exact_blit=False))
  np.testing.assert_allclose(out[0], _reflect_shift(x[0], 2, -3), rtol=0, atol=1e-5)
  np.testing.assert_allclose(out[3], x[3], rtol=0, atol=0)
  for b, expected in ((1, x[1, :, ::-1]), (2, np.rot90(x[2]))):
    err = np.abs(out[b] - expected).max()
    assert 0.05 < err < 0.6, err  # close to, but not, the exact move (noise images)
  smooth = np.broadcast_to(_smooth(16, 16, f=0.05)[None, :, :, None], SHAPE).astype(np.float32)
  out = np.asarray(_apply(jnp.asarray(smooth), params, exact_blit=False))
  np.testing.assert_allclose(out[1], smooth[1, :, ::-1], rtol=0, atol=0.05)


def test_exact_blit_then_general_ops():
  """With exact blits, flip + other ops equals the other ops on the flipped image."""
  x = _images()
  general = dict(rotate_pre=0.7, scale=1.2, xfrac_x=0.4, xfrac_y=-0.3)
  flipped = np.stack([x[0, :, ::-1], np.rot90(x[1], 3), x[2], x[3]])
  params = _params(4, xflip=[1.0, 0.0, 0.0, 0.0], rotate90=[0.0, 3.0, 0.0, 0.0], **general)
  a = _apply(jnp.asarray(x), params)
  b = _apply(jnp.asarray(flipped), _params(4, **general))
  np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def _smooth(h, w, f=0.03, dy=0.0, dx=0.0):
  i, j = np.meshgrid(np.arange(h) - dy, np.arange(w) - dx, indexing="ij")
  return 0.5 * np.sin(2 * np.pi * f * (i + 0.7 * j) + 0.3) + 0.4 * np.cos(
    2 * np.pi * f * (j - 0.5 * i)
  )


@pytest.mark.parametrize(("resample", "tol"), [("sym6", 2e-3), ("bilinear", 7e-3)])
def test_fractional_translation_matches_scipy_shift(resample, tol):
  shifts = [(0.3, -0.7), (1.37, 2.61), (-0.5, 0.5), (0.0, 0.25)]  # (dx along width, dy)
  base = _smooth(16, 16)
  x = np.broadcast_to(base[None, :, :, None], SHAPE).astype(np.float32)
  dx, dy = np.array(shifts).T
  out = np.asarray(_apply(jnp.asarray(x), _params(4, xfrac_x=dx, xfrac_y=dy), resample=resample))
  inner = (slice(5, -5), slice(5, -5))  # where the reflected border does not reach
  for b, (sx, sy) in enumerate(shifts):
    expected = scipy.ndimage.shift(base, (sy, sx), order=3, mode="mirror")
    np.testing.assert_allclose(out[b, ..., 0][inner], expected[inner], rtol=0, atol=tol)
    exact = _smooth(16, 16, dy=sy, dx=sx)
    np.testing.assert_allclose(out[b, ..., 0][inner], exact[inner], rtol=0, atol=tol)
  if resample == "sym6":  # half-pixel shifts land on the 2x grid: no interpolation error
    exact = _smooth(16, 16, dy=0.5, dx=-0.5)
    np.testing.assert_allclose(out[2, ..., 0][inner], exact[inner], rtol=0, atol=1e-4)


def test_scaling_and_rotation_move_content_as_the_matrix_says():
  # Centred coordinates: pixel (row i, col j) of a 16x16 image is at (x, y) = (j - 7.5, i - 7.5).
  # Sample 0, a blob at (row 11, col 9) = (1.5, 3.5): rotate_pre = theta puts
  # rotate2d_inv(-theta) = rotate2d(theta) into G_inv, so the content turns by -theta and
  # pi/2 takes it to (y, -x) = (3.5, -1.5), i.e. (row 6, col 11).
  # Sample 1, a blob at (row 8.75, col 8.25) = (0.75, 1.25): scaling by 2 about the centre
  # takes it to (1.5, 2.5), i.e. (row 10, col 9).
  i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
  x = np.zeros(SHAPE, np.float32)
  x[0] = np.exp(-((i - 11) ** 2 + (j - 9) ** 2) / 4.0)[..., None]
  x[1] = np.exp(-((i - 8.75) ** 2 + (j - 8.25) ** 2) / 4.0)[..., None]
  params = _params(4, rotate_pre=[np.pi / 2, 0.0, 0.0, 0.0], scale=[1.0, 2.0, 1.0, 1.0])
  out = np.asarray(_apply(jnp.asarray(x), params))[..., 0]
  assert np.unravel_index(np.argmax(out[0]), (16, 16)) == (6, 11)
  assert np.unravel_index(np.argmax(out[1]), (16, 16)) == (10, 9)
  np.testing.assert_allclose(out[0].max(), x[0].max(), atol=0.02)  # moved, not smeared
  assert np.isclose(out[1].sum(), 4 * x[1, ..., 0].sum(), rtol=0.1)  # twice as wide and tall


def test_geometric_validates_arguments():
  x = jnp.zeros((1, 8, 8, 3))
  with pytest.raises(ValueError, match="unknown resample"):
    augment.apply_geometric(x, jnp.eye(3)[None], "bicubic")
  with pytest.raises(ValueError, match="at least|>= 2"):
    augment.apply_geometric(jnp.zeros((1, 1, 8, 3)), jnp.eye(3)[None])


# --------------------------------------------------------------------------------------
# Gradients.
# --------------------------------------------------------------------------------------

ACTIVE = {
  "xflip": dict(xflip=1.0),
  "rotate90": dict(rotate90=1.0),
  "xint": dict(xint_x=2.0, xint_y=-1.0),
  "scale": dict(scale=1.3),
  "rotate_pre": dict(rotate_pre=0.4),
  "aniso": dict(aniso=1.2),
  "rotate_post": dict(rotate_post=-0.5),
  "xfrac": dict(xfrac_x=0.3, xfrac_y=-0.6),
  "brightness": dict(brightness=0.1),
  "contrast": dict(contrast=1.4),
  "lumaflip": dict(lumaflip=1.0),
  "hue": dict(hue=0.8),
  "saturation": dict(saturation=0.5),
}
assert tuple(ACTIVE) == augment.ADA_OPS


@pytest.mark.parametrize("resample", augment.ADA_RESAMPLE)
def test_gradients_flow_through_every_op(resample):
  """Sample ``b`` of the batch has only op ``b`` active: one compiled gradient for all."""
  n = len(ACTIVE)
  x = jnp.asarray(_images((n, 8, 8, 3)))
  w = jnp.asarray(_images((n, 8, 8, 3), seed=5))
  params = augment.ada_identity_params(n)
  for b, values in enumerate(ACTIVE.values()):
    params = params._replace(**{k: getattr(params, k).at[b].set(v) for k, v in values.items()})

  def loss(x):
    out = augment.ada_apply(x, params, resample)
    return jnp.sum(out * w), out

  g, out = jax.jit(jax.grad(loss, has_aux=True))(x)
  g, out = np.asarray(g), np.asarray(out)
  for b, name in enumerate(ACTIVE):
    assert not np.allclose(out[b], x[b]), name  # the op acts
    assert np.all(np.isfinite(g[b])), name
    assert np.abs(g[b]).max() > 1e-2, name
    if name != "brightness":  # an added constant has the identity's gradient
      assert not np.allclose(g[b], w[b]), name


# --------------------------------------------------------------------------------------
# Random draws.
# --------------------------------------------------------------------------------------

N = 20000


def test_all_ops_fire_at_p_one_and_parameters_follow_bgc():
  fired = np.asarray(augment.ada_fire_mask(KEY, 1.0, N))
  assert fired.shape == (N, len(augment.ADA_OPS)) and fired.all()
  params = _draw(KEY, 1.0, N, 32, 24)
  p = {k: np.asarray(v) for k, v in params._asdict().items()}
  for name in ("xflip", "lumaflip"):
    assert set(np.unique(p[name])) == {0.0, 1.0}
    assert abs(p[name].mean() - 0.5) < 0.02, name
  counts = np.bincount(p["rotate90"].astype(int), minlength=4) / N
  np.testing.assert_allclose(counts, 0.25, atol=0.02)
  # Integer translation: round(U(-1/8, 1/8) * size): width 24 -> |tx| <= 3, height 32 -> 4.
  assert np.all(p["xint_x"] == np.round(p["xint_x"])) and np.abs(p["xint_x"]).max() == 3
  assert np.abs(p["xint_y"]).max() == 4
  for name, std in (("scale", 0.2), ("aniso", 0.2), ("contrast", 0.5), ("saturation", 1.0)):
    assert abs(np.log2(p[name]).std() - std) < 0.03 * std, name
    assert abs(np.log2(p[name]).mean()) < 0.03 * std, name
  assert abs(p["xfrac_x"].std() - 0.125 * 24) < 0.1 and abs(p["xfrac_y"].std() - 4.0) < 0.1
  assert abs(p["brightness"].std() - 0.2) < 0.01
  for name in ("rotate_pre", "rotate_post", "hue"):  # uniform over the full circle
    assert np.abs(p[name]).max() <= np.pi
    assert abs(p[name].std() - np.pi / np.sqrt(3)) < 0.03, name


def test_firing_frequency_at_p_point_three():
  p = 0.3
  fired = np.asarray(augment.ada_fire_mask(KEY, p, N))
  col = {name: i for i, name in enumerate(augment.ADA_OPS)}
  p_rot = 1 - np.sqrt(1 - p)
  for name, i in col.items():
    expected = p_rot if name.startswith("rotate_") else p
    assert abs(fired[:, i].mean() - expected) < 0.015, name
  either = fired[:, col["rotate_pre"]] | fired[:, col["rotate_post"]]
  assert abs(either.mean() - p) < 0.015  # pre OR post fires with probability p
  # Independent across ops: xflip and contrast both fire for about p^2 of the samples.
  assert abs((fired[:, col["xflip"]] & fired[:, col["contrast"]]).mean() - p * p) < 0.01
  # End to end: about 30 % of samples fire xflip, half of them with i = 1.
  params = _draw(KEY, p, N, 16, 16)
  assert abs(np.mean(np.asarray(params.xflip) == 1.0) - p / 2) < 0.015
  assert abs(np.mean(np.asarray(params.contrast) != 1.0) - p) < 0.015


def test_draws_depend_on_key_and_unfired_ops_are_identity():
  a = _draw(KEY, 0.5, 64, 8, 8)
  b = _draw(jax.random.key(1), 0.5, 64, 8, 8)
  assert not np.array_equal(a.scale, b.scale)
  for x, y in zip(a, _draw(KEY, 0.5, 64, 8, 8), strict=True):
    np.testing.assert_array_equal(x, y)
  none = augment.ada_mask_params(a, jnp.zeros((64, len(augment.ADA_OPS)), bool))
  for x, y in zip(none, augment.ada_identity_params(64), strict=True):
    np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------------------
# The p controller.
# --------------------------------------------------------------------------------------


def test_p_update_step_sign_and_clamp():
  step = 64 * 4 / (500 * 1000)
  np.testing.assert_allclose(augment.ada_p_update(0.2, 0.9, 64), 0.2 + step, rtol=1e-6)
  np.testing.assert_allclose(augment.ada_p_update(0.2, 0.1, 64), 0.2 - step, rtol=1e-6)
  np.testing.assert_allclose(augment.ada_p_update(0.2, 0.6, 64), 0.2)  # sign(0) = 0
  np.testing.assert_allclose(
    augment.ada_p_update(0.5, 1.0, 32, interval=2, kimg=100, target=0.4), 0.5 + 32 * 2 / 1e5
  )
  assert float(augment.ada_p_update(step / 2, -1.0, 64)) == 0.0  # clamped at 0
  assert float(augment.ada_p_update(0.0, 0.0, 64)) == 0.0
  np.testing.assert_allclose(augment.ada_p_update(1.0, 1.0, 64), 1.0 + step, rtol=1e-6)  # no cap


def test_controller_accumulates_and_updates_every_interval():
  step_fn = jax.jit(augment.ada_controller_step, static_argnames=("batch_size", "interval"))
  p, stats = jnp.float32(0.1), augment.ada_stats_init()
  logits = [jnp.array([1.0, 2.0, -1.0, 3.0]), jnp.array([0.5, 0.5, 0.5, -0.5])] * 2  # mean 0.5
  history = []
  for batch_idx in range(1, 5):
    stats = augment.ada_stats_accumulate(stats, logits[batch_idx - 1])
    p, stats = step_fn(p, stats, batch_idx, batch_size=4, interval=4)
    history.append(float(p))
  step = 4 * 4 / 500000
  np.testing.assert_allclose(history, [0.1, 0.1, 0.1, 0.1 - step], rtol=1e-6)
  np.testing.assert_array_equal(stats, [0.0, 0.0])  # reset after the update
  stats = augment.ada_stats_accumulate(stats, jnp.ones((3, 1)))
  np.testing.assert_array_equal(stats, [3.0, 3.0])
  assert float(augment.ada_stats_mean(stats)) == 1.0
  assert float(augment.ada_stats_mean(augment.ada_stats_init())) == 0.0
  p2, s2 = step_fn(p, augment.ada_stats_init(), 8, batch_size=4, interval=4)
  assert float(p2) == float(p) and np.all(np.asarray(s2) == 0)  # empty: no update


# --------------------------------------------------------------------------------------
# jit.
# --------------------------------------------------------------------------------------


def test_jit_with_traced_p_compiles_once():
  traces = []

  @jax.jit
  def aug(x, key, p):
    traces.append(1)
    return augment.ada_augment(x, key, p, "bilinear")

  x = jnp.asarray(_images())
  a = aug(x, KEY, jnp.float32(0.2))
  b = aug(x, KEY, jnp.float32(0.7))
  c = aug(x, KEY, jnp.float32(0.0))
  assert len(traces) == 1
  assert not np.array_equal(a, b)
  np.testing.assert_array_equal(c, x)
  np.testing.assert_array_equal(a, _augment(x, KEY, 0.2, resample="bilinear"))
