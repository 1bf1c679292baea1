"""The super-resolution networks of ``gan_jax.models.sr`` against PyTorch rebuilds.

The PyTorch modules below are written from the layer lists of the papers (SRResNet and the
SRGAN discriminator, Ledig et al. 2017, Fig. 4; RRDBNet, Wang et al. 2018, Fig. 4) and of
BasicSR's configuration (MSRResNet, the VGG-style discriminator), independently of the Flax
code: sizes are spelt out here. Their submodules carry the Flax names, so the Flax variables
(``init``'s tree with kernels, biases, PReLU slopes, BatchNorm scales and running statistics
redrawn at random) copy over by name: conv kernels HWIO -> OIHW, dense kernels transposed.
Every torch parameter and buffer must receive a value, so the two layer lists match one to
one. Torch runs in float64, Flax in float32.
"""

import functools
import importlib
import math
import os

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from gan_jax.models import sr

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
tnn = torch.nn
F = torch.nn.functional

TOL = dict(rtol=1e-4, atol=1e-4)


# --- the reference networks, in PyTorch -----------------------------------------------------


def conv(cin, cout, k, stride=1, pad=None, bias=True):
  return tnn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad, bias=bias)


def bn_or_identity(c, bn):
  return tnn.BatchNorm2d(c) if bn else tnn.Identity()


def upsample_factors(scale):
  return [3] if scale == 3 else [2] * int(math.log2(scale))


class SRResBlock(tnn.Module):
  def __init__(self, c, bn):
    super().__init__()
    self.conv0, self.bn0 = conv(c, c, 3, bias=not bn), bn_or_identity(c, bn)
    self.prelu = tnn.PReLU()
    self.conv1, self.bn1 = conv(c, c, 3, bias=not bn), bn_or_identity(c, bn)

  def forward(self, x):
    return x + self.bn1(self.conv1(self.prelu(self.bn0(self.conv0(x)))))


class SRResNet(tnn.Module):
  """Ledig et al. 2017, Fig. 4: k9n64 + PReLU, B blocks, k3n64 + BN + skip, k3n256 +
  shuffle x2 + PReLU per factor 2, k9n3."""

  def __init__(self, scale, width, num_blocks, norm, cin=3, cout=3):
    super().__init__()
    bn = norm == "batch"
    self.head, self.head_prelu = conv(cin, width, 9), tnn.PReLU()
    self.blocks = [f"block{i}" for i in range(num_blocks)]
    for name in self.blocks:
      self.add_module(name, SRResBlock(width, bn))
    self.body_conv, self.body_bn = conv(width, width, 3, bias=not bn), bn_or_identity(width, bn)
    self.ups = []
    for i, r in enumerate(upsample_factors(scale)):
      self.add_module(f"up{i}", conv(width, width * r * r, 3))
      self.add_module(f"up{i}_prelu", tnn.PReLU())
      self.ups.append((f"up{i}", r))
    self.tail = conv(width, cout, 9)

  def forward(self, x):
    head = self.head_prelu(self.head(x))
    h = head
    for name in self.blocks:
      h = getattr(self, name)(h)
    h = self.body_bn(self.body_conv(h)) + head
    for name, r in self.ups:
      h = getattr(self, f"{name}_prelu")(F.pixel_shuffle(getattr(self, name)(h), r))
    return self.tail(h)


class ResBlockNoBN(tnn.Module):
  def __init__(self, c):
    super().__init__()
    self.conv1, self.conv2 = conv(c, c, 3), conv(c, c, 3)

  def forward(self, x):
    return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(tnn.Module):
  """BasicSR's configuration: conv_first + lrelu(0.1), blocks, upconv1 (, upconv2) with
  shuffle + lrelu, conv_hr + lrelu, conv_last, plus the bilinearly upsampled input."""

  def __init__(self, scale, num_feat, num_blocks, c=3):
    super().__init__()
    self.scale = scale
    self.conv_first = conv(c, num_feat, 3)
    self.blocks = [f"body_{i}" for i in range(num_blocks)]
    for name in self.blocks:
      self.add_module(name, ResBlockNoBN(num_feat))
    self.ups = []
    for i, r in enumerate(upsample_factors(scale)):
      self.add_module(f"upconv{i + 1}", conv(num_feat, num_feat * r * r, 3))
      self.ups.append((f"upconv{i + 1}", r))
    self.conv_hr, self.conv_last = conv(num_feat, num_feat, 3), conv(num_feat, c, 3)

  def forward(self, x):
    h = F.leaky_relu(self.conv_first(x), 0.1)
    for name in self.blocks:
      h = getattr(self, name)(h)
    for name, r in self.ups:
      h = F.leaky_relu(F.pixel_shuffle(getattr(self, name)(h), r), 0.1)
    h = self.conv_last(F.leaky_relu(self.conv_hr(h), 0.1))
    base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
    return h + base


class RDB(tnn.Module):
  def __init__(self, nf, gc):
    super().__init__()
    for k in range(1, 6):
      self.add_module(f"conv{k}", conv(nf + (k - 1) * gc, nf if k == 5 else gc, 3))

  def forward(self, x):
    x1 = F.leaky_relu(self.conv1(x), 0.2)
    x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), 0.2)
    x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), 0.2)
    x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), 0.2)
    x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
    return x5 * 0.2 + x


class RRDBBlock(tnn.Module):
  def __init__(self, nf, gc):
    super().__init__()
    self.rdb1, self.rdb2, self.rdb3 = RDB(nf, gc), RDB(nf, gc), RDB(nf, gc)

  def forward(self, x):
    return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(tnn.Module):
  """Wang et al. 2018: conv_first, RRDBs, conv_body + trunk skip, nearest x2 + conv + lrelu
  per factor 2, conv_hr + lrelu, conv_last."""

  def __init__(self, scale, nf, num_blocks, gc, c=3):
    super().__init__()
    self.conv_first = conv(c, nf, 3)
    self.blocks = [f"body_{i}" for i in range(num_blocks)]
    for name in self.blocks:
      self.add_module(name, RRDBBlock(nf, gc))
    self.conv_body = conv(nf, nf, 3)
    self.ups = [f"conv_up{i + 1}" for i in range(int(math.log2(scale)))]
    for name in self.ups:
      self.add_module(name, conv(nf, nf, 3))
    self.conv_hr, self.conv_last = conv(nf, nf, 3), conv(nf, c, 3)

  def forward(self, x):
    feat = self.conv_first(x)
    h = feat
    for name in self.blocks:
      h = getattr(self, name)(h)
    h = feat + self.conv_body(h)
    for name in self.ups:
      h = F.leaky_relu(getattr(self, name)(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
    return self.conv_last(F.leaky_relu(self.conv_hr(h), 0.2))


class SRGANDiscriminator(tnn.Module):
  """Ledig et al. 2017, Fig. 4: k3n64s1 + lrelu, then k3 (n, s) = (64, 2), (128, 1), (128, 2),
  (256, 1), (256, 2), (512, 1), (512, 2) with BN + lrelu; dense 1024 + lrelu; dense 1."""

  def __init__(self, width, norm, pool, hidden, size, c=3):
    super().__init__()
    bn, self.pool = norm == "batch", pool
    self.conv0 = conv(c, width, 3)
    stages = [(1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]
    cin = width
    for i, (mult, stride) in enumerate(stages, start=1):
      self.add_module(f"conv{i}", conv(cin, width * mult, 3, stride, bias=not bn))
      self.add_module(f"norm{i}", bn_or_identity(width * mult, bn))
      cin = width * mult
      size = [(s - 1) // stride + 1 for s in size]
    features = cin * size[0] * size[1] if pool == "flatten" else cin
    self.fc1, self.fc2 = tnn.Linear(features, hidden), tnn.Linear(hidden, 1)

  def forward(self, x):
    h = F.leaky_relu(self.conv0(x), 0.2)
    for i in range(1, 8):
      h = F.leaky_relu(getattr(self, f"norm{i}")(getattr(self, f"conv{i}")(h)), 0.2)
    h = h.flatten(1) if self.pool == "flatten" else h.mean((2, 3))
    return self.fc2(F.leaky_relu(self.fc1(h), 0.2))


class VGGStyleDiscriminator(tnn.Module):
  """BasicSR's configuration: conv0_0 (3x3) + lrelu, conv0_1 (4x4 s2) + BN + lrelu, stages of
  conv3 + BN + lrelu and conv4 s2 + BN + lrelu at nf * 2, 4, 8, 8 (, 8 for 256 px), then
  linear(nf * 8 * 4 * 4, 100) + lrelu, linear(100, 1)."""

  def __init__(self, nf, input_size, c=3):
    super().__init__()
    self.conv0_0 = conv(c, nf, 3)
    self.conv0_1, self.bn0_1 = conv(nf, nf, 4, 2, 1, bias=False), tnn.BatchNorm2d(nf)
    widths = [2 * nf, 4 * nf, 8 * nf, 8 * nf] + ([8 * nf] if input_size == 256 else [])
    self.stages, cin = len(widths), nf
    for i, cout in enumerate(widths, start=1):
      self.add_module(f"conv{i}_0", conv(cin, cout, 3, bias=False))
      self.add_module(f"bn{i}_0", tnn.BatchNorm2d(cout))
      self.add_module(f"conv{i}_1", conv(cout, cout, 4, 2, 1, bias=False))
      self.add_module(f"bn{i}_1", tnn.BatchNorm2d(cout))
      cin = cout
    self.linear1, self.linear2 = tnn.Linear(nf * 8 * 4 * 4, 100), tnn.Linear(100, 1)

  def forward(self, x):
    h = F.leaky_relu(self.conv0_0(x), 0.2)
    h = F.leaky_relu(self.bn0_1(self.conv0_1(h)), 0.2)
    for i in range(1, self.stages + 1):
      for j in range(2):
        h = F.leaky_relu(getattr(self, f"bn{i}_{j}")(getattr(self, f"conv{i}_{j}")(h)), 0.2)
    return self.linear2(F.leaky_relu(self.linear1(h.flatten(1)), 0.2))


# --- cases: (Flax module, torch builder, input shape) ---------------------------------------

CASES = {
  "srresnet_x4_bn": (
    sr.SRResNet(scale=4, width=8, num_blocks=2, norm="batch"),
    lambda: SRResNet(4, 8, 2, "batch"),
    (2, 12, 10, 3),
  ),
  "srresnet_x3_nonorm": (
    sr.SRResNet(scale=3, width=8, num_blocks=2, norm="none"),
    lambda: SRResNet(3, 8, 2, "none"),
    (2, 12, 10, 3),
  ),
  "msrresnet_x4": (
    sr.MSRResNet(scale=4, num_feat=8, num_blocks=2),
    lambda: MSRResNet(4, 8, 2),
    (2, 12, 10, 3),
  ),
  "msrresnet_x3": (
    sr.MSRResNet(scale=3, num_feat=8, num_blocks=2),
    lambda: MSRResNet(3, 8, 2),
    (2, 12, 10, 3),
  ),
  "rrdbnet_x4": (
    sr.RRDBNet(scale=4, num_feat=8, num_blocks=2, num_grow_ch=4),
    lambda: RRDBNet(4, 8, 2, 4),
    (2, 12, 10, 3),
  ),
  "rrdbnet_x2": (
    sr.RRDBNet(scale=2, num_feat=8, num_blocks=1, num_grow_ch=4),
    lambda: RRDBNet(2, 8, 1, 4),
    (2, 12, 10, 3),
  ),
  "rrdbnet_x1": (
    sr.RRDBNet(scale=1, num_feat=8, num_blocks=1, num_grow_ch=4),
    lambda: RRDBNet(1, 8, 1, 4),
    (2, 12, 10, 3),
  ),
  "srgan_d_flatten_bn": (
    sr.SRGANDiscriminator(width=4, norm="batch", pool="flatten", hidden=32),
    lambda: SRGANDiscriminator(4, "batch", "flatten", 32, (40, 36)),
    (4, 40, 36, 3),
  ),
  "srgan_d_avg_nonorm": (
    sr.SRGANDiscriminator(width=4, norm="none", pool="avg", hidden=32),
    lambda: SRGANDiscriminator(4, "none", "avg", 32, (20, 16)),
    (2, 20, 16, 3),
  ),
  "vgg_d_128": (
    sr.VGGStyleDiscriminator(num_feat=4, input_size=128),
    lambda: VGGStyleDiscriminator(4, 128),
    (4, 128, 128, 3),
  ),
}
BN_CASES = ["srresnet_x4_bn", "srgan_d_flatten_bn", "vgg_d_128"]


def randomized_variables(module, shape, seed=0):
  """Variables of ``init``'s structure (shapes only: init does not run), every leaf drawn
  anew: kernels N(0, 1 / fan_in), biases N(0, 0.1), BatchNorm scales U(0.5, 1.5), running
  means N(0, 0.2), running variances U(0.5, 2), PReLU slopes U(0.05, 0.5)."""
  x = jnp.zeros(shape, jnp.float32)
  variables = jax.eval_shape(lambda k: module.init(k, x, train=False), jax.random.key(seed))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name, shape = path[-1].key, leaf.shape
    if name == "kernel":
      a = rng.normal(0.0, 1.0 / math.sqrt(math.prod(shape[:-1])), shape)
    elif name == "bias":
      a = rng.normal(0.0, 0.1, shape)
    elif name == "scale":
      a = rng.uniform(0.5, 1.5, shape)
    elif name == "mean":
      a = rng.normal(0.0, 0.2, shape)
    elif name == "var":
      a = rng.uniform(0.5, 2.0, shape)
    elif name == "negative_slope":
      a = rng.uniform(0.05, 0.5, shape)
    else:
      raise AssertionError(f"unexpected variable {path}")
    return jnp.asarray(a, jnp.float32)

  return jax.tree_util.tree_map_with_path(draw, variables)


TORCH_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def load_into(tmodel, variables):
  """Copies Flax variables into ``tmodel`` by name; every torch tensor must be set."""
  done = set()
  for tree in variables.values():
    for path, leaf in flatten_dict(tree).items():
      *mods, leafname = path
      target = tmodel
      for m in mods:
        target = getattr(target, m)
      a = np.asarray(leaf, np.float64)
      if leafname == "kernel":
        name, a = "weight", (a.transpose(3, 2, 0, 1) if a.ndim == 4 else a.T)
      elif leafname == "negative_slope":
        name, a = "weight", a.reshape(1)
      else:
        name = TORCH_NAMES[leafname]
      tensor = getattr(target, name)
      assert tuple(tensor.shape) == a.shape, (path, tensor.shape, a.shape)
      with torch.no_grad():
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(a)))
      done.add(".".join([*mods, name]))
  expected = {k for k in tmodel.state_dict() if not k.endswith("num_batches_tracked")}
  assert done == expected, (sorted(expected - done), sorted(done - expected))


def to_nchw(x):
  return torch.from_numpy(np.asarray(x, np.float64).transpose(0, 3, 1, 2))


def to_nhwc(t):
  t = t.detach().numpy()
  return t.transpose(0, 2, 3, 1) if t.ndim == 4 else t


def setup(case, seed=0):
  module, build, shape = CASES[case]
  variables = randomized_variables(module, shape, seed)
  tmodel = build().double()
  load_into(tmodel, variables)
  x = np.random.default_rng(seed + 1).uniform(-1.0, 1.0, shape).astype(np.float32)
  return module, variables, tmodel, x


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [2, 3])
def test_pixel_shuffle_matches_torch(r):
  x = np.random.default_rng(r).normal(size=(2, 3, 5, 4 * r * r)).astype(np.float32)
  ours = np.asarray(sr.pixel_shuffle(jnp.asarray(x), r))
  ref = to_nhwc(F.pixel_shuffle(to_nchw(x), r))
  assert ours.shape == (2, 3 * r, 5 * r, 4)
  np.testing.assert_array_equal(ours, ref.astype(np.float32))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_upsample_matches_torch_align_corners_false(scale):
  x = np.random.default_rng(scale).normal(size=(2, 5, 7, 3)).astype(np.float32)
  ours = np.asarray(sr.upsample_bilinear(jnp.asarray(x), scale))
  ref = F.interpolate(to_nchw(x), scale_factor=scale, mode="bilinear", align_corners=False)
  np.testing.assert_allclose(ours, to_nhwc(ref), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_eval_mode_matches_torch(case):
  module, variables, tmodel, x = setup(case)
  ours = np.asarray(jax.jit(functools.partial(module.apply, train=False))(variables, x))
  with torch.no_grad():
    ref = to_nhwc(tmodel.eval()(to_nchw(x)))
  assert ours.dtype == np.float32 and ours.shape == ref.shape
  np.testing.assert_allclose(ours, ref, **TOL)


@pytest.mark.parametrize("case", BN_CASES)
def test_train_mode_batch_statistics_match_torch(case):
  module, variables, tmodel, x = setup(case, seed=3)
  apply = jax.jit(functools.partial(module.apply, train=True, mutable=["batch_stats"]))
  ours, state = apply(variables, x)
  ref = to_nhwc(tmodel.train()(to_nchw(x)))
  np.testing.assert_allclose(np.asarray(ours), ref, **TOL)
  tstate = tmodel.state_dict()
  for path, leaf in flatten_dict(state["batch_stats"]).items():
    key = ".".join([*path[:-1], TORCH_NAMES[path[-1]]])
    np.testing.assert_allclose(np.asarray(leaf), tstate[key].numpy(), **TOL, err_msg=key)


def test_generator_output_shapes():
  def shape_of(module, side=16):
    x = jnp.zeros((1, side, side, 3), jnp.float32)
    variables = jax.eval_shape(lambda k: module.init(k, x, train=False), jax.random.key(0))
    return jax.eval_shape(lambda v: module.apply(v, x, train=False), variables).shape

  for scale in (2, 3, 4, 8):
    assert shape_of(sr.SRResNet(scale, width=8, num_blocks=1)) == (1, 16 * scale, 16 * scale, 3)
  for scale in (2, 3, 4):
    assert shape_of(sr.MSRResNet(scale, num_feat=8, num_blocks=1)) == (1, 16 * scale, 16 * scale, 3)
  for scale in (1, 2, 4):
    net = sr.RRDBNet(scale, num_feat=8, num_blocks=1, num_grow_ch=4)
    assert shape_of(net) == (1, 16 * scale, 16 * scale, 3)


# Full sizes: (Flax module, torch builder, input shape).
FULL = {
  "SRResNet x4": (sr.SRResNet(4), lambda: SRResNet(4, 64, 16, "batch"), (1, 24, 24, 3)),
  "MSRResNet x4": (sr.MSRResNet(4), lambda: MSRResNet(4, 64, 16), (1, 24, 24, 3)),
  "RRDBNet x4": (sr.RRDBNet(4), lambda: RRDBNet(4, 64, 23, 32), (1, 24, 24, 3)),
  "SRGAN D 96": (
    sr.SRGANDiscriminator(),
    lambda: SRGANDiscriminator(64, "batch", "flatten", 1024, (96, 96)),
    (1, 96, 96, 3),
  ),
  "VGG D 128": (
    sr.VGGStyleDiscriminator(),
    lambda: VGGStyleDiscriminator(64, 128),
    (1, 128, 128, 3),
  ),
  "VGG D 256": (
    sr.VGGStyleDiscriminator(input_size=256),
    lambda: VGGStyleDiscriminator(64, 256),
    (1, 256, 256, 3),
  ),
}
# The published sizes: ESRGAN's RRDBNet 16.7M, MSRResNet and SRResNet about 1.5M.
PAPER_COUNTS = {"RRDBNet x4": 16_697_987, "MSRResNet x4": 1_517_571, "SRResNet x4": 1_547_350}


@pytest.mark.parametrize("name", list(FULL))
def test_parameter_counts_at_paper_sizes_match_torch(name):
  module, build, shape = FULL[name]
  x = jnp.zeros(shape, jnp.float32)
  variables = jax.eval_shape(lambda k: module.init(k, x, train=False), jax.random.key(0))
  with torch.device("meta"):
    tmodel = build()
  ours, ref = sr.param_count(variables), sum(p.numel() for p in tmodel.parameters())
  print(f"{name}: flax {ours:,} torch {ref:,}")
  assert ours == ref
  if name in PAPER_COUNTS:
    assert ours == PAPER_COUNTS[name]
  assert sr.param_count(variables["params"]) == ours


class InitProbe(fnn.Module):
  """The blocks whose initialisation is checked, in one module (one compilation)."""

  @fnn.compact
  def __call__(self, x):
    sr.ResidualDenseBlock(32, name="rdb")(x)
    sr.ResidualBlockNoBN(name="res")(x)
    sr.SRResNetBlock("batch", name="srres")(x, train=False)


def test_initialisation_scaled_kaiming_in_esrgan_blocks_torch_default_elsewhere():
  nf, gc = 64, 32
  variables = jax.jit(InitProbe().init)(jax.random.key(0), jnp.zeros((1, 4, 4, nf)))
  params = variables["params"]

  def check_scaled_kaiming(p, fan_in):
    kernel = np.asarray(p["kernel"])
    np.testing.assert_allclose(kernel.std(), 0.1 * math.sqrt(2.0 / fan_in), rtol=0.05)
    assert abs(kernel.mean()) < 0.1 * kernel.std()
    np.testing.assert_array_equal(np.asarray(p["bias"]), 0.0)

  for k in range(1, 6):  # the dense block: fan_in grows by gc per conv
    p = params["rdb"][f"conv{k}"]
    assert p["kernel"].shape == (3, 3, nf + (k - 1) * gc, nf if k == 5 else gc)
    check_scaled_kaiming(p, 9 * (nf + (k - 1) * gc))
  check_scaled_kaiming(params["res"]["conv1"], 9 * nf)
  check_scaled_kaiming(params["res"]["conv2"], 9 * nf)
  # SRResNet: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), no bias under BatchNorm.
  srres = params["srres"]
  kernel, bound = np.asarray(srres["conv0"]["kernel"]), 1.0 / math.sqrt(9 * nf)
  assert np.abs(kernel).max() <= bound
  np.testing.assert_allclose(kernel.std(), bound / math.sqrt(3.0), rtol=0.05)
  assert "bias" not in srres["conv0"]
  assert float(srres["prelu"]["negative_slope"]) == 0.25  # nn.PReLU()'s
  np.testing.assert_array_equal(np.asarray(variables["batch_stats"]["srres"]["bn0"]["var"]), 1.0)


def test_bfloat16_compute_keeps_float32_params_and_outputs():
  net = sr.RRDBNet(2, num_feat=8, num_blocks=1, num_grow_ch=4, dtype=jnp.bfloat16)
  x = jnp.zeros((1, 8, 8, 3), jnp.float32)
  variables = jax.eval_shape(lambda k: net.init(k, x), jax.random.key(0))
  assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(variables)} == {jnp.dtype("float32")}
  out = jax.eval_shape(lambda v: net.apply(v, x), variables)
  assert out.dtype == jnp.float32 and out.shape == (1, 16, 16, 3)


def test_invalid_configurations_raise_clear_errors():
  x = jnp.zeros((1, 16, 16, 3))
  bad = [
    (sr.SRResNet(scale=5), x, "scale"),
    (sr.SRResNet(norm="instance"), x, "norm"),
    (sr.MSRResNet(scale=8), x, "scale"),
    (sr.MSRResNet(out_channels=1), x, "out_channels"),
    (sr.RRDBNet(scale=3), x, "scale"),
    (sr.SRGANDiscriminator(pool="max"), x, "pool"),
    (sr.VGGStyleDiscriminator(input_size=128), x, "128x128"),
    (sr.VGGStyleDiscriminator(input_size=64), jnp.zeros((1, 64, 64, 3)), "input_size"),
  ]
  for module, inp, match in bad:
    with pytest.raises(ValueError, match=match):
      jax.eval_shape(lambda k, m=module, i=inp: m.init(k, i, train=False), jax.random.key(0))
  with pytest.raises(ValueError, match="divisible"):
    sr.pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2)
