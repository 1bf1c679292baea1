"""Tests for gan_jax.models.layers.conv / Conv: XLA's exact forward pass, and gradients of
any reverse-mode order equal to XLA's, through the adjoint transposed convolution."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from test_layers import _assert_close  # relative to the largest magnitude

from gan_jax.models import layers
from gan_jax.models.layers import Conv, conv

DN = ("NHWC", "HWIO", "NHWC")

# (input shape, kernel size, strides, padding, output channels)
CASES = [
  ((2, 16, 16, 32), (4, 4), (2, 2), ((1, 1), (1, 1)), 16),  # pix2pix / DCGAN D, phase path
  ((2, 16, 16, 24), (3, 3), (2, 2), "SAME", 16),  # SRGAN / CycleGAN down, phase path
  ((2, 16, 16, 3), (4, 4), (2, 2), "SAME", 8),  # an image layer: 3 input channels
  ((1, 17, 15, 20), (3, 3), (2, 2), "SAME", 5),  # odd sizes: the adjoint does not tile
  ((2, 9, 9, 5), (3, 3), (2, 2), "VALID", 6),  # rows past the last window
  ((1, 12, 12, 18), (4, 4), (2, 2), ((1, 2), (0, 1)), 4),  # uneven explicit pairs
  ((2, 8, 8, 17), (3, 3), (2, 1), "SAME", 16),  # mixed strides
  ((2, 8, 8, 16), (2, 2), (3, 3), "VALID", 4),  # kernel smaller than the stride
  ((2, 6, 6, 4), (3, 3), (1, 1), "SAME", 5),  # stride 1: XLA's own
]
IDS = [f"{s[1]}x{s[2]}x{s[3]}-k{k[0]}{k[1]}-s{st[0]}{st[1]}-{p}" for s, k, st, p, _ in CASES]

_RNG = np.random.default_rng(0)


def _normal(shape, dtype=jnp.float32):
  return jnp.asarray(_RNG.standard_normal(shape, np.float32), dtype)


def _xla(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN)


def _first_and_second_order(f, strides, padding):
  """Output, both gradients of ``<dy, f>``, and both gradients of a gradient penalty."""

  @jax.jit
  def run(x, w, dy):
    y, vjp = jax.vjp(lambda x, w: f(x, w, strides, padding), x, w)

    def penalty(x, w):  # |d/dx sum(tanh(f))|^2, as in WGAN-GP and R1
      gx = jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, w, strides, padding))))(x)
      return jnp.sum(gx**2)

    return (y,) + vjp(dy) + jax.grad(penalty, (0, 1))(x, w)

  return run


@pytest.fixture
def matmul_kernel_grad(monkeypatch):
  """Every strided layer takes the matrix-product kernel gradient, whatever its size."""
  monkeypatch.setattr(layers, "_MATMUL_KERNEL_GRAD_MIN_PIXELS", 0)


@pytest.mark.parametrize("shape,kernel_size,strides,padding,features", CASES, ids=IDS)
def test_matches_xla_to_second_order(
  shape, kernel_size, strides, padding, features, matmul_kernel_grad
):
  _check_against_xla(shape, kernel_size, strides, padding, features)


def test_default_choice_of_kernel_gradient_matches_xla():
  # Output maps of 1,024 pixels and kernels that tile the stride take the matrix product;
  # the rest XLA's own kernel gradient.
  assert layers._matmul_kernel_grad((1, 32, 32, 8), (4, 4, 3, 8), (2, 2))
  assert not layers._matmul_kernel_grad((64, 16, 16, 8), (4, 4, 3, 8), (2, 2))
  assert not layers._matmul_kernel_grad((1, 48, 48, 8), (3, 3, 3, 8), (2, 2))
  _check_against_xla((1, 64, 64, 16), (4, 4), (2, 2), ((1, 1), (1, 1)), 8)
  _check_against_xla((2, 16, 16, 16), (3, 3), (2, 2), "SAME", 8)


def _check_against_xla(shape, kernel_size, strides, padding, features, exact_forward=True):
  x, w = _normal(shape), 0.3 * _normal(kernel_size + (shape[-1], features))
  y_ref = _xla(x, w, strides, padding)
  dy = _normal(y_ref.shape)
  ref = _first_and_second_order(_xla, strides, padding)(x, w, dy)
  ours = _first_and_second_order(conv, strides, padding)(x, w, dy)
  if exact_forward:
    np.testing.assert_array_equal(np.asarray(ours[0]), np.asarray(ref[0]))  # XLA's forward
  else:  # the same sums in another order
    _assert_close(ours[0], ref[0], 1e-5)
  for a, b, rtol in zip(ours[1:], ref[1:], (1e-5, 1e-4, 1e-4, 1e-4), strict=True):
    _assert_close(a, b, rtol)


@pytest.fixture
def taps(monkeypatch):
  """Every layer takes the small-map "tap" form (one matrix product, plain autodiff)."""
  monkeypatch.setattr(layers, "_TAP_MAX_PIXELS", 10**9)
  monkeypatch.setattr(layers, "_TAP_MIN_KERNEL", 0)


@pytest.mark.parametrize("shape,kernel_size,strides,padding,features", CASES, ids=IDS)
def test_tap_form_matches_xla_to_second_order(shape, kernel_size, strides, padding, features, taps):
  _check_against_xla(shape, kernel_size, strides, padding, features, exact_forward=False)


def test_small_maps_with_large_kernels_take_the_tap_form():
  # The innermost pix2pix encoder levels (8x8 -> 1x1 maps, 4x4x512x512 kernels) do, a
  # 16x16 output or a small kernel does not; both match XLA.
  assert layers._use_taps(1 * 8 * 8, (4, 4, 512, 512))
  assert not layers._use_taps(1 * 16 * 16, (4, 4, 512, 512))
  assert not layers._use_taps(1 * 2 * 2, (4, 4, 64, 128))
  x, w = _normal((1, 4, 4, 512)), 0.02 * _normal((4, 4, 512, 512))
  dy = _normal((1, 2, 2, 512))
  jaxpr = str(jax.make_jaxpr(lambda x, w: conv(x, w, 2, 1))(x, w))
  assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
  ref = jax.jit(jax.vjp(lambda x, w: _xla(x, w, (2, 2), ((1, 1), (1, 1))), x, w)[1])(dy)
  ours = jax.jit(jax.vjp(lambda x, w: conv(x, w, 2, 1), x, w)[1])(dy)
  for a, b in zip(ours, ref, strict=True):
    _assert_close(a, b, 1e-5)


def test_gradients_match_float64_numpy(matmul_kernel_grad):
  # An independent reference: the strided correlation written out in float64 numpy,
  # and its gradients by the same sums read the other way.
  x = np.asarray(_RNG.standard_normal((2, 10, 10, 16)))
  w = np.asarray(_RNG.standard_normal((4, 4, 16, 3)))
  s, lo = 2, 1
  xp = np.pad(x, ((0, 0), (lo, 1), (lo, 1), (0, 0)))
  ho = (xp.shape[1] - 4) // s + 1
  y = np.zeros((2, ho, ho, 3))
  for a in range(4):
    for b in range(4):
      y += np.einsum("nhwc,cd->nhwd", xp[:, a : a + s * ho : s, b : b + s * ho : s], w[a, b])
  dy = np.asarray(_RNG.standard_normal(y.shape))
  dxp, dw = np.zeros_like(xp), np.zeros_like(w)
  for a in range(4):
    for b in range(4):
      dw[a, b] = np.einsum("nhwc,nhwd->cd", xp[:, a : a + s * ho : s, b : b + s * ho : s], dy)
      dxp[:, a : a + s * ho : s, b : b + s * ho : s] += np.einsum("nhwd,cd->nhwc", dy, w[a, b])
  f32 = [jnp.asarray(v, jnp.float32) for v in (x, w, dy)]
  out, vjp = jax.vjp(lambda x, w: conv(x, w, 2, ((1, 1), (1, 1))), *f32[:2])
  gx, gw = vjp(f32[2])
  _assert_close(out, y, 1e-6)
  _assert_close(gx, dxp[:, lo : lo + 10, lo : lo + 10], 1e-6)
  _assert_close(gw, dw, 1e-6)


def test_bfloat16(matmul_kernel_grad):
  x, w = _normal((2, 8, 8, 32), jnp.bfloat16), _normal((4, 4, 32, 16), jnp.bfloat16)
  dy = _normal((2, 4, 4, 16), jnp.bfloat16)

  def grads(f, x, w, dy):
    y, vjp = jax.vjp(lambda x, w: f(x, w, (2, 2), "SAME"), x, w)
    return (y,) + vjp(dy)

  y, dx, dw = jax.jit(lambda *a: grads(conv, *a))(x, w, dy)
  assert y.dtype == dx.dtype == dw.dtype == jnp.bfloat16
  f32 = [a.astype(jnp.float32) for a in (x, w, dy)]
  y32, dx32, dw32 = jax.jit(lambda *a: grads(_xla, *a))(*f32)
  for ours, exact in ((y, y32), (dx, dx32), (dw, dw32)):
    _assert_close(ours, exact, 1e-2)


MODULE_CASES = [
  dict(features=16, kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1))),
  dict(features=8, kernel_size=(3, 3), strides=2, padding="SAME", use_bias=False),
  dict(features=5, kernel_size=(3, 3), strides=None, padding=1),
  dict(features=5, kernel_size=(4, 4), strides=(2, 2), padding="VALID"),
]


@pytest.mark.parametrize("kwargs", MODULE_CASES, ids=lambda k: str(list(k.values())))
def test_module_matches_flax(kwargs):
  x = _normal((2, 3, 8, 8, 20))

  @jax.jit
  def run(key, x):
    params = Conv(**kwargs).init(key, x)
    ref_params = nn.Conv(**kwargs).init(key, x)

    def loss(module, p, x):
      return jnp.mean(jnp.tanh(module.apply(p, x)) ** 2)

    g = jax.grad(lambda p, x: loss(Conv(**kwargs), p, x), (0, 1))(params, x)
    g_ref = jax.grad(lambda p, x: loss(nn.Conv(**kwargs), p, x), (0, 1))(params, x)
    y, y_ref = Conv(**kwargs).apply(params, x), nn.Conv(**kwargs).apply(params, x)
    return params, ref_params, y, y_ref, g, g_ref

  params, ref_params, y, y_ref, g, g_ref = run(jax.random.key(1), x)
  assert jax.tree.structure(params) == jax.tree.structure(ref_params)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  _assert_close(y, y_ref, 1e-6)
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
    _assert_close(a, b, 1e-4)


def test_module_name_and_refusals():
  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      return Conv(4, (3, 3), 2)(x)

  x = jnp.zeros((1, 8, 8, 2))
  assert list(jax.eval_shape(Net().init, jax.random.key(0), x)["params"]) == ["Conv_0"]
  with pytest.raises(ValueError):
    Conv(3, 4).init(jax.random.key(0), x)
  with pytest.raises(NotImplementedError):
    Conv(3, (4, 4), padding="CIRCULAR").init(jax.random.key(0), x)
  with pytest.raises(ValueError):
    conv(x, jnp.zeros((3, 3, 2, 3)), (0, 2))
