"""Tests for gan_jax.models: DCGAN and MLP players, the registry and compute dtypes.

Shape and structure checks run through ``jax.eval_shape`` (tracing only, no compilation).
Numerical checks fill the traced variable shapes with numpy draws instead of calling
``init`` (random initialisers are slow to compile on CPU), except in the one test of the
initial weight statistics.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax.models import DTYPES, MODELS, build_networks, compute_dtype
from gan_jax.models.dcgan import RESOLUTIONS, DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

B = 4
Z = 8
WIDTH = 4
MAX_WIDTH = 32
KEY = jax.random.key(0)
RES_PATTERN = r"8, 16, 32, 64, 128"


def build_models(model_cfg, shape, num_classes=0, axis_name=None):
  """The GAN families' two networks, ``g`` and ``d``, as modules."""
  nets = build_networks(model_cfg, shape, num_classes, axis_name)
  assert set(nets) == {"g", "d"} and (nets["g"].role, nets["d"].role) == ("g", "d")
  return nets["g"].module, nets["d"].module


def _model_cfg(**overrides) -> ml_collections.ConfigDict:
  cfg = {
    "name": "dcgan",
    "dtype": "float32",
    "width": WIDTH,
    "max_width": MAX_WIDTH,
    "d_norm": "batch",
    "hidden": (16, 16),
    "z_dim": 8,
  }
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def _fill(shapes, seed: int = 0, std: float = 0.02):
  """Concrete variables for traced shapes: N(0, std) weights, zero biases, unit scales."""
  rng = np.random.default_rng(seed)

  def leaf(path, s):
    name = path[-1].key
    if name == "scale":
      v = 1.0 + 0.02 * rng.standard_normal(s.shape)
    elif name in ("bias", "mean"):
      v = np.zeros(s.shape)
    elif name == "var":
      v = np.ones(s.shape)
    else:
      v = std * rng.standard_normal(s.shape)
    return jnp.asarray(v, s.dtype)

  return jax.tree_util.tree_map_with_path(leaf, shapes)


def _variables(module, x, labels=None, seed: int = 0, std: float = 0.02):
  return _fill(jax.eval_shape(module.init, KEY, x, labels), seed, std)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _apply(module, variables, x, labels, train):
  """Jitted apply, cached per (module, train): returns ``(output, updated batch_stats)``."""
  if train:
    out, state = module.apply(variables, x, labels, train=True, mutable=["batch_stats"])
    return out, state.get("batch_stats", {})
  return module.apply(variables, x, labels, train=False), {}


def _z(seed: int = 0, n: int = B, z_dim: int = Z) -> np.ndarray:
  return np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)


def _images(resolution: int, channels: int, seed: int = 0, n: int = B) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (n, resolution, resolution, channels)).astype(np.float32)


def _stages(resolution: int) -> int:
  return int(round(math.log2(resolution))) - 2


def _names(tree, prefix: str) -> list[str]:
  return sorted(k for k in tree if k.startswith(prefix))


# ------------------------------------------------------------------------------------------
# DCGAN architecture.


@pytest.mark.parametrize("channels", (1, 3))
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_dcgan_generator_structure(resolution, channels):
  n = _stages(resolution)
  g = DCGANGenerator(resolution, channels, width=WIDTH, max_width=MAX_WIDTH)
  z = jax.ShapeDtypeStruct((B, Z), jnp.float32)
  variables = jax.eval_shape(g.init, KEY, z)
  out, state = jax.eval_shape(
    lambda v, z: g.apply(
      v, z, mutable=["batch_stats", "intermediates"], capture_intermediates=True
    ),
    variables,
    z,
  )
  assert out.shape == (B, resolution, resolution, channels)
  assert out.dtype == jnp.float32

  params = variables["params"]
  assert len(_names(params, "ConvTranspose_")) == n
  assert not _names(params, "Conv_")
  assert _names(params, "Dense_") == ["Dense_0"]
  # First layer: a dense projection of z to a 4x4 map of the widest layer.
  ch0 = min(WIDTH * 2 ** (n - 1), MAX_WIDTH)
  assert params["Dense_0"]["kernel"].shape == (Z, 4 * 4 * ch0)
  inter = state["intermediates"]
  assert inter["BatchNorm_0"]["__call__"][0].shape == (B, 4, 4, ch0)
  # Every transposed conv is 4x4 with stride 2: it doubles the side.
  for i in range(n):
    kernel = params[f"ConvTranspose_{i}"]["kernel"]
    assert kernel.shape[:2] == (4, 4)
    side = 8 * 2**i
    ch = channels if i == n - 1 else min(WIDTH * 2 ** (n - 2 - i), MAX_WIDTH)
    assert inter[f"ConvTranspose_{i}"]["__call__"][0].shape == (B, side, side, ch)
  # BatchNorm after the projection and every hidden transposed conv, not after the output.
  assert len(_names(params, "BatchNorm_")) == n
  assert "bias" in params[f"ConvTranspose_{n - 1}"]


@pytest.mark.parametrize("channels", (1, 3))
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_dcgan_discriminator_structure(resolution, channels):
  n = _stages(resolution)
  d = DCGANDiscriminator(resolution, width=WIDTH, max_width=MAX_WIDTH, norm="batch")
  x = jax.ShapeDtypeStruct((B, resolution, resolution, channels), jnp.float32)
  variables = jax.eval_shape(d.init, KEY, x)
  logits, state = jax.eval_shape(
    lambda v, x: d.apply(
      v, x, mutable=["batch_stats", "intermediates"], capture_intermediates=True
    ),
    variables,
    x,
  )
  assert logits.shape == (B,)
  assert logits.dtype == jnp.float32

  params = variables["params"]
  assert len(_names(params, "Conv_")) == n
  assert not _names(params, "ConvTranspose_")
  inter = state["intermediates"]
  for i in range(n):
    kernel = params[f"Conv_{i}"]["kernel"]
    ch = min(WIDTH * 2**i, MAX_WIDTH)
    assert kernel.shape == (4, 4, channels if i == 0 else min(WIDTH * 2 ** (i - 1), MAX_WIDTH), ch)
    side = resolution // 2 ** (i + 1)
    assert inter[f"Conv_{i}"]["__call__"][0].shape == (B, side, side, ch)
  # Down to 4x4, then one logit; no normalisation on the first layer.
  ch_last = min(WIDTH * 2 ** (n - 1), MAX_WIDTH)
  assert params["Dense_0"]["kernel"].shape == (4 * 4 * ch_last, 1)
  assert len(_names(params, "BatchNorm_")) == n - 1


@pytest.mark.parametrize(("resolution", "channels"), [(8, 1), (16, 3), (32, 1), (64, 3), (128, 1)])
def test_dcgan_forward_values(resolution, channels):
  g = DCGANGenerator(resolution, channels, width=WIDTH, max_width=MAX_WIDTH)
  d = DCGANDiscriminator(resolution, width=WIDTH, max_width=MAX_WIDTH, norm="batch")
  z = _z()
  # Large weights saturate tanh, so the [-1, 1] bound is not met by accident.
  gv = _variables(g, z, std=0.5)
  images, stats = _apply(g, gv, z, None, True)
  images = np.asarray(images)
  assert images.shape == (B, resolution, resolution, channels)
  assert images.dtype == np.float32
  assert np.all(np.isfinite(images))
  assert images.min() >= -1.0 and images.max() <= 1.0
  assert np.abs(images).max() > 0.9
  assert jax.tree_util.tree_structure(stats) == jax.tree_util.tree_structure(gv["batch_stats"])

  dv = _variables(d, images, seed=1)
  logits, _ = _apply(d, dv, images, None, True)
  logits = np.asarray(logits)
  assert logits.shape == (B,)
  assert logits.dtype == np.float32
  assert np.all(np.isfinite(logits))
  assert np.ptp(logits) > 0


# ------------------------------------------------------------------------------------------
# Discriminator normalisation and argument validation.


@pytest.mark.parametrize("norm", ("batch", "layer", "none"))
def test_discriminator_norm_collections(norm):
  d = DCGANDiscriminator(32, width=WIDTH, max_width=MAX_WIDTH, norm=norm)
  variables = jax.eval_shape(d.init, KEY, jax.ShapeDtypeStruct((B, 32, 32, 1), jnp.float32))
  params = variables["params"]
  if norm == "batch":
    assert set(variables) == {"params", "batch_stats"}
    assert _names(params, "BatchNorm_") == ["BatchNorm_0", "BatchNorm_1"]
    assert _names(variables["batch_stats"], "BatchNorm_") == ["BatchNorm_0", "BatchNorm_1"]
    assert set(variables["batch_stats"]["BatchNorm_0"]) == {"mean", "var"}
    assert not _names(params, "LayerNorm_")
  elif norm == "layer":
    assert set(variables) == {"params"}
    assert _names(params, "LayerNorm_") == ["LayerNorm_0", "LayerNorm_1"]
    assert set(params["LayerNorm_0"]) == {"scale", "bias"}
    assert not _names(params, "BatchNorm_")
  else:
    assert set(variables) == {"params"}
    assert set(params) == {"Conv_0", "Conv_1", "Conv_2", "Dense_0"}
  # The first conv always has a bias; later convs only when no normalisation follows.
  assert "bias" in params["Conv_0"]
  for name in ("Conv_1", "Conv_2"):
    assert ("bias" in params[name]) == (norm == "none")


def test_unknown_discriminator_norm_raises():
  d = DCGANDiscriminator(16, width=WIDTH, norm="group")
  x = jax.ShapeDtypeStruct((B, 16, 16, 1), jnp.float32)
  with pytest.raises(ValueError, match=r"group.*batch.*layer.*none"):
    jax.eval_shape(d.init, KEY, x)
  _, d = build_models(_model_cfg(d_norm="spectral"), (16, 16, 1))
  with pytest.raises(ValueError, match=r"batch.*layer.*none"):
    jax.eval_shape(d.init, KEY, x)


@pytest.mark.parametrize("resolution", (4, 48, 256))
def test_unsupported_resolution_raises(resolution):
  z = jax.ShapeDtypeStruct((B, Z), jnp.float32)
  x = jax.ShapeDtypeStruct((B, resolution, resolution, 1), jnp.float32)
  with pytest.raises(ValueError, match=RES_PATTERN):
    jax.eval_shape(DCGANGenerator(resolution, 1, width=WIDTH).init, KEY, z)
  with pytest.raises(ValueError, match=RES_PATTERN):
    jax.eval_shape(DCGANDiscriminator(resolution, width=WIDTH).init, KEY, x)
  with pytest.raises(ValueError, match=RES_PATTERN):
    build_models(_model_cfg(), (resolution, resolution, 1))


@pytest.mark.parametrize("shape", [(32, 16, 1), (16, 32, 3), (32, 32), (2,), (1, 32, 32, 1)])
def test_build_dcgan_rejects_non_square_or_wrong_rank(shape):
  with pytest.raises(ValueError, match=RES_PATTERN):
    build_models(_model_cfg(), shape)


def test_build_models_unknown_name_raises():
  with pytest.raises(ValueError, match=r"resnet.*dcgan.*mlp"):
    build_models(_model_cfg(name="resnet"), (32, 32, 1))
  assert sorted(MODELS) == [
    "biggan",
    "cyclegan",
    "dcgan",
    "dcgan28",
    "mlp",
    "pix2pix",
    "sngan",
    "sr",
    "stylegan2",
  ]


def test_compute_dtype():
  assert compute_dtype("float32") == jnp.float32
  assert compute_dtype("bfloat16") == jnp.bfloat16
  assert compute_dtype("float16") == jnp.float16
  with pytest.raises(ValueError, match=r"float64.*bfloat16.*float16.*float32"):
    compute_dtype("float64")
  for name in ("dcgan", "mlp"):
    with pytest.raises(ValueError, match="float64"):
      build_models(_model_cfg(name=name, dtype="float64"), (16, 16, 1))
  assert set(DTYPES) == {"float32", "bfloat16", "float16"}


def test_build_models_wires_config():
  g, d = build_models(
    _model_cfg(g_width=8, d_width=4, d_norm="layer", max_width=16),
    (32, 32, 3),
    num_classes=10,
    axis_name="batch",
  )
  assert isinstance(g, DCGANGenerator) and isinstance(d, DCGANDiscriminator)
  assert (g.resolution, g.channels, g.width, g.max_width) == (32, 3, 8, 16)
  assert (d.resolution, d.width, d.max_width, d.norm) == (32, 4, 16, "layer")
  assert g.num_classes == d.num_classes == 10
  assert g.axis_name == d.axis_name == "batch"

  g, d = build_models(_model_cfg(name="mlp"), (2,))
  assert isinstance(g, MLPGenerator) and isinstance(d, MLPDiscriminator)
  assert g.output_activation == "linear" and tuple(g.output_shape) == (2,)
  assert tuple(g.hidden) == tuple(d.hidden) == (16, 16)
  g, _ = build_models(_model_cfg(name="mlp"), (8, 8, 1))
  assert g.output_activation == "tanh"


# ------------------------------------------------------------------------------------------
# Mixed precision.


def _walk_eqns(jaxpr):
  """All equations of a jaxpr, including those of nested (pjit, custom_vjp, ...) jaxprs."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):  # ClosedJaxpr
          yield from _walk_eqns(sub.jaxpr)
        elif hasattr(sub, "eqns"):  # Jaxpr
          yield from _walk_eqns(sub)


def _op_input_dtypes(fn, *args, primitive: str) -> list:
  jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
  return [
    tuple(v.aval.dtype for v in eqn.invars)
    for eqn in _walk_eqns(jaxpr)
    if eqn.primitive.name == primitive
  ]


@pytest.mark.parametrize("d_norm", ("batch", "layer"))
def test_bfloat16_compute_float32_params_and_outputs(d_norm):
  shape = (16, 16, 3)
  g32, d32 = build_models(_model_cfg(d_norm=d_norm), shape)
  g16, d16 = build_models(_model_cfg(dtype="bfloat16", d_norm=d_norm), shape)
  z = _z()
  x = _images(16, 3)

  gshapes = jax.eval_shape(g16.init, KEY, z)
  dshapes = jax.eval_shape(d16.init, KEY, x)
  for leaf in jax.tree_util.tree_leaves((gshapes, dshapes)):
    assert leaf.dtype == jnp.float32  # parameters and batch statistics stay float32
  gv, dv = _fill(gshapes, std=0.1), _fill(dshapes, seed=1, std=0.1)

  # Internal compute: every (transposed) convolution and dense layer runs in bf16.
  for module, variables, inp, n_conv in ((g16, gv, z, 2), (d16, dv, x, 2)):
    fn = lambda v, a, m=module: m.apply(v, a, mutable=["batch_stats"])
    convs = _op_input_dtypes(fn, variables, inp, primitive="conv_general_dilated")
    dots = _op_input_dtypes(fn, variables, inp, primitive="dot_general")
    assert len(convs) == n_conv
    assert all(dt == (jnp.bfloat16, jnp.bfloat16) for dt in convs + dots), (convs, dots)
  fn32 = lambda v, a: g32.apply(v, a, mutable=["batch_stats"])
  convs32 = _op_input_dtypes(fn32, gv, z, primitive="conv_general_dilated")
  assert convs32 and all(dt == (jnp.float32, jnp.float32) for dt in convs32)

  # Outputs are float32, close to the float32 model's but not bit-identical.
  for m32, m16, variables, inp in ((g32, g16, gv, z), (d32, d16, dv, x)):
    out32 = np.asarray(_apply(m32, variables, inp, None, True)[0])
    out16 = np.asarray(_apply(m16, variables, inp, None, True)[0])
    assert out16.dtype == np.float32
    assert not np.array_equal(out16, out32)
    np.testing.assert_allclose(out16, out32, atol=0.05 * np.abs(out32).max(), rtol=0)
    assert np.corrcoef(out16.ravel(), out32.ravel())[0, 1] > 0.99


def test_bfloat16_mlp():
  g, d = build_models(_model_cfg(name="mlp", dtype="bfloat16"), (2,))
  z = _z()
  gv = _variables(g, z, std=0.3)
  dots = _op_input_dtypes(lambda v, a: g.apply(v, a), gv, z, primitive="dot_general")
  assert len(dots) == 3 and all(dt == (jnp.bfloat16, jnp.bfloat16) for dt in dots)
  out = _apply(g, gv, z, None, False)[0]
  assert out.dtype == jnp.float32 and out.shape == (B, 2)
  dv = _variables(d, out)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves((gv, dv)))
  logits = _apply(d, dv, out, None, False)[0]
  assert logits.dtype == jnp.float32 and logits.shape == (B,)


# ------------------------------------------------------------------------------------------
# Initialisation (Radford et al. 2015, Section 4: all weights from N(0, 0.02)).


def test_dcgan_init_statistics():
  g = DCGANGenerator(16, 3, width=64, max_width=1024)
  d = DCGANDiscriminator(16, width=32, max_width=1024, norm="batch")

  # One compilation for both, and the "rbg" PRNG: threefry takes seconds to compile on CPU
  # and the distribution of the initial weights does not depend on the generator.
  @jax.jit
  def init(key):
    kg, kd = jax.random.split(key)
    return g.init(kg, jnp.zeros((2, 64))), d.init(kd, jnp.zeros((2, 16, 16, 1)))

  gv, dv = init(jax.random.key(1, impl="rbg"))
  gp, dp = gv["params"], dv["params"]

  def check(w, std=0.02, rtol=0.05):
    w = np.asarray(w, np.float64).ravel()
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    assert abs(w.std() / std - 1) < rtol, w.std()

  check(gp["Dense_0"]["kernel"])  # [64, 4*4*128]
  check(gp["ConvTranspose_0"]["kernel"])  # [4, 4, 128, 64]
  check(gp["ConvTranspose_1"]["kernel"], rtol=0.1)  # [4, 4, 64, 3]
  check(dp["Conv_1"]["kernel"])  # [4, 4, 32, 64]
  check(dp["Conv_0"]["kernel"], rtol=0.15)  # [4, 4, 1, 32]
  check(dp["Dense_0"]["kernel"], rtol=0.15)  # [4*4*64, 1]
  # BatchNorm scales ~ N(1, 0.02); offsets, biases and running means zero, variances one.
  for bn in (gp["BatchNorm_0"], gp["BatchNorm_1"], dp["BatchNorm_0"]):
    scale = np.asarray(bn["scale"])
    assert abs(scale.mean() - 1) < 0.01 and 0.01 < scale.std() < 0.03
    np.testing.assert_array_equal(bn["bias"], 0)
  np.testing.assert_array_equal(dp["Conv_0"]["bias"], 0)
  np.testing.assert_array_equal(gp["ConvTranspose_1"]["bias"], 0)
  for stats in (gv["batch_stats"]["BatchNorm_0"], dv["batch_stats"]["BatchNorm_0"]):
    np.testing.assert_array_equal(stats["mean"], 0)
    np.testing.assert_array_equal(stats["var"], 1)


# ------------------------------------------------------------------------------------------
# Class-conditional models.


def test_conditional_dcgan_depends_on_labels():
  g = DCGANGenerator(8, 1, width=WIDTH, num_classes=10)
  d = DCGANDiscriminator(16, width=WIDTH, norm="layer", num_classes=10)
  labels = np.arange(B, dtype=np.int32)
  z = np.repeat(_z(n=1), B, axis=0)  # one z for every class
  gv = _variables(g, z, labels, std=0.2)
  assert gv["params"]["Dense_0"]["kernel"].shape[0] == Z + 10  # one-hot labels appended
  images = np.asarray(_apply(g, gv, z, labels, False)[0])
  for i in range(1, B):
    assert np.abs(images[i] - images[0]).max() > 1e-3

  x = np.repeat(_images(16, 1, n=1), B, axis=0)
  dv = _variables(d, x, labels, std=0.2)
  assert dv["params"]["Embed_0"]["embedding"].shape == (10, 4 * 4 * 2 * WIDTH)
  logits = np.asarray(_apply(d, dv, x, labels, True)[0])
  assert len(np.unique(logits)) == B
  # The label term is a projection: zero embeddings remove the dependence on labels.
  dv0 = jax.tree_util.tree_map(lambda a: a, dv)
  dv0["params"]["Embed_0"]["embedding"] = jnp.zeros_like(dv["params"]["Embed_0"]["embedding"])
  logits0 = np.asarray(_apply(d, dv0, x, labels, True)[0])
  np.testing.assert_allclose(logits0, logits0[0], rtol=1e-6)


def test_conditional_mlp_depends_on_labels():
  g, d = build_models(_model_cfg(name="mlp"), (2,), num_classes=3)
  labels = np.array([0, 1, 2, 0], np.int32)
  z = np.repeat(_z(n=1), B, axis=0)
  gv = _variables(g, z, labels, std=0.5)
  out = np.asarray(_apply(g, gv, z, labels, False)[0])
  np.testing.assert_allclose(out[3], out[0], rtol=1e-6)
  assert np.abs(out[1] - out[0]).max() > 1e-4 and np.abs(out[2] - out[1]).max() > 1e-4
  x = np.repeat(out[:1], B, axis=0)
  dv = _variables(d, x, labels, std=0.5)
  logits = np.asarray(_apply(d, dv, x, labels, False)[0])
  np.testing.assert_allclose(logits[3], logits[0], rtol=1e-6)
  assert abs(logits[1] - logits[0]) > 1e-4 and abs(logits[2] - logits[1]) > 1e-4


@pytest.mark.parametrize("which", ("dcgan_g", "dcgan_d", "mlp_g", "mlp_d"))
def test_conditional_missing_labels_raises(which):
  labels = jax.ShapeDtypeStruct((B,), jnp.int32)
  z = jax.ShapeDtypeStruct((B, Z), jnp.float32)
  x = jax.ShapeDtypeStruct((B, 16, 16, 1), jnp.float32)
  module, inp = {
    "dcgan_g": (DCGANGenerator(16, 1, width=WIDTH, num_classes=10), z),
    "dcgan_d": (DCGANDiscriminator(16, width=WIDTH, norm="none", num_classes=10), x),
    "mlp_g": (MLPGenerator((16, 16, 1), (8,), num_classes=10), z),
    "mlp_d": (MLPDiscriminator((8,), num_classes=10), x),
  }[which]
  variables = jax.eval_shape(module.init, KEY, inp, labels)
  with pytest.raises(ValueError, match="labels"):
    jax.eval_shape(lambda v, a: module.apply(v, a, mutable=["batch_stats"]), variables, inp)
  with pytest.raises(ValueError, match="labels"):
    jax.eval_shape(module.init, KEY, inp)


# ------------------------------------------------------------------------------------------
# MLP players.


def test_mlp_points_linear_output():
  g, d = build_models(_model_cfg(name="mlp"), (2,))
  z = _z(n=16)
  gv = _variables(g, z, std=0.3)
  out = np.asarray(_apply(g, gv, 100.0 * z, None, True)[0])
  assert out.shape == (16, 2) and out.dtype == np.float32
  assert np.abs(out).max() > 1.5  # no squashing nonlinearity on points
  dv = _variables(d, out)
  logits = np.asarray(_apply(d, dv, out, None, True)[0])
  assert logits.shape == (16,) and logits.dtype == np.float32


def test_mlp_flat_images_tanh_output():
  g, d = build_models(_model_cfg(name="mlp"), (8, 8, 1))
  z = _z(n=16)
  gv = _variables(g, z, std=0.3)
  assert gv["params"]["Dense_2"]["kernel"].shape == (16, 64)
  out = np.asarray(_apply(g, gv, 100.0 * z, None, True)[0])
  assert out.shape == (16, 8, 8, 1) and out.dtype == np.float32
  assert out.min() >= -1.0 and out.max() <= 1.0 and np.abs(out).max() > 0.99
  dv = _variables(d, out)
  logits = np.asarray(_apply(d, dv, out, None, True)[0])
  assert logits.shape == (16,) and logits.dtype == np.float32


@pytest.mark.parametrize(
  ("name", "d_norm", "train", "independent"),
  [
    ("mlp", "batch", True, True),
    ("dcgan", "layer", True, True),
    ("dcgan", "none", True, True),
    ("dcgan", "batch", False, True),
    ("dcgan", "batch", True, False),  # control: train-mode BatchNorm mixes the batch
  ],
)
def test_discriminator_per_sample_independence(name, d_norm, train, independent):
  shape = (2,) if name == "mlp" else (16, 16, 1)
  _, d = build_models(_model_cfg(name=name, d_norm=d_norm), shape)
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (6, *shape)).astype(np.float32)
  dv = _variables(d, x, std=0.2)
  j = 2
  x2 = x.copy()
  x2[j] = rng.uniform(-1, 1, shape)
  l1 = np.asarray(_apply(d, dv, x, None, train)[0])
  l2 = np.asarray(_apply(d, dv, x2, None, train)[0])
  others = np.arange(len(x)) != j
  scale = np.abs(l1).max()
  assert abs(l2[j] - l1[j]) > 1e-3 * scale
  if independent:
    np.testing.assert_allclose(l2[others], l1[others], rtol=1e-6, atol=1e-6 * scale)
  else:
    assert np.abs(l2[others] - l1[others]).max() > 1e-4 * scale


# ------------------------------------------------------------------------------------------
# BatchNorm: batch statistics in train mode, running averages in eval mode.


def test_batchnorm_train_updates_stats_eval_uses_running_averages():
  g = DCGANGenerator(8, 1, width=WIDTH)  # Dense -> BatchNorm_0 -> ConvTranspose -> tanh
  n = 16
  z = _z(n=n)
  gv = _variables(g, z, std=0.3)
  kernel = np.asarray(gv["params"]["Dense_0"]["kernel"], np.float64)
  ch = kernel.shape[1] // 16
  h = (z.astype(np.float64) @ kernel).reshape(n, 4, 4, ch)
  mean, var = h.mean((0, 1, 2)), h.var((0, 1, 2))

  out_train, stats = _apply(g, gv, z, None, True)
  assert set(stats) == {"BatchNorm_0"}
  # Running averages with momentum 0.9 from the initial (0, 1).
  np.testing.assert_allclose(stats["BatchNorm_0"]["mean"], 0.1 * mean, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats["BatchNorm_0"]["var"], 0.9 + 0.1 * var, rtol=1e-4)
  # Train mode normalises with the batch's own statistics, whatever is stored.
  shifted = dict(
    gv, batch_stats={"BatchNorm_0": {"mean": jnp.full((ch,), 5.0), "var": jnp.full((ch,), 9.0)}}
  )
  np.testing.assert_allclose(_apply(g, shifted, z, None, True)[0], out_train, atol=1e-6)

  # Eval mode reads the stored statistics: the batch's own ones reproduce train mode ...
  exact = dict(
    gv,
    batch_stats={
      "BatchNorm_0": {"mean": jnp.asarray(mean, jnp.float32), "var": jnp.asarray(var, jnp.float32)}
    },
  )
  out_eval = np.asarray(_apply(g, exact, z, None, False)[0])
  np.testing.assert_allclose(out_eval, out_train, atol=1e-5)
  # ... other ones change the output, and each sample is then processed on its own.
  out_init = np.asarray(_apply(g, gv, z, None, False)[0])
  assert np.abs(out_init - out_train).max() > 1e-3
  half = np.asarray(_apply(g, gv, z[: n // 2], None, False)[0])
  np.testing.assert_allclose(half, out_init[: n // 2], atol=1e-6)
  # Eval mode does not update the statistics.
  _, state = jax.jit(lambda v, z: g.apply(v, z, train=False, mutable=["batch_stats"]))(gv, z)
  np.testing.assert_array_equal(state["batch_stats"]["BatchNorm_0"]["mean"], 0)
  np.testing.assert_array_equal(state["batch_stats"]["BatchNorm_0"]["var"], 1)


def test_discriminator_batchnorm_stats_update():
  d = DCGANDiscriminator(16, width=WIDTH, norm="batch")
  x = _images(16, 1, n=8)
  dv = _variables(d, x, std=0.2)
  _, stats = _apply(d, dv, x, None, True)
  mean = np.asarray(stats["BatchNorm_0"]["mean"])
  var = np.asarray(stats["BatchNorm_0"]["var"])
  assert np.abs(mean).max() > 0 and not np.allclose(var, 1.0)
  # A second step moves the averages further from the initial values (momentum 0.9).
  _, stats2 = _apply(d, dict(dv, batch_stats=stats), x, None, True)
  np.testing.assert_allclose(stats2["BatchNorm_0"]["mean"], 1.9 * mean, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
  ("data", "model", "shape"),
  [("digits", "dcgan", (32, 32, 1)), ("lfw", "dcgan", (32, 32, 1)), ("ring", "mlp", (2,))],
)
def test_base_config_models_trace(data, model, shape):
  from experiments.base import get_base_config, tiny

  for cfg in (get_base_config(), tiny(get_base_config())):
    cfg.data.name, cfg.model.name = data, model
    sample_shape = (cfg.data.resolution, cfg.data.resolution, 1) if len(shape) == 3 else shape
    g, d = build_models(cfg.model, sample_shape)
    z = jax.ShapeDtypeStruct((2, cfg.model.z_dim), jnp.float32)
    gv = jax.eval_shape(g.init, KEY, z)
    fake, _ = jax.eval_shape(lambda v, z, g=g: g.apply(v, z, mutable=["batch_stats"]), gv, z)
    assert fake.shape == (2, *sample_shape)
    dv = jax.eval_shape(d.init, KEY, fake)
    logits, _ = jax.eval_shape(lambda v, x, d=d: d.apply(v, x, mutable=["batch_stats"]), dv, fake)
    assert logits.shape == (2,) and logits.dtype == jnp.float32
