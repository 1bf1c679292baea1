"""Tests for gan_jax.models.blocks against float64 numpy computations of the same formulas.

Variables come from numpy in the shapes ``jax.eval_shape`` gives for ``init``, and each
computation runs under one ``jax.jit``, so that the file compiles few XLA programs (the
initialisers themselves are checked once, in ``test_initialisation``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.blocks import (
  CategoricalConditionalBatchNorm,
  LinearConditionalBatchNorm,
  MinibatchDiscrimination,
  MinibatchStdDev,
  SelfAttention,
  SNConv,
  SNDense,
  SNEmbed,
  minibatch_stddev,
  orthogonal_regularization,
  spectral_normalize,
  weight_init,
)

_RNG = np.random.default_rng(0)
KEY = jax.random.key(0)


def _normal(*shape):
  return _RNG.standard_normal(shape).astype(np.float32)


def _f64(x):
  return np.asarray(x, np.float64)


def _variables(module, *args, **kwargs):
  """Random variables shaped like ``module.init(KEY, *args, **kwargs)``'s, from numpy."""
  shapes = jax.eval_shape(lambda *a: module.init(KEY, *a, **kwargs), *args)
  return jax.tree.map(lambda s: jnp.asarray(0.5 * _normal(*s.shape), s.dtype), shapes)


def _jit_apply(module, **kwargs):
  return jax.jit(lambda v, *args: module.apply(v, *args, **kwargs))


def _l2n(x, eps=1e-12):
  return x / max(np.sqrt(np.sum(x * x)), eps)


def _np_sn(kernel, u, n_iter=1):
  """Power iteration from ``u`` on the ``[fan_in, out]`` matrix: (kernel / sigma, u, sigma)."""
  w = _f64(kernel).reshape(-1, kernel.shape[-1])
  u = _f64(u)
  for _ in range(n_iter):
    v = _l2n(u @ w.T)
    u = _l2n(v @ w)
  sigma = (v @ w @ u.T)[0, 0]
  return _f64(kernel) / sigma, u, sigma


def _np_bn(x, mean, var, eps):
  return (_f64(x) - mean) / np.sqrt(var + eps)


def _batch_moments(x):
  x = _f64(x).reshape(-1, x.shape[-1])
  return x.mean(0), x.var(0)


def _close(actual, expected, tol=1e-5):
  np.testing.assert_allclose(_f64(actual), expected, rtol=tol, atol=tol)


def _tree_equal(a, b):
  same = jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)
  return jax.tree.structure(a) == jax.tree.structure(b) and all(jax.tree.leaves(same))


# --- initialisation -----------------------------------------------------------------------


def test_initialisation():
  x = jnp.asarray(_normal(2, 8, 8, 16))
  labels = jnp.array([0, 2])
  modules = {
    "conv": (SNConv(8, kernel_init="N02"), {"update_stats": False}),
    "dense": (SNDense(8), {"update_stats": False}),  # orthogonal by default
    "attention": (SelfAttention(kernel_init="N02"), {"train": False}),
    "cbn": (CategoricalConditionalBatchNorm(3), {"train": False}),
    "mbd": (MinibatchDiscrimination(4, 2, use_bias=True), {}),
  }

  @jax.jit
  def init(x, labels):
    args = {
      "conv": (x,),
      "dense": (x[:, 0, 0],),
      "attention": (x,),
      "cbn": (x, labels),
      "mbd": (x,),
    }
    return {k: m.init(KEY, *args[k], **kw) for k, (m, kw) in modules.items()}

  v = init(x, labels)
  conv = v["conv"]
  # Raw weights keep their initialisation: only the applied kernel is normalised.
  assert float(np.std(conv["params"]["kernel"])) == pytest.approx(0.02, rel=0.2)
  assert conv["batch_stats"]["u"].shape == (1, 8)
  assert float(conv["batch_stats"]["sigma"]) == 1.0
  k = _f64(v["dense"]["params"]["kernel"])
  _close(k.T @ k, np.eye(8), tol=1e-5)
  att = v["attention"]["params"]
  assert float(att["gamma"]) == 0.0  # the block starts as the identity
  assert {n: att[n]["kernel"].shape for n in ("theta", "phi", "g", "o")} == {
    "theta": (1, 1, 16, 2),
    "phi": (1, 1, 16, 2),
    "g": (1, 1, 16, 8),
    "o": (1, 1, 8, 16),
  }
  cbn = v["cbn"]
  assert np.all(cbn["params"]["gain"]["embedding"] == 1)
  assert np.all(cbn["params"]["bias"]["embedding"] == 0)
  assert np.all(cbn["batch_stats"]["bn"]["mean"] == 0) and np.all(
    cbn["batch_stats"]["bn"]["var"] == 1
  )
  np.testing.assert_array_equal(v["mbd"]["params"]["bias"], -np.ones(4))
  assert v["mbd"]["params"]["kernel"].shape == (16 * 8 * 8, 8)
  with pytest.raises(ValueError, match="Unknown init"):
    weight_init("he")


# --- spectral normalisation -------------------------------------------------------------


def test_sigma_converges_to_largest_singular_value():
  layer = SNConv(8, (3, 3), padding="VALID", use_bias=False)
  x = jnp.asarray(_normal(2, 5, 5, 3))
  v = _variables(layer, x, update_stats=False)
  kernel = np.asarray(v["params"]["kernel"])
  apply_all = _jit_apply(layer, update_stats=True, mutable=True)

  state = v
  for _ in range(100):
    _, state = apply_all(state, x)
  # Even with every collection mutable, params come back as they went in.
  assert _tree_equal(state["params"], v["params"])
  want = np.linalg.svd(_f64(kernel).reshape(-1, 8), compute_uv=False)[0]
  np.testing.assert_allclose(float(state["batch_stats"]["sigma"]), want, rtol=1e-4)
  # The kernel the layer applies, read off by one-hot 3x3x3 patches: spectral norm 1.
  patches = jnp.eye(27).reshape(27, 3, 3, 3)
  applied = _jit_apply(layer, update_stats=False)(state, patches)
  applied = _f64(applied).reshape(27, 8)
  np.testing.assert_allclose(np.linalg.svd(applied, compute_uv=False)[0], 1.0, rtol=1e-4)
  np.testing.assert_allclose(applied, kernel.reshape(27, 8) / want, rtol=1e-4, atol=1e-6)


def test_sn_dense_eval_is_pure_and_train_advances_u():
  layer = SNDense(6)
  x = jnp.asarray(_normal(4, 10))
  v = _variables(layer, x, update_stats=False)
  kernel, bias = (np.asarray(v["params"][k]) for k in ("kernel", "bias"))
  u0 = np.asarray(v["batch_stats"]["u"])
  w_bar, u1, sigma = _np_sn(kernel, u0)
  want = _f64(x) @ w_bar + bias

  y_eval, upd = _jit_apply(layer, update_stats=False, mutable=["batch_stats"])(v, x)
  assert _tree_equal(upd["batch_stats"], v["batch_stats"])  # u untouched in eval
  _close(y_eval, want)

  y_train, upd = _jit_apply(layer, update_stats=True, mutable=["batch_stats"])(v, x)
  _close(y_train, want)
  assert not np.allclose(upd["batch_stats"]["u"], u0)
  _close(upd["batch_stats"]["u"], u1)
  _close(upd["batch_stats"]["sigma"], sigma)

  # u and v are constants under differentiation: d sigma / dW = v^T u, nothing more.
  @jax.jit
  def grad(params):
    return jax.grad(lambda p: layer.apply({**v, "params": p}, x, update_stats=False).sum())(params)

  g = grad(v["params"])["kernel"]
  w = _f64(kernel)
  v1 = _l2n(_f64(u0) @ w.T)
  dw_bar = _f64(x).T @ np.ones((4, 6))  # gradient of sum(x W_bar) in W_bar
  _close(g, dw_bar / sigma - np.sum(dw_bar * w) / sigma**2 * (v1.T @ u1), tol=1e-4)


def test_sn_embed_and_disabled_spectral_norm():
  labels = jnp.array([0, 3, 3, 1])
  emb = SNEmbed(5, 4)
  v = _variables(emb, labels, update_stats=False)
  table = np.asarray(v["params"]["embedding"])
  w_bar, _, _ = _np_sn(table, v["batch_stats"]["u"])
  _close(_jit_apply(emb, update_stats=False)(v, labels), w_bar[np.asarray(labels)])
  # Switching normalisation off keeps the parameter tree and drops the state.
  x = jnp.asarray(_normal(1, 4, 4, 3))
  on = jax.eval_shape(lambda: SNConv(5).init(KEY, x, update_stats=False))
  off = jax.eval_shape(lambda: SNConv(5, spectral_norm=False).init(KEY, x, update_stats=False))
  assert on["params"] == off["params"] and set(off) == {"params"}
  with pytest.raises(ValueError, match="n_power_iterations"):
    spectral_normalize(jnp.ones((3, 2)), jnp.ones((1, 2)), 0)


# --- conditional batch normalisation ------------------------------------------------------


def test_categorical_conditional_batch_norm():
  bn = CategoricalConditionalBatchNorm(num_classes=5)
  x = jnp.asarray(3.0 + 2.0 * _normal(6, 4, 4, 8))
  labels = jnp.array([0, 4, 2, 2, 1, 4])
  v = _variables(bn, x, labels, train=False)
  params = jax.tree.map(lambda p: p + 1.0, v["params"])  # gains around 1
  gain = _f64(params["gain"]["embedding"])[np.asarray(labels)][:, None, None]
  bias = _f64(params["bias"]["embedding"])[np.asarray(labels)][:, None, None]
  start = {"bn": {"mean": jnp.zeros(8), "var": jnp.ones(8)}}

  y, upd = _jit_apply(bn, train=True, mutable=["batch_stats"])(
    {"params": params, "batch_stats": start}, x, labels
  )
  mean, var = _batch_moments(x)
  _close(y, _np_bn(x, mean, var, 1e-5) * gain + bias, tol=2e-5)
  # flax momentum 0.9 == PyTorch momentum 0.1, from mean 0 / var 1.
  _close(upd["batch_stats"]["bn"]["mean"], 0.1 * mean)
  _close(upd["batch_stats"]["bn"]["var"], 0.9 + 0.1 * var, tol=2e-5)

  stats = {"bn": {"mean": jnp.asarray(_normal(8)), "var": jnp.asarray(1 + _normal(8) ** 2)}}
  variables = {"params": params, "batch_stats": stats}
  evaluate = _jit_apply(bn, train=False)
  want = _np_bn(x, _f64(stats["bn"]["mean"]), _f64(stats["bn"]["var"]), 1e-5) * gain + bias
  _close(evaluate(variables, x, labels), want, tol=2e-5)
  # One-hot class weights give the same as the labels.
  _close(evaluate(variables, x, jax.nn.one_hot(labels, 5)), want, tol=2e-5)


def test_linear_conditional_batch_norm():
  bn = LinearConditionalBatchNorm()
  x = jnp.asarray(_normal(4, 4, 4, 8) - 1.0)
  y = jnp.asarray(_normal(4, 12))
  v = _variables(bn, x, y, train=False)
  assert set(v["params"]) == {"gain", "bias"}
  assert set(v["params"]["gain"]) == {"kernel"}  # no bias, as in BigGAN
  v["batch_stats"]["bn"] = {
    "mean": jnp.asarray(_normal(8)),
    "var": jnp.asarray(1 + _normal(8) ** 2),
  }
  stats = v["batch_stats"]
  lin = {}
  for name in ("gain", "bias"):
    w_bar, u1, _ = _np_sn(v["params"][name]["kernel"], stats[name]["u"])
    lin[name] = (_f64(y) @ w_bar, u1)
  gain = (1 + lin["gain"][0])[:, None, None]
  bias = lin["bias"][0][:, None, None]

  out, upd = _jit_apply(bn, train=True, mutable=["batch_stats"])(v, x, y)
  mean, var = _batch_moments(x)
  _close(out, _np_bn(x, mean, var, 1e-5) * gain + bias, tol=2e-5)
  _close(upd["batch_stats"]["gain"]["u"], lin["gain"][1])
  _close(upd["batch_stats"]["bn"]["mean"], 0.9 * _f64(stats["bn"]["mean"]) + 0.1 * mean)

  out_eval, upd = _jit_apply(bn, train=False, mutable=["batch_stats"])(v, x, y)
  assert _tree_equal(upd["batch_stats"], stats)
  want = _np_bn(x, _f64(stats["bn"]["mean"]), _f64(stats["bn"]["var"]), 1e-5) * gain + bias
  _close(out_eval, want, tol=2e-5)


# --- self-attention -------------------------------------------------------------------------


def _np_attention(x, params, stats, gamma):
  """BigGAN-PyTorch ``Attention.forward`` in NHWC, float64, SN kernels from stored u."""
  n, h, w, c = x.shape
  k = {}
  for name in ("theta", "phi", "g", "o"):
    kernel = np.asarray(params[name]["kernel"])[0, 0]
    k[name], _, _ = _np_sn(kernel, stats[name]["u"])

  def pool(t):
    return t.reshape(n, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))

  x = _f64(x)
  theta = (x @ k["theta"]).reshape(n, h * w, -1)
  phi = pool(x @ k["phi"]).reshape(n, h * w // 4, -1)
  g = pool(x @ k["g"]).reshape(n, h * w // 4, -1)
  logits = theta @ phi.transpose(0, 2, 1)
  beta = np.exp(logits - logits.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = (beta @ g).reshape(n, h, w, -1) @ k["o"]
  return x + gamma * o


def test_self_attention():
  att = SelfAttention()
  x = jnp.asarray(_normal(2, 8, 6, 16))
  v = _variables(att, x, train=False)
  evaluate = _jit_apply(att, train=False, mutable=["batch_stats"])

  at_init = {**v, "params": {**v["params"], "gamma": jnp.asarray(0.0)}}
  np.testing.assert_array_equal(evaluate(at_init, x)[0], x)  # identity while gamma is 0

  params = {**v["params"], "gamma": jnp.asarray(0.7)}
  variables = {"params": params, "batch_stats": v["batch_stats"]}
  out, upd = evaluate(variables, x)
  assert _tree_equal(upd["batch_stats"], v["batch_stats"])
  _close(out, _np_attention(x, params, v["batch_stats"], 0.7), tol=2e-5)
  _, upd = _jit_apply(att, train=True, mutable=["batch_stats"])(variables, x)
  assert not _tree_equal(upd["batch_stats"], v["batch_stats"])


# --- minibatch layers -----------------------------------------------------------------------


def _np_stddev(x, group_size, num_new_features):
  """StyleGAN2's ``minibatch_stddev_layer`` in its own NCHW layout, float64."""
  x = _f64(x).transpose(0, 3, 1, 2)
  n, c, h, w = x.shape
  g = min(group_size, n)
  y = x.reshape(g, -1, num_new_features, c // num_new_features, h, w)
  y = y - y.mean(axis=0, keepdims=True)
  y = np.sqrt(np.mean(y**2, axis=0) + 1e-8)
  y = y.mean(axis=(2, 3, 4), keepdims=True).mean(axis=2)  # [M, n, 1, 1]
  y = np.tile(y, (g, 1, h, w))
  return np.concatenate([x, y], axis=1).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("n,group_size,num_channels", [(8, 4, 2), (6, 3, 1), (3, 4, 1)])
def test_minibatch_stddev(n, group_size, num_channels):
  x = jnp.asarray(_normal(n, 3, 5, 6))
  out = jax.jit(minibatch_stddev, static_argnums=(1, 2))(x, group_size, num_channels)
  assert out.shape == (n, 3, 5, 6 + num_channels)
  _close(out, _np_stddev(x, group_size, num_channels))


def test_minibatch_stddev_module_and_uneven_groups():
  x = jnp.asarray(_normal(4, 2, 2, 4))
  _close(jax.jit(MinibatchStdDev(2).apply)({}, x), _np_stddev(x, 2, 1))
  with pytest.raises(ValueError, match="groups"):
    jax.eval_shape(lambda: minibatch_stddev(jnp.zeros((6, 2, 2, 4)), group_size=4))


@pytest.mark.parametrize("include_self", [False, True])
def test_minibatch_discrimination(include_self):
  layer = MinibatchDiscrimination(num_kernels=7, kernel_dim=3, include_self=include_self)
  x = jnp.asarray(_normal(5, 2, 2, 3))
  v = _variables(layer, x)
  v = {"params": {"kernel": v["params"]["kernel"] * 0.5}}  # closeness terms of all sizes
  f = _f64(x).reshape(5, -1)
  m = (f @ _f64(v["params"]["kernel"])).reshape(5, 7, 3)
  o = np.zeros((5, 7))
  for i in range(5):
    for j in range(5):
      if j != i or include_self:
        o[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
  assert 1e-4 < o.min() and o.max() < 5
  out = _jit_apply(layer)(v, x)
  assert out.shape == (5, 12 + 7)
  _close(out, np.concatenate([f, o], axis=1))


# --- orthogonal regularisation ---------------------------------------------------------------


def test_orthogonal_regularization():
  params = {
    "conv": {"kernel": jnp.asarray(_normal(3, 3, 4, 8)), "bias": jnp.asarray(_normal(8))},
    "dense": {"kernel": jnp.asarray(_normal(16, 6))},
    "shared": {"embedding": jnp.asarray(_normal(10, 6))},
    "gamma": jnp.asarray(0.5),
  }

  def np_penalty(k):
    w = _f64(k).reshape(-1, k.shape[-1])
    return np.sum((w.T @ w * (1 - np.eye(w.shape[1]))) ** 2)

  beta = 1e-3
  want = beta * (np_penalty(params["conv"]["kernel"]) + np_penalty(params["dense"]["kernel"]))
  # The reference adds 2 s (w w^T * (1 - I)) w to the [out, fan_in] weight w = W^T:
  # the gradient of this loss with weight s / 2.
  s = 1e-4

  @jax.jit
  def run(params):
    only_dense = orthogonal_regularization(params, beta, lambda path, x: path[0] == "dense")
    grads = jax.grad(lambda p: orthogonal_regularization(p, s / 2))(params)
    return orthogonal_regularization(params, beta), only_dense, grads

  value, only_dense, grads = run(params)
  _close(value, want, tol=1e-5)
  _close(only_dense, beta * np_penalty(params["dense"]["kernel"]), tol=1e-5)
  for name in ("conv", "dense"):
    k = params[name]["kernel"]
    w = _f64(k).reshape(-1, k.shape[-1]).T  # [out, fan_in]
    ref = 2 * s * ((w @ w.T) * (1 - np.eye(w.shape[0]))) @ w
    _close(np.asarray(grads[name]["kernel"]).reshape(-1, k.shape[-1]).T, ref, tol=1e-7)
  assert not np.any(np.asarray(grads["shared"]["embedding"]))  # embeddings are skipped
  assert not np.any(np.asarray(grads["conv"]["bias"]))


# --- mixed precision ---------------------------------------------------------------------------


def test_bfloat16_compute_with_float32_params():
  x = jnp.asarray(_normal(4, 4, 4, 8))
  bf16 = jnp.bfloat16
  modules = [
    (SNConv(8, dtype=bf16), (x,), {"update_stats": True}),
    (SNEmbed(3, 8, dtype=bf16), (jnp.array([0, 2]),), {"update_stats": True}),
    (SelfAttention(dtype=bf16), (x,), {"train": True}),
    (LinearConditionalBatchNorm(dtype=bf16), (x, x[:, 0, 0]), {"train": True}),
    (CategoricalConditionalBatchNorm(3, dtype=bf16), (x, jnp.array([0, 1, 2, 0])), {"train": True}),
    (MinibatchDiscrimination(4, 2, dtype=bf16), (x,), {}),
  ]
  for module, args, kwargs in modules:
    v = jax.eval_shape(lambda m=module, a=args, kw=kwargs: m.init(KEY, *a, **kw))
    out, upd = jax.eval_shape(
      lambda v, m=module, a=args, kw=kwargs: m.apply(v, *a, **kw, mutable=True), v
    )
    assert out.dtype == bf16, type(module).__name__
    dtypes = {p.dtype for p in jax.tree.leaves((v, upd))}
    assert dtypes == {jnp.dtype(jnp.float32)}, (type(module).__name__, dtypes)
  assert jax.eval_shape(minibatch_stddev, x.astype(bf16)).dtype == bf16
