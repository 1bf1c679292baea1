"""SN-GAN and BigGAN ResNets in Flax against PyTorch rebuilds of the papers' architectures.

The PyTorch modules below are written from the papers' descriptions (SN-GAN's Appendix B
ResNets, the projection discriminator, BigGAN's Appendix B with its shared embedding,
hierarchical latents and SAGAN attention), independently of ``gan_jax.models.resnet_gan``:
their sizes are spelt out here, not read from the Flax tables. The Flax networks come from
``build_networks`` with tiny widths; their variables (``init``'s tree filled with random
values: no bias zero, no gain one and no kernel orthogonal, since with orthogonal kernels
one power-iteration step already gives sigma = 1 and u' = u / |u|) are copied into the
torch modules, named like the Flax ones, and outputs, spectral-norm state (``u``,
``sigma``), BatchNorm running statistics, gradients and parameter counts are compared.
Torch runs in float64, Flax in float32.

Spectral normalisation in torch: the ``[out, fan_in]`` weight ``W`` (a conv's
``[Cout, Cin * KH * KW]``, a linear layer's weight, an embedding table transposed so that
``u`` has the size of the embedding, as the Flax ``SNEmbed`` keeps it), one power-iteration
step from the stored ``u``: ``v = l2n(u W)``, ``u' = l2n(v W^T)``, ``sigma = v W^T u'^T``;
``u`` and ``v`` carry no gradient; ``u'`` is stored in training mode only.
"""

import functools
import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import base
from gan_jax.models import build_networks, resnet_gan

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
tnn = torch.nn
F = torch.nn.functional

BATCH = 4
RTOL = 1e-4
SIZES = {
  "sngan": dict(g_width=16, d_width=16, z_dim=8),
  "biggan": dict(width=4, g_width=4, d_width=4, z_dim=16, shared_dim=8, hier=True, attention=16),
}


# --- the reference layers, in PyTorch -------------------------------------------------------


class SpectralNorm(tnn.Module):
  """``W / sigma(W)`` by one power-iteration step from the buffer ``u`` (Miyato et al. 2018,
  Algorithm 1); ``u`` and ``sigma`` advance in training mode only."""

  def __init__(self, out):
    super().__init__()
    self.register_buffer("u", torch.randn(1, out))
    self.register_buffer("sigma", torch.ones(()))

  def forward(self, w):  # w: [out, fan_in]
    with torch.no_grad():
      v = F.normalize(self.u @ w, dim=1, eps=1e-12)
      u = F.normalize(v @ w.T, dim=1, eps=1e-12)
    sigma = (v @ w.T @ u.T)[0, 0]
    if self.training:
      self.u.copy_(u)
      self.sigma.copy_(sigma.detach())
    return w / sigma


class Conv(tnn.Conv2d):
  """``k x k`` convolution, stride 1, "same" padding, spectrally normalised if ``sn``."""

  def __init__(self, cin, cout, k, sn, bias=True):
    super().__init__(cin, cout, k, padding=k // 2, bias=bias)
    self.sn = SpectralNorm(cout) if sn else None

  def forward(self, x):
    w = self.weight
    if self.sn is not None:
      w = self.sn(w.flatten(1)).view_as(w)
    return F.conv2d(x, w, self.bias, padding=self.padding)


class Linear(tnn.Linear):
  """Linear layer, spectrally normalised if ``sn``."""

  def __init__(self, cin, cout, sn, bias=True):
    super().__init__(cin, cout, bias=bias)
    self.sn = SpectralNorm(cout) if sn else None
    self.perm = None  # Flax output column of each torch output row (see TorchGenerator)

  def forward(self, x):
    w = self.weight if self.sn is None else self.sn(self.weight)
    return F.linear(x, w, self.bias)


class SNEmbedding(tnn.Embedding):
  """Spectrally normalised embedding (projection discriminator), ``u`` of the table's width."""

  def __init__(self, n, dim):
    super().__init__(n, dim)
    self.sn = SpectralNorm(dim)

  def forward(self, y):
    return F.embedding(y, self.sn(self.weight.T).T)


class BN(tnn.BatchNorm2d):
  """BatchNorm2d (momentum 0.1, eps 1e-5) that keeps, for the state check, its running
  variance before the last training step and the number of values per channel it saw."""

  def __init__(self, c, affine=True):
    super().__init__(c, eps=1e-5, momentum=0.1, affine=affine)

  def forward(self, x):
    if self.training:
      self.var0, self.m = self.running_var.clone(), x.numel() // x.shape[1]
    return super().forward(x)


class PlainNorm(tnn.Module):
  """Unconditional G norm: BatchNorm with its own gain and bias."""

  def __init__(self, c):
    super().__init__()
    self.bn = BN(c)

  def forward(self, x, y):
    return self.bn(x)


class CategoricalCBN(tnn.Module):
  """``BN(x) * gain[y] + bias[y]`` (Miyato & Koyama 2018, Section 4)."""

  def __init__(self, c, num_classes):
    super().__init__()
    self.bn = BN(c, affine=False)
    self.gain = tnn.Embedding(num_classes, c)
    self.bias = tnn.Embedding(num_classes, c)

  def forward(self, x, y):
    return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class LinearCBN(tnn.Module):
  """``BN(x) * (1 + W_g c) + W_b c``, SN linear maps without bias (Brock et al. 2019)."""

  def __init__(self, c, cond_dim):
    super().__init__()
    self.bn = BN(c, affine=False)
    self.gain = Linear(cond_dim, c, sn=True, bias=False)
    self.bias = Linear(cond_dim, c, sn=True, bias=False)

  def forward(self, x, c):
    gain, bias = 1 + self.gain(c), self.bias(c)
    return self.bn(x) * gain[:, :, None, None] + bias[:, :, None, None]


class Norm(tnn.Module):
  """Holder of a G block's norm, under ``bn`` (plain) or ``cbn`` (conditional)."""

  def __init__(self, kind, c, num_classes=0, cond_dim=0):
    super().__init__()
    if kind == "plain":
      self.bn = BN(c)
    elif kind == "categorical":
      self.cbn = CategoricalCBN(c, num_classes)
    else:
      self.cbn = LinearCBN(c, cond_dim)

  def forward(self, x, y):
    return self.bn(x) if hasattr(self, "bn") else self.cbn(x, y)


def up(x):
  return F.interpolate(x, scale_factor=2, mode="nearest")


class GBlock(tnn.Module):
  """``norm-ReLU-up-conv3-norm-ReLU-conv3`` + ``up-conv1`` (Miyato et al. 2018, Fig. 8a)."""

  def __init__(self, cin, cout, sn, **norm):
    super().__init__()
    self.bn1, self.bn2 = Norm(c=cin, **norm), Norm(c=cout, **norm)
    self.conv1, self.conv2 = Conv(cin, cout, 3, sn), Conv(cout, cout, 3, sn)
    self.conv_sc = Conv(cin, cout, 1, sn)  # every G block upsamples: learnable shortcut

  def forward(self, x, y):
    h = self.conv1(up(F.relu(self.bn1(x, y))))
    h = self.conv2(F.relu(self.bn2(h, y)))
    return h + self.conv_sc(up(x))


class DBlock(tnn.Module):
  """``[ReLU]-conv3-ReLU-conv3-[pool]`` + ``conv1-pool`` (preactivated) or ``pool-conv1``
  (the optimised first block) (Miyato et al. 2018, Fig. 8b; Gulrajani et al. 2017)."""

  def __init__(self, cin, cout, hidden, preactivation, downsample):
    super().__init__()
    self.preactivation, self.downsample = preactivation, downsample
    self.conv1, self.conv2 = Conv(cin, hidden, 3, True), Conv(hidden, cout, 3, True)
    self.conv_sc = Conv(cin, cout, 1, True) if cin != cout or downsample else None

  def pool(self, x):
    return F.avg_pool2d(x, 2) if self.downsample else x

  def forward(self, x):
    h = F.relu(x) if self.preactivation else x
    h = self.pool(self.conv2(F.relu(self.conv1(h))))
    if self.conv_sc is not None:
      x = self.pool(self.conv_sc(x)) if self.preactivation else self.conv_sc(self.pool(x))
    return h + x


class Attention(tnn.Module):
  """SAGAN block (Zhang et al. 2019, eqs. 1-3): ``x + gamma * o(softmax(theta^T phi) g)``,
  ``phi`` and ``g`` max-pooled 2x2, widths C/8, C/8, C/2 (BigGAN's choice)."""

  def __init__(self, c):
    super().__init__()
    self.theta = Conv(c, c // 8, 1, True, bias=False)
    self.phi = Conv(c, c // 8, 1, True, bias=False)
    self.g = Conv(c, c // 2, 1, True, bias=False)
    self.o = Conv(c // 2, c, 1, True, bias=False)
    self.gamma = tnn.Parameter(torch.zeros(()))

  def forward(self, x):
    n, c, h, w = x.shape
    theta = self.theta(x).flatten(2)  # [N, C/8, HW]
    phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # [N, C/8, HW/4]
    g = F.max_pool2d(self.g(x), 2).flatten(2)  # [N, C/2, HW/4]
    beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # [N, HW, HW/4]
    return x + self.gamma * self.o((g @ beta.transpose(1, 2)).view(n, c // 2, h, w))


class TorchGenerator(tnn.Module):
  """``Linear(z) -> [C, b, b]``, up-blocks (attention after those in ``attention``), then
  ``BN-ReLU-conv3-tanh``. Norm ``linear`` (BigGAN): hierarchical latents, block ``i``'s
  norm linear in ``[shared(y), z_{i+1}]`` (``shared`` the shared class embedding) or in
  ``z_{i+1}`` alone when unconditional."""

  def __init__(
    self, z_dim, widths, norm, num_classes=0, sn=False, shared_dim=0, attention=(), bottom=4
  ):
    super().__init__()
    self.width, self.bottom, self.hier = widths[0], bottom, norm == "linear"
    self.chunk = z_dim // len(widths) if self.hier else z_dim  # len(blocks) + 1 slots
    if self.hier:  # the chunk alone when unconditional
      shared_dim = shared_dim if num_classes else 0
      if shared_dim:
        self.shared = tnn.Embedding(num_classes, shared_dim)
      norm = dict(kind="linear", cond_dim=shared_dim + self.chunk)
    else:
      norm = dict(kind=norm, num_classes=num_classes)
    b2 = self.bottom**2
    self.linear = Linear(self.chunk, b2 * widths[0], sn)
    # The references reshape the dense output to [C, b, b], Flax to [b, b, C]: torch row
    # c * b^2 + s is Flax column s * C + c.
    self.linear.perm = np.arange(b2 * widths[0]).reshape(b2, widths[0]).T.reshape(-1)
    self.attention = attention
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
      self.add_module(f"block{i}", GBlock(cin, cout, sn, **norm))
      if i in attention:
        self.add_module(f"attention{i}", Attention(cout))
    self.bn_out = BN(widths[-1])
    self.conv_out = Conv(widths[-1], 3, 3, sn)
    self.num_blocks = len(widths) - 1

  def forward(self, z, y):
    zs = z.split(self.chunk, dim=1)
    if not self.hier:
      conds = [y] * self.num_blocks
    elif hasattr(self, "shared"):
      conds = [torch.cat([self.shared(y), zi], 1) for zi in zs[1:]]
    else:
      conds = zs[1:]
    h = self.linear(zs[0]).view(z.shape[0], self.width, self.bottom, self.bottom)
    for i in range(self.num_blocks):
      h = getattr(self, f"block{i}")(h, conds[i])
      if i in self.attention:
        h = getattr(self, f"attention{i}")(h)
    return torch.tanh(self.conv_out(F.relu(self.bn_out(h))))


class TorchDiscriminator(tnn.Module):
  """Blocks (the first optimised; attention after those in ``attention``), ReLU, sum over
  H, W, ``linear(h) + <embed(y), h>`` (Miyato & Koyama 2018, eq. 3)."""

  def __init__(self, widths, downsample, wide, num_classes=0, attention=()):
    super().__init__()
    self.attention, self.num_blocks = attention, len(downsample)
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
      hidden = cout if wide or i == 0 else cin
      self.add_module(f"block{i}", DBlock(cin, cout, hidden, i > 0, downsample[i]))
      if i in attention:
        self.add_module(f"attention{i}", Attention(cout))
    self.linear = Linear(widths[-1], 1, sn=True)
    if num_classes:
      self.embed = SNEmbedding(num_classes, widths[-1])

  def forward(self, x, y):
    h = x
    for i in range(self.num_blocks):
      h = getattr(self, f"block{i}")(h)
      if i in self.attention:
        h = getattr(self, f"attention{i}")(h)
    h = F.relu(h).sum(dim=(2, 3))
    out = self.linear(h)[:, 0]
    if hasattr(self, "embed"):
      out = out + (self.embed(y) * h).sum(1)
    return out


def _torch_net(name, role, num_classes, resolution=32):
  """The reference at the tiny sizes of ``SIZES`` (3 channels), float64."""
  if resolution == 48:  # SN-GAN's STL-10 nets (Miyato et al. 2018, Appendix B), 1/32 and 1/64
    assert name == "sngan"
    if role == "g":
      norm = "categorical" if num_classes else "plain"
      net = TorchGenerator(8, (16, 8, 4, 2), norm, num_classes, bottom=6)
    else:
      net = TorchDiscriminator((3, 1, 2, 4, 8, 16), (True,) * 4 + (False,), False, num_classes)
  elif name == "sngan":  # Miyato et al. 2018, Appendix B (CIFAR-10) with width 16 for 256 / 128
    if role == "g":
      norm = "categorical" if num_classes else "plain"
      net = TorchGenerator(8, (16,) * 4, norm, num_classes)
    else:
      net = TorchDiscriminator((3,) + (16,) * 4, (True, True, False, False), False, num_classes)
  elif role == "g":  # Brock et al. 2019, 32 px: ch 4 * 4, attention at 16 px
    net = TorchGenerator(16, (16,) * 4, "linear", num_classes, True, 8, attention=(1,))
  else:  # attention after the block whose output side is 16 (the first)
    net = TorchDiscriminator((3,) + (16,) * 4, (True, True, False, False), True, num_classes, (0,))
  return net.double()


# --- Flax networks, variables, transfers --------------------------------------------------


def _network(name, role, num_classes, resolution=32):
  cfg = base.get_base_config().model
  cfg.name = name
  for k, v in SIZES[name].items():
    cfg[k] = v
  return build_networks(cfg, (resolution, resolution, 3), num_classes)[role]


def _variables(network, seed):
  """Variables of ``module.init``'s tree (traced by ``eval_shape``: compiling the
  orthogonal initialisers would cost seconds), filled with O(1) random values: kernels
  N(0, 2 / fan_in), biases, gains and tables away from 0 and 1, ``u`` ~ N(0, 1) as the
  initialiser draws it, ``sigma`` 1 and random running statistics."""
  shapes = jax.eval_shape(
    lambda: network.module.init(jax.random.key(0), *network.example_inputs, train=False)
  )
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    names = [p.key for p in path]
    shape = leaf.shape
    if names[-1] == "kernel":
      v = rng.normal(size=shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
    elif names[-1] == "embedding" and names[-2] == "gain":  # categorical CBN gain
      v = 1 + 0.3 * rng.normal(size=shape)
    elif names[-1] == "embedding":  # CBN bias, shared embedding, projection
      v = (0.3 if names[-2] == "bias" else 1.0) * rng.normal(size=shape)
    elif names[-1] in ("scale", "var"):
      v = 0.5 + rng.uniform(size=shape)
    elif names[-1] in ("bias", "mean"):
      v = 0.1 * rng.normal(size=shape)
    elif names[-1] == "u":
      v = rng.normal(size=shape)
    elif names[-1] == "sigma":
      v = np.ones(shape)
    else:
      assert names[-1] == "gamma", names
      v = np.full(shape, 0.7)  # attention starts as the identity (gamma 0): open it
    return jnp.asarray(v, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


# Optimisation level 0 halves XLA's compile time of these tiny networks on CPU.
_FAST = {"xla_backend_optimization_level": 0}


@functools.partial(jax.jit, static_argnums=(0, 4), compiler_options=_FAST)
def _apply(module, variables, x, labels, train):
  """Train: ``(out, new state)`` with ``batch_stats`` mutable; eval: ``(out, None)``, the
  variables immutable (so the eval application provably leaves u and the statistics)."""
  if train:
    return module.apply(variables, x, labels, train=True, mutable=["batch_stats"])
  return module.apply(variables, x, labels, train=False), None


def _t(a):
  return torch.from_numpy(np.array(a, np.float64))


def _leaves(tree, prefix=()):
  for k, v in tree.items():
    yield from _leaves(v, prefix + (k,)) if isinstance(v, dict) else [(prefix + (k,), v)]


def _sn_modules(net):
  """``{Flax path of the layer: (torch layer, its SpectralNorm)}``."""
  return {
    tuple(name.split(".")[:-1]): (net.get_submodule(name.rsplit(".", 1)[0]), m)
    for name, m in net.named_modules()
    if isinstance(m, SpectralNorm)
  }


def _bn_modules(net):
  return {tuple(name.split(".")): m for name, m in net.named_modules() if isinstance(m, BN)}


@torch.no_grad()
def _load(net, variables):
  """Copies Flax params and state into ``net`` (torch names = Flax paths); checks that every
  Flax variable finds its torch twin."""
  flat = {
    (coll,) + path: leaf
    for coll in ("params", "batch_stats")
    for path, leaf in _leaves(variables.get(coll, {}))
  }
  used = set()

  def take(*key):
    used.add(key)
    return np.asarray(flat[key], np.float64)

  for name, m in net.named_modules():
    path = tuple(name.split(".")) if name else ()
    if isinstance(m, Conv):
      m.weight.copy_(_t(take("params", *path, "kernel").transpose(3, 2, 0, 1)))
    elif isinstance(m, Linear):
      perm = slice(None) if m.perm is None else m.perm
      m.weight.copy_(_t(take("params", *path, "kernel").T[perm]))
    elif isinstance(m, tnn.Embedding):  # SNEmbedding, CBN tables, BigGAN's shared embedding
      m.weight.copy_(_t(take("params", *path, "embedding")))
    elif isinstance(m, BN):
      if m.affine:
        m.weight.copy_(_t(take("params", *path, "scale")))
        m.bias.copy_(_t(take("params", *path, "bias")))
      m.running_mean.copy_(_t(take("batch_stats", *path, "mean")))
      m.running_var.copy_(_t(take("batch_stats", *path, "var")))
    elif isinstance(m, Attention):
      m.gamma.copy_(_t(take("params", *path, "gamma")))
    if isinstance(m, Conv | Linear) and m.bias is not None:
      perm = slice(None) if getattr(m, "perm", None) is None else m.perm
      m.bias.copy_(_t(take("params", *path, "bias")[perm]))
  for path, (layer, sn) in _sn_modules(net).items():
    perm = slice(None) if getattr(layer, "perm", None) is None else layer.perm
    sn.u.copy_(_t(take("batch_stats", *path, "u")[:, perm]))
    sn.sigma.copy_(_t(take("batch_stats", *path, "sigma")))
  assert used == set(flat), f"Flax variables without a torch twin: {set(flat) - used}"


def _assert_close(got, want, rtol=RTOL):
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(np.abs(want).max(), 1e-3))


def _check_state(net, state):
  """Flax's new state against torch's: ``u`` and ``sigma`` of every SN layer, BatchNorm
  running means, and running variances up to the documented deviation (Flax averages the
  biased batch variance, torch the unbiased one: a factor (m - 1) / m on the new term)."""
  flat = dict(_leaves(state))
  checked = 0
  for path, (layer, sn) in _sn_modules(net).items():
    perm = slice(None) if getattr(layer, "perm", None) is None else layer.perm
    _assert_close(np.asarray(flat[path + ("u",)])[:, perm], sn.u.numpy())
    _assert_close(flat[path + ("sigma",)], sn.sigma.numpy())
    checked += 2
  for path, m in _bn_modules(net).items():
    _assert_close(flat[path + ("mean",)], m.running_mean.numpy())
    old = 0.9 * m.var0.numpy()
    _assert_close(flat[path + ("var",)], old + (m.running_var.numpy() - old) * (m.m - 1) / m.m)
    checked += 2
  assert checked == len(flat)


def _nchw(x):
  return _t(np.transpose(np.asarray(x), (0, 3, 1, 2)))


def _nhwc(t):
  return np.transpose(t.detach().numpy(), (0, 2, 3, 1))


def _labels(rng, num_classes):
  return rng.integers(0, num_classes, BATCH).astype(np.int32) if num_classes else None


def _torch_labels(y):
  return None if y is None else torch.from_numpy(y.astype(np.int64))


# --- the comparisons ------------------------------------------------------------------------


def _check_generator(name, num_classes, seed):
  network = _network(name, "g", num_classes)
  variables = _variables(network, seed)
  net = _torch_net(name, "g", num_classes)
  _load(net, variables)
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(BATCH, network.example_inputs[0].shape[1])).astype(np.float32)
  y = _labels(rng, num_classes)

  # Train mode: batch statistics; running statistics and (BigGAN) u advance.
  out, state = _apply(network.module, variables, z, y, True)
  with torch.no_grad():
    want = _nhwc(net.train()(_t(z), _torch_labels(y)))
  assert out.dtype == jnp.float32 and out.shape == (BATCH, 32, 32, 3)
  _assert_close(out, want)
  assert 0.05 < np.abs(want).std() and np.abs(want).mean() < 0.9  # live, not saturated
  _check_state(net, state["batch_stats"])

  # Eval mode with the advanced state (Flax's running variances copied over), a new batch.
  variables = {**variables, **state}
  _load(net, variables)
  z2 = rng.normal(size=z.shape).astype(np.float32)
  out2, _ = _apply(network.module, variables, z2, y, False)
  with torch.no_grad():
    want2 = _nhwc(net.eval()(_t(z2), _torch_labels(y)))
  _assert_close(out2, want2)
  return net, z2, y, want2


def _check_discriminator(name, num_classes, seed):
  network = _network(name, "d", num_classes)
  variables = _variables(network, seed)
  net = _torch_net(name, "d", num_classes)
  _load(net, variables)
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)
  y = _labels(rng, num_classes)
  tx, ty = _nchw(x), _torch_labels(y)

  # Eval: one power-iteration step from the stored u, nothing stored (torch's u stays).
  out, _ = _apply(network.module, variables, x, y, False)
  with torch.no_grad():
    want = net.eval()(tx, ty).numpy()
  assert out.dtype == jnp.float32 and out.shape == (BATCH,)
  _assert_close(out, want)
  assert np.abs(want).std() > 1e-2
  _check_state(net, variables["batch_stats"])

  # Train, twice: the same step stores u' (and sigma); the second step starts from it.
  outs = []
  for _ in range(2):
    out, state = _apply(network.module, variables, x, y, True)
    with torch.no_grad():
      want = net.train()(tx, ty).numpy()
    _assert_close(out, want)
    _check_state(net, state["batch_stats"])
    variables = {**variables, **state}
    outs.append(want)
  assert np.abs(outs[1] - outs[0]).max() > 1e-3 * np.abs(outs[0]).max()  # u mattered
  return network, variables, net, x, y


@pytest.mark.parametrize("num_classes", [0, 10])
def test_sngan_generator_matches_reference(num_classes):
  """SN-GAN's 32 px ResNet G (Miyato et al. 2018, Appendix B; with labels the
  categorical conditional BatchNorm of Miyato & Koyama 2018): train-mode output and
  running statistics, then eval mode with the advanced statistics."""
  _check_generator("sngan", num_classes, seed=1 + num_classes)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_sngan_discriminator_matches_reference(num_classes):
  """SN-GAN's spectrally normalised 32 px ResNet D (Miyato et al. 2018, Algorithm 1 and
  Appendix B; with labels the projection term of Miyato & Koyama 2018, eq. 3): eval mode from
  the stored u, two train steps whose advanced u and sigma match torch's, and (with labels)
  the parameter gradients of the summed logits: SN's gradient flows through W only, u and v
  held constant (Miyato et al. 2018, Section 2.2 and Algorithm 1)."""
  network, variables, net, x, y = _check_discriminator("sngan", num_classes, 2 + num_classes)
  if not num_classes:
    return

  def loss(params):
    out, _ = network.module.apply(
      {**variables, "params": params}, x, y, train=True, mutable=["batch_stats"]
    )
    return jnp.sum(out)

  grads = dict(_leaves(jax.jit(jax.grad(loss), compiler_options=_FAST)(variables["params"])))
  net.train()(_nchw(x), _torch_labels(y)).sum().backward()  # torch holds the same state
  for name, p in net.named_parameters():
    path, kind = tuple(name.split(".")[:-1]), name.rsplit(".", 1)[-1]
    if kind == "bias":
      g = grads.pop(path + ("bias",))
    elif isinstance(net.get_submodule(".".join(path)), tnn.Embedding):
      g = grads.pop(path + ("embedding",))
    else:
      g = np.asarray(grads.pop(path + ("kernel",)))
      g = g.transpose(3, 2, 0, 1) if g.ndim == 4 else g.T
    _assert_close(g, p.grad.numpy())
  assert not grads


def test_biggan_generator_matches_reference():
  """BigGAN's 32 px G (Brock et al. 2019, Appendix B: shared embedding, hierarchical
  latents, linear conditional BatchNorm, SN everywhere) with SAGAN attention at 16 px
  (Zhang et al. 2019) opened by gamma = 0.7: train mode (output, u, sigma, statistics) and
  eval mode; the attention path changes the output."""
  net, z, y, want = _check_generator("biggan", 10, seed=3)
  with torch.no_grad():
    net.attention1.gamma.zero_()
    closed = _nhwc(net(_t(z), _torch_labels(y)))
  assert np.abs(closed - want).max() > 1e-2


def test_biggan_discriminator_matches_reference():
  """BigGAN's 32 px projection D (Brock et al. 2019, Appendix B: wide blocks, SN
  everywhere) with SAGAN attention after its 16 px block (Zhang et al. 2019), opened by
  gamma = 0.7: eval mode, two train steps (outputs, u, sigma); the attention path changes
  the output."""
  _, _, net, x, y = _check_discriminator("biggan", 10, seed=4)
  with torch.no_grad():
    want = net.eval()(_nchw(x), _torch_labels(y)).numpy()
    net.attention0.gamma.zero_()
    closed = net(_nchw(x), _torch_labels(y)).numpy()
  assert np.abs(closed - want).max() > 1e-3 * np.abs(want).max()


@pytest.mark.parametrize("num_classes", [0, 10])
@pytest.mark.parametrize("name,resolution", [("sngan", 32), ("sngan", 48), ("biggan", 32)])
def test_parameter_counts_match_reference(name, resolution, num_classes):
  """Trainable parameters of both Flax networks (``resnet_gan.param_count``) equal the
  torch references' (Miyato et al. 2018, Appendix B; Miyato & Koyama 2018; Brock et al.
  2019, Appendix B; Zhang et al. 2019): torch BatchNorm gains and biases count, conditional
  norms have none. The 48 px nets change width inside blocks (SN-GAN's D: hidden width of
  the input), which the 32 px ones never do. Shapes only: nothing compiles."""
  for role in ("g", "d"):
    network = _network(name, role, num_classes, resolution)
    count = resnet_gan.param_count(network.module, *network.example_inputs)
    net = _torch_net(name, role, num_classes, resolution)
    assert count == sum(p.numel() for p in net.parameters())
