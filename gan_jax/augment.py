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

References:
  Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
  Section 3 and the authors' ``DiffAugment_pytorch.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

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
