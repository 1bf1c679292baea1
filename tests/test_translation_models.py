"""pix2pix / CycleGAN networks in Flax against PyTorch rebuilds of the reference layer lists.

The PyTorch modules below follow the reference implementation's ``networks.py`` layer by
layer (including its in-place activations); the Flax networks' random parameters are copied
into them and the outputs, BatchNorm running statistics and parameter counts compared.
"""

import functools
import importlib
import os
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import translation as tr

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
tnn = torch.nn

KEY = jax.random.PRNGKey(0)
BATCH = 2
RTOL = ATOL = 1e-5


# --- the reference networks, rebuilt in PyTorch -------------------------------------------


class Dropout(tnn.Dropout):
  """``nn.Dropout(0.5)`` whose mask can be imposed (to replay the Flax model's masks)."""

  def __init__(self):
    super().__init__(0.5)
    self.mask = None

  def forward(self, x):
    return super().forward(x) if self.mask is None else x * self.mask


def _torch_norm(norm):
  if norm == "batch":
    return functools.partial(tnn.BatchNorm2d, affine=True, track_running_stats=True)
  if norm == "instance":
    return functools.partial(tnn.InstanceNorm2d, affine=False, track_running_stats=False)
  return lambda c: tnn.Identity()


class TorchUnetBlock(tnn.Module):
  def __init__(self, outer_nc, inner_nc, input_nc, submodule, outermost, innermost, norm, drop):
    super().__init__()
    self.outermost = outermost
    use_bias = norm == "instance"
    norm_layer = _torch_norm(norm)
    input_nc = outer_nc if input_nc is None else input_nc
    downconv = tnn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=use_bias)
    downrelu = tnn.LeakyReLU(0.2, True)  # in place: it rewrites the skip tensor x too
    downnorm = norm_layer(inner_nc)
    uprelu = tnn.ReLU(True)
    upnorm = norm_layer(outer_nc)
    self.refs = {"down": downconv}
    if outermost:
      upconv = tnn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
      model = [downconv, submodule, uprelu, upconv, tnn.Tanh()]
    elif innermost:
      upconv = tnn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=use_bias)
      model = [downrelu, downconv, uprelu, upconv, upnorm]
      self.refs["up_norm"] = upnorm
    else:
      upconv = tnn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=use_bias)
      model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
      self.refs.update(down_norm=downnorm, up_norm=upnorm)
      if drop:
        model.append(Dropout())
        self.refs["up_dropout"] = model[-1]
    self.refs["up"] = upconv
    self.model = tnn.Sequential(*model)

  def forward(self, x):
    if self.outermost:
      return self.model(x)
    return torch.cat([x, self.model(x)], 1)


class TorchUnet(tnn.Module):
  def __init__(self, input_nc, output_nc, num_downs, ngf, norm, use_dropout):
    super().__init__()
    blk = functools.partial(TorchUnetBlock, norm=norm, outermost=False, innermost=False)
    b = blk(ngf * 8, ngf * 8, None, None, innermost=True, drop=False)
    blocks = [b]
    for _ in range(num_downs - 5):
      blocks.append(b := blk(ngf * 8, ngf * 8, None, b, drop=use_dropout))
    blocks.append(b := blk(ngf * 4, ngf * 8, None, b, drop=False))
    blocks.append(b := blk(ngf * 2, ngf * 4, None, b, drop=False))
    blocks.append(b := blk(ngf, ngf * 2, None, b, drop=False))
    blocks.append(b := blk(output_nc, ngf, input_nc, b, outermost=True, drop=False))
    self.model = b
    self.refs = {}  # Flax module name -> torch module
    for level, block in enumerate(reversed(blocks)):
      for kind, module in block.refs.items():
        name = kind.replace("down", f"down{level}").replace("up", f"up{level}")
        self.refs[(name,)] = module

  def forward(self, x):
    return self.model(x)


class TorchResnetGenerator(tnn.Module):
  def __init__(self, input_nc, output_nc, ngf, norm, use_dropout, n_blocks, padding_type):
    super().__init__()
    use_bias = norm == "instance"
    norm_layer = _torch_norm(norm)
    refs = {}

    def add(name, module):
      refs[name] = module
      return module

    model = [
      tnn.ReflectionPad2d(3),
      add(("stem",), tnn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias)),
      add(("stem_norm",), norm_layer(ngf)),
      tnn.ReLU(True),
    ]
    for i in range(2):
      mult = 2**i
      model += [
        add((f"down{i}",), tnn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=use_bias)),
        add((f"down{i}_norm",), norm_layer(ngf * mult * 2)),
        tnn.ReLU(True),
      ]
    dim = ngf * 4
    for j in range(n_blocks):
      blk = []
      for k in range(2):
        p = 0
        if padding_type == "reflect":
          blk.append(tnn.ReflectionPad2d(1))
        elif padding_type == "replicate":
          blk.append(tnn.ReplicationPad2d(1))
        else:
          p = 1
        blk += [
          add((f"block{j}", f"conv{k}"), tnn.Conv2d(dim, dim, 3, padding=p, bias=use_bias)),
          add((f"block{j}", f"norm{k}"), norm_layer(dim)),
        ]
        if k == 0:
          blk.append(tnn.ReLU(True))
          if use_dropout:
            blk.append(add((f"block{j}", "dropout"), Dropout()))
      model.append(TorchResnetBlock(tnn.Sequential(*blk)))
    for i in range(2):
      mult = 2 ** (2 - i)
      model += [
        add(
          (f"up{i}",),
          tnn.ConvTranspose2d(
            ngf * mult, ngf * mult // 2, 3, 2, padding=1, output_padding=1, bias=use_bias
          ),
        ),
        add((f"up{i}_norm",), norm_layer(ngf * mult // 2)),
        tnn.ReLU(True),
      ]
    model += [tnn.ReflectionPad2d(3), add(("out",), tnn.Conv2d(ngf, output_nc, 7, padding=0))]
    model.append(tnn.Tanh())
    self.model = tnn.Sequential(*model)
    self.refs = refs

  def forward(self, x):
    return self.model(x)


class TorchResnetBlock(tnn.Module):
  def __init__(self, conv_block):
    super().__init__()
    self.conv_block = conv_block

  def forward(self, x):
    return x + self.conv_block(x)


class TorchNLayerDiscriminator(tnn.Module):
  def __init__(self, input_nc, ndf, n_layers, norm):
    super().__init__()
    use_bias = norm == "instance"
    norm_layer = _torch_norm(norm)
    refs = {("conv0",): tnn.Conv2d(input_nc, ndf, 4, 2, 1)}
    seq = [refs[("conv0",)], tnn.LeakyReLU(0.2, True)]
    nf_mult = 1
    for n in range(1, n_layers):
      nf_mult_prev, nf_mult = nf_mult, min(2**n, 8)
      refs[(f"conv{n}",)] = tnn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, 4, 2, 1, bias=use_bias)
      refs[(f"norm{n}",)] = norm_layer(ndf * nf_mult)
      seq += [refs[(f"conv{n}",)], refs[(f"norm{n}",)], tnn.LeakyReLU(0.2, True)]
    nf_mult_prev, nf_mult = nf_mult, min(2**n_layers, 8)
    n = max(n_layers, 1)
    refs[(f"conv{n}",)] = tnn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, 4, 1, 1, bias=use_bias)
    refs[(f"norm{n}",)] = norm_layer(ndf * nf_mult)
    refs[("logits",)] = tnn.Conv2d(ndf * nf_mult, 1, 4, 1, 1)
    seq += [refs[(f"conv{n}",)], refs[(f"norm{n}",)], tnn.LeakyReLU(0.2, True), refs[("logits",)]]
    self.model = tnn.Sequential(*seq)
    self.refs = refs

  def forward(self, x):
    return self.model(x)


class TorchPixelDiscriminator(tnn.Module):
  def __init__(self, input_nc, ndf, norm):
    super().__init__()
    use_bias = norm == "instance"
    self.refs = {
      ("conv0",): tnn.Conv2d(input_nc, ndf, 1, 1, 0),
      ("conv1",): tnn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=use_bias),
      ("norm1",): _torch_norm(norm)(ndf * 2),
      ("logits",): tnn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=use_bias),
    }
    r = self.refs
    self.net = tnn.Sequential(
      r[("conv0",)],
      tnn.LeakyReLU(0.2, True),
      r[("conv1",)],
      r[("norm1",)],
      tnn.LeakyReLU(0.2, True),
      r[("logits",)],
    )

  def forward(self, x):
    return self.net(x)


# --- building both sides ---------------------------------------------------------------------

# name -> (Flax module, PyTorch module, input shape NHWC), all with the same hyperparameters.
_IN, _OUT = 3, 2  # input and output image channels


def _pair(arch, norm, use_dropout=False, **kw):
  if arch == "unet":
    nd = kw.get("num_downs", 5)
    return (
      tr.UnetGenerator(_OUT, nd, 8, norm, use_dropout),
      TorchUnet(_IN, _OUT, nd, 8, norm, use_dropout),
      (BATCH, 2**nd, 2**nd, _IN),
    )
  if arch == "resnet":
    pad, n_blocks = kw.get("padding_type", "reflect"), kw.get("n_blocks", 2)
    return (
      tr.ResnetGenerator(_OUT, 8, n_blocks, norm, use_dropout, pad),
      TorchResnetGenerator(_IN, _OUT, 8, norm, use_dropout, n_blocks, pad),
      (BATCH, 32, 32, _IN),
    )
  if arch == "patch":
    n = kw.get("n_layers", 3)
    return (
      tr.NLayerDiscriminator(8, n, norm),
      TorchNLayerDiscriminator(_IN + _OUT, 8, n, norm),
      (BATCH, 32, 32, _IN + _OUT),
    )
  assert arch == "pixel"
  return (
    tr.PixelDiscriminator(8, norm),
    TorchPixelDiscriminator(_IN + _OUT, 8, norm),
    (BATCH, 8, 8, _IN + _OUT),
  )


def _init_shapes(module, shape):
  """Shapes of the variables of ``module`` for ``shape`` inputs (tracing, no compilation)."""
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  return jax.eval_shape(lambda k, a: module.init(k, a, train=False), KEY, x)


def _random_variables(module, shape, seed):
  """Variables of ``module`` filled with O(1)-scale random values (no init compilation)."""
  rng = np.random.default_rng(seed)
  shapes = _init_shapes(module, shape)

  def fill(path, leaf):
    names = [p.key for p in path]
    is_bn = "norm" in names[-2]  # every BatchNorm submodule has "norm" in its name
    if names[-1] == "kernel":
      fan_in = np.prod(leaf.shape[:-1])
      v = rng.normal(size=leaf.shape) * np.sqrt(2.0 / fan_in)
    elif names[-1] == "scale":
      v = 0.5 + rng.uniform(size=leaf.shape)
    elif names[-1] == "bias":
      v = rng.normal(size=leaf.shape) * (0.2 if is_bn else 0.1)
    elif names[-1] == "mean":
      v = 0.2 * rng.normal(size=leaf.shape)
    else:
      assert names[-1] == "var", names
      v = 0.5 + rng.uniform(size=leaf.shape)
    return jnp.asarray(v, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _t(a):
  return torch.from_numpy(np.array(a, np.float32))  # a writable copy


def _nchw(x):
  return _t(np.transpose(np.asarray(x), (0, 3, 1, 2)))


def _nhwc(t):
  return np.transpose(t.detach().numpy(), (0, 2, 3, 1))


def _lookup(tree, path):
  for name in path:
    if name not in tree:
      return None
    tree = tree[name]
  return tree


@torch.no_grad()
def _copy_into_torch(variables, net):
  """Copies Flax parameters and running statistics into ``net``; checks none is left over."""
  params, stats = variables["params"], variables.get("batch_stats", {})
  used = 0
  for path, m in net.refs.items():
    p = _lookup(params, path)
    if isinstance(m, tnn.ConvTranspose2d):
      # [KH, KW, Ci, Co] kernel of the transposed conv's dilated-input conv: flip and swap.
      m.weight.copy_(_t(np.asarray(p["kernel"])[::-1, ::-1].transpose(2, 3, 0, 1)))
    elif isinstance(m, tnn.Conv2d):
      m.weight.copy_(_t(np.asarray(p["kernel"]).transpose(3, 2, 0, 1)))
    elif isinstance(m, tnn.BatchNorm2d):
      s = _lookup(stats, path)
      m.weight.copy_(_t(p["scale"]))
      m.bias.copy_(_t(p["bias"]))
      m.running_mean.copy_(_t(s["mean"]))
      m.running_var.copy_(_t(s["var"]))
      used += 2
      continue
    else:  # instance norm, identity, dropout: no parameters on either side
      assert p is None and not list(m.parameters()), path
      continue
    assert ("bias" in p) == (m.bias is not None), f"bias presence differs at {path}"
    if m.bias is not None:
      m.bias.copy_(_t(p["bias"]))
    used += len(p)
  assert used == len(jax.tree_util.tree_leaves(params)), "Flax parameters without a torch twin"


def _torch_stats(net):
  return {
    path: (m.running_mean.numpy(), m.running_var.numpy())
    for path, m in net.refs.items()
    if isinstance(m, tnn.BatchNorm2d)
  }


@functools.partial(jax.jit, static_argnums=(0, 3))
def _forward(module, variables, x, train, key=None):
  """``(output, new batch_stats state)``; one compilation per network, cheaper than eager."""
  rngs = {} if key is None else {"dropout": key}
  return module.apply(variables, x, train, rngs=rngs, mutable=["batch_stats"])


def _assert_close(got, want, rtol=RTOL, atol=ATOL):
  np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol)


# --- the comparisons ------------------------------------------------------------------------

CASES = [
  ("unet", "batch"),
  ("unet", "instance"),
  ("resnet", "batch"),
  ("resnet", "instance"),
  ("patch", "batch"),
  ("patch", "instance"),
  ("pixel", "batch"),
]


@pytest.mark.parametrize("arch,norm", CASES)
def test_matches_reference_in_train_and_eval_mode(arch, norm):
  flax_net, torch_net, shape = _pair(arch, norm)
  variables = _random_variables(flax_net, shape, seed=len(arch) + len(norm))
  _copy_into_torch(variables, torch_net)
  rng = np.random.default_rng(1)
  x = rng.uniform(-1, 1, shape).astype(np.float32)

  # Train mode: batch statistics, and the running ones updated (momentum 0.1, unbiased var).
  out, state = _forward(flax_net, variables, x, True)
  torch_net.train()
  with torch.no_grad():
    want = _nhwc(torch_net(_nchw(x)))
  assert out.shape == want.shape and out.dtype == jnp.float32
  _assert_close(out, want)
  assert np.abs(want).std() > 0.05  # a live signal, not a saturated or vanishing one
  torch_stats = _torch_stats(torch_net)
  assert len(torch_stats) == len(jax.tree_util.tree_leaves(state.get("batch_stats", {}))) // 2
  for path, (mean, var) in torch_stats.items():
    _assert_close(_lookup(state["batch_stats"], path)["mean"], mean)
    _assert_close(_lookup(state["batch_stats"], path)["var"], var)
  if norm != "batch":  # no running statistics: eval mode is train mode (see the padding test)
    return

  # Eval mode with the updated running statistics (on a new batch).
  x2 = rng.uniform(-1, 1, shape).astype(np.float32)
  out2, _ = _forward(flax_net, {**variables, **state}, x2, False)
  torch_net.eval()
  with torch.no_grad():
    want2 = _nhwc(torch_net(_nchw(x2)))
  _assert_close(out2, want2)
  # The running statistics matter: train mode on the same batch gives another output.
  out3, _ = _forward(flax_net, {**variables, **state}, x2, True)
  assert np.abs(np.asarray(out3) - want2).max() > 1e-3


def test_resnet_generator_padding_types_and_eval_instance_norm_match_reference():
  # Eval-mode instance norm against the reference in train mode: both use instance statistics.
  for pad in ("replicate", "zero"):
    flax_net, torch_net, shape = _pair("resnet", "instance", padding_type=pad, n_blocks=1)
    variables = _random_variables(flax_net, shape, seed=5)
    _copy_into_torch(variables, torch_net)
    x = np.random.default_rng(2).uniform(-1, 1, shape).astype(np.float32)
    with torch.no_grad():
      want = _nhwc(torch_net.train()(_nchw(x)))
    _assert_close(_forward(flax_net, variables, x, False)[0], want)


@pytest.mark.parametrize("arch", ["unet", "resnet", "patch", "pixel"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_parameter_counts_match_reference(arch, norm):
  flax_net, torch_net, shape = _pair(arch, norm)
  shapes = _init_shapes(flax_net, shape)
  count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(shapes["params"]))
  assert count == sum(p.numel() for p in torch_net.parameters())
  n_bn = sum(isinstance(m, tnn.BatchNorm2d) for m in torch_net.modules())
  assert len(jax.tree_util.tree_leaves(shapes.get("batch_stats", {}))) == 2 * n_bn
  assert ("batch_stats" in shapes) == (norm == "batch")


def test_batch_norm_axis_name_averages_statistics_over_shards():
  # Two shards of 2 under a named axis give the statistics of one batch of 4, including
  # the unbiased running variance (its count spans the shards).
  rng = np.random.default_rng(3)
  x = (rng.normal(size=(4, 3, 5, 6)) * 2 + 1).astype(np.float32)
  variables = {
    "params": {"scale": 0.5 + rng.uniform(size=6), "bias": rng.normal(size=6)},
    "batch_stats": {"mean": rng.normal(size=6), "var": 0.5 + rng.uniform(size=6)},
  }
  variables = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), variables)
  whole = tr.BatchNorm(use_running_average=False)
  want, want_state = whole.apply(variables, x, mutable=["batch_stats"])
  sharded = tr.BatchNorm(use_running_average=False, axis_name="shards")
  out, state = jax.vmap(
    lambda a: sharded.apply(variables, a, mutable=["batch_stats"]), axis_name="shards"
  )(x.reshape(2, 2, 3, 5, 6))
  _assert_close(np.asarray(out).reshape(x.shape), np.asarray(want))
  for name in ("mean", "var"):
    for shard in range(2):
      _assert_close(state["batch_stats"][name][shard], np.asarray(want_state["batch_stats"][name]))
  # And the unsharded module against the reference's BatchNorm2d (train mode, one update).
  ref = tnn.BatchNorm2d(6)
  _copy_into_torch(variables, types.SimpleNamespace(refs={(): ref}))
  with torch.no_grad():
    _assert_close(want, _nhwc(ref.train()(_nchw(x))))
  _assert_close(want_state["batch_stats"]["var"], ref.running_var.numpy())


# --- dropout ----------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=0)
def _dropout_outputs(module, variables, x, key):
  """The output of the Flax model in train mode and the output of each of its Dropouts."""
  out, state = module.apply(
    variables,
    x,
    train=True,
    rngs={"dropout": key},
    mutable=["batch_stats", "intermediates"],
    capture_intermediates=lambda m, _: isinstance(m, nn.Dropout),
  )
  flat = jax.tree_util.tree_leaves_with_path(state.get("intermediates", {}))
  return out, {tuple(p.key for p in path[:-2]): v for path, v in flat}


@pytest.mark.parametrize("num_downs", [5, 6, 7, 8])
def test_unet_dropout_layers_sit_where_the_reference_puts_them(num_downs):
  flax_net, torch_net, shape = _pair("unet", "batch", use_dropout=True, num_downs=num_downs)
  variables = _init_shapes(flax_net, shape)
  _, drops = jax.eval_shape(
    functools.partial(_dropout_outputs, flax_net), variables, jnp.zeros(shape), KEY
  )
  torch_drops = [p for p, m in torch_net.refs.items() if isinstance(m, tnn.Dropout)]
  assert sum(isinstance(m, tnn.Dropout) for m in torch_net.modules()) == num_downs - 5
  assert sorted(drops) == sorted(torch_drops)
  assert len(drops) == num_downs - 5
  for path, v in drops.items():  # the 8 ngf levels, after the upsampling norm
    level = int(path[0][2:].split("_")[0])
    side = 2**num_downs // 2**level
    assert 4 <= level <= num_downs - 2 and v.shape == (BATCH, side, side, 64)


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_dropout_masks_replayed_in_the_reference_give_the_same_output(arch):
  # The Flax model's dropout masks, imposed on the reference's Dropout layers, reproduce its
  # train-mode output only if every dropout sits at the same place as in the reference.
  flax_net, torch_net, shape = _pair(arch, "batch", use_dropout=True, num_downs=6)
  variables = _random_variables(flax_net, shape, seed=3)
  _copy_into_torch(variables, torch_net)
  x = np.random.default_rng(4).uniform(-1, 1, shape).astype(np.float32)
  out, drops = _dropout_outputs(flax_net, variables, x, jax.random.PRNGKey(7))
  assert len(drops) == (1 if arch == "unet" else 2)  # num_downs - 5, or one per block
  for path, v in drops.items():
    v = np.asarray(v)
    # Half the values survive: of the U-Net's normalised features, or of the ResNet's
    # post-ReLU ones (half of them zero already). Where the input is 0 the mask is moot.
    kept = (v != 0).mean()
    assert abs(kept - (0.5 if arch == "unet" else 0.25)) < 0.1, kept
    torch_net.refs[path].mask = _nchw(np.where(v != 0, 2.0, 0.0))
  torch_net.train()
  with torch.no_grad():
    want = _nhwc(torch_net(_nchw(x)))
  _assert_close(out, want)
  # Eval mode: no dropout, and no rng needed (both sides back to the initial running stats).
  for path in drops:
    torch_net.refs[path].mask = None
  _copy_into_torch(variables, torch_net)
  with torch.no_grad():
    want = _nhwc(torch_net.eval()(_nchw(x)))
  _assert_close(_forward(flax_net, variables, x, False)[0], want)


def test_dropout_is_random_in_train_mode():
  flax_net, _, shape = _pair("unet", "batch", use_dropout=True, num_downs=6)
  variables = _random_variables(flax_net, shape, seed=6)
  x = np.random.default_rng(5).uniform(-1, 1, shape).astype(np.float32)

  def train_out(seed):
    return np.asarray(_dropout_outputs(flax_net, variables, x, jax.random.PRNGKey(seed))[0])

  a, b = train_out(1), train_out(2)
  assert np.abs(a - b).max() > 1e-2
  np.testing.assert_array_equal(train_out(1), a)
  with pytest.raises(Exception, match="dropout"):
    jax.eval_shape(lambda v, a: flax_net.apply(v, a, True, mutable=["batch_stats"]), variables, x)


# --- receptive fields, shapes, init, dtype, errors -----------------------------------------


@pytest.mark.parametrize("n_layers,field", [(1, 16), (3, 70), (0, 1)])
def test_patch_receptive_field(n_layers, field):
  # d logit[o, o] / d x is nonzero on exactly a field x field window (pix2pix's 16x16 and
  # 70x70 PatchGANs); n_layers=0 stands for the 1x1 PixelDiscriminator here.
  if n_layers == 0:
    net, size = tr.PixelDiscriminator(8, "none"), 16
  else:
    net, size = tr.NLayerDiscriminator(8, n_layers, "none"), 128
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)), jnp.float32)
  variables = _random_variables(net, x.shape, seed=n_layers)
  o = _out_shape(net, x.shape)[1] // 2
  grad = jax.jit(jax.grad(lambda v: net.apply(variables, v, False)[0, o, o, 0]))(x)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
  start = o if n_layers == 0 else 2**n_layers * o - (3 * 2**n_layers - 1)  # stride, padding
  assert rows.min() == cols.min() == start and rows.max() == cols.max() == start + field - 1
  assert len(rows) == field * field  # every pixel of the window contributes


def _out_shape(module, shape):
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  return jax.eval_shape(
    lambda v, a: module.apply(v, a, False), _init_shapes(module, shape), x
  ).shape


def test_output_shapes_and_torch_agreement_on_odd_sizes():
  assert _out_shape(tr.UnetGenerator(1, 5, 4), (2, 64, 32, 3)) == (2, 64, 32, 1)
  assert _out_shape(tr.ResnetGenerator(3, 4, 1), (2, 24, 36, 1)) == (2, 24, 36, 3)
  assert _out_shape(tr.PixelDiscriminator(4), (2, 7, 9, 6)) == (2, 7, 9, 1)
  for n_layers, (h, w) in [(3, (32, 32)), (3, (37, 45)), (2, (13, 30)), (0, (6, 9))]:
    got = _out_shape(tr.NLayerDiscriminator(4, n_layers), (1, h, w, 3))
    torch_net = TorchNLayerDiscriminator(3, 4, n_layers, "none")
    with torch.no_grad():
      want = torch_net(torch.zeros(1, 3, h, w)).shape
    assert got == (1, want[2], want[3], 1), (n_layers, h, w)
  assert _out_shape(tr.NLayerDiscriminator(4, 3), (1, 32, 32, 3)) == (1, 2, 2, 1)


def test_unet_num_downs():
  assert [tr.unet_num_downs(r) for r in (32, 64, 128, 256, 512)] == [5, 6, 7, 8, 9]
  for bad in (16, 48, 100, 0):
    with pytest.raises(ValueError, match="power-of-two image side of at least 32"):
      tr.unet_num_downs(bad)


def test_invalid_configurations_raise_clear_errors():
  x = (1, 48, 48, 3)
  with pytest.raises(ValueError, match=r"divisible by 2\*\*5 = 32 \(32, 64, 96"):
    _out_shape(tr.UnetGenerator(3, 5), x)
  with pytest.raises(ValueError, match="num_downs >= 5"):
    _out_shape(tr.UnetGenerator(3, 4), (1, 16, 16, 3))
  with pytest.raises(ValueError, match="multiples of 4 and at least 8"):
    _out_shape(tr.ResnetGenerator(3, 4, 1), (1, 30, 32, 3))
  with pytest.raises(ValueError, match="padding_type"):
    _out_shape(tr.ResnetGenerator(3, 4, 1, padding_type="circular"), x)
  with pytest.raises(ValueError, match=r"at least 24 \(its logit map would be empty\)"):
    _out_shape(tr.NLayerDiscriminator(4, 3), (1, 16, 16, 3))
  for module in (tr.UnetGenerator(norm="group"), tr.NLayerDiscriminator(norm="layer")):
    with pytest.raises(ValueError, match="Unknown norm"):
      _out_shape(module, (1, 32, 32, 3))
  with pytest.raises(ValueError, match="NHWC"):
    _out_shape(tr.PixelDiscriminator(4), (32, 32, 3))


def test_initialisation_follows_the_reference():
  # The 1x1 discriminator: the fewest initialisers to compile, 8.6k kernel weights.
  net = tr.PixelDiscriminator(64, "batch")
  variables = jax.jit(lambda k, a: net.init(k, a, train=False))(KEY, jnp.zeros((1, 4, 4, 6)))
  flat = {
    tuple(p.key for p in path): np.asarray(v)
    for path, v in jax.tree_util.tree_leaves_with_path(variables)
  }
  kernels = np.concatenate([v.ravel() for k, v in flat.items() if k[-1] == "kernel"])
  assert len(kernels) == 6 * 64 + 64 * 128 + 128
  assert abs(kernels.std() - 0.02) < 0.0008 and abs(kernels.mean()) < 0.0008
  scales = np.concatenate([v for k, v in flat.items() if k[-1] == "scale"])
  assert len(scales) == 128 and abs(scales.mean() - 1) < 0.006
  assert 0.015 < scales.std() < 0.025
  for k, v in flat.items():
    if k[-1] == "bias" or k[-1] == "mean":
      np.testing.assert_array_equal(v, 0, err_msg=str(k))
    elif k[-1] == "var":
      np.testing.assert_array_equal(v, 1, err_msg=str(k))
    assert v.dtype == np.float32


def test_bfloat16_compute_keeps_float32_params_and_outputs():
  f32, _, shape = _pair("unet", "batch")
  bf16 = tr.UnetGenerator(_OUT, 5, 8, "batch", False, dtype=jnp.bfloat16)
  variables = _random_variables(f32, shape, seed=8)
  x = np.random.default_rng(9).uniform(-1, 1, shape).astype(np.float32)
  out, state = _forward(bf16, variables, x, True)
  want, _ = _forward(f32, variables, x, True)
  assert out.dtype == jnp.float32
  for leaf in jax.tree_util.tree_leaves(state):
    assert leaf.dtype == jnp.float32
  assert np.abs(np.asarray(out) - np.asarray(want)).mean() < 0.05
  assert np.abs(np.asarray(out) - np.asarray(want)).max() > 0  # bfloat16 really ran
