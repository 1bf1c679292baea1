"""Transposed and strided convolutions with fast gradients on XLA CPU.

``jax.lax.conv_transpose`` (and ``flax.linen.ConvTranspose``) lowers to a
convolution of the stride-dilated input. Its forward pass and input gradient are
fast on XLA CPU, but the kernel gradient is lowered to a "backprop-filter"
convolution of that dilated input, which the CPU backend runs 15-70x slower than
the forward pass (0.1-4 s against 7-50 ms per DCGAN-64 generator layer at batch
64 on 2 cores), so it dominates a CPU training step.

The forward pass of a strided layer with 16 or more output channels runs as one
stride-1 convolution per output phase (``_phase_conv_transpose``), which skips the
zeros of the dilated input (1.6-1.7x faster on the 8x8 and 16x16 DCGAN-64 layers;
thinner layers keep XLA's). The backward pass is replaced through a
``jax.custom_vjp``. The identity it uses for the kernel gradient: per spatial
axis, with stride ``s``, kernel size ``K`` and low padding ``pad_lo`` of the
dilated input, output position ``o`` receives input position ``i`` through tap
``k`` exactly when ``o = s * i + pad_lo - k``, so

  dW[k, ci, co] = sum_{n, i} x[n, i, ci] * dy[n, s * i + pad_lo - k, co].

Writing the flipped tap ``K - 1 - k = s * m + p`` (``0 <= p < s``) turns the
strided read of ``dy`` into an unstrided one: after padding, ``dy`` reshapes for
free into ``[n, u, p, co]`` with ``u = i + m``. So the gradient is ``ceil(K / s)``
shifted (per axis) slices of the reshaped ``dy``, concatenated along channels and
contracted with ``x`` over ``(n, i)`` in one large matrix product, which XLA CPU
runs near its matmul peak. The input gradient ``dx`` is the strided convolution
XLA's own transpose rule emits (already fast), with one fix for explicit padding
past the kernel (see ``_input_grad``).

This is the weight gradient of the ordinary strided convolution ``C(u, W)`` whose
input gradient is the transposed convolution: ``<dy, T(x, W)> = <C(dy, W), x>``.
The alternatives tried on a 2-core CPU (im2col with
``lax.conv_general_dilated_patches``, strided slices of ``dy``, ``jax.vjp`` of
``C`` in ``W``, shifting ``x`` instead of ``dy``) were each slower on at least one
DCGAN layer.

Layers with tiny maps and large kernels (pix2pix's innermost levels) take neither path:
they run as one matrix product over the kernel's taps, differentiated by plain autodiff
(``_tap_conv_transpose``, ``_tap_conv``; see the comment above them).

The strided convolution ``conv`` / ``Conv`` (end of this module) is the adjoint of a
transposed convolution, so its input gradient is a transposed convolution (run by phases
as above) and its kernel gradient is the one above with the roles of input and cotangent
exchanged.

References:
  Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning",
  Section 4 (transposed convolution as the transpose of a direct convolution).
  Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an
  Efficient Sub-Pixel Convolutional Neural Network" (the stride-phase split).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

Array = jax.Array
PaddingLike = str | int | Sequence[int | tuple[int, int]]

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
  """Padding of the dilated input that ``lax.conv_transpose`` uses for a mode string.

  Mirrors ``jax._src.lax.convolution._conv_transpose_padding`` so that explicit
  padding computed here reproduces the string modes exactly.

  Args:
    k: kernel size along the axis.
    s: stride along the axis.
    padding: ``"SAME"`` or ``"VALID"``.

  Returns:
    ``(low, high)`` padding of the stride-dilated input.
  """
  if padding == "SAME":
    pad_len = k + s - 2
    pad_lo = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
  elif padding == "VALID":
    pad_len = k + s - 2 + max(k - s, 0)
    pad_lo = k - 1
  else:
    raise ValueError(f"Unknown padding mode {padding!r}; use 'SAME', 'VALID' or int pairs.")
  return pad_lo, pad_len - pad_lo


def _explicit_padding(
  padding: PaddingLike, kernel_size: Sequence[int], strides: Sequence[int]
) -> tuple[tuple[int, int], ...]:
  """Resolves ``padding`` to ``(low, high)`` pairs of the stride-dilated input.

  Strings follow ``lax.conv_transpose`` (padding of the matching forward conv);
  integers and pairs are, as there, the padding of the dilated input itself. An
  int or a sequence of ints pads both sides equally, as in ``flax.linen``.

  Args:
    padding: ``"SAME"``, ``"VALID"``, an int, or one int or pair per spatial axis.
    kernel_size: kernel size per spatial axis.
    strides: stride per spatial axis.

  Returns:
    One ``(low, high)`` pair per spatial axis.
  """
  n = len(kernel_size)
  if isinstance(padding, str):
    if padding.upper() == "CIRCULAR":
      raise NotImplementedError("CIRCULAR padding is not supported; use flax.linen.ConvTranspose.")
    mode = padding.upper()
    return tuple(_transpose_padding(k, s, mode) for k, s in zip(kernel_size, strides, strict=True))
  if isinstance(padding, int):
    padding = [padding] * n
  padding = list(padding)
  if len(padding) != n:
    raise ValueError(f"Expected {n} padding entries, got {padding!r}.")
  pairs = []
  for p in padding:
    if isinstance(p, int):
      pairs.append((p, p))
    else:
      lo, hi = p
      pairs.append((int(lo), int(hi)))
  return tuple(pairs)


def _dy_window(dy_size: int, k: int, pad_lo: int, length: int) -> tuple[int, int]:
  """``(low, high)`` padding of ``dy`` that lines it up with the kernel taps on one axis.

  Flipped tap ``j = K-1-k`` of input position ``i`` reads ``dy[s*i + j - (K-1-pad_lo)]``,
  so ``dy`` is shifted by ``K-1-pad_lo`` and padded to ``length``; a negative entry crops.

  Args:
    dy_size: size of ``dy`` along the axis.
    k: kernel size along the axis.
    pad_lo: low padding of the dilated input along the axis.
    length: size wanted after padding.

  Returns:
    ``(low, high)``, either possibly negative.
  """
  lo = k - 1 - pad_lo
  return lo, length - dy_size - lo


def _input_grad(
  dy: Array,
  kernel: Array,
  x_shape: Sequence[int],
  strides: tuple[int, int],
  padding: tuple[tuple[int, int], ...],
) -> Array:
  """Gradient of ``<dy, conv_transpose(x, W)>`` with respect to ``x``.

  This is the strided convolution of ``dy`` with the spatially flipped kernel, as XLA
  computes it, except that a negative padding (explicit padding past the kernel) is
  applied as a crop first: XLA CPU returns garbage (non-finite values) when it is
  handed to the convolution itself.

  Args:
    dy: ``[N, Ho, Wo, Co]`` cotangent of the output.
    kernel: ``[KH, KW, Ci, Co]`` kernel.
    x_shape: shape of the forward input.
    strides: stride per spatial axis.
    padding: ``(low, high)`` padding of the dilated input per spatial axis.

  Returns:
    ``[N, H, W, Ci]`` input gradient.
  """
  window = [
    _dy_window(
      dy.shape[1 + d],
      kernel.shape[d],
      padding[d][0],
      strides[d] * (x_shape[1 + d] - 1) + kernel.shape[d],
    )
    for d in range(2)
  ]
  crop = [(min(lo, 0), min(hi, 0)) for lo, hi in window]
  if any(c != (0, 0) for c in crop):
    dy = lax.pad(
      dy, jnp.zeros((), dy.dtype), [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in crop] + [(0, 0, 0)]
    )
  return lax.conv_general_dilated(
    dy,
    kernel[::-1, ::-1],
    strides,
    [(max(lo, 0), max(hi, 0)) for lo, hi in window],
    dimension_numbers=("NHWC", "HWOI", "NHWC"),
  )


def _kernel_grad(
  x: Array,
  dy: Array,
  kernel_shape: Sequence[int],
  strides: tuple[int, int],
  padding: tuple[tuple[int, int], ...],
) -> Array:
  """Gradient of ``<dy, conv_transpose(x, W)>`` with respect to ``W``, accumulated in f32.

  Args:
    x: ``[N, H, W, Ci]`` forward input.
    dy: ``[N, Ho, Wo, Co]`` cotangent of the output.
    kernel_shape: ``(KH, KW, Ci, Co)``.
    strides: stride per spatial axis.
    padding: ``(low, high)`` padding of the dilated input per spatial axis.

  Returns:
    ``[KH, KW, Ci, Co]`` float32 kernel gradient.
  """
  n, h, w, ci = x.shape
  co = dy.shape[-1]
  ks = tuple(kernel_shape[:2])
  sizes = (h, w)
  # taps per stride phase; the last phase may hold taps past K, cropped at the end
  m = tuple(-(-k // s) for k, s in zip(ks, strides, strict=True))
  u = tuple(sz + mm - 1 for sz, mm in zip(sizes, m, strict=True))
  # lax.pad crops where the window is negative, which the matmul below handles fine.
  cfg = [_dy_window(dy.shape[1 + d], ks[d], padding[d][0], strides[d] * u[d]) for d in range(2)]
  e = lax.pad(dy, jnp.zeros((), dy.dtype), [(0, 0, 0)] + [c + (0,) for c in cfg] + [(0, 0, 0)])
  # [N, U, V, s0, s1, Co]: each (shift, phase) slice below is then a block of whole rows.
  e = e.reshape(n, u[0], strides[0], u[1], strides[1], co).transpose(0, 1, 3, 2, 4, 5)
  shifts = [e[:, a : a + h, b : b + w] for a in range(m[0]) for b in range(m[1])]
  patches = jnp.stack(shifts, axis=3).reshape(n * h * w, -1)
  # x^T @ patches: the layout XLA CPU multiplies fastest of those tried.
  g = jnp.dot(x.reshape(n * h * w, ci).T, patches, preferred_element_type=jnp.float32)
  g = g.reshape(ci, m[0], m[1], strides[0], strides[1], co).transpose(1, 3, 2, 4, 0, 5)
  g = g.reshape(m[0] * strides[0], m[1] * strides[1], ci, co)[: ks[0], : ks[1]]
  return g[::-1, ::-1]


def _phase_conv_transpose(
  x: Array, kernel: Array, strides: tuple[int, int], padding: tuple[tuple[int, int], ...]
) -> Array | None:
  """The transposed convolution as ``s0 * s1`` stride-1 convolutions, one per output phase.

  Output row ``s * q + a`` only meets the taps ``t = t0 + m * s`` with
  ``t0 = (pad_lo - a) mod s``, reading input rows ``q + (a + t0 - pad_lo) / s + m``; so
  each phase is an ordinary correlation of the undilated input with the sub-kernel
  ``kernel[t0::s]``, and the phases interleave into the output (depth to space). XLA's
  CPU convolution on the stride-dilated input instead multiplies by its zeros.

  Returns:
    The output, or None where the phases do not tile it evenly (the caller falls back).
  """
  n, h, w, _ = x.shape
  co = kernel.shape[-1]
  sizes, ks = (h, w), kernel.shape[:2]
  outs = [(sizes[d] - 1) * strides[d] + 1 + sum(padding[d]) - ks[d] + 1 for d in range(2)]
  if any(o % s or k < s for o, s, k in zip(outs, strides, ks, strict=True)):
    return None
  q = [o // s for o, s in zip(outs, strides, strict=True)]

  def plan(d, a):
    s, lo = strides[d], padding[d][0]
    t0 = (lo - a) % s
    m = -(-(ks[d] - t0) // s)
    off = (a + t0 - lo) // s
    return t0, (-off, q[d] + m - 1 + off - sizes[d], 0)

  rows = []
  for a in range(strides[0]):
    t0a, pad_a = plan(0, a)
    cols = []
    for b in range(strides[1]):
      t0b, pad_b = plan(1, b)
      xp = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), pad_a, pad_b, (0, 0, 0)])
      sub = kernel[t0a :: strides[0], t0b :: strides[1]]
      cols.append(
        lax.conv_general_dilated(xp, sub, (1, 1), "VALID", dimension_numbers=_DIMENSION_NUMBERS)
      )
    rows.append(jnp.stack(cols, axis=3))  # [N, Q0, Q1, s1, Co]
  y = jnp.stack(rows, axis=2)  # [N, Q0, s0, Q1, s1, Co]
  return y.reshape(n, q[0] * strides[0], q[1] * strides[1], co)


# Small maps, large kernels (the innermost U-Net levels: 1x1 to 8x8 maps, 512-1024
# channels): the convolutions hardly compute, and what costs is the kernel. Every path
# above flips, transposes or slices it (XLA CPU copies a 4x4x1024x512 kernel with its
# channel axes swapped in 60-90 ms); the "tap" forms below never move the kernel: one
# matrix product per layer against the kernel as stored, the activations (a few pixels)
# gathered or scattered per tap, and plain JAX autodiff for every order of derivative
# (its products take the kernel transposed in place). Used where a layer's input or
# output has at most this many pixels over the batch and the kernel this many elements.
_TAP_MAX_PIXELS = 64
_TAP_MIN_KERNEL = 2**21


def _use_taps(pixels: int, kernel_shape: Sequence[int]) -> bool:
  return pixels <= _TAP_MAX_PIXELS and math.prod(kernel_shape) >= _TAP_MIN_KERNEL


def _tap_conv_transpose(
  x: Array, kernel: Array, strides: tuple[int, int], padding: tuple[tuple[int, int], ...]
) -> Array:
  """``lax.conv_transpose`` as one batched product over the taps, then a scatter.

  Tap ``(a, b)`` carries input pixel ``(i, j)`` to output ``(s0 i + lo0 - a, s1 j + lo1
  - b)`` (module docstring); ``lax.pad`` with interior padding places each tap's
  ``x @ kernel[a, b]`` there, cropping (negative padding) what falls outside.
  """
  n, h, w, ci = x.shape
  kh, kw, _, co = kernel.shape
  outs = [(sz - 1) * s + 1 + lo + hi - k + 1 for sz, s, (lo, hi), k in
          zip((h, w), strides, padding, (kh, kw), strict=True)]  # fmt: skip
  xm = jnp.broadcast_to(x.reshape(1, n * h * w, ci), (kh * kw, n * h * w, ci))
  z = lax.dot_general(xm, kernel.reshape(kh * kw, ci, co), (((2,), (1,)), ((0,), (0,))))
  z = z.reshape(kh, kw, n, h, w, co)
  zero = jnp.zeros((), z.dtype)
  y = None
  for a in range(kh):
    for b in range(kw):
      cfg = [(0, 0, 0)]
      for sz, s, (lo, _), t, o in zip((h, w), strides, padding, (a, b), outs, strict=True):
        cfg.append((lo - t, o - (sz - 1) * s - 1 - (lo - t), s - 1))
      part = lax.pad(z[a, b], zero, cfg + [(0, 0, 0)])
      y = part if y is None else y + part
  return y.astype(x.dtype)


def _tap_conv(
  x: Array,
  kernel: Array,
  strides: tuple[int, int],
  padding: tuple[tuple[int, int], ...],
  outs: Sequence[int],
) -> Array:
  """``lax.conv_general_dilated`` (output ``outs`` pixels per axis) as one matrix product:
  the taps' strided views of the padded input, side by side, times the kernel reshaped
  (not moved) to ``[KH * KW * Ci, Co]``."""
  n, _, _, ci = x.shape
  kh, kw, _, co = kernel.shape
  xp = lax.pad(
    x, jnp.zeros((), x.dtype), [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in padding] + [(0, 0, 0)]
  )
  views = [
    lax.slice(
      xp,
      (0, a, b, 0),
      (n, a + (outs[0] - 1) * strides[0] + 1, b + (outs[1] - 1) * strides[1] + 1, ci),
      (1, strides[0], strides[1], 1),
    )
    for a in range(kh)
    for b in range(kw)
  ]
  patches = jnp.stack(views, axis=3).reshape(n * outs[0] * outs[1], kh * kw * ci)
  y = jnp.dot(patches, kernel.reshape(kh * kw * ci, co))
  return y.reshape(n, outs[0], outs[1], co).astype(x.dtype)


# Below this many output channels the per-phase convolutions are too thin to beat XLA's
# own (measured on the DCGAN layers: 3 channels 2x slower, 64 and up 1.6-1.7x faster).
_PHASE_MIN_CHANNELS = 16


def _forward(x, kernel, strides, padding):
  if max(strides) > 1 and kernel.shape[-1] >= _PHASE_MIN_CHANNELS:
    y = _phase_conv_transpose(x, kernel, strides, padding)
    if y is not None:
      return y
  return lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=_DIMENSION_NUMBERS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_transpose(
  x: Array, kernel: Array, strides: tuple[int, int], padding: tuple[tuple[int, int], ...]
) -> Array:
  return _forward(x, kernel, strides, padding)


def _conv_transpose_fwd(x, kernel, strides, padding):
  return _conv_transpose(x, kernel, strides, padding), (x, kernel)


def _conv_transpose_bwd(strides, padding, residuals, dy):
  x, kernel = residuals
  dy = dy.astype(x.dtype)
  dx = _input_grad(dy, kernel, x.shape, strides, padding)
  dkernel = _kernel_grad(x, dy, kernel.shape, strides, padding)
  return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose(
  x: Array,
  kernel: Array,
  strides: Sequence[int] = (1, 1),
  padding: PaddingLike = "SAME",
) -> Array:
  """2-D transposed convolution with a fast forward pass and kernel gradient on CPU.

  Returns ``lax.conv_transpose(x, kernel, strides, padding,
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))`` up to float32 rounding: strided layers
  with 16 or more output channels run as one stride-1 convolution per output phase
  (``_phase_conv_transpose``), the others as XLA's own. The input gradient is the strided
  convolution XLA itself uses; the kernel gradient is the same quantity as XLA's,
  computed as one large matrix product (see the module docstring), accumulated in
  float32 and cast to the kernel's dtype. The backward rule is plain JAX, so
  reverse-over-reverse differentiation (gradient penalties) works; forward mode
  (``jax.jvp``) does not, as for any ``jax.custom_vjp``. An input of at most 64 pixels
  over the batch with a kernel of at least 2^21 elements runs instead as one batched
  product over the taps (``_tap_conv_transpose``, plain autodiff).

  Args:
    x: ``[N, H, W, Ci]`` input.
    kernel: ``[KH, KW, Ci, Co]`` kernel, the layout of ``flax.linen.ConvTranspose``
      with ``transpose_kernel=False``; same dtype as ``x``.
    strides: stride per spatial axis (the upsampling factor), or one int.
    padding: ``"SAME"`` or ``"VALID"`` (as in ``lax.conv_transpose``), or an int, or
      one int or ``(low, high)`` pair per spatial axis giving the padding of the
      stride-dilated input.

  Returns:
    ``[N, Ho, Wo, Co]`` output in the dtype of ``x``.
  """
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f"Expected NHWC input and HWIO kernel, got {x.shape} and {kernel.shape}.")
  if isinstance(strides, int):
    strides = (strides, strides)
  strides = tuple(int(s) for s in strides)
  if len(strides) != 2 or min(strides) < 1:
    raise ValueError(f"Expected two positive strides, got {strides!r}.")
  pads = _explicit_padding(padding, kernel.shape[:2], strides)
  if _use_taps(x.shape[0] * x.shape[1] * x.shape[2], kernel.shape):
    return _tap_conv_transpose(x, kernel, strides, pads)
  return _conv_transpose(x, kernel, strides, pads)


class _Conv2D(nn.Module):
  """The parameters and the call of ``Conv`` and ``ConvTranspose`` (2-D, no dilation,
  groups or mask); a subclass gives the operation and its padding check.

  Attributes:
    features: output channels.
    kernel_size: ``(KH, KW)``.
    strides: stride per spatial axis, or one int; None means 1, as in flax.
    padding: ``"SAME"``, ``"VALID"``, an int, or one int or pair per spatial axis.
    use_bias: whether to add a bias.
    dtype: computation dtype; None infers it from the inputs and params.
    param_dtype: dtype of the parameters.
    kernel_init: kernel initializer (LeCun normal, as in flax).
    bias_init: bias initializer.
  """

  features: int
  kernel_size: Sequence[int]
  strides: int | Sequence[int] | None = (1, 1)
  padding: PaddingLike = "SAME"
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  def _check_padding(self, x_shape, kernel_size, strides) -> None:
    raise NotImplementedError

  def _op(self, x: Array, kernel: Array, strides: tuple[int, int]) -> Array:
    raise NotImplementedError

  @nn.compact
  def __call__(self, inputs: Array) -> Array:
    """Applies the layer.

    Args:
      inputs: ``[..., H, W, Ci]``; leading batch axes are flattened and restored,
        and an unbatched ``[H, W, Ci]`` input is allowed, as in flax.

    Returns:
      ``[..., Ho, Wo, features]``.
    """
    if isinstance(self.kernel_size, int) or len(self.kernel_size) != 2:
      # flax reads an int as a 1-D kernel; refuse rather than silently differ
      raise ValueError(f"kernel_size must be a pair, got {self.kernel_size!r}.")
    kernel_size = tuple(self.kernel_size)
    strides = 1 if self.strides is None else self.strides
    strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides)
    batch_shape = inputs.shape[:-3]
    x = inputs.reshape((math.prod(batch_shape),) + inputs.shape[-3:])
    self._check_padding(x.shape, kernel_size, strides)  # before any parameter is made
    kernel = self.param(
      "kernel",
      self.kernel_init,
      kernel_size + (inputs.shape[-1], self.features),
      self.param_dtype,
    )
    bias = (
      self.param("bias", self.bias_init, (self.features,), self.param_dtype)
      if self.use_bias
      else None
    )
    x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = self._op(x, kernel, strides)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


class ConvTranspose(_Conv2D):
  """Drop-in ``flax.linen.ConvTranspose`` (2-D, no dilation or mask) with fast gradients.

  Parameters (``kernel [KH, KW, Ci, Co]``, ``bias [Co]``) match
  ``nn.ConvTranspose(transpose_kernel=False)``, so the same params give the same
  outputs under either module. Attributes as ``_Conv2D``'s; ``padding`` is that of
  ``conv_transpose``.
  """

  def _check_padding(self, x_shape, kernel_size, strides) -> None:
    _explicit_padding(self.padding, kernel_size, strides)

  def _op(self, x, kernel, strides):
    return conv_transpose(x, kernel, strides, self.padding)


# Strided convolution: the adjoint of the transposed convolution above.
#
# A stride-s convolution ``C(x, W)`` (kernel ``[K, Ci, Co]`` per axis, padding
# ``(lo, hi)``) and the transposed convolution ``T(u, W')`` with the kernel flipped and
# its channel axes swapped, ``W' = W[::-1, ::-1].swapaxes(2, 3)``, and the dilated-input
# padding ``lo' = K - 1 - lo``, ``hi' = H - 1 - (Ho - 1) s + lo`` are adjoint:
# ``<dy, C(x, W)> = <T(dy, W'), x>``. So C's input gradient is ``T(dy, W')``, which runs
# as one stride-1 convolution per output phase (``_phase_conv_transpose``), and C's
# weight gradient is T's weight gradient with input ``dy`` and cotangent ``x``
# (``_kernel_grad``: one large matrix product), flipped and swapped back. XLA CPU's own
# gradients of a strided convolution are "backprop" convolutions over the stride-dilated
# cotangent, which multiply by its zeros.


def _conv_adjoint_padding(x_shape, y_shape, kernel_shape, strides, padding):
  """Padding of the transposed convolution adjoint to a strided convolution (see above)."""
  return tuple(
    (
      kernel_shape[d] - 1 - padding[d][0],
      x_shape[1 + d] - 1 - (y_shape[1 + d] - 1) * strides[d] + padding[d][0],
    )
    for d in range(2)
  )


def _conv_forward(x, kernel, strides, padding):
  return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_DIMENSION_NUMBERS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _strided_conv(
  x: Array, kernel: Array, strides: tuple[int, int], padding: tuple[tuple[int, int], ...]
) -> Array:
  return _conv_forward(x, kernel, strides, padding)


def _strided_conv_fwd(x, kernel, strides, padding):
  return _strided_conv(x, kernel, strides, padding), (x, kernel)


# The matrix-product kernel gradient wins where the output map of one image is large
# (XLA's runs 2-3x slower there at any batch) and the kernel tiles the stride (otherwise
# it multiplies ceil(K / s) * s > K taps per axis); elsewhere XLA's own is faster
# (measured on the pix2pix, DCGAN, SRGAN and CycleGAN layers: benchmarks/strided_conv_probe.py).
_MATMUL_KERNEL_GRAD_MIN_PIXELS = 1024


def _matmul_kernel_grad(y_shape, kernel_shape, strides) -> bool:
  tiles = all(kernel_shape[d] % strides[d] == 0 for d in range(2))
  return tiles and y_shape[1] * y_shape[2] >= _MATMUL_KERNEL_GRAD_MIN_PIXELS


def _strided_conv_bwd(strides, padding, residuals, dy):
  x, kernel = residuals
  dy = dy.astype(x.dtype)
  pads = _conv_adjoint_padding(x.shape, dy.shape, kernel.shape, strides, padding)
  adjoint = kernel[::-1, ::-1].swapaxes(2, 3)
  dx = _forward(dy, adjoint, strides, pads)
  if _matmul_kernel_grad(dy.shape, kernel.shape, strides):
    dkernel = _kernel_grad(dy, x, adjoint.shape, strides, pads)[::-1, ::-1].swapaxes(2, 3)
  else:  # XLA's own
    dkernel = jax.vjp(lambda k: _conv_forward(x, k, strides, padding), kernel)[1](dy)[0]
  return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def _conv_padding(
  padding: PaddingLike, x_shape: Sequence[int], kernel_size: Sequence[int], strides
) -> tuple[tuple[int, int], ...]:
  """Resolves a ``flax.linen.Conv`` padding to ``(low, high)`` pairs of the input."""
  if isinstance(padding, str):
    mode = padding.upper()
    if mode not in ("SAME", "VALID"):
      raise NotImplementedError(f"Padding {padding!r} is not supported; use flax.linen.Conv.")
    return tuple(tuple(p) for p in lax.padtype_to_pads(x_shape[1:3], kernel_size, strides, mode))
  return _explicit_padding(padding, kernel_size, strides)


def conv(
  x: Array,
  kernel: Array,
  strides: Sequence[int] = (1, 1),
  padding: PaddingLike = "SAME",
) -> Array:
  """2-D convolution (cross-correlation) with fast gradients on CPU when strided.

  Returns ``lax.conv_general_dilated(x, kernel, strides, padding,
  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))``. For a strided convolution the gradients
  are those of the adjoint transposed convolution (see the comment above
  ``_conv_adjoint_padding``): the input gradient as stride-1 convolutions per phase, the
  kernel gradient, where one image's output map has at least 1,024 pixels and the kernel
  size is a multiple of the stride, as one matrix product accumulated in float32 (XLA's
  own elsewhere). Reverse-mode derivatives
  of any order are supported (gradient penalties differentiate the input gradient);
  forward mode is not. A strided layer with at most 64 output pixels over the batch and
  a kernel of at least 2^21 elements runs instead as one matrix product over the taps
  (``_tap_conv``, plain autodiff: the kernel is never flipped or transposed).

  Args:
    x: ``[N, H, W, Ci]`` input.
    kernel: ``[KH, KW, Ci, Co]`` kernel, the layout of ``flax.linen.Conv``.
    strides: stride per spatial axis, or one int.
    padding: ``"SAME"``, ``"VALID"``, an int, or one int or ``(low, high)`` pair per
      spatial axis, as in ``flax.linen.Conv``.

  Returns:
    ``[N, Ho, Wo, Co]`` output in the dtype of ``x``.
  """
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f"Expected NHWC input and HWIO kernel, got {x.shape} and {kernel.shape}.")
  if isinstance(strides, int):
    strides = (strides, strides)
  strides = tuple(int(s) for s in strides)
  if len(strides) != 2 or min(strides) < 1:
    raise ValueError(f"Expected two positive strides, got {strides!r}.")
  pads = _conv_padding(padding, x.shape, kernel.shape[:2], strides)
  if max(strides) == 1:
    return _conv_forward(x, kernel, strides, pads)
  out = [(x.shape[1 + d] + sum(pads[d]) - kernel.shape[d]) // strides[d] + 1 for d in range(2)]
  if _use_taps(x.shape[0] * out[0] * out[1], kernel.shape):
    return _tap_conv(x, kernel, strides, pads, out)
  return _strided_conv(x, kernel, strides, pads)


class Conv(_Conv2D):
  """Drop-in ``flax.linen.Conv`` (2-D, no dilation, groups or mask) with fast strided
  gradients on CPU (``conv``).

  Parameters (``kernel [KH, KW, Ci, Co]``, ``bias [Co]``) and defaults match
  ``nn.Conv``, so the same params give the same outputs under either module. Attributes
  as ``_Conv2D``'s.
  """

  def _check_padding(self, x_shape, kernel_size, strides) -> None:
    _conv_padding(self.padding, x_shape, kernel_size, strides)

  def _op(self, x, kernel, strides):
    return conv(x, kernel, strides, self.padding)
