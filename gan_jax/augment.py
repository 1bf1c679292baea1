"""DiffAugment: differentiable, per-sample random augmentations for data-efficient GANs.

Every op works on a batch of NHWC images in ``[-1, 1]``, is jittable and differentiable
with respect to the images, and takes its randomness from an explicit key. Each ``rand_*``
op draws its per-sample parameters and calls a pure helper that takes the draws as
arguments (``brightness(x, r)``, ``translation(x, tx, ty)``, ``cutout(x, ox, oy, size)``,
...), so the arithmetic can be checked with fixed draws.

The same augmentation is applied to every image the discriminator sees, real and
generated alike, in both players' losses; the generator's gradient flows back through it.

Conventions follow the authors' PyTorch implementation, which works on NCHW images: its
``x``-axis is the image height (NHWC axis 1) and its ``y``-axis the width (NHWC axis 2).
Here ``tx``/``ox`` are per-sample offsets along the height and ``ty``/``oy`` along the width.

The second part of the module is ADA's ``bgc`` pipeline (``ada_augment``: x-flip,
quarter turns, integer translation, isotropic and anisotropic scaling, rotations,
fractional translation, brightness, contrast, luma flip, hue, saturation, each firing
with probability ``p``) and the controller that adapts ``p`` (``ada_p_update``,
``ada_controller_step``). Its conventions are the ADA reference's; see the section header.

References:
  Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
  Section 3 and the authors' ``DiffAugment_pytorch.py``.
  Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
  and the authors' ``training/augment.py`` (``AugmentPipe``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

POLICIES: tuple[str, ...] = ("color", "translation", "cutout")


def _check_nhwc(x: Array) -> None:
  if x.ndim != 4:
    raise ValueError(f"expected NHWC images of rank 4, got shape {x.shape}")


def _compute_dtype(x: Array) -> jnp.dtype:
  # Colour arithmetic (means, scaling) in at least float32; results cast back to x.dtype.
  return jnp.promote_types(x.dtype, jnp.float32)


def _per_sample(r: Array, dtype: jnp.dtype) -> Array:
  return jnp.asarray(r, dtype).reshape(-1, 1, 1, 1)


def _round_half_up(size: int, ratio: float) -> int:
  # The reference's ``int(size * ratio + 0.5)`` (a non-negative size: truncation = floor).
  return int(size * ratio + 0.5)


# --------------------------------------------------------------------------------------
# Pure ops: the random draws are explicit arguments.
# --------------------------------------------------------------------------------------


def brightness(x: Array, r: Array) -> Array:
  """Adds ``r - 0.5`` to every pixel of each sample.

  Args:
    x: ``[batch, height, width, channels]`` images.
    r: ``[batch]`` draws in ``[0, 1)``; the added offset is ``r - 0.5``.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_brightness`` of the authors' implementation.
  """
  _check_nhwc(x)
  ct = _compute_dtype(x)
  return (x.astype(ct) + (_per_sample(r, ct) - 0.5)).astype(x.dtype)


def saturation(x: Array, r: Array) -> Array:
  """Scales each pixel's deviation from its channel mean by ``2 r``.

  ``(x - mean_c(x)) * (2 r) + mean_c(x)``: ``r = 0`` gives grey, ``r = 0.5`` the identity.

  Args:
    x: ``[batch, height, width, channels]`` images.
    r: ``[batch]`` draws in ``[0, 1)``.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_saturation`` of the authors' implementation.
  """
  _check_nhwc(x)
  ct = _compute_dtype(x)
  x32 = x.astype(ct)
  mean = jnp.mean(x32, axis=3, keepdims=True)
  return ((x32 - mean) * (_per_sample(r, ct) * 2.0) + mean).astype(x.dtype)


def contrast(x: Array, r: Array) -> Array:
  """Scales each sample's deviation from its mean over height, width and channels.

  ``(x - mean_hwc(x)) * (r + 0.5) + mean_hwc(x)``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    r: ``[batch]`` draws in ``[0, 1)``; the scale is ``r + 0.5``.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_contrast`` of the authors' implementation.
  """
  _check_nhwc(x)
  ct = _compute_dtype(x)
  x32 = x.astype(ct)
  mean = jnp.mean(x32, axis=(1, 2, 3), keepdims=True)
  return ((x32 - mean) * (_per_sample(r, ct) + 0.5) + mean).astype(x.dtype)


def translation(x: Array, tx: Array, ty: Array) -> Array:
  """Shifts each sample by integer offsets, filling with zeros.

  As the reference: pad height and width with one zero on each side, then
  ``out[b, i, j] = x_pad[b, clip(i + tx[b] + 1, 0, H + 1), clip(j + ty[b] + 1, 0, W + 1)]``.
  Clipped indices land on the zero border, so this equals ``x[b, i + tx[b], j + ty[b]]``
  where that lies inside the image and ``0`` elsewhere, for any integer offsets. It is a
  single gather of channel vectors (its gradient a scatter-add), with no data-dependent
  shapes.

  Args:
    x: ``[batch, height, width, channels]`` images.
    tx: ``[batch]`` integer offsets along the height (the reference's ``translation_x``).
    ty: ``[batch]`` integer offsets along the width (the reference's ``translation_y``).

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_translation`` of the authors' implementation.
  """
  _check_nhwc(x)
  b, h, w, _ = x.shape
  tx = jnp.asarray(tx, jnp.int32).reshape(b, 1, 1)
  ty = jnp.asarray(ty, jnp.int32).reshape(b, 1, 1)
  x_pad = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  grid_b = jnp.arange(b, dtype=jnp.int32).reshape(b, 1, 1)
  grid_x = jnp.clip(jnp.arange(h, dtype=jnp.int32).reshape(1, h, 1) + tx + 1, 0, h + 1)
  grid_y = jnp.clip(jnp.arange(w, dtype=jnp.int32).reshape(1, 1, w) + ty + 1, 0, w + 1)
  return x_pad[grid_b, grid_x, grid_y]


def cutout_mask(shape: tuple[int, int, int], ox: Array, oy: Array, size: tuple[int, int]) -> Array:
  """The cutout mask: ones, with a ``size`` rectangle of zeros per sample.

  The reference zeroes ``mask[b, clip(i + ox[b] - size[0] // 2, 0, H - 1),
  clip(j + oy[b] - size[1] // 2, 0, W - 1)]`` for ``i < size[0]``, ``j < size[1]``. Clipping
  is monotone, so the zeroed rows are exactly the interval
  ``[clip(ox - size[0] // 2, 0, H - 1), clip(ox - size[0] // 2 + size[0] - 1, 0, H - 1)]``
  (likewise the columns); the mask is built from these bounds by comparisons, without a
  scatter, and equals the reference's for any integer offsets.

  Args:
    shape: ``(batch, height, width)``.
    ox: ``[batch]`` integer centres along the height (the reference's ``offset_x``).
    oy: ``[batch]`` integer centres along the width (the reference's ``offset_y``).
    size: ``(height, width)`` of the cut rectangle (static).

  Returns:
    ``[batch, height, width, 1]`` float32 mask of zeros and ones.

  References:
    Zhao et al. 2020, ``rand_cutout`` of the authors' implementation.
  """
  b, h, w = shape
  ch, cw = size
  if ch <= 0 or cw <= 0:  # the reference's index grid is then empty: nothing is cut
    return jnp.ones((b, h, w, 1), jnp.float32)

  def cut(offset: Array, length: int, cut_len: int, axis_shape: tuple[int, ...]) -> Array:
    start = jnp.asarray(offset, jnp.int32).reshape(b, 1) - cut_len // 2
    lo = jnp.clip(start, 0, length - 1)
    hi = jnp.clip(start + cut_len - 1, 0, length - 1)
    idx = jnp.arange(length, dtype=jnp.int32)[None, :]
    return ((idx >= lo) & (idx <= hi)).reshape(axis_shape)

  rows = cut(ox, h, ch, (b, h, 1, 1))
  cols = cut(oy, w, cw, (b, 1, w, 1))
  return jnp.where(rows & cols, 0.0, 1.0).astype(jnp.float32)


def cutout(x: Array, ox: Array, oy: Array, size: tuple[int, int]) -> Array:
  """Multiplies each sample by its cutout mask (see ``cutout_mask``).

  Args:
    x: ``[batch, height, width, channels]`` images.
    ox: ``[batch]`` integer centres along the height.
    oy: ``[batch]`` integer centres along the width.
    size: ``(height, width)`` of the cut rectangle (static).

  Returns:
    Images of the shape and dtype of ``x``, zero inside each sample's rectangle.

  References:
    Zhao et al. 2020, ``rand_cutout`` of the authors' implementation; DeVries & Taylor
    2017, "Improved Regularization of Convolutional Neural Networks with Cutout".
  """
  _check_nhwc(x)
  b, h, w, _ = x.shape
  return x * cutout_mask((b, h, w), ox, oy, size).astype(x.dtype)


# --------------------------------------------------------------------------------------
# Random ops.
# --------------------------------------------------------------------------------------


def rand_brightness(x: Array, key: Array) -> Array:
  """``brightness`` with ``r = jax.random.uniform(key, (batch,))``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    key: PRNG key.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_brightness``.
  """
  return brightness(x, jax.random.uniform(key, (x.shape[0],)))


def rand_saturation(x: Array, key: Array) -> Array:
  """``saturation`` with ``r = jax.random.uniform(key, (batch,))``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    key: PRNG key.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_saturation``.
  """
  return saturation(x, jax.random.uniform(key, (x.shape[0],)))


def rand_contrast(x: Array, key: Array) -> Array:
  """``contrast`` with ``r = jax.random.uniform(key, (batch,))``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    key: PRNG key.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_contrast``.
  """
  return contrast(x, jax.random.uniform(key, (x.shape[0],)))


def rand_translation(x: Array, key: Array, ratio: float = 0.125) -> Array:
  """``translation`` by per-sample offsets of up to about ``ratio`` of the size.

  As the reference: ``shift_x, shift_y = int(H * ratio + 0.5), int(W * ratio + 0.5)`` and
  offsets uniform over the integers ``[-shift_x, shift_x]`` and ``[-shift_y, shift_y]``:
  with ``kx, ky = jax.random.split(key)``,
  ``tx = jax.random.randint(kx, (batch,), -shift_x, shift_x + 1)`` and likewise ``ty``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    key: PRNG key.
    ratio: maximal shift as a fraction of the height and width.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_translation``.
  """
  _check_nhwc(x)
  b, h, w, _ = x.shape
  shift_x, shift_y = _round_half_up(h, ratio), _round_half_up(w, ratio)
  kx, ky = jax.random.split(key)
  tx = jax.random.randint(kx, (b,), -shift_x, shift_x + 1)
  ty = jax.random.randint(ky, (b,), -shift_y, shift_y + 1)
  return translation(x, tx, ty)


def rand_cutout(x: Array, key: Array, ratio: float = 0.5) -> Array:
  """``cutout`` of a ``ratio``-sized rectangle at a per-sample random place.

  As the reference: ``size = (int(H * ratio + 0.5), int(W * ratio + 0.5))`` and, with
  ``kx, ky = jax.random.split(key)``,
  ``ox = jax.random.randint(kx, (batch,), 0, H + (1 - size[0] % 2))`` and likewise ``oy``
  with ``W`` and ``size[1]``.

  Args:
    x: ``[batch, height, width, channels]`` images.
    key: PRNG key.
    ratio: side of the rectangle as a fraction of the height and width.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, ``rand_cutout``.
  """
  _check_nhwc(x)
  b, h, w, _ = x.shape
  size = (_round_half_up(h, ratio), _round_half_up(w, ratio))
  kx, ky = jax.random.split(key)
  ox = jax.random.randint(kx, (b,), 0, h + (1 - size[0] % 2))
  oy = jax.random.randint(ky, (b,), 0, w + (1 - size[1] % 2))
  return cutout(x, ox, oy, size)


_GROUPS: dict[str, tuple[Callable[[Array, Array], Array], ...]] = {
  "color": (rand_brightness, rand_saturation, rand_contrast),
  "translation": (rand_translation,),
  "cutout": (rand_cutout,),
}
assert tuple(_GROUPS) == POLICIES


def parse_policy(policy: str) -> tuple[str, ...]:
  """The group names of a comma-separated policy, checked.

  Args:
    policy: e.g. ``"color,translation,cutout"``; blanks around names are ignored and
      ``""`` is the empty policy.

  Returns:
    The names in order.

  Raises:
    ValueError: on a name not in ``POLICIES``.
  """
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  for name in names:
    if name not in _GROUPS:
      raise ValueError(f"unknown DiffAugment policy {name!r}; valid names: {', '.join(POLICIES)}")
  return names


def diff_augment(x: Array, key: Array, policy: str = "color,translation,cutout") -> Array:
  """Applies the policy's augmentation groups in order.

  ``"color"`` is brightness, saturation, contrast; ``"translation"`` and ``"cutout"`` use
  the reference's default ratios (1/8 and 1/2). The ``i``-th group of the policy draws from
  ``jax.random.fold_in(key, i)`` and its ``j``-th op from ``fold_in`` of that by ``j``.
  ``policy`` is static under ``jax.jit``.

  Args:
    x: ``[batch, height, width, channels]`` images in ``[-1, 1]``.
    key: PRNG key.
    policy: comma-separated names from ``POLICIES``; ``""`` returns ``x`` unchanged.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
    Section 3 ("Color + Translation + Cutout").
  """
  names = parse_policy(policy)
  if names:
    _check_nhwc(x)
  for i, name in enumerate(names):
    group_key = jax.random.fold_in(key, i)
    for j, op in enumerate(_GROUPS[name]):
      x = op(x, jax.random.fold_in(group_key, j))
  return x


# ======================================================================================
# ADA: adaptive discriminator augmentation, the ``bgc`` pipeline.
# ======================================================================================
#
# Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
# Section 2.3 and Appendix B (the ``bgc`` pipeline: pixel blitting, general geometric
# transformations, colour transformations), Section 3 (the adaptive ``p``); the authors'
# ``training/augment.py`` (``AugmentPipe``) and ``training/training_loop.py``.
#
# Conventions of this section (those of the reference's ``affine_grid``, unlike the
# DiffAugment section above): ``x`` is the image width (NHWC axis 2) and ``y`` the height
# (NHWC axis 1), in pixel units, with the origin at the image centre, i.e. pixel
# ``(row i, column j)`` sits at ``(x, y) = (j - (W - 1) / 2, i - (H - 1) / 2)``. A geometric
# matrix ``G_inv`` ([batch, 3, 3], homogeneous) maps an output pixel to the input point it
# reads: ``out(q) = in(G_inv q)``.

_HIGHEST = jax.lax.Precision.HIGHEST

# The sym6 wavelet's low-pass decomposition filter (12 taps), the reference's ``Hz_geom``.
_SYM6 = np.array(
  [
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
  ]
)
_SYM6_TAPS = tuple(float(t) for t in _SYM6 / _SYM6.sum())  # normalised to unit DC gain
_HZ_PAD = len(_SYM6_TAPS) // 4  # the reference's ``Hz_pad``: 3

ADA_OPS: tuple[str, ...] = (
  "xflip",
  "rotate90",
  "xint",
  "scale",
  "rotate_pre",
  "aniso",
  "rotate_post",
  "xfrac",
  "brightness",
  "contrast",
  "lumaflip",
  "hue",
  "saturation",
)
"""The ``bgc`` ops in the order they are drawn and composed (``ada_fire_mask`` columns)."""

ADA_RESAMPLE: tuple[str, ...] = ("sym6", "bilinear")
"""The ways ``apply_geometric`` can resample (see there)."""


class AdaParams(NamedTuple):
  """Per-sample parameters of the ``bgc`` ops, each ``[batch]`` float32.

  A sample whose op did not fire holds the op's identity value (0 for flips, rotations,
  translations and brightness; 1 for scales, contrast and saturation). Translations are in
  pixels along ``x`` (width) and ``y`` (height); angles in radians.
  """

  xflip: Array  # 0 or 1
  rotate90: Array  # 0, 1, 2 or 3 quarter turns
  xint_x: Array  # integer translation, pixels
  xint_y: Array
  scale: Array  # isotropic scale, 2^N(0, scale_std)
  rotate_pre: Array  # radians; the content turns by -theta (rotate2d_inv(-theta) in G_inv)
  aniso: Array  # anisotropic scale s: x scaled by s, y by 1/s
  rotate_post: Array  # radians, as rotate_pre
  xfrac_x: Array  # fractional translation, pixels
  xfrac_y: Array
  brightness: Array  # added offset
  contrast: Array  # multiplier
  lumaflip: Array  # 0 or 1
  hue: Array  # radians around the luma axis
  saturation: Array  # multiplier of the chroma component


_IDENTITY_VALUES = AdaParams(
  xflip=0.0,
  rotate90=0.0,
  xint_x=0.0,
  xint_y=0.0,
  scale=1.0,
  rotate_pre=0.0,
  aniso=1.0,
  rotate_post=0.0,
  xfrac_x=0.0,
  xfrac_y=0.0,
  brightness=0.0,
  contrast=1.0,
  lumaflip=0.0,
  hue=0.0,
  saturation=1.0,
)

# The op (column of ``ada_fire_mask``) that gates each parameter.
_PARAM_OP = AdaParams(
  xflip="xflip",
  rotate90="rotate90",
  xint_x="xint",
  xint_y="xint",
  scale="scale",
  rotate_pre="rotate_pre",
  aniso="aniso",
  rotate_post="rotate_post",
  xfrac_x="xfrac",
  xfrac_y="xfrac",
  brightness="brightness",
  contrast="contrast",
  lumaflip="lumaflip",
  hue="hue",
  saturation="saturation",
)


def ada_identity_params(batch: int) -> AdaParams:
  """Parameters under which every op is the identity.

  Args:
    batch: number of samples.

  Returns:
    ``AdaParams`` of ``[batch]`` float32 arrays.
  """
  return AdaParams(*(jnp.full((batch,), v, jnp.float32) for v in _IDENTITY_VALUES))


# --------------------------------------------------------------------------------------
# Matrices (pure; batched over the leading axis of their arguments).
# --------------------------------------------------------------------------------------


def _f32(v: Array | float) -> Array:
  return jnp.asarray(v, jnp.float32)


def _matrix(rows: list[list[Array | float]]) -> Array:
  """Stacks a matrix of per-sample ``[batch]`` entries (or constants) into ``[batch, n, m]``."""
  shape = jnp.broadcast_shapes(*(jnp.shape(e) for row in rows for e in row))
  stacked = [jnp.stack([jnp.broadcast_to(_f32(e), shape) for e in row], -1) for row in rows]
  return jnp.stack(stacked, -2)


def _mm(a: Array, b: Array) -> Array:
  return jnp.matmul(a, b, precision=_HIGHEST)


def translate2d_inv(tx: Array, ty: Array) -> Array:
  """Inverse matrix of translating the content by ``(tx, ty)`` pixels.

  ``out(x, y) = in(x - tx, y - ty)``: the content moves right by ``tx`` and down by ``ty``.

  Args:
    tx: ``[batch]`` offsets along the width.
    ty: ``[batch]`` offsets along the height.

  Returns:
    ``[batch, 3, 3]`` float32.

  References:
    Karras et al. 2020, ``translate2d_inv`` of the authors' ``augment.py``.
  """
  return _matrix([[1, 0, -_f32(tx)], [0, 1, -_f32(ty)], [0, 0, 1]])


def scale2d_inv(sx: Array, sy: Array) -> Array:
  """Inverse matrix of scaling the content by ``(sx, sy)`` about the image centre.

  Args:
    sx: ``[batch]`` scale along the width.
    sy: ``[batch]`` scale along the height.

  Returns:
    ``[batch, 3, 3]`` float32, ``diag(1 / sx, 1 / sy, 1)``.

  References:
    Karras et al. 2020, ``scale2d_inv``.
  """
  return _matrix([[1 / _f32(sx), 0, 0], [0, 1 / _f32(sy), 0], [0, 0, 1]])


def rotate2d_inv(theta: Array) -> Array:
  """Inverse matrix of the rotation ``[[cos, -sin], [sin, cos]]`` by ``theta``.

  In image coordinates (``y`` pointing down) a positive ``theta`` turns the content
  clockwise on screen.

  Args:
    theta: ``[batch]`` angles in radians.

  Returns:
    ``[batch, 3, 3]`` float32, the rotation by ``-theta``.

  References:
    Karras et al. 2020, ``rotate2d_inv``.
  """
  c, s = jnp.cos(_f32(theta)), jnp.sin(_f32(theta))
  return _matrix([[c, s, 0], [-s, c, 0], [0, 0, 1]])


def xflip_inv(i: Array) -> Array:
  """Inverse matrix of the x-flip (mirror along the width) where ``i = 1``.

  The reference's ``scale2d_inv(1 - 2 i, 1)``; with ``i = 1`` the result is
  ``image[:, :, ::-1]``.

  Args:
    i: ``[batch]`` 0 or 1.

  Returns:
    ``[batch, 3, 3]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` x-flip.
  """
  return _matrix([[1 - 2 * _f32(i), 0, 0], [0, 1, 0], [0, 0, 1]])


def rotate90_inv(k: Array) -> Array:
  """Inverse matrix of ``k`` quarter turns: the result equals ``np.rot90(image, k)``.

  The reference's ``rotate2d_inv(-pi / 2 * k)``, with the cosines and sines of the multiples
  of ``pi / 2`` taken exactly (0, +-1) rather than through float32 ``cos``/``sin``, so
  square images are permuted exactly. On a non-square image the rotated content is
  cropped and padded by reflection like any other geometric op.

  Args:
    k: ``[batch]`` integers 0..3 (as floats or ints).

  Returns:
    ``[batch, 3, 3]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` 90-degree rotations.
  """
  k = jnp.mod(jnp.round(_f32(k)).astype(jnp.int32), 4)
  c = jnp.array([1.0, 0.0, -1.0, 0.0], jnp.float32)[k]
  s = jnp.array([0.0, 1.0, 0.0, -1.0], jnp.float32)[k]
  # rotate2d(pi / 2 * k): [[c, -s], [s, c]].
  return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])


_LUMA = np.array([1.0, 1.0, 1.0, 0.0]) / np.sqrt(3.0)  # the luma axis, homogeneous


def brightness_matrix(b: Array) -> Array:
  """Colour matrix adding ``b`` to every channel: ``translate3d(b, b, b)``.

  Args:
    b: ``[batch]`` offsets.

  Returns:
    ``[batch, 4, 4]`` float32, acting on homogeneous ``(r, g, b, 1)``.

  References:
    Karras et al. 2020, ``AugmentPipe`` brightness.
  """
  b = _f32(b)
  return _matrix([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]])


def contrast_matrix(c: Array) -> Array:
  """Colour matrix multiplying every channel by ``c``: ``scale3d(c, c, c)``.

  Args:
    c: ``[batch]`` multipliers.

  Returns:
    ``[batch, 4, 4]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` contrast.
  """
  c = _f32(c)
  return _matrix([[c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]])


def lumaflip_matrix(i: Array) -> Array:
  """Householder reflection ``I - 2 v v^T`` about the plane orthogonal to the luma axis.

  ``v = (1, 1, 1, 0) / sqrt(3)``; applied where ``i = 1`` (``I - 2 v v^T i``): it negates the
  luma (channel mean) and keeps the chroma, ``rgb -> rgb - 2 mean(rgb)``.

  Args:
    i: ``[batch]`` 0 or 1.

  Returns:
    ``[batch, 4, 4]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` luma flip.
  """
  vv = jnp.asarray(np.outer(_LUMA, _LUMA), jnp.float32)
  return jnp.eye(4, dtype=jnp.float32) - 2 * vv * _f32(i)[..., None, None]


def hue_matrix(theta: Array) -> Array:
  """Rotation by ``theta`` about the luma axis (Rodrigues' formula): ``rotate3d(v, theta)``.

  Args:
    theta: ``[batch]`` angles in radians.

  Returns:
    ``[batch, 4, 4]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` hue rotation and ``rotate3d``.
  """
  vx, vy, vz = (float(t) for t in _LUMA[:3])
  theta = _f32(theta)
  s, c = jnp.sin(theta), jnp.cos(theta)
  cc = 1 - c
  return _matrix(
    [
      [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
      [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
      [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
      [0, 0, 0, 1],
    ]
  )


def saturation_matrix(s: Array) -> Array:
  """``v v^T + (I - v v^T) s``: keeps the luma, scales the chroma by ``s``.

  Args:
    s: ``[batch]`` multipliers.

  Returns:
    ``[batch, 4, 4]`` float32.

  References:
    Karras et al. 2020, ``AugmentPipe`` saturation.
  """
  vv = jnp.asarray(np.outer(_LUMA, _LUMA), jnp.float32)
  return vv + (jnp.eye(4, dtype=jnp.float32) - vv) * _f32(s)[..., None, None]


def _product(factors: tuple[Array, ...]) -> Array:
  g = factors[0]
  for f in factors[1:]:
    g = _mm(g, f)
  return g


def blit_matrix(params: AdaParams) -> Array:
  """The inverse matrix of the pixel-blitting ops: x-flip, quarter turns, integer shift.

  ``xflip_inv(i) @ rotate90_inv(k) @ translate2d_inv(tx, ty)``; the first op is applied to
  the image first.

  Args:
    params: per-sample parameters.

  Returns:
    ``[batch, 3, 3]`` float32 with integer entries.

  References:
    Karras et al. 2020, Appendix B.2 ("pixel blitting") and ``AugmentPipe.forward``.
  """
  return _product(
    (
      xflip_inv(params.xflip),
      rotate90_inv(params.rotate90),
      translate2d_inv(params.xint_x, params.xint_y),
    )
  )


def general_matrix(params: AdaParams) -> Array:
  """The inverse matrix of the general geometric ops, composed as the reference.

  Isotropic scaling ``scale2d_inv(s, s)``, pre-rotation ``rotate2d_inv(-theta)``,
  anisotropic scaling ``scale2d_inv(s, 1 / s)``, post-rotation ``rotate2d_inv(-theta)``,
  fractional translation ``translate2d_inv(tx, ty)``, right-multiplied in this order.

  Args:
    params: per-sample parameters.

  Returns:
    ``[batch, 3, 3]`` float32.

  References:
    Karras et al. 2020, Appendix B.2 ("general geometric transformations") and
    ``AugmentPipe.forward``.
  """
  return _product(
    (
      scale2d_inv(params.scale, params.scale),
      rotate2d_inv(-_f32(params.rotate_pre)),
      scale2d_inv(params.aniso, 1 / _f32(params.aniso)),
      rotate2d_inv(-_f32(params.rotate_post)),
      translate2d_inv(params.xfrac_x, params.xfrac_y),
    )
  )


def geometric_matrix(params: AdaParams) -> Array:
  """The composed inverse geometric matrix ``G_inv = blit_matrix @ general_matrix``.

  As the reference, ``G_inv`` starts at the identity and each op right-multiplies its
  inverse, in the order x-flip, 90-degree rotation, integer translation, isotropic
  scaling, pre-rotation, anisotropic scaling, post-rotation, fractional translation: the
  first op is applied to the image first.

  Args:
    params: per-sample parameters.

  Returns:
    ``[batch, 3, 3]`` float32, ``out(q) = in(G_inv q)`` in centred pixel coordinates.

  References:
    Karras et al. 2020, ``AugmentPipe.forward`` ("Select parameters for pixel blitting",
    "... for general geometric transformations").
  """
  return _mm(blit_matrix(params), general_matrix(params))


def color_matrix(params: AdaParams) -> Array:
  """The composed colour matrix ``C`` of the ``bgc`` ops.

  As the reference, ``C`` starts at the identity and each op left-multiplies its matrix,
  in the order brightness, contrast, luma flip, hue rotation, saturation:
  ``C = S @ H @ L @ K @ B``.

  Args:
    params: per-sample parameters.

  Returns:
    ``[batch, 4, 4]`` float32 acting on homogeneous ``(r, g, b, 1)``.

  References:
    Karras et al. 2020, ``AugmentPipe.forward`` ("Select parameters for color
    transformations").
  """
  c = brightness_matrix(params.brightness)
  for m in (
    contrast_matrix(params.contrast),
    lumaflip_matrix(params.lumaflip),
    hue_matrix(params.hue),
    saturation_matrix(params.saturation),
  ):
    c = _mm(m, c)
  return c


# --------------------------------------------------------------------------------------
# Applying the matrices.
# --------------------------------------------------------------------------------------


def _reflect_index(i: Array, n: int) -> Array:
  # Whole-sample mirror ("reflect" in numpy and torch: d c b | a b c d | c b a), repeated.
  if n == 1:
    return jnp.zeros_like(i)
  period = 2 * (n - 1)
  m = jnp.mod(i, period)
  return jnp.where(m >= n, period - m, m)


def _bilinear(img: Array, iy: Array, ix: Array, boundary: str) -> Array:
  """Bilinear samples of ``img`` ``[B, H, W, C]`` at pixel-index points ``[B, N]``.

  ``boundary="zeros"``: points outside read zeros (``grid_sample``'s ``padding_mode="zeros"``
  with ``align_corners=False``); ``"reflect"``: the image is extended by repeated
  whole-sample reflection. Returns ``[B, N, C]``.
  """
  _, h, w, c = img.shape
  flat = img.reshape(img.shape[0], h * w, c)
  y0f, x0f = jnp.floor(iy), jnp.floor(ix)
  wy, wx = iy - y0f, ix - x0f
  y0, x0 = y0f.astype(jnp.int32), x0f.astype(jnp.int32)
  gather = jax.vmap(lambda f, i: f[i])
  out = None
  for dy, dx, weight in (
    (0, 0, (1 - wy) * (1 - wx)),
    (0, 1, (1 - wy) * wx),
    (1, 0, wy * (1 - wx)),
    (1, 1, wy * wx),
  ):
    yy, xx = y0 + dy, x0 + dx
    if boundary == "zeros":
      inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
      weight = jnp.where(inside, weight, 0.0)
      yy, xx = jnp.clip(yy, 0, h - 1), jnp.clip(xx, 0, w - 1)
    else:
      yy, xx = _reflect_index(yy, h), _reflect_index(xx, w)
    term = gather(flat, yy * w + xx) * weight[..., None].astype(img.dtype)
    out = term if out is None else out + term
  return out


def _fir(x: Array, taps: tuple[float, ...], axis: int) -> Array:
  # Valid correlation along ``axis``: out[n] = sum_k taps[k] x[n + k].
  n_out = x.shape[axis] - len(taps) + 1
  out = None
  for k, t in enumerate(taps):
    term = jax.lax.slice_in_dim(x, k, k + n_out, axis=axis) * t
    out = term if out is None else out + term
  return out


def _upsample2x_sym6(x: Array, axis: int) -> Array:
  # upfirdn2d.upsample2d along one axis: zeros after each sample, pad (6, 5), convolve
  # (the flipped taps, correlated) with gain 2 per axis.
  n = x.shape[axis]
  up = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
  up = up.reshape(x.shape[:axis] + (2 * n,) + x.shape[axis + 1 :])
  taps = len(_SYM6_TAPS)
  pad = [(0, 0)] * x.ndim
  pad[axis] = ((taps + 1) // 2, (taps - 2) // 2)
  return _fir(jnp.pad(up, pad), tuple(2 * t for t in reversed(_SYM6_TAPS)), axis)


def _downsample2x_sym6(x: Array, axis: int) -> Array:
  # upfirdn2d.downsample2d(padding=-2 * Hz_pad, flip_filter=True) along one axis: crop
  # 2 Hz_pad - (taps - 1) // 2 = 1 sample per side, correlate, keep every second sample.
  crop = 2 * _HZ_PAD - (len(_SYM6_TAPS) - 1) // 2
  x = jax.lax.slice_in_dim(x, crop, x.shape[axis] - crop, axis=axis)
  y = _fir(x, _SYM6_TAPS, axis)
  return jax.lax.slice_in_dim(y, 0, None, stride=2, axis=axis)


def _centred_grid(b: int, h: int, w: int) -> tuple[Array, Array]:
  ys = jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2
  xs = jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2
  gy, gx = jnp.meshgrid(ys, xs, indexing="ij")
  return jnp.broadcast_to(gx.reshape(1, -1), (b, h * w)), jnp.broadcast_to(
    gy.reshape(1, -1), (b, h * w)
  )


def _transform_points(g: Array, qx: Array, qy: Array) -> tuple[Array, Array]:
  # Elementwise (no matmul, so no reduced-precision dot on accelerators).
  g = g[:, :, :, None]
  return g[:, 0, 0] * qx + g[:, 0, 1] * qy + g[:, 0, 2], g[:, 1, 0] * qx + g[:, 1, 1] * qy + g[
    :, 1, 2
  ]


def _blit_window(x: Array, blit_inv: Array, rows: int, cols: int) -> Array:
  """``x`` blitted exactly and extended by reflection: ``[B, H + 2 rows, W + 2 cols, C]``.

  Pixel ``(i, j)`` of the window (``i`` from ``-rows``, ``j`` from ``-cols``) reads the
  repeated whole-sample reflection of ``x`` at ``blit_inv`` of its centred coordinates: a
  pure gather when height and width have the same parity (x-flips, integer shifts and
  quarter turns then map pixel centres to pixel centres), otherwise a bilinear lookup (a
  quarter turn then lands between pixels, as in the reference). With ``blit_inv = I`` it is
  ``jnp.pad(x, mode="reflect")``.
  """
  b, h, w, c = x.shape
  hw, ww = h + 2 * rows, w + 2 * cols
  qx, qy = _centred_grid(b, hw, ww)
  px, py = _transform_points(blit_inv, qx, qy)
  iy, ix = py + (h - 1) / 2, px + (w - 1) / 2
  if (h - w) % 2:  # a quarter turn moves pixel centres off the grid: blend
    return _bilinear(x, iy, ix, "reflect").reshape(b, hw, ww, c)
  # Pixel centres go to pixel centres: one gather (the points are integers up to rounding).
  iy = _reflect_index(jnp.round(iy).astype(jnp.int32), h)
  ix = _reflect_index(jnp.round(ix).astype(jnp.int32), w)
  flat = x.reshape(b, h * w, c)
  return jax.vmap(lambda f, i: f[i])(flat, iy * w + ix).reshape(b, hw, ww, c)


def apply_geometric(
  x: Array, g_inv: Array, resample: str = "sym6", blit_inv: Array | None = None
) -> Array:
  """Resamples each image at ``G_inv`` of its pixels, with reflect padding.

  ``out(q) = ext(B_inv G_inv q)``, ``ext`` the image extended by whole-sample reflection
  and ``B_inv`` the optional pixel-blitting matrix (identity when ``None``).

  ``resample="sym6"`` (default) follows the reference step by step: reflect-pad, upsample
  2x with the sym6 wavelet low-pass filter (``upfirdn2d.upsample2d``), bilinear sampling on
  the 2x grid of an output extended by ``Hz_pad = 3`` pixels per side (``grid_sample``,
  zeros outside), then sym6 low-pass filtering, 2x downsampling and cropping
  (``downsample2d(padding=-6, flip_filter=True)``).

  - **Padding.** The reference pads by a per-batch margin (the bounding box of the
    transformed image corners plus 6 pixels, clamped to ``[0, size - 1]``), a
    data-dependent shape; here the padding is always the clamp's maximum, ``H - 1`` rows
    and ``W - 1`` columns per side (the most a single reflection allows), so shapes are
    static. Where the reference's margin is clamped both pad ``size - 1`` and read zeros
    beyond; where it is not, the extra pixels are read only where the reference's
    6-pixel allowance for the filters falls short. Against the reference run on the same
    composite matrices (``blit_inv=None``; float32, 8x8 to 32x32 images, ``p`` from 0.05
    to 2) the outputs agree to 2e-5, except in the outermost rows or columns of a strongly
    minified axis (e.g. anisotropic scale 1.73), where the reference picks up its zero
    border and the two differ by about 1e-4. The cost is that of upsampling a
    ``(3H - 2) x (3W - 2)`` image.
  - **Pixel blitting.** The reference sends x-flips and quarter turns through the same
    filters, and the sym6 filter is orthogonal but not symmetric: the identity and
    integer shifts come back exactly (up to float32 rounding), but a flip comes back as
    a flip followed by the filter pair ``h`` reversed against ``h``, off from the exact
    flip by up to 0.27 on uniform noise in ``[-1, 1]`` and 0.03 on a sinusoid of 0.05
    cycles per pixel. With ``blit_inv`` the blit is done exactly first (a gather from the
    reflected image into the padded window, ``_blit_window``) and only ``g_inv`` goes
    through the filters; ``ada_apply`` does this by default (``exact_blit=True``). The
    window is read from the image's repeated reflection, so where an integer shift
    combines with a large general transform the far border shows reflected content where
    the reference, its padding clamped, shows zeros (about 3e-3 on an 8x8 image at
    ``p = 2``). With ``blit_inv=None`` and a composite ``g_inv`` the reference's numerics
    are reproduced.
  - **Accuracy.** Half-pixel shifts land on the 2x grid and are exact up to rounding;
    other fractional shifts interpolate bilinearly on the 2x grid: on a 32x32 sum of two
    sinusoids of 0.03 (0.06) cycles per pixel and amplitude 0.9, shifts such as
    ``(0.3, -0.7)`` or ``(1.37, 2.61)`` pixels differ from the exact shift by at most 1.3e-3
    (5.3e-3) away from the border.

  ``resample="bilinear"`` is a cheaper approximation: one bilinear lookup per output pixel
  at ``B_inv G_inv q`` directly in the reflected input (no padding buffer, no filtering).
  Blits are exact; a fractional shift low-passes the image (a half-pixel shift multiplies
  a sinusoid of ``f`` cycles per pixel by ``cos(pi f)``; on the images above the error is
  5.5e-3 (2.2e-2), about four times ``"sym6"``'s), and minification (scale < 1) aliases,
  which the reference's 2x supersampling with the sym6 filters avoids.

  Samples whose ``G_inv`` is exactly the identity get the (exact) blit, or ``x`` itself
  (the reference sends them through the filters, an identity up to rounding).

  Args:
    x: ``[batch, height, width, channels]`` images, height and width at least 2.
    g_inv: ``[batch, 3, 3]`` inverse matrices (``general_matrix``, or
      ``geometric_matrix`` for the reference's single pass).
    resample: ``"sym6"`` or ``"bilinear"`` (static).
    blit_inv: ``[batch, 3, 3]`` inverse pixel-blitting matrices (``blit_matrix``) applied
      exactly before ``g_inv``, or ``None``.

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Karras et al. 2020, Appendix B.2, and ``AugmentPipe.forward`` ("Execute geometric
    transformations") of the authors' ``augment.py``.
  """
  _check_nhwc(x)
  if resample not in ADA_RESAMPLE:
    raise ValueError(f"unknown resample {resample!r}; valid: {', '.join(ADA_RESAMPLE)}")
  b, h, w, c = x.shape
  if h < 2 or w < 2:
    raise ValueError(f"geometric augmentation needs height and width >= 2, got {x.shape}")
  ct = _compute_dtype(x)
  xc = x.astype(ct)
  g = jnp.asarray(g_inv, jnp.float32)
  eye = jnp.eye(3, dtype=jnp.float32)
  if resample == "bilinear":
    if blit_inv is not None:
      g = _mm(jnp.asarray(blit_inv, jnp.float32), g)
    qx, qy = _centred_grid(b, h, w)
    px, py = _transform_points(g, qx, qy)
    out = _bilinear(xc, py + (h - 1) / 2, px + (w - 1) / 2, "reflect").reshape(b, h, w, c)
    identity = jnp.all(g == eye, axis=(1, 2)).reshape(b, 1, 1, 1)
    return jnp.where(identity, xc, out).astype(x.dtype)

  my, mx = h - 1, w - 1
  if blit_inv is None:
    padded = jnp.pad(xc, ((0, 0), (my, my), (mx, mx), (0, 0)), mode="reflect")
  else:
    padded = _blit_window(xc, jnp.asarray(blit_inv, jnp.float32), my, mx)
  up = _upsample2x_sym6(_upsample2x_sym6(padded, 1), 2)
  hu, wu = up.shape[1], up.shape[2]
  # To the 2x grid: scale2d(2, 2) @ G @ scale2d_inv(2, 2), then conjugate by the half-pixel
  # shift translate2d(-0.5, -0.5) of the upsampling (the reference's order).
  s2 = jnp.diag(jnp.array([2.0, 2.0, 1.0], jnp.float32))
  s2_inv = jnp.diag(jnp.array([0.5, 0.5, 1.0], jnp.float32))
  t_m = jnp.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]], jnp.float32)
  t_p = jnp.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]], jnp.float32)
  g2 = _mm(_mm(t_m, _mm(_mm(s2, g), s2_inv)), t_p)
  ho, wo = (h + 2 * _HZ_PAD) * 2, (w + 2 * _HZ_PAD) * 2
  qx, qy = _centred_grid(b, ho, wo)
  px, py = _transform_points(g2, qx, qy)
  sampled = _bilinear(up, py + (hu - 1) / 2, px + (wu - 1) / 2, "zeros").reshape(b, ho, wo, c)
  out = _downsample2x_sym6(_downsample2x_sym6(sampled, 1), 2)
  identity = jnp.all(g == eye, axis=(1, 2)).reshape(b, 1, 1, 1)
  return jnp.where(identity, padded[:, my : my + h, mx : mx + w], out).astype(x.dtype)


def apply_color(x: Array, c: Array) -> Array:
  """Applies a ``[batch, 4, 4]`` colour matrix to every pixel.

  RGB: ``rgb' = C[:3, :3] rgb + C[:3, 3]``. One channel (as the reference): the three rows
  are averaged, ``l' = l * sum(mean_rows C[:3, :3]) + mean_rows C[:3, 3]``, i.e. ``C`` applied
  to ``(l, l, l)`` and the result averaged.

  Args:
    x: ``[batch, height, width, channels]`` images with 1 or 3 channels.
    c: ``[batch, 4, 4]`` colour matrices (``color_matrix``).

  Returns:
    Images of the shape and dtype of ``x``.

  Raises:
    ValueError: for other channel counts.

  References:
    Karras et al. 2020, ``AugmentPipe.forward`` ("Execute color transformations").
  """
  _check_nhwc(x)
  ct = _compute_dtype(x)
  xc = x.astype(ct)
  c = jnp.asarray(c, ct)
  channels = x.shape[3]
  if channels == 3:
    m = c[:, None, None, :3, :3]  # [B, 1, 1, 3, 3]
    # Elementwise products and a sum (no matmul, so no reduced-precision dot).
    out = jnp.sum(m * xc[..., None, :], axis=-1) + c[:, None, None, :3, 3]
  elif channels == 1:
    rows = jnp.mean(c[:, :3, :], axis=1)  # [B, 4]
    gain = jnp.sum(rows[:, :3], axis=1).reshape(-1, 1, 1, 1)
    out = xc * gain + rows[:, 3].reshape(-1, 1, 1, 1)
  else:
    raise ValueError(f"colour augmentation needs 1 or 3 channels, got {channels}")
  return out.astype(x.dtype)


def ada_apply(
  x: Array, params: AdaParams, resample: str = "sym6", exact_blit: bool = True
) -> Array:
  """Applies the ``bgc`` pipeline with given parameters: geometric, then colour.

  For one-channel images hue and saturation are skipped, as in the reference (they act
  trivially on grey anyway).

  Args:
    x: ``[batch, height, width, channels]`` images in ``[-1, 1]``, 1 or 3 channels.
    params: per-sample parameters (``ada_draw_params`` or fixed draws).
    resample: see ``apply_geometric`` (static).
    exact_blit: x-flips, quarter turns and integer shifts as exact pixel moves, the
      other geometric ops resampled after them (default); ``False`` sends the composite
      matrix through one resampling, the reference's numerics (see ``apply_geometric``).

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Karras et al. 2020, ``AugmentPipe.forward`` with the ``bgc`` ops.
  """
  _check_nhwc(x)
  if x.shape[3] == 1:
    ones = jnp.ones_like(_f32(params.saturation))
    params = params._replace(hue=jnp.zeros_like(ones), saturation=ones)
  if exact_blit:
    x = apply_geometric(x, general_matrix(params), resample, blit_matrix(params))
  else:
    x = apply_geometric(x, geometric_matrix(params), resample)
  return apply_color(x, color_matrix(params))


# --------------------------------------------------------------------------------------
# Random draws.
# --------------------------------------------------------------------------------------


def ada_op_probabilities(p: Array | float) -> Array:
  """Per-op firing probabilities for the ``bgc`` pipeline at strength ``p``.

  Every op fires with probability ``p`` (multiplier 1) except the two arbitrary rotations,
  which fire independently with ``p_rot = 1 - sqrt(1 - min(p, 1))`` each, so that at least
  one of them fires with probability ``p``. ``p`` above 1 makes every op fire.

  Args:
    p: scalar augmentation strength (may be traced).

  Returns:
    ``[len(ADA_OPS)]`` float32 probabilities, in ``ADA_OPS`` order.

  References:
    Karras et al. 2020, Appendix B.2, and ``AugmentPipe.forward`` (``p_rot``).
  """
  p = _f32(p)
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0.0, 1.0))
  rot = {"rotate_pre", "rotate_post"}
  return jnp.stack([p_rot if name in rot else p for name in ADA_OPS])


def ada_fire_mask(key: Array, p: Array | float, batch: int) -> Array:
  """Which ops fire for which sample: ``uniform(key, (batch, n_ops)) < probabilities``.

  Args:
    key: PRNG key.
    p: scalar augmentation strength (may be traced).
    batch: number of samples.

  Returns:
    ``[batch, len(ADA_OPS)]`` booleans, columns in ``ADA_OPS`` order.
  """
  u = jax.random.uniform(key, (batch, len(ADA_OPS)))
  return u < ada_op_probabilities(p)[None, :]


def ada_raw_params(
  key: Array,
  batch: int,
  height: int,
  width: int,
  *,
  xint_max: float = 0.125,
  scale_std: float = 0.2,
  rotate_max: float = 1.0,
  aniso_std: float = 0.2,
  xfrac_std: float = 0.125,
  brightness_std: float = 0.2,
  contrast_std: float = 0.5,
  hue_max: float = 1.0,
  saturation_std: float = 1.0,
) -> AdaParams:
  """Per-sample op parameters as if every op fired (the ``bgc`` distributions).

  - x-flip ``i`` uniform on {0, 1}; quarter turns ``k`` uniform on {0, 1, 2, 3};
  - integer translation ``round(u * width), round(v * height)``, ``u, v`` uniform on
    ``[-xint_max, xint_max]``;
  - isotropic and anisotropic scales ``2^N(0, std)``; rotations uniform on
    ``[-pi rotate_max, pi rotate_max]``;
  - fractional translation ``N(0, xfrac_std) * width``, ``N(0, xfrac_std) * height`` pixels;
  - brightness ``N(0, brightness_std)``; contrast ``2^N(0, contrast_std)``; luma flip
    ``i`` uniform on {0, 1}; hue uniform on ``[-pi hue_max, pi hue_max]``; saturation
    ``2^N(0, saturation_std)``.

  The defaults are the reference's ``AugmentPipe`` defaults used by ``bgc``. Each op draws
  from its own ``jax.random.fold_in(key, index in ADA_OPS)``.

  Args:
    key: PRNG key.
    batch: number of samples.
    height: image height (for the translations).
    width: image width.
    xint_max: integer translation range, relative to the image size.
    scale_std: log2 standard deviation of the isotropic scale.
    rotate_max: rotation range, 1 = full circle.
    aniso_std: log2 standard deviation of the anisotropic scale.
    xfrac_std: fractional translation standard deviation, relative to the image size.
    brightness_std: brightness standard deviation.
    contrast_std: log2 standard deviation of contrast.
    hue_max: hue rotation range, 1 = full circle.
    saturation_std: log2 standard deviation of saturation.

  Returns:
    ``AdaParams`` of ``[batch]`` float32 arrays.

  References:
    Karras et al. 2020, Appendix B.2, and ``AugmentPipe.__init__`` / ``forward``.
  """
  k = {name: jax.random.fold_in(key, i) for i, name in enumerate(ADA_OPS)}
  shape = (batch,)

  def uniform_sym(kk: Array, scale: float, shp: tuple[int, ...] = shape) -> Array:
    return (jax.random.uniform(kk, shp) * 2 - 1) * scale

  xint = uniform_sym(k["xint"], xint_max, (batch, 2))
  xfrac = jax.random.normal(k["xfrac"], (batch, 2)) * xfrac_std
  return AdaParams(
    xflip=jax.random.randint(k["xflip"], shape, 0, 2).astype(jnp.float32),
    rotate90=jax.random.randint(k["rotate90"], shape, 0, 4).astype(jnp.float32),
    xint_x=jnp.round(xint[:, 0] * width),
    xint_y=jnp.round(xint[:, 1] * height),
    scale=jnp.exp2(jax.random.normal(k["scale"], shape) * scale_std),
    rotate_pre=uniform_sym(k["rotate_pre"], np.pi * rotate_max),
    aniso=jnp.exp2(jax.random.normal(k["aniso"], shape) * aniso_std),
    rotate_post=uniform_sym(k["rotate_post"], np.pi * rotate_max),
    xfrac_x=xfrac[:, 0] * width,
    xfrac_y=xfrac[:, 1] * height,
    brightness=jax.random.normal(k["brightness"], shape) * brightness_std,
    contrast=jnp.exp2(jax.random.normal(k["contrast"], shape) * contrast_std),
    lumaflip=jax.random.randint(k["lumaflip"], shape, 0, 2).astype(jnp.float32),
    hue=uniform_sym(k["hue"], np.pi * hue_max),
    saturation=jnp.exp2(jax.random.normal(k["saturation"], shape) * saturation_std),
  )


def ada_mask_params(raw: AdaParams, fired: Array) -> AdaParams:
  """Keeps each op's raw parameters where it fired and its identity value elsewhere.

  Args:
    raw: parameters as if every op fired (``ada_raw_params``).
    fired: ``[batch, len(ADA_OPS)]`` booleans (``ada_fire_mask``).

  Returns:
    ``AdaParams``.
  """
  col = {name: i for i, name in enumerate(ADA_OPS)}
  return AdaParams(
    *(
      jnp.where(fired[:, col[op]], _f32(v), ident)
      for v, op, ident in zip(raw, _PARAM_OP, _IDENTITY_VALUES, strict=True)
    )
  )


def ada_draw_params(
  key: Array, p: Array | float, batch: int, height: int, width: int, **ranges: float
) -> AdaParams:
  """Random ``bgc`` parameters at strength ``p``.

  ``ada_mask_params(ada_raw_params(k_raw, ...), ada_fire_mask(k_fire, p, batch))`` with
  ``k_raw, k_fire = jax.random.split(key)``.

  Args:
    key: PRNG key.
    p: scalar augmentation strength (may be traced).
    batch: number of samples.
    height: image height.
    width: image width.
    **ranges: keyword arguments of ``ada_raw_params`` (the ``bgc`` defaults otherwise).

  Returns:
    ``AdaParams``.
  """
  k_raw, k_fire = jax.random.split(key)
  raw = ada_raw_params(k_raw, batch, height, width, **ranges)
  return ada_mask_params(raw, ada_fire_mask(k_fire, p, batch))


def ada_augment(
  x: Array, key: Array, p: Array | float, resample: str = "sym6", exact_blit: bool = True
) -> Array:
  """ADA's ``bgc`` augmentation at strength ``p``.

  Each of x-flip, 90-degree rotation, integer translation (up to 1/8 of the size),
  isotropic scaling, arbitrary rotation (pre and post, see ``ada_op_probabilities``),
  anisotropic scaling, fractional translation, brightness, contrast, luma flip, hue
  rotation and saturation fires per sample with probability ``p``. The geometric ops are
  composed into matrices (the pixel blits exact, the general ops by a single resampling
  with reflect padding, ``apply_geometric``), the colour ops into one 4x4 matrix.
  Jittable, with ``p`` traced (changing it does not recompile), and differentiable with
  respect to ``x``. At ``p = 0`` it returns ``x`` exactly.

  Args:
    x: ``[batch, height, width, channels]`` images in ``[-1, 1]``, 1 or 3 channels.
    key: PRNG key.
    p: scalar augmentation strength.
    resample: ``"sym6"`` (the reference's filtering) or ``"bilinear"`` (static).
    exact_blit: exact x-flips, quarter turns and integer shifts (default), or the
      reference's single resampling of the composite matrix (see ``ada_apply``).

  Returns:
    Images of the shape and dtype of ``x``.

  References:
    Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
    Section 2.3 and Appendix B; ``AugmentPipe`` with ``xflip=1, rotate90=1, xint=1,
    scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1, lumaflip=1, hue=1,
    saturation=1``.
  """
  _check_nhwc(x)
  b, h, w, _ = x.shape
  return ada_apply(x, ada_draw_params(key, p, b, h, w), resample, exact_blit)


# --------------------------------------------------------------------------------------
# The adaptive p.
# --------------------------------------------------------------------------------------


def ada_p_update(
  p: Array | float,
  sign_real_mean: Array | float,
  batch_size: int,
  interval: int = 4,
  kimg: float = 500,
  target: float = 0.6,
) -> Array:
  """One step of the ADA controller.

  ``max(p + sign(r_t - target) * batch_size * interval / (kimg * 1000), 0)`` with
  ``r_t = E[sign(D(real))]`` over the last ``interval`` batches: ``p`` can move by one unit
  in ``kimg`` thousand real images. As the reference, ``p`` is clamped at 0 but **not
  bounded above**; values above 1 make every op fire (``ada_op_probabilities``).
  ``sign(0) = 0``: at ``r_t = target`` ``p`` stays.

  Args:
    p: current strength.
    sign_real_mean: ``r_t``, the mean of ``sign(D(real))``.
    batch_size: images per batch (the global batch).
    interval: batches between updates.
    kimg: thousands of images for ``p`` to move by 1.
    target: target ``r_t``.

  Returns:
    The new ``p`` (float32 scalar).

  References:
    Karras et al. 2020, Section 3 (``r_t`` heuristic, target 0.6); ``training_loop.py``
    ("Execute ADA heuristic").
  """
  step = batch_size * interval / (kimg * 1000)
  adjust = jnp.sign(_f32(sign_real_mean) - target) * step
  return jnp.maximum(_f32(p) + adjust, 0.0)


def ada_stats_init() -> Array:
  """The empty accumulator ``[sum of sign(D(real)), count]`` (float32 ``[2]``)."""
  return jnp.zeros((2,), jnp.float32)


def ada_stats_accumulate(stats: Array, real_logits: Array) -> Array:
  """Adds ``sum(sign(real_logits))`` and their number to the accumulator.

  Sums (not means), so per-device accumulators can be added with ``psum`` before
  ``ada_controller_step``, as the reference reduces its statistics across GPUs.

  Args:
    stats: ``[2]`` accumulator.
    real_logits: D's logits on (augmented) real images, any shape.

  Returns:
    The new ``[2]`` accumulator.

  References:
    Karras et al. 2020, ``loss.py`` (``Loss/signs/real``).
  """
  signs = jnp.sign(jax.lax.stop_gradient(jnp.asarray(real_logits, jnp.float32)))
  return stats + jnp.stack([jnp.sum(signs), jnp.float32(signs.size)])


def ada_stats_mean(stats: Array) -> Array:
  """``r_t``: the mean sign in the accumulator (0 when empty)."""
  return jnp.where(stats[1] > 0, stats[0] / jnp.maximum(stats[1], 1.0), 0.0)


def ada_controller_step(
  p: Array | float,
  stats: Array,
  batch_idx: Array | int,
  batch_size: int,
  interval: int = 4,
  kimg: float = 500,
  target: float = 0.6,
) -> tuple[Array, Array]:
  """Updates ``p`` every ``interval`` batches from the accumulated signs, then resets them.

  As the reference's training loop, called after each batch with ``batch_idx`` the number
  of batches done so far (1 after the first): when ``batch_idx % interval == 0`` and the
  accumulator is not empty, ``p = ada_p_update(p, ada_stats_mean(stats), ...)`` and the
  accumulator restarts; otherwise both are returned unchanged. Jittable (``batch_idx`` may
  be traced).

  Args:
    p: current strength.
    stats: ``[2]`` accumulator (``ada_stats_accumulate``).
    batch_idx: batches done, including this one.
    batch_size: images per batch.
    interval: batches between updates.
    kimg: thousands of images for ``p`` to move by 1.
    target: target ``r_t``.

  Returns:
    ``(p, stats)``.

  References:
    Karras et al. 2020, ``training_loop.py`` ("Execute ADA heuristic").
  """
  p = _f32(p)
  due = (jnp.mod(jnp.asarray(batch_idx), interval) == 0) & (stats[1] > 0)
  new_p = ada_p_update(p, ada_stats_mean(stats), batch_size, interval, kimg, target)
  return jnp.where(due, new_p, p), jnp.where(due, ada_stats_init(), stats)
