"""The unrolled GAN's 28x28 DCGAN (PacGAN's Table 3 players) against independent references.

- TF's ``SAME`` transposed convolution is, by definition, the input gradient of the
  ``SAME`` stride-2 convolution from the output side: checked with ``jax.vjp`` of
  ``lax.conv_general_dilated`` for the three sides of G.
- The whole G and D against PyTorch modules written here from PacGAN's released code
  (``D=0.25G/model.py``): the transposed convolutions as torch's full
  ``conv_transpose2d`` cropped by the forward convolution's leading ``SAME`` padding
  (1, 0, 0 for the sides 7, 14, 28), D's ``SAME`` stride-2 convolutions as an explicit
  pad (0, 1), (0, 1), (1, 1) for the sides 28, 14, 7. Training-mode BatchNorm, random
  values in every variable; outputs and input gradients compared, torch in float64.
- Parameter counts against the released networks' arithmetic.
"""

import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from experiments import base
from gan_jax.models import build_networks, dcgan28

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
F = torch.nn.functional

# The released code's parameter counts: G dense 256 -> 4*4*64 (+ bias), BN 64, transposed
# convs 3x3 64->32, 32->16, 16->8 (+ biases, BN each), conv 3x3 8->3 (+ bias); D at 1/4:
# convs 3x3 3->2, 2->4, 4->8 (+ biases, BN each), dense 4*4*8 -> 1.
G_PARAMS = (256 * 1024 + 1024) + 128 + (9 * 64 * 32 + 32) + 64 + (9 * 32 * 16 + 16) + 32
G_PARAMS += (9 * 16 * 8 + 8) + 16 + (9 * 8 * 3 + 3)
D_QUARTER = (9 * 3 * 2 + 2) + 4 + (9 * 2 * 4 + 4) + 8 + (9 * 4 * 8 + 8) + 16 + (128 + 1)
D_HALF = (9 * 3 * 4 + 4) + 8 + (9 * 4 * 8 + 8) + 16 + (9 * 8 * 16 + 16) + 32 + (256 + 1)


@pytest.mark.parametrize("in_side,out_side", [(4, 7), (7, 14), (14, 28)])
def test_transposed_conv_is_the_same_convs_input_gradient(in_side, out_side):
  from gan_jax.models.layers import conv_transpose

  kx, kw = jax.random.split(jax.random.key(in_side))
  x = jax.random.normal(kx, (2, in_side, in_side, 3), jnp.float32)
  w_fwd = jax.random.normal(kw, (3, 3, 5, 3), jnp.float32)  # forward conv: 5 -> 3 channels

  def forward(y):  # TF's conv2d with SAME padding, stride 2
    dims = ("NHWC", "HWIO", "NHWC")
    return lax.conv_general_dilated(y, w_fwd, (2, 2), "SAME", dimension_numbers=dims)

  y0 = jnp.zeros((2, out_side, out_side, 5), jnp.float32)
  assert forward(y0).shape[1] == in_side
  expected = jax.vjp(forward, y0)[1](x)[0]  # TF's conv2d_transpose(x, w_fwd, out_side)
  pad = dcgan28.same_transpose_padding(in_side, out_side, 3, 2)
  kernel = w_fwd[::-1, ::-1].swapaxes(2, 3)  # the layout gan_jax stores
  got = conv_transpose(x, kernel, (2, 2), (pad, pad))
  np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_same_transpose_padding_refuses_sides_a_same_conv_cannot_pair():
  with pytest.raises(ValueError, match="maps 8 to 4"):
    dcgan28.same_transpose_padding(3, 8, 3, 2)


def _networks(d_width=2, pack=1, channels=3):
  c = base.get_base_config()
  c.model.name = "dcgan28"
  c.model.z_dim = 256
  c.model.g_width = 8
  c.model.d_width = d_width
  c.model.pack = pack
  return build_networks(c.model, (28, 28, channels))


def _count(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _shapes(net):
  """The variables' shapes, without running the initialisers."""
  return jax.eval_shape(net.module.init, jax.random.key(0), *net.example_inputs)


def test_parameter_counts_are_the_released_networks():
  nets = _networks()
  assert _count(_shapes(nets["g"])["params"]) == G_PARAMS == 287_875
  assert _count(_shapes(nets["d"])["params"]) == D_QUARTER == 585
  assert _count(_shapes(_networks(d_width=4)["d"])["params"]) == D_HALF
  packed = _networks(pack=4)["d"]  # PacDCGAN4: 12 input channels, otherwise the same
  assert _count(_shapes(packed)["params"]) == D_QUARTER + 9 * 2 * 9


def test_builder_refuses_other_sides_and_labels():
  c = base.get_base_config()
  c.model.name = "dcgan28"
  with pytest.raises(ValueError, match="28x28"):
    build_networks(c.model, (32, 32, 3))
  with pytest.raises(ValueError, match="unconditional"):
    build_networks(c.model, (28, 28, 3), num_classes=10)


def _fill(net, seed):
  """Every variable of ``net`` random: kernels ~ 0.3 N(0, 1), biases and shifts ~ 0.1
  N(0, 1), scales ~ 1 + 0.2 N(0, 1)."""
  leaves, tree = jax.tree_util.tree_flatten_with_path(_shapes(net))
  rng = np.random.default_rng(seed)
  out = []
  for path, leaf in leaves:
    name = str(path[-1].key)
    v = rng.standard_normal(leaf.shape)
    v = 1.0 + 0.2 * v if name in ("scale", "var") else (0.3 if name == "kernel" else 0.1) * v
    out.append(jnp.asarray(np.abs(v) if name == "var" else v, jnp.float32))
  return jax.tree_util.tree_unflatten(tree, out)


def _t(a):
  return torch.tensor(np.asarray(a), dtype=torch.float64)


def _bn(h, p):  # training mode: batch statistics, biased variance, eps 1e-5
  return F.batch_norm(h, None, None, _t(p["scale"]), _t(p["bias"]), training=True, eps=1e-5)


def torch_generator(params, z):
  """PacGAN's Table 3 G in torch (NCHW): dense, BN, ReLU; three TF-SAME transposed convs
  with BN and ReLU; a 3x3 SAME conv; tanh."""
  h = z @ _t(params["Dense_0"]["kernel"]) + _t(params["Dense_0"]["bias"])
  h = h.reshape(z.shape[0], 4, 4, 64).permute(0, 3, 1, 2)
  h = F.relu(_bn(h, params["BatchNorm_0"]))
  for i, (out_side, lead) in enumerate([(7, 1), (14, 0), (28, 0)]):
    k = params[f"ConvTranspose_{i}"]
    w = _t(k["kernel"]).flip(0, 1).permute(2, 3, 0, 1)  # [Ci, Co, 3, 3], torch's scatter
    full = F.conv_transpose2d(h, w, _t(k["bias"]), stride=2)  # (side - 1) * 2 + 3
    h = full[:, :, lead : lead + out_side, lead : lead + out_side]
    h = F.relu(_bn(h, params[f"BatchNorm_{i + 1}"]))
  k = params["Conv_0"]
  h = F.conv2d(h, _t(k["kernel"]).permute(3, 2, 0, 1), _t(k["bias"]), padding=1)
  return torch.tanh(h).permute(0, 2, 3, 1)


def torch_discriminator(params, x):
  """PacGAN's Table 3 D in torch: three 3x3 stride-2 SAME convs, each BN then LeakyReLU
  0.3; a dense layer on the NHWC-flattened 4x4 map."""
  h = x.permute(0, 3, 1, 2)
  for i, pad in enumerate([(0, 1), (0, 1), (1, 1)]):
    k = params[f"Conv_{i}"]
    h = F.pad(h, (pad[0], pad[1], pad[0], pad[1]))
    h = F.conv2d(h, _t(k["kernel"]).permute(3, 2, 0, 1), _t(k["bias"]), stride=2)
    h = F.leaky_relu(_bn(h, params[f"BatchNorm_{i}"]), 0.3)
  h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
  return (h @ _t(params["Dense_0"]["kernel"]) + _t(params["Dense_0"]["bias"]))[:, 0]


@pytest.mark.parametrize("d_width,pack", [(2, 1), (4, 3)])
def test_networks_match_torch_reference(d_width, pack):
  nets = _networks(d_width=d_width, pack=pack)
  g, d = nets["g"].module, nets["d"].module
  g_vars, d_vars = _fill(nets["g"], 1), _fill(nets["d"], 2)
  rng = np.random.default_rng(3)
  z = rng.standard_normal((6, 256)).astype(np.float32)
  x = rng.uniform(-1, 1, (6, 28, 28, 3 * pack)).astype(np.float32)

  fake, _ = jax.jit(lambda v, z_: g.apply(v, z_, mutable=["batch_stats"]))(g_vars, z)
  np.testing.assert_allclose(
    np.asarray(fake), torch_generator(g_vars["params"], _t(z)).numpy(), rtol=1e-4, atol=2e-5
  )

  def d_sum(x_):
    return jnp.sum(d.apply(d_vars, x_, mutable=["batch_stats"])[0] ** 2)

  xt = _t(x).requires_grad_(True)
  ref = torch_discriminator(d_vars["params"], xt)
  (ref**2).sum().backward()
  value, grad = jax.jit(jax.value_and_grad(d_sum))(jnp.asarray(x))
  np.testing.assert_allclose(float(value), float((ref**2).sum().detach()), rtol=1e-4)
  np.testing.assert_allclose(
    np.asarray(jax.jit(lambda x_: d.apply(d_vars, x_, mutable=["batch_stats"])[0])(x)),
    ref.detach().numpy(),
    rtol=1e-4,
    atol=1e-5,
  )
  scale = float(np.max(np.abs(xt.grad.numpy())))
  np.testing.assert_allclose(np.asarray(grad), xt.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_generator_gradient_matches_torch():
  nets = _networks()
  g = nets["g"].module
  g_vars = _fill(nets["g"], 4)
  z = np.random.default_rng(5).standard_normal((4, 256)).astype(np.float32)

  def g_sum(z_):
    return jnp.sum(jnp.sin(3.0 * g.apply(g_vars, z_, mutable=["batch_stats"])[0]))

  zt = _t(z).requires_grad_(True)
  torch.sin(3.0 * torch_generator(g_vars["params"], zt)).sum().backward()
  grad = np.asarray(jax.jit(jax.grad(g_sum))(jnp.asarray(z)))
  scale = float(np.max(np.abs(zt.grad.numpy())))
  np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize(
  "overrides",
  [
    {"model.pack": 4},  # PacDCGAN4: D judges 2 packs of 4 stacked digits
    {"game.name": "unrolled", "game.unroll_steps": 2, "optim.d.eps_root": 1e-16},
  ],
)
def test_tiny_table3_runs_train_and_count_stacked_modes(tmp_path, overrides):
  """The config's tiny run with packing and with the unrolled game (D's BatchNorm inside
  the look-ahead updates): finite steps and an eval line with the stacked-digits counts."""
  from experiments import dcgan28_stacked_digits
  from gan_jax import train

  cfg = dcgan28_stacked_digits.get_config("tiny")
  for key, value in overrides.items():
    section, name = key.split(".", 1)
    node = cfg[section]
    for part in name.split(".")[:-1]:
      node = node[part]
    node[name.split(".")[-1]] = value
  cfg.train.eval_every = cfg.train.num_steps
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == cfg.train.num_steps and int(state.nonfinite_count) == 0
  line = open(tmp_path / "eval.jsonl").readlines()[-1]
  assert '"modes_covered"' in line and '"channel_kl"' in line
