"""StyleGAN2's networks and regularisers rebuilt in PyTorch (a helper, not a test module).

Written from the papers (Karras et al. 2020, Sections 2-4 and Appendix B: modulated
convolution with weight demodulation, the skip generator, the residual discriminator,
minibatch standard deviation, lazy R1 and the path-length penalty; Karras et al. 2019:
mapping network, noise inputs, the moving average of ``w`` and truncation; Karras et al.
2018: equalised learning rate) and from gan_jax's definitions of the same layers, in
plain PyTorch ops (``F.conv2d``, ``F.conv_transpose2d``, grouped convolutions); no custom
kernels. ``tests/test_stylegan2_torch.py`` checks these modules against
``gan_jax.models.stylegan2`` with the same weights; ``benchmarks/torch_reference.py``
times a training step built from them.

Layout is NCHW, weights ``[Cout, Cin, K, K]`` and dense weights ``[out, in]``. As in
gan_jax, equalised-lr weights are stored raw (N(0, 1) / ``lr_mul``) and scaled at run time
(``lr_mul / sqrt(fan_in)``), biases times ``lr_mul``, so that gradients with respect to
the stored parameters are the same in both. Modules and parameters are named as in the
Flax tree (``mapping_network.fc0.weight`` is ``params["mapping_network"]["fc0"]
["kernel"]``), and ``load_from_flax`` copies a gan_jax tree in.

Noise (``noise_mode``): ``random`` (N(0, 1) per sample, torch's generator), ``const`` (the
buffer ``noise_const [r, r]``; ``load_from_flax`` copies gan_jax's constant noise into
it) or ``none``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
LRELU_ALPHA = 0.2
ACT_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


# --- ops ------------------------------------------------------------------------------------


def setup_filter(taps=FIR_TAPS) -> torch.Tensor:
  """The 2-D FIR filter ``outer(taps, taps)`` normalised to sum 1."""
  f = torch.as_tensor(taps, dtype=torch.float32)
  f = torch.outer(f, f)
  return f / f.sum()


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
  """Zero insertion (``up - 1`` zeros after every pixel), zero padding ``(left, right,
  top, bottom)`` (negative crops), the true 2-D convolution of every channel with ``f *
  gain`` (``f`` flipped, then correlated), every ``down``-th pixel. ``x [N, C, H, W]``."""
  n, c, h, w = x.shape
  if up > 1:
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(n, c, h * up, w * up)
  x = F.pad(x, list(padding))
  f = (f.to(x.dtype) * gain ** (f.ndim / 2)).flip([0, 1])
  kernel = f[None, None].expand(c, 1, *f.shape)
  return F.conv2d(x, kernel, stride=down, groups=c)


def upsample2d(x, f, up=2):
  """x2 (``up``) upsampling with the FIR filter, gain ``up ** 2``; size ``H * up``."""
  fw = f.shape[-1]
  p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
  return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def bias_act(x, b=None, act="linear", gain=None):
  """``act(x + b) * gain``, ``b`` on axis 1; ``gain`` None: the activation's own."""
  if b is not None:
    x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
  if act == "lrelu":
    x = F.leaky_relu(x, LRELU_ALPHA)
  g = ACT_GAINS[act] if gain is None else gain
  return x * g if g != 1 else x


def normalize_2nd_moment(x, eps=1e-8):
  return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _conv(x, w, padding, up, f, groups=1):
  """``w [Cout, Cin / groups, K, K]`` correlated with ``x`` (``up=1``), or the stride-2
  transposed convolution of the un-flipped kernel and the FIR filter with gain 4."""
  if up == 1:
    return F.conv2d(x, w, padding=padding, groups=groups)
  cout, cin_g, kh, kw = w.shape
  # conv_transpose2d's weight is [Cin, Cout / groups, K, K]: swap within each group.
  wt = w.reshape(groups, cout // groups, cin_g, kh, kw).transpose(1, 2)
  wt = wt.reshape(groups * cin_g, cout // groups, kh, kw)
  x = F.conv_transpose2d(x, wt, stride=2, groups=groups)
  fw = f.shape[-1]
  p0, p1 = padding + (fw + 1) // 2 - (kw - 1), padding + (fw - 2) // 2 - (kw - 2)
  return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=4.0)


def modulated_conv2d(
  x, weight, styles, demodulate=True, up=1, padding=None, f=None, fused=True, eps=1e-8
):
  """Modulated convolution: per sample ``w_n = weight * styles[n]`` on the input channels,
  divided (``demodulate``) by the norm of each output channel's kernel; ``fused`` as one
  grouped convolution over the batch, else by scaling the activations before and after one
  shared convolution. ``x [N, Cin, H, W]``, ``weight [Cout, Cin, K, K]``, ``styles [N,
  Cin]``."""
  n, cin, h, w = x.shape
  cout, _, kh, kw = weight.shape
  p = kh // 2 if padding is None else padding
  f = setup_filter().to(x.device) if f is None else f
  wn = weight[None] * styles[:, None, :, None, None]  # [N, Cout, Cin, K, K]
  dcoefs = (wn.square().sum(dim=[2, 3, 4]) + eps).rsqrt() if demodulate else None  # [N, Cout]
  if not fused:
    y = _conv(x * styles[:, :, None, None], weight, p, up, f)
    return y * dcoefs[:, :, None, None] if demodulate else y
  if demodulate:
    wn = wn * dcoefs[:, :, None, None, None]
  y = _conv(x.reshape(1, n * cin, h, w), wn.reshape(n * cout, cin, kh, kw), p, up, f, groups=n)
  return y.reshape(n, cout, *y.shape[2:])


def minibatch_stddev(x, group_size=4, num_channels=1):
  """Appends ``num_channels`` feature maps: per group of ``G = min(group_size, N)``
  samples (sample ``k`` in group ``k mod N / G``) and block of channels, the standard
  deviation over the group, averaged over the block's channels and the pixels."""
  n, c, h, w = x.shape
  g = min(group_size, n)
  y = x.reshape(g, n // g, num_channels, c // num_channels, h, w)
  y = y - y.mean(dim=0)
  y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [M, F, c, H, W]
  y = y.mean(dim=[2, 3, 4])  # [M, F]
  y = y.repeat(g, 1)[:, :, None, None].expand(n, num_channels, h, w)
  return torch.cat([x, y], dim=1)


# --- equalised-lr layers --------------------------------------------------------------------


class FullyConnected(nn.Module):
  """Dense layer: ``bias_act(x (weight * lr_mul / sqrt(in))^T, bias * lr_mul, act)``."""

  def __init__(self, fin, fout, bias=True, bias_init=0.0, lr_mul=1.0, activation="linear"):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(fout, fin) / lr_mul)
    self.bias = nn.Parameter(torch.full([fout], float(bias_init))) if bias else None
    self.weight_gain, self.lr_mul, self.activation = lr_mul / math.sqrt(fin), lr_mul, activation

  def forward(self, x):
    b = None if self.bias is None else self.bias * self.lr_mul
    return bias_act(F.linear(x, self.weight * self.weight_gain), b, self.activation)


class Conv2dLayer(nn.Module):
  """Equalised-lr ``K x K`` convolution (size kept), optionally FIR-down x2 first; the
  output ``bias_act(y, bias, act, act_gain * gain)``."""

  def __init__(self, cin, cout, k, bias=True, activation="linear", down=1, taps=FIR_TAPS):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
    self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
    self.weight_gain, self.activation, self.down = 1 / math.sqrt(cin * k * k), activation, down
    self.register_buffer("resample_filter", setup_filter(taps), persistent=False)

  def forward(self, x, gain=1.0):
    w = self.weight * self.weight_gain
    k, p = w.shape[-1], w.shape[-1] // 2
    if self.down == 1:
      y = F.conv2d(x, w, padding=p)
    else:
      f, d = self.resample_filter, self.down
      fw = f.shape[-1]
      lo, hi = p + (fw - d + 1) // 2, p + (fw - d) // 2
      if k == 1:  # FIR down, then the 1x1 convolution
        y = F.conv2d(upfirdn2d(x, f, down=d, padding=(lo, hi, lo, hi)), w)
      else:  # FIR, then the convolution with stride 2
        y = F.conv2d(upfirdn2d(x, f, padding=(lo, hi, lo, hi)), w, stride=d)
    return bias_act(y, self.bias, self.activation, ACT_GAINS[self.activation] * gain)


# --- generator ------------------------------------------------------------------------------


class MappingNetwork(nn.Module):
  """``(z, c) -> w [N, w_dim]`` (or ``ws [N, num_ws, w_dim]``): normalised ``z`` and label
  embedding, ``num_layers`` lrelu dense layers with ``lr_mul``; the buffer ``w_avg`` moves
  toward the batch mean of ``w`` by ``1 - w_avg_beta`` in training mode."""

  def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, lr_mul=0.01, w_avg_beta=0.995):
    super().__init__()
    self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
    self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
    if c_dim:
      self.embed = FullyConnected(c_dim, w_dim)
    feats = (z_dim + (w_dim if c_dim else 0),) + (w_dim,) * num_layers
    for i in range(num_layers):
      layer = FullyConnected(feats[i], feats[i + 1], lr_mul=lr_mul, activation="lrelu")
      setattr(self, f"fc{i}", layer)
    if num_ws is not None and w_avg_beta is not None:
      self.register_buffer("w_avg", torch.zeros(w_dim))

  def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=True):
    parts, dtype = [], self.fc0.weight.dtype
    if self.z_dim:
      parts.append(normalize_2nd_moment(z.to(dtype)))
    if self.c_dim:
      if c.ndim == 1:
        c = F.one_hot(c.long(), self.c_dim)
      parts.append(normalize_2nd_moment(self.embed(c.to(dtype))))
    x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
    for i in range(self.num_layers):
      x = getattr(self, f"fc{i}")(x)
    tracked = hasattr(self, "w_avg")
    if tracked and self.training and update_w_avg:
      with torch.no_grad():
        self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
    if self.num_ws is None:
      return x
    x = x[:, None].expand(-1, self.num_ws, -1)
    if truncation_psi != 1:
      t = self.w_avg.lerp(x, truncation_psi)
      if truncation_cutoff is None:
        x = t
      else:
        x = torch.cat([t[:, :truncation_cutoff], x[:, truncation_cutoff:]], dim=1)
    return x


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution (up x2 optional), noise, bias, lrelu (gain sqrt(2))."""

  def __init__(self, cin, cout, w_dim, resolution, up=1, noise_index=0, kernel_size=3):
    super().__init__()
    self.up, self.resolution, self.noise_index = up, resolution, noise_index
    self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
    self.weight = nn.Parameter(torch.randn(cout, cin, kernel_size, kernel_size))
    self.noise_strength = nn.Parameter(torch.zeros([]))
    self.bias = nn.Parameter(torch.zeros(cout))
    self.register_buffer("noise_const", torch.randn(resolution, resolution))
    self.register_buffer("resample_filter", setup_filter(), persistent=False)

  def forward(self, x, w, noise_mode="random", fused=True):
    styles = self.affine(w)
    y = modulated_conv2d(x, self.weight, styles, up=self.up, f=self.resample_filter, fused=fused)
    if noise_mode == "random":
      r = self.resolution
      y = y + torch.randn(y.shape[0], 1, r, r, device=y.device) * self.noise_strength
    elif noise_mode == "const":
      y = y + self.noise_const * self.noise_strength
    elif noise_mode != "none":
      raise ValueError(f"noise_mode {noise_mode!r}")
    return bias_act(y, self.bias, "lrelu")


class ToRGB(nn.Module):
  """Modulated 1x1 convolution without demodulation (styles times ``1 / sqrt(Cin)``)."""

  def __init__(self, cin, cout, w_dim):
    super().__init__()
    self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
    self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
    self.bias = nn.Parameter(torch.zeros(cout))
    self.weight_gain = 1 / math.sqrt(cin)

  def forward(self, x, w, fused=True):
    styles = self.affine(w) * self.weight_gain
    y = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
    return bias_act(y, self.bias)


class SynthesisBlock(nn.Module):
  """One resolution of the skip generator: const (4 px) or conv0 (up x2), conv1, ToRGB
  added to the FIR-upsampled image of the resolution below."""

  def __init__(self, cin, cout, w_dim, resolution, img_channels, first_index):
    super().__init__()
    self.cin, self.num_conv = cin, 1 if cin == 0 else 2
    if cin == 0:
      self.const = nn.Parameter(torch.randn(cout, resolution, resolution))
    else:
      self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=2, noise_index=first_index)
    index = first_index + self.num_conv - 1
    self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, noise_index=index)
    self.torgb = ToRGB(cout, img_channels, w_dim)
    self.register_buffer("resample_filter", setup_filter(), persistent=False)

  def forward(self, x, img, ws, noise_mode="random", fused=True):
    if self.cin == 0:
      x = self.const[None].expand(ws.shape[0], -1, -1, -1)
    else:
      x = self.conv0(x, ws[:, 0], noise_mode, fused)
    x = self.conv1(x, ws[:, self.num_conv - 1], noise_mode, fused)
    y = self.torgb(x, ws[:, self.num_conv], fused)
    img = y if img is None else upsample2d(img, self.resample_filter) + y
    return x, img


class SynthesisNetwork(nn.Module):
  """``ws [N, num_ws, w_dim] -> images [N, C, R, R]``: blocks ``b4`` ... ``b{R}`` with
  ``min(channel_base // r, channel_max)`` channels at ``r``; ``num_ws = 2 log2 R - 2``."""

  def __init__(self, w_dim, resolution, img_channels=3, channel_base=32768, channel_max=512):
    super().__init__()
    log2 = int(math.log2(resolution))
    self.resolutions = [2**i for i in range(2, log2 + 1)]
    self.num_ws = 2 * log2 - 2

    def ch(r):
      return min(channel_base // r, channel_max)

    for i, r in enumerate(self.resolutions):
      block = SynthesisBlock(
        ch(r // 2) if r > 4 else 0, ch(r), w_dim, r, img_channels, max(2 * i - 1, 0)
      )
      setattr(self, f"b{r}", block)

  def forward(self, ws, noise_mode="random", fused=True):
    x = img = None
    w_idx = 0
    for r in self.resolutions:
      block = getattr(self, f"b{r}")
      x, img = block(x, img, ws[:, w_idx : w_idx + block.num_conv + 1], noise_mode, fused)
      w_idx += block.num_conv
    return img


class Generator(nn.Module):
  """``mapping_network`` + ``synthesis_network``; ``noise_mode`` and ``fused_modconv`` as
  attributes (the latter: grouped convolution or activation scaling)."""

  def __init__(
    self,
    z_dim,
    w_dim,
    resolution,
    img_channels=3,
    c_dim=0,
    map_layers=8,
    lr_mul=0.01,
    w_avg_beta=0.995,
    channel_base=32768,
    channel_max=512,
    noise_mode="random",
    fused_modconv=True,
  ):
    super().__init__()
    self.z_dim, self.c_dim = z_dim, c_dim
    self.noise_mode, self.fused_modconv = noise_mode, fused_modconv
    self.synthesis_network = SynthesisNetwork(
      w_dim, resolution, img_channels, channel_base, channel_max
    )
    self.num_ws = self.synthesis_network.num_ws
    self.mapping_network = MappingNetwork(
      z_dim, c_dim, w_dim, self.num_ws, map_layers, lr_mul, w_avg_beta
    )

  def mapping(self, z, c=None, **kw):
    return self.mapping_network(z, c, **kw)

  def synthesis(self, ws, noise_mode=None):
    return self.synthesis_network(ws, noise_mode or self.noise_mode, self.fused_modconv)

  def forward(self, z, c=None, **kw):
    return self.synthesis(self.mapping(z, c, **kw))


# --- discriminator --------------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
  """Residual block: ``skip`` (1x1, FIR down, no bias) + ``conv1(conv0(x))`` (3x3 lrelu,
  3x3 lrelu FIR down), both scaled by sqrt(0.5); ``fromrgb`` (1x1 lrelu) on the first."""

  def __init__(self, cin, tmp, cout, first, img_channels):
    super().__init__()
    if first:
      self.fromrgb = Conv2dLayer(img_channels, tmp, 1, activation="lrelu")
    self.skip = Conv2dLayer(tmp if first else cin, cout, 1, bias=False, down=2)
    self.conv0 = Conv2dLayer(tmp if first else cin, tmp, 3, activation="lrelu")
    self.conv1 = Conv2dLayer(tmp, cout, 3, activation="lrelu", down=2)

  def forward(self, x, img):
    if hasattr(self, "fromrgb"):
      x = self.fromrgb(img)
    half = math.sqrt(0.5)
    y = self.skip(x, gain=half)
    return y + self.conv1(self.conv0(x), gain=half)


class DiscriminatorEpilogue(nn.Module):
  """4x4: minibatch stddev, conv (lrelu), fc over the channel-major flattening (lrelu),
  out; the projection ``sum(out * cmap) / sqrt(cmap_dim)`` when conditional."""

  def __init__(self, channels, cmap_dim=0, mbstd_group=4, mbstd_channels=1):
    super().__init__()
    self.cmap_dim, self.mbstd_group, self.mbstd_channels = cmap_dim, mbstd_group, mbstd_channels
    self.conv = Conv2dLayer(channels + mbstd_channels, channels, 3, activation="lrelu")
    self.fc = FullyConnected(channels * 16, channels, activation="lrelu")
    self.out = FullyConnected(channels, cmap_dim or 1)

  def forward(self, x, cmap=None):
    if self.mbstd_channels:
      x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = self.out(self.fc(self.conv(x).flatten(1)))
    if self.cmap_dim:
      x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
    return x


class Discriminator(nn.Module):
  """``(images [N, C, R, R], labels) -> logits [N]``: blocks ``b{R}`` ... ``b8``, the
  label ``mapping`` (no ``z``, no ``w_avg``) when conditional, the epilogue ``b4``."""

  def __init__(
    self,
    resolution,
    img_channels=3,
    c_dim=0,
    channel_base=32768,
    channel_max=512,
    mbstd_group=4,
    mbstd_channels=1,
    cmap_dim=0,
    map_layers=8,
    lr_mul=0.01,
  ):
    super().__init__()

    def ch(r):
      return min(channel_base // r, channel_max)

    self.resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
    for r in self.resolutions:
      block = DiscriminatorBlock(ch(r), ch(r), ch(r // 2), r == resolution, img_channels)
      setattr(self, f"b{r}", block)
    self.c_dim = c_dim
    cmap_dim = (cmap_dim or ch(4)) if c_dim else 0
    if c_dim:
      self.mapping = MappingNetwork(0, c_dim, cmap_dim, None, map_layers, lr_mul, None)
    self.b4 = DiscriminatorEpilogue(ch(4), cmap_dim, mbstd_group, mbstd_channels)

  def forward(self, img, c=None):
    x = None
    for r in self.resolutions:
      x = getattr(self, f"b{r}")(x, img)
    cmap = self.mapping(None, c) if self.c_dim else None
    return self.b4(x, cmap)[:, 0]


# --- the regularisers -----------------------------------------------------------------------


def r1_penalty(d, real, c=None):
  """``mean_n ||grad_x sum D(x)||^2`` at the real images, differentiable in D's parameters
  (``create_graph``)."""
  real = real.detach().requires_grad_(True)
  (grad,) = torch.autograd.grad(d(real, c).sum(), real, create_graph=True)
  return grad.square().sum(dim=[1, 2, 3]).mean()


def path_lengths(g, ws, y, noise_mode=None):
  """``||J_w^T y||`` per sample: the gradient of ``sum(synthesis(ws) * y)`` in the ws,
  squared, summed over the w features, averaged over the ws, square-rooted; differentiable
  in G's parameters (``create_graph``). ``ws`` must require grad."""
  img = g.synthesis(ws, noise_mode)
  (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
  return grad.square().sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(g, ws, y, pl_mean, decay=0.01, noise_mode=None):
  """``(mean((a - pl_mean')^2), pl_mean')`` with ``a = path_lengths`` and ``pl_mean' =
  pl_mean + decay (mean(a) - pl_mean)`` (the moving average taken before the penalty)."""
  lengths = path_lengths(g, ws, y, noise_mode)
  pl_mean = pl_mean + decay * (lengths.detach().mean() - pl_mean)
  return (lengths - pl_mean).square().mean(), pl_mean


# --- gan_jax's parameters -------------------------------------------------------------------


def flax_to_torch(tree, prefix=""):
  """``{torch name: np.ndarray in torch's layout}`` of a Flax parameter (or gradient) tree:
  ``kernel`` -> ``weight``; dense kernels ``[in, out]`` transposed; HWIO -> OIHW; the
  constant ``[H, W, C]`` -> ``[C, H, W]``."""
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      out.update(flax_to_torch(value, name + "."))
      continue
    a = np.asarray(value, np.float32)
    if key == "kernel":
      name = f"{prefix}weight"
    if key in ("kernel", "weight") and a.ndim == 2:
      a = a.T
    elif a.ndim == 4:
      a = a.transpose(3, 2, 0, 1)
    elif key == "const":
      a = a.transpose(2, 0, 1)
    out[name] = np.array(a, order="C")  # a writable copy (0-d stays 0-d)
  return out


def load_from_flax(module, params, state=None):
  """Copies gan_jax's ``params`` (and the ``w_avg`` collection ``state``, e.g.
  ``{"w_avg": {"mapping_network": {"w_avg": ...}}}``) into ``module`` (a ``Generator`` or
  ``Discriminator``); every parameter must be matched both ways. Synthesis layers get
  gan_jax's constant noise in ``noise_const``."""
  from gan_jax.models.stylegan2 import const_noise

  values = flax_to_torch(params)
  if state is not None and "w_avg" in state:
    values.update(flax_to_torch(state["w_avg"]))
  named = dict(module.named_parameters())
  buffers = dict(module.named_buffers())
  missing = set(named) - set(values)
  unknown = set(values) - set(named) - set(buffers)
  if missing or unknown:
    raise KeyError(f"missing in the Flax tree: {sorted(missing)}; not in torch: {sorted(unknown)}")
  with torch.no_grad():
    for name, value in values.items():
      target = named.get(name, buffers.get(name))
      if tuple(target.shape) != value.shape:
        raise ValueError(f"{name}: torch {tuple(target.shape)} vs Flax {value.shape}")
      target.copy_(torch.from_numpy(value))
    for m in module.modules():
      if isinstance(m, SynthesisLayer):
        m.noise_const.copy_(torch.from_numpy(const_noise(m.noise_index, m.resolution)))
  return module
