"""Full-reference image quality: PSNR, SSIM and L1 between paired images (host side, float64).

These are the scores of paired image-to-image translation (pix2pix) and super-resolution
(SRGAN, ESRGAN) evaluation. Inputs are batches ``[N, H, W, C]`` of float images in [-1, 1],
the range of the project's generators and data; every function returns one float64 value
per image, ``[N]``, and the caller averages.

Conventions (those of the super-resolution literature's evaluation protocol, as in BasicSR's
numpy ``calculate_psnr`` / ``calculate_ssim``):

- Pixel scale: PSNR and SSIM work on 8-bit levels, ``[-1, 1] -> [0, 255]``, with peak value
  255 and SSIM constants ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``.
- ``quantize=True`` (default) first maps the images to the 8-bit levels of the PNG files the
  project writes, bit-identical to ``gan_jax.sampling.to_uint8`` (float32 ``(x + 1) * 127.5``,
  round half to even, clip to [0, 255]), so a score equals the score of the saved images.
  ``quantize=False`` only applies the affine map, without rounding or clipping.
- ``crop_border=k`` drops ``k`` pixels on every side before anything else (the protocol
  crops ``scale`` pixels for a ``scale``-times super-resolution).
- ``y_channel=True`` scores the luma Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it
  (``to_y``), unrounded, as BasicSR does (it computes Y in float32, here float64: the Y values
  differ by round-off only, below 1e-4 levels).
- PSNR: ``10 log10(255^2 / MSE)`` with the MSE over all pixels and channels of an image
  jointly (not a mean of per-channel PSNRs); identical images give ``inf``.
- SSIM: Wang et al. 2004 eq. 13 with an 11x11 Gaussian window of standard deviation 1.5
  (normalised to sum 1), population (weighted) variances and covariance, on the "valid"
  positions only (windows that lie inside the image, ``(H - 10) x (W - 10)`` of them); the
  SSIM map is averaged over those positions, and over channels for colour images (the mean of
  per-channel SSIMs). This equals BasicSR's ``calculate_ssim`` (``cv2.filter2D`` then a crop
  of 5 pixels) and scikit-image's ``structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=255)``, which filters the whole image
  and then discards the same 5-pixel strip, so its kept values are the valid ones. The
  automatic downsampling of the original MATLAB ``ssim_index`` (by ``round(min(H, W) / 256)``)
  is not applied, as in both.
- L1: mean absolute difference in the [-1, 1] scale, not quantized (``2 / 255`` times the mean
  absolute difference in 8-bit levels).
"""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr / ITU-R BT.601: Y = 16 + Y_WEIGHTS . (R, G, B), with R, G, B in [0, 1].
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
PIXEL_MAX = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_y(images, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
  """Luma Y of ITU-R BT.601 on the 8-bit scale, as MATLAB's ``rgb2ycbcr`` computes it.

  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with ``R, G, B`` rescaled to [0, 1], so black
  is 16 and white 235. The result is float64 and unrounded; inputs outside ``value_range``
  are not clipped.

  Args:
    images: ``[..., 3]`` RGB array-like.
    value_range: ``(low, high)``, the values of black and white in ``images``: ``(-1, 1)``
      for the project's images, ``(0, 255)`` for 8-bit levels, ``(0, 1)`` for unit floats.

  Returns:
    ``[...]`` float64 Y in [16, 235] for inputs in ``value_range``.

  Raises:
    ValueError: if the last axis is not 3 (RGB) or ``value_range`` is empty.

  References:
    ITU-R Recommendation BT.601, the studio-swing RGB -> YCbCr conversion; MATLAB
    ``rgb2ycbcr``, the luma used by the super-resolution evaluation protocol (e.g. Ledig et
    al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
    Network", Section 4.1: PSNR and SSIM on the y-channel).
  """
  x = np.asarray(images, np.float64)
  if x.ndim < 1 or x.shape[-1] != 3:
    raise ValueError(f"to_y needs RGB images with a last axis of 3, got shape {x.shape}.")
  low, high = (float(v) for v in value_range)
  if not high > low:
    raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}.")
  return Y_OFFSET + ((x - low) / (high - low)) @ np.asarray(Y_WEIGHTS, np.float64)


def _levels(images, quantize: bool) -> np.ndarray:
  """Images in [-1, 1] -> float64 8-bit levels in [0, 255] (rounded as the PNGs if quantize)."""
  if quantize:
    # The expression of gan_jax.sampling.to_uint8, float32 included, for identical levels.
    levels = np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255)
    return levels.astype(np.float64)
  return (np.asarray(images, np.float64) + 1.0) * (PIXEL_MAX / 2.0)


def _prepare(a, b, crop_border: int, y_channel: bool, quantize: bool, name: str):
  """Validated, cropped, optionally Y-converted ``[N, H', W', C']`` float64 level pairs."""
  a, b = np.asarray(a), np.asarray(b)
  if a.ndim != 4 or a.shape != b.shape:
    raise ValueError(
      f"{name} needs two batches of the same shape [N, H, W, C], got {a.shape} and {b.shape}."
    )
  if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
    raise ValueError(f"{name}: the images contain NaN or inf.")
  _, h, w, c = a.shape
  if int(crop_border) != crop_border or crop_border < 0:
    raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}.")
  crop_border = int(crop_border)
  if 2 * crop_border >= min(h, w):
    raise ValueError(f"crop_border={crop_border} leaves nothing of {h}x{w} images.")
  if y_channel and c != 3:
    raise ValueError(f"y_channel=True needs RGB images (C == 3), got C == {c}.")
  crop = (slice(None), slice(crop_border, h - crop_border), slice(crop_border, w - crop_border))
  x, y = _levels(a[crop], quantize), _levels(b[crop], quantize)
  if y_channel:
    x = to_y(x, (0.0, PIXEL_MAX))[..., None]
    y = to_y(y, (0.0, PIXEL_MAX))[..., None]
  return x, y


def psnr(a, b, *, crop_border: int = 0, y_channel: bool = False, quantize: bool = True):
  """Peak signal-to-noise ratio per image pair, on 8-bit levels (peak 255), in dB.

  Args:
    a: ``[N, H, W, C]`` images in [-1, 1] (e.g. generated or super-resolved).
    b: ``[N, H, W, C]`` reference images in [-1, 1].
    crop_border: pixels dropped on each side before scoring.
    y_channel: score the BT.601 luma Y only (``to_y``); needs ``C == 3``.
    quantize: round to the 8-bit levels of the saved PNGs first (``gan_jax.sampling.to_uint8``).

  Returns:
    ``[N]`` float64 ``10 log10(255^2 / MSE)``, the MSE over all pixels and channels of each
    (cropped) image; ``inf`` where the two images are identical (MSE 0).

  Raises:
    ValueError: on mismatched or non-4-D shapes, non-finite values, a crop that leaves
      nothing, or ``y_channel`` without RGB input.

  References:
    The super-resolution evaluation protocol, e.g. Ledig et al. 2017, "Photo-Realistic Single
    Image Super-Resolution Using a Generative Adversarial Network", Section 4.1 (PSNR on the
    y-channel, ``scale`` border pixels removed).
  """
  x, y = _prepare(a, b, crop_border, y_channel, quantize, "psnr")
  mse = np.mean((x - y) ** 2, axis=(1, 2, 3))
  with np.errstate(divide="ignore"):
    return np.where(mse > 0, 10.0 * np.log10(PIXEL_MAX**2 / mse), np.inf)


def _gaussian_window() -> np.ndarray:
  """The 1-D factor of the 11x11 Gaussian window (sigma 1.5), normalised to sum 1."""
  r = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2.0
  k = np.exp(-(r**2) / (2.0 * SSIM_SIGMA**2))
  return k / k.sum()


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
  """Separable weighted sums of ``[N, H, W, C]`` over every window inside the image."""
  n = k.size
  h, w = x.shape[1] - n + 1, x.shape[2] - n + 1
  rows = sum(k[i] * x[:, i : i + h] for i in range(n))
  return sum(k[j] * rows[:, :, j : j + w] for j in range(n))


def ssim(a, b, *, crop_border: int = 0, y_channel: bool = False, quantize: bool = True):
  """Mean structural similarity per image pair (Gaussian window, 8-bit levels).

  Eq. 13 of Wang et al. with an 11x11 Gaussian window (sigma 1.5), ``C1 = (0.01 * 255)^2``,
  ``C2 = (0.03 * 255)^2``, weighted means, variances and covariance (``E[xy] - mu_x mu_y``),
  averaged over the ``(H - 10) x (W - 10)`` windows that lie inside the (cropped) image and
  then over channels.

  Args:
    a: ``[N, H, W, C]`` images in [-1, 1] (e.g. generated or super-resolved).
    b: ``[N, H, W, C]`` reference images in [-1, 1].
    crop_border: pixels dropped on each side before scoring.
    y_channel: score the BT.601 luma Y only (``to_y``); needs ``C == 3``.
    quantize: round to the 8-bit levels of the saved PNGs first (``gan_jax.sampling.to_uint8``).

  Returns:
    ``[N]`` float64 mean SSIM, at most 1 (exactly 1 for identical images).

  Raises:
    ValueError: on mismatched or non-4-D shapes, non-finite values, ``y_channel`` without RGB
      input, or a (cropped) image smaller than the 11x11 window.

  References:
    Wang, Bovik, Sheikh & Simoncelli 2004, "Image Quality Assessment: From Error Visibility
    to Structural Similarity", eq. 13 and Section III-C (the 11x11 Gaussian window, sigma
    1.5, K1 = 0.01, K2 = 0.03, the mean SSIM).
  """
  x, y = _prepare(a, b, crop_border, y_channel, quantize, "ssim")
  if min(x.shape[1], x.shape[2]) < SSIM_WINDOW:
    raise ValueError(
      f"ssim needs (cropped) images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, "
      f"got {x.shape[1]}x{x.shape[2]}."
    )
  k = _gaussian_window()
  c1, c2 = (SSIM_K1 * PIXEL_MAX) ** 2, (SSIM_K2 * PIXEL_MAX) ** 2
  mu_x, mu_y = _filter_valid(x, k), _filter_valid(y, k)
  var_x = _filter_valid(x * x, k) - mu_x**2
  var_y = _filter_valid(y * y, k) - mu_y**2
  cov = _filter_valid(x * y, k) - mu_x * mu_y
  ssim_map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / (
    (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
  )
  # Every channel has as many valid windows, so this is the mean of per-channel SSIMs.
  return ssim_map.mean(axis=(1, 2, 3))


def l1(a, b) -> np.ndarray:
  """Mean absolute difference per image pair, in the [-1, 1] scale of the images.

  Args:
    a: ``[N, ...]`` images in [-1, 1].
    b: reference images of the same shape.

  Returns:
    ``[N]`` float64 ``mean |a - b|`` over all but the batch axis: in [0, 2] for images in
    [-1, 1], ``2 / 255`` times the mean absolute difference in 8-bit levels. Not quantized.

  Raises:
    ValueError: on mismatched shapes, a missing batch axis, or non-finite values.

  References:
    Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
    eq. 3 (the L1 distance to the target that pix2pix also trains on).
  """
  x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if x.ndim < 2 or x.shape != y.shape:
    raise ValueError(f"l1 needs two batches [N, ...] of the same shape, got {x.shape}, {y.shape}.")
  if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    raise ValueError("l1: the images contain NaN or inf.")
  return np.abs(x - y).mean(axis=tuple(range(1, x.ndim)))
