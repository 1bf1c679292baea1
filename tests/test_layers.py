"""Tests for gan_jax.models.layers: XLA's exact forward pass and XLA-equal gradients."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax.models import layers
from gan_jax.models.layers import ConvTranspose, conv_transpose

DN = ("NHWC", "HWIO", "NHWC")

# (input shape, kernel size, strides, padding, output channels)
CASES = [
  ((2, 4, 4, 64), (4, 4), (2, 2), "SAME", 32),  # DCGAN 4x4x64 -> 8x8x32
  ((2, 16, 16, 8), (4, 4), (2, 2), "SAME", 3),  # DCGAN image layer, 3 channels out
  ((3, 5, 7, 5), (3, 3), (2, 2), "SAME", 7),  # odd sizes and channel counts
  ((2, 6, 6, 4), (3, 3), (1, 1), "SAME", 5),  # stride 1
  ((2, 5, 6, 3), (4, 4), (2, 2), "VALID", 4),
  ((2, 5, 6, 3), (3, 2), (1, 1), "VALID", 4),
  ((2, 5, 6, 3), (5, 3), (2, 3), ((1, 2), (0, 4)), 4),  # explicit pairs, mixed strides
  ((1, 4, 3, 2), (3, 3), (2, 1), ((0, 5), (6, -1)), 2),  # negative explicit padding
  ((2, 4, 5, 3), (1, 1), (2, 2), "SAME", 2),  # kernel smaller than the stride
]
IDS = [f"{s[1]}x{s[2]}x{s[3]}-k{k[0]}{k[1]}-s{st[0]}{st[1]}-{p}" for s, k, st, p, _ in CASES]

# Inputs come from numpy so that each test compiles only the functions under test.
_RNG = np.random.default_rng(0)


def _normal(shape, dtype=jnp.float32):
  return jnp.asarray(_RNG.standard_normal(shape, np.float32), dtype)


def _xla(x, w, strides, padding):
  return lax.conv_transpose(x, w, strides, padding, dimension_numbers=DN)


def _out_shape(x, w, strides, padding):
  return jax.eval_shape(lambda x, w: _xla(x, w, strides, padding), x, w).shape


def _value_and_grads(f, x, w, dy, strides, padding):
  """Output and the gradients of ``<dy, f(x, w)>``, in one jit per implementation."""

  @jax.jit
  def run(x, w, dy):
    y, vjp = jax.vjp(lambda x, w: f(x, w, strides, padding), x, w)
    return (y,) + vjp(dy)

  return run(x, w, dy)


def _assert_close(actual, expected, rtol):
  # Relative to the largest magnitude: entries are sums of many products of mixed sign.
  actual = np.asarray(actual, np.float32)
  expected = np.asarray(expected, np.float32)
  assert actual.shape == expected.shape
  assert np.all(np.isfinite(actual))
  scale = max(float(np.max(np.abs(expected))), 1e-12)
  assert float(np.max(np.abs(actual - expected))) / scale < rtol


@pytest.mark.parametrize("shape,kernel_size,strides,padding,features", CASES, ids=IDS)
def test_matches_xla(shape, kernel_size, strides, padding, features):
  x, w = _normal(shape), _normal(kernel_size + (shape[-1], features))
  dy = _normal(_out_shape(x, w, strides, padding))
  y_ref, dx_ref, dw_ref = _value_and_grads(_xla, x, w, dy, strides, padding)
  y, dx, dw = _value_and_grads(conv_transpose, x, w, dy, strides, padding)
  _assert_close(y, y_ref, 1e-5)  # per-phase sums round differently from XLA's
  _assert_close(dx, dx_ref, 1e-5)
  _assert_close(dw, dw_ref, 1e-4)


def test_padding_past_the_kernel_matches_dense_jacobian():
  # XLA CPU's own input gradient is non-finite here (it hands its convolution a negative
  # padding), so the reference is the dense Jacobian, built from forward passes.
  strides, padding = (2, 2), ((4, 0), (3, 5))
  x, w = _normal((1, 3, 3, 2)), _normal((3, 3, 2, 2))
  dy = _normal(_out_shape(x, w, strides, padding))
  jac_x, jac_w = jax.jit(jax.jacfwd(lambda x, w: _xla(x, w, strides, padding), (0, 1)))(x, w)
  y, dx, dw = _value_and_grads(conv_transpose, x, w, dy, strides, padding)
  _assert_close(y, _xla(x, w, strides, padding), 1e-5)
  _assert_close(dx, np.tensordot(dy, jac_x, dy.ndim), 1e-5)
  _assert_close(dw, np.tensordot(dy, jac_w, dy.ndim), 1e-5)


def test_second_order_reverse_matches_xla():
  # The StyleGAN2 path-length penalty differentiates the generator's input gradient
  # again: the custom backward rule is plain JAX, so reverse-over-reverse goes through it.
  x, w = _normal((2, 4, 4, 16)), _normal((3, 3, 16, 8))
  dy = _normal(_out_shape(x, w, (2, 2), ((2, 2), (2, 2))))

  def penalty(op):
    def grad_norm(w, x):
      gx = jax.grad(lambda x: jnp.sum(op(x, w, (2, 2), ((2, 2), (2, 2))) * dy))(x)
      return jnp.sum(jnp.square(gx)) + jnp.sum(jnp.square(gx * x))

    return jax.jit(jax.grad(grad_norm, (0, 1)))(w, x)

  for ours, ref in zip(penalty(conv_transpose), penalty(_xla), strict=True):
    _assert_close(ours, ref, 1e-4)


@pytest.mark.parametrize("shape,kernel_size,strides,padding,features", CASES, ids=IDS)
def test_tap_form_matches_xla(shape, kernel_size, strides, padding, features, monkeypatch):
  # The small-map form (one batched product over the taps, then a scatter), forced on.
  monkeypatch.setattr(layers, "_TAP_MAX_PIXELS", 10**9)
  monkeypatch.setattr(layers, "_TAP_MIN_KERNEL", 0)
  x, w = _normal(shape), _normal(kernel_size + (shape[-1], features))
  dy = _normal(_out_shape(x, w, strides, padding))
  y_ref, dx_ref, dw_ref = _value_and_grads(_xla, x, w, dy, strides, padding)
  y, dx, dw = _value_and_grads(conv_transpose, x, w, dy, strides, padding)
  _assert_close(y, y_ref, 1e-5)
  _assert_close(dx, dx_ref, 1e-5)
  _assert_close(dw, dw_ref, 1e-5)


def test_innermost_unet_layers_take_the_tap_form():
  # pix2pix's decoder from 1x1 to 8x8 inputs with 4x4x1024x512 kernels: no convolution
  # (so no flipped or transposed copy of the kernel); matches XLA to second order.
  x, w = _normal((1, 2, 2, 1024)), 0.02 * _normal((4, 4, 1024, 512))
  pads = ((2, 2), (2, 2))
  jaxpr = str(jax.make_jaxpr(lambda x, w: conv_transpose(x, w, 2, pads))(x, w))
  assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
  dy = _normal((1, 4, 4, 512))

  def penalty(op):
    def grad_norm(w, x):
      gx = jax.grad(lambda x: jnp.sum(op(x, w, (2, 2), pads) * dy))(x)
      return jnp.sum(jnp.square(gx * x))

    return jax.jit(jax.grad(grad_norm, (0, 1)))(w, x)

  for ours, ref in zip(penalty(conv_transpose), penalty(_xla), strict=True):
    _assert_close(ours, ref, 1e-4)


def test_int_strides_and_padding():
  x, w = _normal((2, 5, 5, 3)), _normal((3, 3, 3, 4))
  expected = np.asarray(_xla(x, w, (2, 2), ((1, 1), (1, 1))))
  np.testing.assert_array_equal(np.asarray(conv_transpose(x, w, 2, 1)), expected)
  np.testing.assert_array_equal(np.asarray(conv_transpose(x, w, [2, 2], [1, (1, 1)])), expected)


def test_bfloat16():
  x, w = _normal((2, 4, 4, 16), jnp.bfloat16), _normal((4, 4, 16, 8), jnp.bfloat16)
  dy = _normal((2, 8, 8, 8), jnp.bfloat16)
  y_ref, dx_ref, dw_ref = _value_and_grads(_xla, x, w, dy, (2, 2), "SAME")
  y, dx, dw = _value_and_grads(conv_transpose, x, w, dy, (2, 2), "SAME")
  assert y.dtype == dx.dtype == dw.dtype == jnp.bfloat16
  _assert_close(y, y_ref, 2e-2)
  # Both round to bf16 at different points; exact float32 gradients sit within bf16 of each.
  f32 = [a.astype(jnp.float32) for a in (x, w, dy)]
  _, dx32, dw32 = _value_and_grads(_xla, *f32, (2, 2), "SAME")
  for ours, ref, exact in ((dx, dx_ref, dx32), (dw, dw_ref, dw32)):
    _assert_close(ours, exact, 1e-2)
    _assert_close(ref, exact, 1e-2)


MODULE_CASES = [
  dict(features=32, kernel_size=(4, 4), strides=(2, 2), padding="SAME", use_bias=False),
  dict(features=3, kernel_size=(4, 4), strides=(2, 2), padding="SAME"),
  dict(features=5, kernel_size=(3, 3), strides=(1, 1), padding="VALID"),
  dict(features=5, kernel_size=(3, 3), strides=None, padding=1),
]


def _params(kwargs, in_features):
  # Drawn with numpy: compiling flax's initializers costs seconds on a small CPU.
  ks = kwargs["kernel_size"]
  params = {"kernel": _normal(tuple(ks) + (in_features, kwargs["features"]))}
  if kwargs.get("use_bias", True):
    params["bias"] = _normal((kwargs["features"],))
  return {"params": params}


def test_module_init_matches_flax():
  kwargs = dict(features=3, kernel_size=(4, 4), strides=(2, 2))
  x = jnp.zeros((1, 4, 4, 5))

  @jax.jit
  def init(key):
    return ConvTranspose(**kwargs).init(key, x), nn.ConvTranspose(**kwargs).init(key, x)

  params, ref_params = init(jax.random.key(1))
  assert jax.tree.structure(params) == jax.tree.structure(ref_params)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params), strict=True):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kwargs", MODULE_CASES, ids=lambda k: str(list(k.values())))
def test_module_matches_flax(kwargs):
  x = _normal((2, 4, 4, 6))
  shapes = jax.eval_shape(ConvTranspose(**kwargs).init, jax.random.key(0), x)
  ref_shapes = jax.eval_shape(nn.ConvTranspose(**kwargs).init, jax.random.key(0), x)
  assert shapes == ref_shapes
  params = _params(kwargs, x.shape[-1])

  @jax.jit
  def run(params, x):
    return ConvTranspose(**kwargs).apply(params, x), nn.ConvTranspose(**kwargs).apply(params, x)

  y, y_ref = run(params, x)
  _assert_close(y, y_ref, 1e-5)


def test_module_batch_axes_and_dtype():
  kwargs = dict(features=4, kernel_size=(4, 4), strides=(2, 2))
  x = _normal((2, 3, 4, 4, 5))
  params = _params(kwargs, x.shape[-1])

  @jax.jit
  def run(params, x):
    return (
      ConvTranspose(**kwargs).apply(params, x),
      nn.ConvTranspose(**kwargs).apply(params, x),
      ConvTranspose(**kwargs).apply(params, x[0, 0]),
      ConvTranspose(**kwargs, dtype=jnp.bfloat16).apply(params, x),
      nn.ConvTranspose(**kwargs, dtype=jnp.bfloat16).apply(params, x),
    )

  y, y_ref, y_unbatched, yb, yb_ref = run(params, x)
  assert y.shape == (2, 3, 8, 8, 4)
  _assert_close(y, y_ref, 1e-5)
  np.testing.assert_array_equal(np.asarray(y_unbatched), np.asarray(y[0, 0]))
  assert yb.dtype == jnp.bfloat16
  _assert_close(yb, yb_ref, 2e-2)


def test_module_under_jit_and_grad():
  kwargs = dict(features=3, kernel_size=(4, 4), strides=(2, 2), padding="SAME")
  x = _normal((2, 8, 8, 6))
  params = _params(kwargs, x.shape[-1])

  def loss(module, params, x):
    return jnp.mean(jnp.tanh(module.apply(params, x)) ** 2)

  @jax.jit
  def grads(params, x):
    return (
      jax.grad(lambda p, x: loss(ConvTranspose(**kwargs), p, x), (0, 1))(params, x),
      jax.grad(lambda p, x: loss(nn.ConvTranspose(**kwargs), p, x), (0, 1))(params, x),
    )

  ours, ref = grads(params, x)
  assert jax.tree.structure(ours) == jax.tree.structure(ref)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
    assert a.dtype == b.dtype
    _assert_close(a, b, 1e-4)


def test_rejects_unsupported_arguments():
  x = jnp.zeros((1, 4, 4, 2))
  with pytest.raises(ValueError):
    ConvTranspose(3, 4).init(jax.random.key(0), x)
  with pytest.raises(NotImplementedError):
    ConvTranspose(3, (4, 4), padding="CIRCULAR").init(jax.random.key(0), x)
  with pytest.raises(ValueError):
    conv_transpose(x, jnp.zeros((4, 4, 2, 3)), (2, 2), "FULL")
