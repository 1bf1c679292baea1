"""VGG19 features in Flax against torchvision's vgg19().features with random weights."""

import importlib
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from gan_jax.models import convert_vgg, vgg

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
  tv_models = importlib.import_module("torchvision.models")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
  tv_models = pytest.importorskip("torchvision.models")

SHAPE = (2, 32, 32, 3)  # 5 pools leave 1 x 1
# Tested against features[:k]; conv3_4 and conv5_4 are before their ReLU.
COMPARED = ("relu1_2", "pool2", "conv3_4", "relu4_4", "conv5_4", "relu5_4", "pool5")
MEAN = np.asarray(vgg.IMAGENET_MEAN, np.float32)
STD = np.asarray(vgg.IMAGENET_STD, np.float32)


@pytest.fixture(scope="module")
def torch_net():
  """torchvision's VGG19 (its own random init, seeded) with random biases, eval mode."""
  torch.manual_seed(0)
  net = tv_models.vgg19(weights=None).eval()
  g = torch.Generator().manual_seed(1)
  with torch.no_grad():
    for m in net.features:
      if isinstance(m, torch.nn.Conv2d):  # torchvision initialises biases to 0
        m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
  return net


@pytest.fixture(scope="module")
def weights_npz(torch_net, tmp_path_factory):
  d = tmp_path_factory.mktemp("vgg")
  torch.save(torch_net.state_dict(), d / "vgg19.pth")
  convert_vgg.convert_file(str(d / "vgg19.pth"), str(d / "vgg19.npz"))
  return d


@pytest.fixture(scope="module")
def variables(weights_npz):
  return vgg.load_variables(str(weights_npz / "vgg19.npz"))


def _torch_layer(torch_net, name: str, x_nhwc: np.ndarray) -> np.ndarray:
  """torchvision's ``features[:k + 1]`` at the index of ``name``, back in NHWC."""
  k = vgg.TORCHVISION_INDEX[name]
  with torch.no_grad():
    out = torch_net.features[: k + 1](torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy()))
  return out.numpy().transpose(0, 2, 3, 1)


def _assert_close(got, want, rel=1e-4):
  got = np.asarray(got)
  assert got.shape == want.shape and got.dtype == np.float32
  scale = np.abs(want).max()
  assert scale > 0
  err = np.abs(got - want).max() / scale
  assert err < rel, err


def test_layer_table_matches_torchvision(torch_net):
  types = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
  assert len(torch_net.features) == len(vgg.LAYERS) == 37
  for name, k in vgg.TORCHVISION_INDEX.items():
    assert isinstance(torch_net.features[k], types[name[:4]]), (name, k)
  assert [vgg.TORCHVISION_INDEX[n] for n in ("conv5_4", "relu5_4", "pool5")] == [34, 35, 36]
  assert len(vgg.CONVS) == 16
  convs = [m for m in torch_net.features if isinstance(m, torch.nn.Conv2d)]
  assert [m.out_channels for m in convs] == [
    vgg.variable_shapes()[f"params/{n}/kernel"][-1] for n in vgg.CONVS
  ]


def test_matches_torchvision_features(torch_net, variables):
  x = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
  apply = jax.jit(vgg.VGG19Features().apply, static_argnames="layers")
  got = apply(variables, x, layers=COMPARED)
  assert set(got) == set(COMPARED)
  for name in COMPARED:
    want = _torch_layer(torch_net, name, x)
    if name.startswith("conv"):  # before the ReLU: negative values survive
      assert (want < 0).mean() > 0.2
    else:
      assert (want > 0).mean() > 0.2 and want.min() >= 0
    _assert_close(got[name], want)
  assert got["pool5"].shape == (2, 1, 1, 512) and got["conv5_4"].shape == (2, 2, 2, 512)


def test_features_on_minus_one_one_and_grayscale(torch_net, variables):
  rng = np.random.default_rng(1)
  x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
  fn = jax.jit(vgg.features, static_argnames="layers")
  got = fn(variables, x, ("relu2_2", "conv5_4"))
  normalised = ((x + 1) / 2 - MEAN) / STD
  _assert_close(vgg.preprocess(x), normalised, rel=1e-6)
  for name in ("relu2_2", "conv5_4"):
    _assert_close(got[name], _torch_layer(torch_net, name, normalised))
  gray = rng.uniform(-1, 1, (*SHAPE[:3], 1)).astype(np.float32)
  one = fn(variables, gray, "relu1_2")
  want = _torch_layer(torch_net, "relu1_2", ((np.repeat(gray, 3, -1) + 1) / 2 - MEAN) / STD)
  _assert_close(one, want)
  with pytest.raises(ValueError, match="1 or 3 channels"):
    vgg.preprocess(np.zeros((1, 8, 8, 2), np.float32))


def test_gradients_reach_images_not_weights(variables):
  x = np.random.default_rng(2).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
  loss = lambda v, x: jnp.sum(vgg.features(v, x, "relu1_2") ** 2)
  gv, gx = jax.grad(loss, argnums=(0, 1))(variables, x)
  assert float(jnp.abs(gx).max()) > 0
  assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(gv))


def _walk_eqns(jaxpr):
  """All equations of a jaxpr, including those of nested (pjit, custom_jvp, ...) jaxprs."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):  # ClosedJaxpr
          yield from _walk_eqns(sub.jaxpr)
        elif hasattr(sub, "eqns"):  # Jaxpr
          yield from _walk_eqns(sub)


def _op_counts(variables, dtype=jnp.float32, **kwargs):
  x = jnp.zeros(SHAPE, jnp.float32)
  fn = lambda v, x: vgg.VGG19Features(dtype=dtype).apply(v, x, **kwargs)
  eqns = list(_walk_eqns(jax.make_jaxpr(fn)(variables, x).jaxpr))
  names = [e.primitive.name for e in eqns]
  return (
    names.count("conv_general_dilated"),
    names.count("max"),
    names.count("reduce_window_max"),
    eqns,
  )


@pytest.mark.parametrize(
  "layer, counts",
  [
    ("relu1_2", (2, 2, 0)),
    ("pool1", (2, 2, 1)),
    ("conv5_4", (16, 15, 4)),
    ("relu5_4", (16, 16, 4)),
    ("pool5", (16, 16, 5)),
  ],
)
def test_stops_at_the_requested_layer(variables, layer, counts):
  # (convolutions, ReLUs, max-pools) traced; everything past `layer` is never computed.
  assert _op_counts(variables, layer=layer)[:3] == counts
  assert _op_counts(variables, layers=("relu1_1", layer))[:3] == counts


def test_bfloat16_compute_float32_params_and_outputs(variables):
  *_, eqns = _op_counts(variables, dtype=jnp.bfloat16, layer="relu2_2")
  convs = [e for e in eqns if e.primitive.name == "conv_general_dilated"]
  assert len(convs) == 4 and all(v.aval.dtype == jnp.bfloat16 for e in convs for v in e.invars)
  x = np.random.default_rng(3).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
  lo = vgg.features(variables, x, "relu2_2", dtype=jnp.bfloat16)
  hi = vgg.features(variables, x, "relu2_2")
  assert lo.dtype == jnp.float32
  _assert_close(lo, np.asarray(hi), rel=5e-2)


def test_missing_weights_name_the_path_and_the_command(tmp_path, monkeypatch):
  path = str(tmp_path / "nowhere" / "vgg19.npz")
  with pytest.raises(FileNotFoundError) as e:
    vgg.load_variables(path)
  msg = str(e.value)
  assert "\n" not in msg and path in msg
  assert "python -m gan_jax.models.convert_vgg --src=PATH/vgg19-dcbb9e9d.pth" in msg
  monkeypatch.setenv(vgg.ENV_WEIGHTS, path)
  assert vgg.default_weights_path() == path
  with pytest.raises(FileNotFoundError, match="gan_jax.models.convert_vgg"):
    vgg.load_variables()
  monkeypatch.delenv(vgg.ENV_WEIGHTS)
  assert vgg.default_weights_path().endswith(os.path.join(".cache", "gan_jax", "vgg19.npz"))
  with pytest.raises(FileNotFoundError, match="no such file"):
    convert_vgg.convert_file(str(tmp_path / "missing.pth"), path)


def test_conversion_checks_keys_and_shapes(torch_net, variables):
  sd = {k: v.numpy() for k, v in torch_net.state_dict().items()}
  kernel = variables["params"]["conv2_1"]["kernel"]
  np.testing.assert_array_equal(kernel, sd["features.5.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(variables["params"]["conv5_4"]["bias"], sd["features.34.bias"])
  assert set(variables) == {"params"} and len(variables["params"]) == 16
  with pytest.raises(ValueError, match="features.3.weight"):  # a ReLU has no weights
    vgg.convert_state_dict({**sd, "features.3.weight": sd["features.2.weight"]})
  with pytest.raises(ValueError, match="missing"):
    vgg.convert_state_dict({k: v for k, v in sd.items() if k != "features.34.bias"})
  with pytest.raises(ValueError, match="wrong shapes"):
    vgg.convert_state_dict({**sd, "features.0.bias": np.zeros(3, np.float32)})
  r = vgg.random_variables(0)
  vgg.check_variables(r)
  assert all(v.dtype == np.float32 for v in jax.tree.leaves(r))


def test_importing_the_converter_defines_no_flags():
  assert "gan_jax.models.convert_vgg" not in flags.FLAGS.flags_by_module_dict()


def test_command_line(weights_npz, variables):
  dst = weights_npz / "cli" / "out.npz"
  r = subprocess.run(
    [
      sys.executable, "-m", "gan_jax.models.convert_vgg",
      f"--src={weights_npz / 'vgg19.pth'}", f"--dst={dst}",
    ],
    capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )  # fmt: skip
  assert r.returncode == 0, r.stderr
  got = vgg.load_variables(str(dst))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(variables), strict=True):
    np.testing.assert_array_equal(a, b)
