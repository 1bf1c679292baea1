"""Tests of gan_jax.metrics.image_quality: PSNR, SSIM, BT.601 luma and L1."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_jax.metrics import image_quality as iq
from gan_jax.sampling import to_uint8


def _random(rng, shape):
  return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def _smooth(rng, shape):
  """Low-frequency images in [-1, 1] with a little noise: SSIM values well inside (0, 1)."""
  n, h, w, c = shape
  yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
  out = np.empty(shape, np.float64)
  for i in range(n):
    for ch in range(c):
      fy, fx, ph = rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
      out[i, :, :, ch] = 0.8 * np.sin(2 * np.pi * (fy * yy + fx * xx) + ph)
  out += 0.05 * rng.standard_normal(shape)
  return np.clip(out, -1.0, 1.0).astype(np.float32)


def _pairs(seed=0, shape=(3, 32, 28, 3)):
  """(a, b) pairs: random vs random, and a smooth image vs a perturbed copy of itself."""
  rng = np.random.default_rng(seed)
  smooth = _smooth(rng, shape)
  perturbed = np.clip(smooth + 0.1 * rng.standard_normal(shape), -1, 1).astype(np.float32)
  return [(_random(rng, shape), _random(rng, shape)), (smooth, perturbed)]


def _levels(x, quantize):
  if quantize:
    return to_uint8(x).astype(np.float64)
  return (np.asarray(x, np.float64) + 1.0) * 127.5


def _y_formula(levels):
  """BT.601 luma of 8-bit RGB levels, written out: 16 + (65.481 R + 128.553 G + 24.966 B)/255."""
  r, g, b = levels[..., 0], levels[..., 1], levels[..., 2]
  return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _ssim_reference(x, y):
  """Wang et al. 2004 eq. 13 for one 2-D channel of 8-bit levels, window by window.

  A direct float64 transcription, independent of the module: the 11x11 window is built in 2-D
  (not separably), the statistics of each window are centred sums (eqs. 14-16 with weights),
  and only the windows that lie inside the image count.
  """
  r = np.arange(11) - 5.0
  win = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
  win /= win.sum()
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  h, w = x.shape
  values = []
  for i in range(h - 10):
    for j in range(w - 10):
      px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
      mx, my = np.sum(win * px), np.sum(win * py)
      vx, vy = np.sum(win * (px - mx) ** 2), np.sum(win * (py - my) ** 2)
      cxy = np.sum(win * (px - mx) * (py - my))
      values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
  return float(np.mean(values))


# ---- luma ----------------------------------------------------------------------------------


def test_to_y_known_colours():
  colours = np.array(
    [[-1, -1, -1], [1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float32
  )  # black, white, red, green, blue in [-1, 1]
  expected = [16.0, 235.0, 16.0 + 65.481, 16.0 + 128.553, 16.0 + 24.966]
  np.testing.assert_allclose(iq.to_y(colours), expected, rtol=0, atol=1e-12)
  np.testing.assert_allclose(iq.to_y(colours)[2], 81.481, rtol=0, atol=1e-12)
  # The same colours as 8-bit levels and as unit floats.
  np.testing.assert_allclose(
    iq.to_y((colours + 1) * 127.5, value_range=(0, 255)), expected, atol=1e-12
  )
  np.testing.assert_allclose(iq.to_y((colours + 1) / 2, value_range=(0, 1)), expected, atol=1e-12)


def test_to_y_matches_formula_and_keeps_leading_axes():
  rng = np.random.default_rng(1)
  x = _random(rng, (2, 5, 4, 3))
  y = iq.to_y(x)
  assert y.shape == (2, 5, 4) and y.dtype == np.float64
  np.testing.assert_allclose(y, _y_formula((x.astype(np.float64) + 1) * 127.5), atol=1e-12)
  assert np.all((y >= 16.0) & (y <= 235.0))


def test_to_y_errors():
  with pytest.raises(ValueError, match="RGB"):
    iq.to_y(np.zeros((4, 4, 1)))
  with pytest.raises(ValueError, match="value_range"):
    iq.to_y(np.zeros((4, 4, 3)), value_range=(1.0, 1.0))


# ---- PSNR ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize("channels", [3, 1])
def test_psnr_matches_skimage(quantize, channels):
  for a, b in _pairs(2, (3, 32, 28, channels)):
    ours = iq.psnr(a, b, quantize=quantize)
    assert ours.shape == (3,) and ours.dtype == np.float64
    ref = [
      peak_signal_noise_ratio(_levels(b[i], quantize), _levels(a[i], quantize), data_range=255)
      for i in range(a.shape[0])
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_psnr_y_channel_matches_skimage_on_the_luma():
  for a, b in _pairs(3):
    ours = iq.psnr(a, b, y_channel=True)
    ref = [
      peak_signal_noise_ratio(
        _y_formula(_levels(b[i], True)), _y_formula(_levels(a[i], True)), data_range=255
      )
      for i in range(a.shape[0])
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_psnr_known_values():
  a = -np.ones((2, 8, 8, 3), np.float32)  # level 0
  b = a.copy()
  b[0] += 2.0 / 255.0  # level 1 everywhere: MSE 1
  out = iq.psnr(a, b)
  np.testing.assert_allclose(out[0], 20.0 * np.log10(255.0), rtol=1e-14)
  assert out[1] == np.inf  # identical images
  # Quantization: differences below half a level vanish in the saved PNGs.
  c = a + 0.4 * 2.0 / 255.0
  assert iq.psnr(a, c)[0] == np.inf
  assert np.isfinite(iq.psnr(a, c, quantize=False)[0])


def test_psnr_against_a_float32_transcription_of_the_sr_protocol():
  """The y-channel PSNR of the SR protocol, Y computed in float32 as its reference code does.

  Both sides quantize to uint8 and crop first; the float32 luma differs from ours by
  round-off only, so the PSNRs agree to well below the 0.01 dB that papers report.
  """
  a, b = _pairs(4, (2, 40, 36, 3))[1]
  ua, ub = to_uint8(a)[:, 4:-4, 4:-4], to_uint8(b)[:, 4:-4, 4:-4]

  def y32(u):
    y = np.dot(u.astype(np.float32) / 255.0, [65.481, 128.553, 24.966]) + 16.0
    return (y / 255.0).astype(np.float32) * np.float32(255.0)

  mse = np.mean((y32(ua).astype(np.float64) - y32(ub)) ** 2, axis=(1, 2))
  ref = 10.0 * np.log10(255.0**2 / mse)
  np.testing.assert_allclose(iq.psnr(a, b, crop_border=4, y_channel=True), ref, atol=1e-4)


# ---- SSIM ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", [True, False])
def test_ssim_equals_direct_eq13(quantize):
  for a, b in _pairs(5, (2, 17, 19, 3)):
    ours = iq.ssim(a, b, quantize=quantize)
    ref = [
      np.mean(
        [
          _ssim_reference(_levels(a[i], quantize)[..., ch], _levels(b[i], quantize)[..., ch])
          for ch in range(3)
        ]
      )
      for i in range(2)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-11, atol=0)


def _skimage_ssim(x, y, rgb):
  return structural_similarity(
    x,
    y,
    gaussian_weights=True,
    sigma=1.5,
    use_sample_covariance=False,
    data_range=255,
    channel_axis=-1 if rgb else None,
  )


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize("channels", [3, 1])
def test_ssim_matches_skimage(quantize, channels):
  """skimage filters the whole image and drops the 5-pixel strip: its kept values are ours."""
  for a, b in _pairs(6, (3, 32, 28, channels)):
    ours = iq.ssim(a, b, quantize=quantize)
    assert ours.shape == (3,) and ours.dtype == np.float64
    ref = [
      _skimage_ssim(
        _levels(a[i], quantize) if channels == 3 else _levels(a[i, ..., 0], quantize),
        _levels(b[i], quantize) if channels == 3 else _levels(b[i, ..., 0], quantize),
        channels == 3,
      )
      for i in range(3)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


def test_ssim_y_channel_matches_skimage_on_the_luma():
  for a, b in _pairs(7):
    ours = iq.ssim(a, b, y_channel=True, crop_border=2)
    ref = [
      _skimage_ssim(
        _y_formula(_levels(a[i], True))[2:-2, 2:-2],
        _y_formula(_levels(b[i], True))[2:-2, 2:-2],
        False,
      )
      for i in range(3)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)


def test_ssim_identical_is_one_and_bounded():
  a, b = _pairs(8)[1]
  np.testing.assert_array_equal(iq.ssim(a, a), np.ones(3))
  s = iq.ssim(a, b)
  assert np.all(s < 1.0) and np.all(s > 0.0)
  assert np.all(iq.ssim(a, -a) < s)


def test_ssim_too_small():
  x = np.zeros((1, 14, 14, 3), np.float32)
  iq.ssim(x, x, crop_border=1)  # 12x12 still holds the window
  with pytest.raises(ValueError, match="11x11"):
    iq.ssim(x, x, crop_border=2)


# ---- shared options ------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [iq.psnr, iq.ssim])
@pytest.mark.parametrize("y_channel", [False, True])
def test_crop_border_removes_exactly_the_border(metric, y_channel):
  rng = np.random.default_rng(9)
  a, b = _pairs(9, (2, 30, 26, 3))[1]
  k = 3
  b_border = b.copy()
  noise = _random(rng, b.shape)
  inner = np.zeros(b.shape, bool)
  inner[:, k:-k, k:-k] = True
  b_border[~inner] = noise[~inner]  # only the border changes
  base = metric(a, b, crop_border=k, y_channel=y_channel)
  np.testing.assert_array_equal(metric(a, b_border, crop_border=k, y_channel=y_channel), base)
  # ... and the score is that of the explicitly cropped images.
  np.testing.assert_array_equal(
    metric(a[:, k:-k, k:-k], b[:, k:-k, k:-k], y_channel=y_channel), base
  )
  # The first kept row does count.
  b_inner = b.copy()
  b_inner[:, k, k:-k] = noise[:, k, k:-k]
  assert np.all(metric(a, b_inner, crop_border=k, y_channel=y_channel) != base)
  # Without the crop the border counts.
  assert np.all(metric(a, b_border, y_channel=y_channel) != metric(a, b, y_channel=y_channel))


@pytest.mark.parametrize("metric", [iq.psnr, iq.ssim])
def test_per_image_values_are_independent(metric):
  a, b = _pairs(10)[1]
  batch = metric(a, b, y_channel=True)
  single = [metric(a[i : i + 1], b[i : i + 1], y_channel=True)[0] for i in range(3)]
  np.testing.assert_array_equal(batch, single)


@pytest.mark.parametrize("metric", [iq.psnr, iq.ssim])
def test_errors(metric):
  gray = np.zeros((2, 16, 16, 1), np.float32)
  with pytest.raises(ValueError, match=r"y_channel=True needs RGB images \(C == 3\)"):
    metric(gray, gray, y_channel=True)
  with pytest.raises(ValueError, match="same shape"):
    metric(gray, gray[:1])
  with pytest.raises(ValueError, match="same shape"):
    metric(gray[0], gray[0])
  with pytest.raises(ValueError, match="leaves nothing"):
    metric(gray, gray, crop_border=8)
  with pytest.raises(ValueError, match="non-negative integer"):
    metric(gray, gray, crop_border=-1)
  bad = gray.copy()
  bad[0, 0, 0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    metric(bad, gray)


# ---- L1 ------------------------------------------------------------------------------------


def test_l1():
  rng = np.random.default_rng(11)
  a, b = _random(rng, (4, 8, 6, 3)), _random(rng, (4, 8, 6, 3))
  out = iq.l1(a, b)
  assert out.shape == (4,) and out.dtype == np.float64
  ref = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(1, 2, 3))
  np.testing.assert_allclose(out, ref, rtol=1e-14)
  # In the [-1, 1] scale, unquantized: black vs white is 2, a constant offset is the offset.
  z = np.zeros((2, 4, 4, 3))
  z[1] = 0.3
  np.testing.assert_allclose(iq.l1(-np.ones((2, 4, 4, 3)), np.ones((2, 4, 4, 3))), [2.0, 2.0])
  np.testing.assert_allclose(iq.l1(z, np.zeros_like(z)), [0.0, 0.3], rtol=1e-15)
  with pytest.raises(ValueError, match="same shape"):
    iq.l1(z, z[:1])
