"""Tests for the StyleGAN2 ops (gan_jax.models.blocks) and networks (gan_jax.models.stylegan2).

The ops are checked against direct float64 numpy computations written here from the
definitions (Karras et al. 2020 and the reference code's ``_upfirdn2d_ref``,
``conv2d_resample`` and ``modulated_conv2d``): zero-insertion upsampling, padding, the
flipped-filter 2-D convolution and decimation; a per-sample loop of modulated kernels and
an explicit scatter for the stride-2 transposed convolution. The networks are checked for
shapes, state (``w_avg``), truncation, the mapping / synthesis split, second-order
gradients and their layer list against the reference's (``training/networks.py`` of
stylegan2-ada-pytorch at d72cc7d), written out here.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from gan_jax.games.base import Network, PhaseContext
from gan_jax.models import blocks, build_networks, get_family, stylegan2
from gan_jax.models.stylegan2 import (
  W_AVG_COLLECTION,
  MappingNetwork,
  StyleGAN2Discriminator,
  StyleGAN2Generator,
)

_RNG = np.random.default_rng(0)
KEY = jax.random.key(0)
F = blocks.setup_filter()


def _normal(*shape):
  return _RNG.standard_normal(shape).astype(np.float32)


def _f64(x):
  return np.asarray(x, np.float64)


def _close(a, b, tol=2e-5):
  a, b = _f64(a), _f64(b)
  assert a.shape == b.shape, (a.shape, b.shape)
  np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


# ------------------------------------------------------------------------------------------
# numpy references (float64, NHWC).


def np_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0, flip_filter=False):
  """Zero insertion, pad (negative crops; ``(left, right, top, bottom)``), 2-D convolution
  with ``f * gain`` (correlation with the flipped filter), every ``down``-th pixel."""
  x = _f64(x)
  n, h, w, c = x.shape
  u = np.zeros((n, h * up, w * up, c))
  u[:, ::up, ::up] = x
  px0, px1, py0, py1 = pad
  u = np.pad(u, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
  u = u[:, max(-py0, 0) : u.shape[1] - max(-py1, 0), max(-px0, 0) : u.shape[2] - max(-px1, 0)]
  k = _f64(f) * gain
  if not flip_filter:
    k = k[::-1, ::-1]
  fh, fw = k.shape
  oh, ow = u.shape[1] - fh + 1, u.shape[2] - fw + 1
  out = np.zeros((n, oh, ow, c))
  for i in range(fh):
    for j in range(fw):
      out += k[i, j] * u[:, i : i + oh, j : j + ow]
  return out[:, ::down, ::down]


def np_correlate(x, w, pad):
  """``[H, W, Cin]`` correlated with ``[K, K, Cin, Cout]`` after zero padding ``pad``."""
  k = w.shape[0]
  xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
  oh, ow = xp.shape[0] - k + 1, xp.shape[1] - k + 1
  out = np.zeros((oh, ow, w.shape[-1]))
  for a in range(k):
    for b in range(k):
      out += xp[a : a + oh, b : b + ow] @ w[a, b]
  return out


def np_modulated_conv(x, weight, styles, demodulate, up):
  """Per-sample kernels ``weight * s`` (demodulated), each sample convolved on its own;
  ``up=2``: the stride-2 transposed convolution as an explicit scatter, then the FIR filter
  with gain 4 and the reference's padding (``conv2d_resample``: 1 each side for K=3, p=1)."""
  x, weight, styles = _f64(x), _f64(weight), _f64(styles)
  k = weight.shape[0]
  p = k // 2
  outs = []
  for n in range(x.shape[0]):
    wn = weight * styles[n][None, None, :, None]
    if demodulate:
      wn = wn / np.sqrt(np.sum(wn**2, axis=(0, 1, 2)) + 1e-8)
    if up == 1:
      outs.append(np_correlate(x[n], wn, p))
      continue
    h, w = x.shape[1:3]
    t = np.zeros((2 * h + k - 2, 2 * w + k - 2, wn.shape[-1]))
    for a in range(k):
      for b in range(k):
        t[a : a + 2 * h - 1 : 2, b : b + 2 * w - 1 : 2] += x[n] @ wn[a, b]
    fw = F.shape[0]
    lo, hi = p + (fw + 1) // 2 - (k - 1), p + (fw - 2) // 2 - (k - 2)
    outs.append(np_upfirdn2d(t[None], F, pad=(lo, hi, lo, hi), gain=4.0)[0])
  return np.stack(outs)


def np_minibatch_stddev(x, group):
  """StyleGAN2's layer with one feature map: group ``k mod (N / G)``, std over the group,
  mean over C, H, W."""
  x = _f64(x)
  n = x.shape[0]
  g = min(group, n)
  y = x.reshape(g, n // g, *x.shape[1:])
  s = np.sqrt(np.mean((y - y.mean(axis=0)) ** 2, axis=0) + 1e-8).mean(axis=(1, 2, 3))
  s = np.tile(s, g)[:, None, None, None] * np.ones((1, *x.shape[1:3], 1))
  return np.concatenate([x, s], axis=-1)


# ------------------------------------------------------------------------------------------
# Ops.


def test_setup_filter():
  expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
  np.testing.assert_allclose(F, expected, rtol=1e-7)
  assert F.dtype == np.float32


@pytest.mark.parametrize(
  "up,down,pad,gain,flip",
  [
    (1, 1, (1, 2, 0, 3), 1.0, False),
    (2, 1, (2, 1, 2, 1), 4.0, False),
    (3, 2, (-1, 2, 1, -2), 2.5, True),
  ],
)
def test_upfirdn2d_matches_numpy(up, down, pad, gain, flip):
  x = _normal(2, 5, 6, 3)
  f = _normal(3, 4)  # asymmetric: flips and axes matter
  out = jax.jit(lambda x: blocks.upfirdn2d(x, f, up, down, pad, gain, flip))(x)
  _close(out, np_upfirdn2d(x, f, up, down, pad, gain, flip))


def test_fir_up_and_down_match_numpy_with_gains():
  x = _normal(2, 6, 8, 3)
  up, down = jax.jit(lambda x: (blocks.upsample2d(x), blocks.downsample2d(x)))(x)
  assert up.shape == (2, 12, 16, 3) and down.shape == (2, 3, 4, 3)
  # upsample2d: pad (2, 1) each axis around the zero-inserted image, filter times 4.
  _close(up, np_upfirdn2d(x, F, up=2, pad=(2, 1, 2, 1), gain=4.0))
  # downsample2d: pad (1, 1), filter, every second pixel.
  _close(down, np_upfirdn2d(x, F, down=2, pad=(1, 1, 1, 1)))
  # The gains keep a constant image constant away from the borders.
  ones = jnp.ones((1, 8, 8, 1))
  up1, down1 = jax.jit(lambda x: (blocks.upsample2d(x), blocks.downsample2d(x)))(ones)
  np.testing.assert_allclose(up1[0, 2:-2, 2:-2], 1.0, rtol=1e-6)
  np.testing.assert_allclose(down1[0, 1:-1, 1:-1], 1.0, rtol=1e-6)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv2d_matches_per_sample_loop(demodulate, up):
  x, weight, styles = _normal(3, 5, 4, 6), _normal(3, 3, 6, 5), _normal(3, 6) + 1.0

  def both(x, weight, styles):
    kw = dict(demodulate=demodulate, up=up)
    return (
      blocks.modulated_conv2d(x, weight, styles, fused=True, **kw),
      blocks.modulated_conv2d(x, weight, styles, fused=False, **kw),
    )

  fused, unfused = jax.jit(both)(x, weight, styles)
  expected = np_modulated_conv(x, weight, styles, demodulate, up)
  assert fused.shape == (3, 5 * up, 4 * up, 5)
  _close(fused, expected, 1e-4)
  _close(unfused, expected, 1e-4)


def test_modulated_conv2d_is_one_grouped_convolution():
  x, weight, styles = _normal(4, 4, 4, 3), _normal(3, 3, 3, 2), _normal(4, 3)
  jaxpr = jax.make_jaxpr(lambda *a: blocks.modulated_conv2d(*a))(x, weight, styles)
  convs = [e for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
  assert len(convs) == 1 and convs[0].params["feature_group_count"] == 4


def test_equalized_dense_runtime_weight_bias_and_activation():
  layer = blocks.EqualizedDense(4, lr_mul=0.01, activation="lrelu", bias_init=0.5)
  x = _normal(3, 6)
  v = layer.init(KEY, x)
  kernel, bias = _f64(v["params"]["kernel"]), _f64(v["params"]["bias"])
  # Stored N(0, 1) / lr_mul; the bias as initialised.
  assert 30 < np.std(kernel) < 300 and np.all(bias == 0.5)
  w = kernel * 0.01 / math.sqrt(6)
  pre = _f64(x) @ w + bias * 0.01
  expected = np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2)
  _close(jax.jit(layer.apply)(v, x), expected)
  # With x = I the linear layer returns the runtime weight (plus the scaled bias).
  linear = blocks.EqualizedDense(4, lr_mul=0.01, bias_init=0.5)
  _close(jax.jit(linear.apply)(v, np.eye(6, dtype=np.float32)), w + bias * 0.01)


@pytest.mark.parametrize("k,down", [(3, 1), (3, 2), (1, 2)])
def test_equalized_conv_runtime_weight_and_down(k, down):
  layer = blocks.EqualizedConv(5, k, activation="lrelu", down=down, lr_mul=0.5)
  x = _normal(2, 8, 8, 3)
  v = layer.init(KEY, x)
  v = {"params": {**v["params"], "bias": jnp.asarray(_normal(5))}}
  kernel, bias = _f64(v["params"]["kernel"]), _f64(v["params"]["bias"])
  w = kernel * 0.5 / math.sqrt(3 * k * k)  # the runtime weight
  if down == 1:
    pre = np.stack([np_correlate(_f64(s), w, k // 2) for s in x])
  elif k == 1:  # FIR downsampling, then the 1x1 convolution
    pre = np_upfirdn2d(x, F, down=2, pad=(1, 1, 1, 1)) @ w[0, 0]
  else:  # FIR (padded 2 each side), then the stride-2 convolution
    filtered = np_upfirdn2d(x, F, pad=(2, 2, 2, 2))
    pre = np.stack([np_correlate(s, w, 0)[::2, ::2] for s in filtered])
  pre = pre + bias * 0.5
  expected = np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2) * 0.7
  out = jax.jit(lambda v, x: layer.apply(v, x, gain=0.7))(v, x)
  assert out.shape == (2, 8 // down, 8 // down, 5)
  _close(out, expected)


def test_minibatch_stddev_stylegan_grouping():
  x = _normal(8, 4, 4, 5)
  out = jax.jit(blocks.minibatch_stddev, static_argnums=(1, 2))(x, 4, 1)
  _close(out, np_minibatch_stddev(x, 4))
  _close(
    jax.jit(blocks.minibatch_stddev, static_argnums=(1, 2))(x[:2], 4, 1),
    np_minibatch_stddev(x[:2], 4),
  )


def test_normalize_2nd_moment():
  x = _normal(3, 7) * 3.0
  expected = _f64(x) / np.sqrt(np.mean(_f64(x) ** 2, axis=1, keepdims=True) + 1e-8)
  _close(jax.jit(blocks.normalize_2nd_moment)(x), expected)


# ------------------------------------------------------------------------------------------
# Mapping network.


def _mapping_setup():
  net = MappingNetwork(z_dim=6, c_dim=3, w_dim=5, num_ws=4, num_layers=2)
  z, labels = _normal(8, 6), np.array([0, 1, 2, 0, 1, 2, 0, 1])
  v = net.init(KEY, z, labels, train=False)
  v = {"params": v["params"], W_AVG_COLLECTION: {"w_avg": jnp.asarray(_normal(5))}}
  return net, z, labels, v


def test_mapping_inputs_and_layers():
  net, z, labels, v = _mapping_setup()
  p = jax.tree.map(_f64, v["params"])
  assert set(p) == {"embed", "fc0", "fc1"} and p["fc0"]["kernel"].shape == (11, 5)

  def dense(x, layer, lr_mul, act):
    y = x @ (layer["kernel"] * lr_mul / math.sqrt(x.shape[-1])) + layer["bias"] * lr_mul
    return np.where(y > 0, y, 0.2 * y) * math.sqrt(2) if act else y

  def norm(x):
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)

  y = norm(dense(np.eye(3)[labels], p["embed"], 1.0, False))
  h = np.concatenate([norm(_f64(z)), y], axis=1)
  w = dense(dense(h, p["fc0"], 0.01, True), p["fc1"], 0.01, True)
  ws = jax.jit(lambda v, z, c: net.apply(v, z, c, train=False))(v, z, labels)
  assert ws.shape == (8, 4, 5)
  _close(ws, np.broadcast_to(w[:, None], (8, 4, 5)), 1e-4)


def test_w_avg_update_in_train_mode_only():
  net, z, labels, v = _mapping_setup()
  old = _f64(v[W_AVG_COLLECTION]["w_avg"])

  @jax.jit
  def run(v):
    ws = net.apply(v, z, labels, train=False)
    _, trained = net.apply(v, z, labels, train=True, mutable=[W_AVG_COLLECTION])
    _, evaluated = net.apply(v, z, labels, train=False, mutable=[W_AVG_COLLECTION])
    frozen = net.apply(v, z, labels, train=True)  # train without the collection mutable
    return ws, trained, evaluated, frozen

  ws, trained, evaluated, frozen = run(v)
  expected = old + (1 - 0.995) * (_f64(ws[:, 0]).mean(axis=0) - old)
  _close(trained[W_AVG_COLLECTION]["w_avg"], expected, 1e-6)
  _close(evaluated[W_AVG_COLLECTION]["w_avg"], old, 0)
  _close(frozen, ws, 0)
  init = net.init(KEY, z, labels, train=True)  # initialisation never updates: zeros
  assert not np.any(_f64(init[W_AVG_COLLECTION]["w_avg"]))


def test_truncation():
  net, z, labels, v = _mapping_setup()
  avg = _f64(v[W_AVG_COLLECTION]["w_avg"])

  @jax.jit
  def run(v):
    def f(psi, cutoff):
      return net.apply(v, z, labels, train=False, truncation_psi=psi, truncation_cutoff=cutoff)

    return f(1.0, None), f(0.0, None), f(0.5, 2), f(jnp.float32(0.5), None)

  ws, zero, cut, traced = run(v)
  _close(zero, np.broadcast_to(avg, zero.shape), 1e-6)
  _close(cut[:, :2], avg + 0.5 * (_f64(ws[:, :2]) - avg), 1e-5)
  _close(cut[:, 2:], ws[:, 2:], 0)
  _close(traced, avg + 0.5 * (_f64(ws) - avg), 1e-5)


# ------------------------------------------------------------------------------------------
# Generator and discriminator.

TINY = dict(z_dim=8, w_dim=8, map_layers=2, channel_base=64, channel_max=8)


def _g(resolution, num_classes=0, **kw):
  return StyleGAN2Generator(resolution, 3, num_classes=num_classes, **{**TINY, **kw})


def _d(resolution, num_classes=0):
  return StyleGAN2Discriminator(
    resolution, num_classes, channel_base=64, channel_max=8, mbstd_group=2, map_layers=2
  )


@pytest.mark.parametrize("resolution", [16, 32])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_shapes(resolution, num_classes):
  g, d = _g(resolution, num_classes), _d(resolution, num_classes)
  z = jax.ShapeDtypeStruct((4, 8), jnp.float32)
  labels = jax.ShapeDtypeStruct((4,), jnp.int32) if num_classes else None
  vg = jax.eval_shape(lambda z, c: g.init(KEY, z, c, train=False), z, labels)
  assert set(vg) == {"params", W_AVG_COLLECTION}
  assert g.num_ws == 2 * int(math.log2(resolution)) - 2
  img = jax.eval_shape(lambda v, z, c: g.apply(v, z, c, train=False), vg, z, labels)
  ws = jax.eval_shape(lambda v, z, c: g.apply(v, z, c, method="mapping"), vg, z, labels)
  assert img.shape == (4, resolution, resolution, 3) and img.dtype == jnp.float32
  assert ws.shape == (4, g.num_ws, 8)
  vd = jax.eval_shape(lambda x, c: d.init(KEY, x, c, train=False), img, labels)
  assert set(vd) == {"params"} and ("mapping" in vd["params"]) == bool(num_classes)
  logits = jax.eval_shape(lambda v, x, c: d.apply(v, x, c), vd, img, labels)
  assert logits.shape == (4,) and logits.dtype == jnp.float32


_FILL = {"bias": 0.0, "noise_strength": 0.3}


def _init(module, *args):
  """Variables shaped like ``module.init``'s, drawn here (compiling an initialisation of
  many layers costs seconds): N(0, 1) weights, zero biases (1 for the styles' affine
  layers), ``noise_strength`` 0.3 (0 at init, where the noise would not show), and a
  random ``w_avg``."""
  shapes = jax.eval_shape(lambda *a: module.init({"params": KEY, "dropout": KEY}, *a), *args)

  def fill(path, s):
    names = [getattr(k, "key", "") for k in path]
    if names[-1] in _FILL:
      value = 1.0 if names[-1] == "bias" and names[-2] == "affine" else _FILL[names[-1]]
      return jnp.full(s.shape, value, s.dtype)
    return jnp.asarray(_normal(*s.shape))

  return jax.tree_util.tree_map_with_path(fill, shapes)


def test_generator_mapping_synthesis_split_and_noise():
  g = _g(8, 3)
  quiet = g.clone(noise_mode="none")
  z, labels = _normal(4, 8), np.array([0, 1, 2, 1])
  v = _init(g, z, labels)
  k1, k2 = jax.random.key(1), jax.random.key(2)

  @jax.jit
  def run(v):
    full = g.apply(v, z, labels, train=False, rngs={"dropout": k1})
    ws = g.apply(v, z, labels, train=False, method="mapping")
    split = g.apply(v, ws, train=False, rngs={"dropout": k1}, method="synthesis")
    other = g.apply(v, ws, train=False, rngs={"dropout": k2}, method="synthesis")
    const = g.apply(v, z, labels, train=False)
    const_again = g.apply(v, ws, method="synthesis")
    silent = quiet.apply(v, ws, rngs={"dropout": k1}, method="synthesis")
    return full, split, other, const, const_again, silent

  full, split, other, const, const_again, silent = (_f64(a) for a in run(v))
  _close(full, split, 1e-6)
  _close(const, const_again, 1e-6)  # no rng: the layers' constant noise
  for a, b in ((full, other), (full, const), (full, silent), (const, silent)):
    assert np.abs(a - b).max() > 1e-3
  with pytest.raises(Exception, match="dropout"):
    jax.eval_shape(lambda v: g.clone(noise_mode="random").apply(v, z, labels), v)


def test_phase_context_threads_w_avg():
  g = _g(8)
  net = Network(g, (jnp.zeros((2, 8)), None), role="g")
  v = _init(g, *net.example_inputs)
  z = jnp.asarray(_normal(4, 8))

  @jax.jit
  def run(v):
    cols = {"g": {W_AVG_COLLECTION: v[W_AVG_COLLECTION]}}
    ctx = PhaseContext({"g": net}, {"g": v["params"]}, cols, {}, {}, {}, KEY, jnp.zeros(()), None)
    img = ctx.apply("g", z, None)
    ws = ctx.apply("g", z, None, method="mapping", update=False)
    return img, ws, ctx.updated_collections["g"][W_AVG_COLLECTION]

  img, ws, new = run(v)
  assert img.shape == (4, 8, 8, 3) and ws.shape == (4, g.num_ws, 8)
  old = _f64(v[W_AVG_COLLECTION]["mapping_network"]["w_avg"])
  _close(new["mapping_network"]["w_avg"], old + 0.005 * (_f64(ws[:, 0]).mean(axis=0) - old), 1e-5)


def test_second_order_gradients_are_finite():
  g, d = _g(8), _d(8, 4)
  z, labels = jnp.asarray(_normal(4, 8)), jnp.array([0, 1, 2, 3])
  vg = _init(g, z, None)
  gp = vg["params"]
  x = jnp.asarray(_normal(4, 8, 8, 3))
  dp = _init(d, x, labels)["params"]

  def r1(dp):  # ||dD/dx||^2, as the R1 penalty
    grad_x = jax.grad(lambda x: jnp.sum(d.apply({"params": dp}, x, labels)))(x)
    return jnp.sum(jnp.square(grad_x))

  def path_length(gp):  # |d(img . y)/d ws|, as the path-length penalty
    cols = {W_AVG_COLLECTION: vg[W_AVG_COLLECTION]}
    ws = g.apply({"params": gp, **cols}, z, None, method="mapping")
    y = jax.random.normal(jax.random.key(3), (4, 8, 8, 3)) / 8.0

    def dot(ws):
      img = g.apply({"params": gp, **cols}, ws, rngs={"dropout": KEY}, method="synthesis")
      return jnp.sum(img * y)

    lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(jax.grad(dot)(ws)), axis=2), axis=1))
    return jnp.mean(jnp.square(lengths - 1.0))

  gd, gg = jax.jit(lambda dp, gp: (jax.grad(r1)(dp), jax.grad(path_length)(gp)))(dp, gp)
  for tree in (gd, gg):
    leaves = jax.tree.leaves(tree)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert sum(float(jnp.sum(jnp.abs(leaf))) for leaf in leaves) > 0
  assert float(jnp.abs(gg["mapping_network"]["fc0"]["kernel"]).sum()) > 0


# ------------------------------------------------------------------------------------------
# Layer list and parameter counts against the reference.


def reference_layers(res, z_dim, w_dim, c_dim, base, cmax, g_map, d_map, img_ch=3):
  """The reference's parameter names and (PyTorch) shapes, written from ``networks.py``:
  ``Generator(mapping, synthesis)`` and ``Discriminator`` (resnet) with default kwargs."""
  ch = {r: min(base // r, cmax) for r in [2**i for i in range(2, int(math.log2(res)) + 1)]}
  g, d = {}, {}

  def fc(layers, name, fin, fout):
    layers[f"{name}.weight"], layers[f"{name}.bias"] = (fout, fin), (fout,)

  def conv(layers, name, cin, cout, k, bias=True):
    layers[f"{name}.weight"] = (cout, cin, k, k)
    if bias:
      layers[f"{name}.bias"] = (cout,)

  def mapping(layers, z, c, w, num_layers):
    feats = [z + (w if c else 0)] + [w] * num_layers
    if c:
      fc(layers, "mapping.embed", c, w)
    for i in range(num_layers):
      fc(layers, f"mapping.fc{i}", feats[i], feats[i + 1])

  mapping(g, z_dim, c_dim, w_dim, g_map)
  for r in ch:
    b = f"synthesis.b{r}"
    if r == 4:
      g[f"{b}.const"] = (ch[4], 4, 4)
    convs = [("conv0", ch[r // 2])] if r > 4 else []
    for name, cin in [*convs, ("conv1", ch[r])]:
      conv(g, f"{b}.{name}", cin, ch[r], 3)
      g[f"{b}.{name}.noise_strength"] = ()
      fc(g, f"{b}.{name}.affine", w_dim, cin)
    conv(g, f"{b}.torgb", ch[r], img_ch, 1)
    fc(g, f"{b}.torgb.affine", w_dim, ch[r])
  for r in [r for r in ch if r > 4]:
    if r == res:
      conv(d, f"b{r}.fromrgb", img_ch, ch[r], 1)
    conv(d, f"b{r}.conv0", ch[r], ch[r], 3)
    conv(d, f"b{r}.conv1", ch[r], ch[r // 2], 3)
    conv(d, f"b{r}.skip", ch[r], ch[r // 2], 1, bias=False)
  if c_dim:
    mapping(d, 0, c_dim, ch[4], d_map)
  conv(d, "b4.conv", ch[4] + 1, ch[4], 3)
  fc(d, "b4.fc", ch[4] * 16, ch[4])
  fc(d, "b4.out", ch[4], ch[4] if c_dim else 1)
  return g, d


def _as_reference(params, rename):
  """Our params under the reference's names, in its layouts (PyTorch shapes)."""
  layers = {}
  for path, leaf in flatten_dict(params).items():
    parts = [rename.get(p, p) for p in path]
    shape = tuple(leaf.shape)
    if parts[-1] == "kernel":
      parts[-1] = "weight"
    if len(shape) == 2:
      shape = shape[::-1]  # [in, out] -> [out, in]
    elif len(shape) == 4:
      shape = (shape[3], shape[2], shape[0], shape[1])  # HWIO -> OIHW
    elif parts[-1] == "const":
      shape = (shape[2], shape[0], shape[1])
    layers[".".join(parts)] = shape
  return layers


def _build_shapes(res, num_classes, **model):
  cfg = ml_collections.ConfigDict({"name": "stylegan2", "dtype": "float32", **model})
  nets = build_networks(cfg, (res, res, 3), num_classes)
  return {
    name: jax.eval_shape(lambda n=net: n.module.init(KEY, *n.example_inputs, train=False))
    for name, net in nets.items()
  }


def test_layer_list_matches_reference_small_config():
  shapes = _build_shapes(
    16, 3, z_dim=16, w_dim=16, map_layers=2, d_map_layers=8, channel_base=128, channel_max=16
  )
  g_ref, d_ref = reference_layers(16, 16, 16, 3, 128, 16, 2, 8)
  g_ours = _as_reference(
    shapes["g"]["params"], {"mapping_network": "mapping", "synthesis_network": "synthesis"}
  )
  assert g_ours == g_ref
  assert _as_reference(shapes["d"]["params"], {}) == d_ref
  # Totals printed by the reference code for this config: G 11862, D 15896.
  assert sum(math.prod(s) for s in g_ref.values()) == 11862
  assert sum(math.prod(s) for s in d_ref.values()) == 15896


@pytest.mark.parametrize(
  "res,num_classes,model,g_total,d_total",
  [
    # paper256 (fmaps 0.5), unconditional.
    (256, 0, dict(z_dim=512, channel_base=16384), 24_767_458, 24_001_089),
    # cifar (fmaps 1, 2 mapping layers), 10 classes.
    (32, 10, dict(z_dim=512, map_layers=2), 20_215_315, 23_876_096),
  ],
)
def test_parameter_counts_match_reference(res, num_classes, model, g_total, d_total):
  """Totals from instantiating the reference's ``Generator`` / ``Discriminator`` with the
  configs of ``train.py`` (``sum(p.numel() for p in G.parameters())``)."""
  shapes = _build_shapes(res, num_classes, **model)
  counts = {
    n: sum(math.prod(s.shape) for s in jax.tree.leaves(v["params"])) for n, v in shapes.items()
  }
  assert counts == {"g": g_total, "d": d_total}
  assert stylegan2.w_avg_of(shapes["g"]).shape == (512,)


def test_family_tiny_and_validation():
  cfg = ml_collections.ConfigDict({"data": {}, "model": {"name": "stylegan2", "dtype": "float32"}})
  get_family("stylegan2").tiny(cfg)
  res = cfg.data.resolution
  nets = build_networks(cfg.model, (res, res, 3), 0)
  g, d = nets["g"].module, nets["d"].module
  assert isinstance(g, StyleGAN2Generator) and isinstance(d, StyleGAN2Discriminator)
  widths = [stylegan2.channels_at(r, g.channel_base, g.channel_max) for r in (4, 8, 16)]
  assert widths == [16, 16, 8]
  assert (g.w_dim, g.map_layers, d.map_layers) == (16, 2, 2)
  assert nets["g"].example_inputs[0].shape == (2, 16)
  assert stylegan2.num_ws_of(cfg.model, (res, res, 3)) == g.num_ws == 6
  with pytest.raises(ValueError, match="power-of-two"):
    build_networks(cfg.model, (24, 24, 3), 0)
  with pytest.raises(ValueError, match="square"):
    build_networks(cfg.model, (16, 32, 3), 0)
  cfg.model.dtype = "bfloat16"
  with pytest.raises(ValueError, match="float32"):
    build_networks(cfg.model, (16, 16, 3), 0)
