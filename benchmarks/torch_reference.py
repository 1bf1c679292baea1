"""PyTorch eager reference of a gan_jax experiment's training step, at the same shapes.

    python benchmarks/torch_reference.py --config=experiments/pix2pix_facades.py [--tiny]
        [--set data.batch_size=4 ...] [--threads 2] [--steps 10] [--warmup 2]

The networks are the PyTorch rebuilds the tests check gan_jax's against, layer for layer
(``tests/test_translation_models.py``, ``tests/test_sr_models.py``,
``tests/torch_stylegan2.py``; DCGAN-64 is
``benchmarks/torch_dcgan.py``'s), sized from the same experiment config that
``python -m gan_jax.benchmark`` reads, and the update is the game's: both players'
losses, gradients and Adam steps. The last line printed is one JSON object
(``images_per_sec``, ``step_ms``, ``peak_rss_mb``, ...), the format of gan_jax.benchmark's.

Families: ``dcgan`` (at 64x64x3, width 64, z 100: the reference script's only shape),
``pix2pix`` (U-Net + PatchGAN, cGAN BCE + L1), ``cyclegan`` (two ResNet generators, two
PatchGANs, least squares + cycle + identity) and ``sr`` with the SRGAN discriminator
(MSRResNet or SRResNet G, pixel MSE + adversarial BCE) and ``biggan`` (``tests/
test_resnet_gan_torch.py``'s spectral-norm ResNets from gan_jax's BigGAN tables, hinge
loss, ``game.n_critic`` D steps, the EMA of G) and ``stylegan2`` (below).

``stylegan2``: ``tests/torch_stylegan2.py``'s networks (checked against gan_jax's,
outputs and first- and second-order gradients, by ``tests/test_stylegan2_torch.py``) sized
from ``config.model``, the images' channels and classes as gan_jax.benchmark's synthetic
batches have them; no augmentation (``augment.name`` must be ``none``). One timed step is
the game's iteration (``gan_jax/games/stylegan2.py``), phase by phase in its order:

1. ``g``: ws of ``batch`` fresh codes, style-mixed (a second code always mapped; its ws
   from a random cutoff on with probability ``game.style_mixing``), synthesis with random
   noise, D (its parameters frozen), ``softplus(-D(G(z)))``, G's Adam step;
2. ``g_pl`` (lazy): the path-length penalty on ``batch // game.pl_batch_shrink`` fresh,
   style-mixed ws (``torch.autograd.grad`` with ``create_graph``), ``pl_mean`` moved by
   ``game.pl_decay``, loss times ``pl_weight * pl_interval``, G's Adam step;
3. ``d``: G's synthesis of fresh style-mixed ws without gradients, ``softplus(D(fake)) +
   softplus(-D(real))``, D's Adam step;
4. ``d_r1`` (lazy): ``||grad_x D(real)||^2`` (second order), times ``r1_gamma / 2 *
   r1_interval``, D's Adam step;
5. the EMA of G's parameters (``optim.ema_kimg`` half-life with ``ema_rampup``).

Every mapping of a first code updates G's ``w_avg`` (not the mixing code's), as in
gan_jax. Which lazy phases a timed step runs follows ``--lazy``, matched to what
``gan_jax.benchmark`` times: on CPU gan_jax compiles a program per set of active lazy
phases and the benchmark calls step 0's program (both regularisers) every time, so
``auto`` means ``all`` there (with the configs' ``train.steps_per_call`` 1; with k steps a
call gan_jax's step is the mean over steps 0 to k - 1 of the schedule instead); on an
accelerator gan_jax decides with ``lax.cond`` on its advancing step counter and both
scripts report the median step, one without the regularisers when fewer than half the
steps run one (the configs' intervals 4 and 16), so ``auto`` means ``interval`` on CUDA
(the phases at multiples of their intervals, counting from the untimed first step). The
JSON line says which (``lazy``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "benchmarks")]
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the test modules import JAX; it stays idle

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from experiment_config import load_config  # noqa: E402,F401  (tests call it from here)

FAMILIES = ("dcgan", "pix2pix", "cyclegan", "sr", "biggan", "stylegan2")


def _adam(params, o):
  return torch.optim.Adam(params, lr=o.lr, betas=(o.b1, o.b2), eps=o.get("eps", 1e-8))


def dcgan(c, dev):
  import torch_dcgan

  if (c.data.resolution, c.model.width, c.model.z_dim) != (64, 64, 100):
    raise SystemExit("the PyTorch DCGAN reference is DCGAN-64 (resolution 64, width 64, z 100)")
  b = c.data.batch_size
  g, d = torch_dcgan.generator().to(dev), torch_dcgan.discriminator().to(dev)
  opt_g, opt_d = _adam(g.parameters(), c.optim.g), _adam(d.parameters(), c.optim.d)
  real = torch.rand(b, 3, 64, 64, device=dev) * 2 - 1
  bce = torch.nn.BCELoss()
  ones, zeros = torch.ones(b, device=dev), torch.zeros(b, device=dev)

  def step():
    fake = g(torch.randn(b, 100, 1, 1, device=dev))
    opt_d.zero_grad()
    (bce(d(real).view(-1), ones) + bce(d(fake.detach()).view(-1), zeros)).backward()
    opt_d.step()
    opt_g.zero_grad()
    bce(d(fake).view(-1), ones).backward()
    opt_g.step()

  return step, b


def pix2pix(c, dev):
  import test_translation_models as ref

  m, r, ch = c.model, c.data.resolution, c.data.get("channels", 3)
  from gan_jax.models import translation

  num_downs = m.get("num_downs", 0) or translation.unet_num_downs(r)
  width, norm = m.get("width", 64), m.get("norm", "batch")
  g = ref.TorchUnet(ch, ch, num_downs, m.get("g_width", width), norm, m.get("dropout", True))
  d = ref.TorchNLayerDiscriminator(2 * ch, m.get("d_width", width), m.get("n_layers", 3), norm)
  g, d = g.to(dev), d.to(dev)
  opt_g, opt_d = _adam(g.parameters(), c.optim.g), _adam(d.parameters(), c.optim.d)
  b = c.data.batch_size
  x = torch.rand(b, ch, r, r, device=dev) * 2 - 1
  y = torch.rand(b, ch, r, r, device=dev) * 2 - 1
  l1 = c.game.get("l1_weight", 100.0)

  def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

  def step():
    fake = g(x)
    opt_d.zero_grad()
    loss_d = 0.5 * (
      bce(d(torch.cat([x, y], 1)), 1.0) + bce(d(torch.cat([x, fake.detach()], 1)), 0.0)
    )
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    (bce(d(torch.cat([x, fake], 1)), 1.0) + l1 * F.l1_loss(fake, y)).backward()
    opt_g.step()

  return step, b


def cyclegan(c, dev):
  import test_translation_models as ref

  m, r, ch = c.model, c.data.resolution, c.data.get("channels", 3)
  width, norm = m.get("width", 64), m.get("norm", "instance")
  gs = [
    ref.TorchResnetGenerator(ch, ch, m.get("g_width", width), norm, False, m.get("n_blocks", 9),
                             "reflect").to(dev)
    for _ in range(2)
  ]  # fmt: skip
  ds = [
    ref.TorchNLayerDiscriminator(ch, m.get("d_width", width), m.get("n_layers", 3), norm).to(dev)
    for _ in range(2)
  ]
  opt_g = _adam([p for g in gs for p in g.parameters()], c.optim.g)
  opt_d = _adam([p for d in ds for p in d.parameters()], c.optim.d)
  b = c.data.batch_size
  a = torch.rand(b, ch, r, r, device=dev) * 2 - 1
  bb = torch.rand(b, ch, r, r, device=dev) * 2 - 1
  lam, idt = c.game.get("cycle_weight", 10.0), c.game.get("identity_weight", 0.5)
  g_ab, g_ba = gs
  d_a, d_b = ds

  def mse(logits, target):
    return F.mse_loss(logits, torch.full_like(logits, target))

  def step():
    fake_b, fake_a = g_ab(a), g_ba(bb)
    loss = mse(d_b(fake_b), 1.0) + mse(d_a(fake_a), 1.0)
    loss = loss + lam * (F.l1_loss(g_ba(fake_b), a) + F.l1_loss(g_ab(fake_a), bb))
    if idt > 0:
      loss = loss + lam * idt * (F.l1_loss(g_ab(bb), bb) + F.l1_loss(g_ba(a), a))
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    opt_d.zero_grad()
    loss_d = 0.5 * (mse(d_a(a), 1.0) + mse(d_a(fake_a.detach()), 0.0))
    loss_d = loss_d + 0.5 * (mse(d_b(bb), 1.0) + mse(d_b(fake_b.detach()), 0.0))
    loss_d.backward()
    opt_d.step()

  return step, b


def sr(c, dev):
  import test_sr_models as ref

  from gan_jax.models import sr as jsr

  m, r = c.model, c.data.resolution
  scale, width, blocks = m.get("scale", 4), m.get("width", 64), m.get("n_blocks", 16)
  arch = m.get("g_arch", "srresnet")
  if arch == "msrresnet":
    g = ref.MSRResNet(scale, width, blocks)
  elif arch == "srresnet":
    g = ref.SRResNet(scale, width, blocks, m.get("norm", "batch"))
  else:
    raise SystemExit(f"g_arch {arch!r}: the PyTorch reference here has srresnet and msrresnet")
  fields = jsr.SRGANDiscriminator.__dataclass_fields__
  d = None
  if m.get("d_arch", "none") == "srgan":
    d = ref.SRGANDiscriminator(
      m.get("d_width", 0) or width, m.get("d_norm", "batch"), fields["pool"].default,
      fields["hidden"].default, (r, r),
    ).to(dev)  # fmt: skip
  elif m.get("d_arch", "none") != "none":
    raise SystemExit("the PyTorch reference here has the SRGAN discriminator only")
  if c.game.get("perceptual_weight", 0.0) > 0:
    raise SystemExit("the PyTorch reference here has no VGG perceptual loss")
  g = g.to(dev)
  opt_g = _adam(g.parameters(), c.optim.g)
  opt_d = _adam(d.parameters(), c.optim.d) if d is not None else None
  b = c.data.batch_size
  hr = torch.rand(b, 3, r, r, device=dev) * 2 - 1
  lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True)
  adv, pix = c.game.get("adv_weight", 1e-3), c.game.get("pixel_weight", 1.0)

  def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

  def step():
    out = g(lr)
    if d is not None:
      opt_d.zero_grad()
      (bce(d(hr), 1.0) + bce(d(out.detach()), 0.0)).backward()
      opt_d.step()
    opt_g.zero_grad()
    loss = pix * F.mse_loss(out, hr)
    if d is not None:
      loss = loss + adv * bce(d(out), 1.0)
    loss.backward()
    opt_g.step()

  return step, b


def biggan(c, dev):
  import test_resnet_gan_torch as ref

  from gan_jax import benchmark, data
  from gan_jax.models import resnet_gan

  m, r = c.model, c.data.resolution
  if c.data.name in benchmark.NUM_CLASSES:  # gan_jax.benchmark's shapes, without opening
    # the TFDS dataset (TensorFlow segfaults in a process that has imported torch)
    channels, classes = 3, c.data.num_classes or benchmark.NUM_CLASSES[c.data.name]
    channels = benchmark.GRAYSCALE.get(c.data.name, channels)
  else:
    spec = data.build_source(c.data, 0).spec
    channels, classes = spec.sample_shape[-1], spec.num_classes
  if channels != 3:
    raise SystemExit("the PyTorch BigGAN reference makes 3-channel images")
  ncls = classes if m.get("conditional", False) else 0
  width = m.get("width", 64)
  g_arch, d_arch = resnet_gan.biggan_arch(
    r, m.get("g_width", width), m.get("d_width", width), m.get("attention", 0)
  )
  if m.get("hier", False):
    norm = "linear"
  elif ncls and m.get("cond", "shared") == "onehot":
    norm = "categorical"
  elif not ncls:
    norm = "plain"
  else:
    raise SystemExit("the PyTorch BigGAN reference: hierarchical z, or per-class BN tables")
  attention = tuple(
    i for i in range(len(g_arch.out_ch)) if g_arch.resolution(i) in g_arch.attention
  )
  g = ref.TorchGenerator(
    m.z_dim, (g_arch.in_ch[0], *g_arch.out_ch), norm, ncls, True, m.get("shared_dim", 0),
    attention, g_arch.bottom,
  ).to(dev)  # fmt: skip
  d = ref.TorchDiscriminator(
    (3, *d_arch.out_ch), d_arch.downsample, m.get("d_wide", True), ncls, d_arch.attention_after
  ).to(dev)
  ema = [p.detach().clone() for p in g.parameters()]
  decay = c.optim.get("ema_decay", 0.0)
  opt_g, opt_d = _adam(g.parameters(), c.optim.g), _adam(d.parameters(), c.optim.d)
  b, n_critic = c.data.batch_size, c.game.get("n_critic", 1)
  reals = [torch.rand(b, 3, r, r, device=dev) * 2 - 1 for _ in range(n_critic)]
  y = torch.randint(0, max(ncls, 1), (b,), device=dev)

  def step():
    for real in reals:  # n_critic D updates, each on its own batch
      fake = g(torch.randn(b, m.z_dim, device=dev), y).detach()
      opt_d.zero_grad()
      (F.relu(1 - d(real, y)).mean() + F.relu(1 + d(fake, y)).mean()).backward()
      opt_d.step()
    opt_g.zero_grad()
    (-d(g(torch.randn(b, m.z_dim, device=dev), y), y).mean()).backward()
    opt_g.step()
    if decay:
      with torch.no_grad():
        torch._foreach_lerp_(ema, [p.detach() for p in g.parameters()], 1 - decay)

  return step, b


def _image_spec(c) -> tuple[int, int]:
  """``(channels, classes)`` of the images gan_jax.benchmark trains on for ``c``: a TFDS
  dataset's from its name (TensorFlow segfaults in a process that has imported torch), any
  other dataset's from its source, or, when it cannot be read here, the defaults that
  ``gan_jax.benchmark`` gives its synthetic batches."""
  from gan_jax import benchmark, data

  name, classes = c.data.name, c.data.get("num_classes", 0)
  if name in benchmark.NUM_CLASSES:
    return benchmark.GRAYSCALE.get(name, 3), classes or benchmark.NUM_CLASSES[name]
  try:
    source = data.build_source(c.data, c.seed)
  except Exception:  # noqa: BLE001 (not prepared here, e.g. an empty data.folder)
    return benchmark.GRAYSCALE.get(name, 3), classes or benchmark.NUM_CLASSES.get(name, 0)
  spec = source.spec
  source.close()
  return spec.sample_shape[-1], spec.num_classes


def _ema_decay_fn(c):
  """G's EMA decay by step, as gan_jax's ``build.make_step_config``: the half-life of
  ``optim.ema_kimg`` thousand images (at most ``ema_rampup`` x the images seen), else
  ``optim.ema_decay`` from ``optim.ema_start``."""
  o, b = c.optim, c.data.batch_size
  if o.get("ema_kimg", 0):
    rampup = o.get("ema_rampup", 0.0)

    def half_life(step):
      half = o.ema_kimg * 1000.0
      return min(half, step * b * rampup) if rampup else half

    return lambda step: 0.5 ** (b / max(half_life(step), 1e-8))
  decay, start = o.get("ema_decay", 0.0), o.get("ema_start", 0)
  return lambda step: 0.0 if step < start else decay


def stylegan2(c, dev, lazy="auto"):
  import torch_stylegan2 as ref

  m, gc = c.model, c.game
  if c.get("augment", {}).get("name", "none") != "none":
    raise SystemExit(
      "the PyTorch StyleGAN2 reference has no augmentation: --set augment.name=none (and "
      "--config.augment.name=none for gan_jax.benchmark)"
    )
  if lazy == "auto":
    lazy = "interval" if dev.type == "cuda" else "all"
  channels, classes = _image_spec(c)
  ncls = classes if m.get("conditional", False) else 0
  r, b = c.data.resolution, c.data.batch_size
  base, cmax = m.get("channel_base", 32768), m.get("channel_max", 512)
  lr_mul = m.get("lr_mul", 0.01)
  noise = m.get("noise_mode", "auto")
  g = ref.Generator(
    m.z_dim, m.get("w_dim", 512), r, channels, ncls, m.get("map_layers", 8), lr_mul,
    m.get("w_avg_beta", 0.995), base, cmax, "random" if noise == "auto" else noise,
    m.get("fused_modconv", True),
  ).to(dev)  # fmt: skip
  d = ref.Discriminator(
    r, channels, ncls, base, cmax, m.get("mbstd_group", 4), m.get("mbstd_channels", 1),
    m.get("cmap_dim", 0), m.get("d_map_layers", 8), lr_mul,
  ).to(dev)  # fmt: skip
  g.train(), d.train()
  opt_g, opt_d = _adam(g.parameters(), c.optim.g), _adam(d.parameters(), c.optim.d)
  ema = [p.detach().clone() for p in g.parameters()]
  ema_decay = _ema_decay_fn(c)
  gamma, r1_every = gc.get("r1_gamma", 10.0), gc.get("r1_interval", 16)
  pl_weight, pl_every = gc.get("pl_weight", 2.0), gc.get("pl_interval", 4)
  pl_shrink, pl_decay = gc.get("pl_batch_shrink", 2), gc.get("pl_decay", 0.01)
  mixing, z_dim, num_ws = gc.get("style_mixing", 0.9), m.z_dim, g.num_ws
  real = torch.rand(b, channels, r, r, device=dev) * 2 - 1
  labels = torch.randint(0, ncls, (b,), device=dev) if ncls else None
  pl_mean = torch.zeros([], device=dev)
  i = 0  # steps run

  def mapped(n, y):
    """ws of fresh codes; with probability ``mixing`` the ws from a random cutoff on come
    from a second code (both codes always mapped, as gan_jax's ``where``)."""
    z = torch.randn(n, z_dim, device=dev)
    ws = g.mapping(z, y)
    if mixing > 0:
      ws2 = g.mapping(torch.randn(n, z_dim, device=dev), y, update_w_avg=False)
      cutoff = torch.randint(1, num_ws, (), device=dev)
      cutoff = torch.where(torch.rand([], device=dev) < mixing, cutoff, num_ws)
      ws = torch.where(torch.arange(num_ws, device=dev)[None, :, None] < cutoff, ws, ws2)
    return ws

  def update(opt, loss):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

  def step():
    nonlocal pl_mean, i
    due = {  # "all": every lazy phase at every step (gan_jax.benchmark's step 0 on CPU)
      "pl": pl_weight > 0 and (lazy == "all" or i % pl_every == 0),
      "r1": gamma > 0 and (lazy == "all" or i % r1_every == 0),
    }
    g.requires_grad_(True), d.requires_grad_(False)
    update(opt_g, F.softplus(-d(g.synthesis(mapped(b, labels)), labels)).mean())
    if due["pl"]:
      n = max(b // pl_shrink, 1)
      y = labels[:n] if labels is not None else None
      ws = mapped(n, y)
      direction = torch.randn(n, channels, r, r, device=dev) / r
      penalty, pl_mean = ref.path_length_penalty(g, ws, direction, pl_mean, pl_decay)
      update(opt_g, penalty * pl_weight * pl_every)
    g.requires_grad_(False), d.requires_grad_(True)
    with torch.no_grad():
      fake = g.synthesis(mapped(b, labels))
    update(opt_d, F.softplus(d(fake, labels)).mean() + F.softplus(-d(real, labels)).mean())
    if due["r1"]:
      update(opt_d, ref.r1_penalty(d, real, labels) * (gamma / 2) * r1_every)
    with torch.no_grad():
      torch._foreach_lerp_(ema, [p.detach() for p in g.parameters()], 1 - ema_decay(i))
    i += 1

  step.info = {"lazy": lazy}  # in the JSON line
  step.networks = {"g": g, "d": d, "g_ema": ema}
  return step, b


def family_of(c) -> str:
  name = c.model.name
  if name in FAMILIES:
    return name
  raise SystemExit(f"model {name!r}: no PyTorch reference here (families: {list(FAMILIES)})")


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True, help="experiments/X.py")
  p.add_argument("--tiny", action="store_true", help="the config's tiny sizes")
  p.add_argument("--set", action="append", default=[], help="key=value, e.g. data.batch_size=8")
  p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--device", default="auto", help="cpu, cuda or auto")
  p.add_argument(
    "--lazy", choices=("auto", "all", "interval"), default="auto",
    help="stylegan2's lazy regularisers: in every step (all), at multiples of their "
    "intervals (interval), or as gan_jax.benchmark runs them on the device (auto: all on "
    "CPU, interval on CUDA)",
  )  # fmt: skip
  a = p.parse_args(argv)
  dev = torch.device(
    ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
  )
  torch.set_num_threads(a.threads)
  torch.manual_seed(0)
  c = load_config(a.config, a.tiny, a.set)
  family = family_of(c)
  kwargs = {"lazy": a.lazy} if family == "stylegan2" else {}
  step, batch = globals()[family](c, dev, **kwargs)
  sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
  t0 = time.perf_counter()
  step()
  sync()
  first = time.perf_counter() - t0
  for _ in range(a.warmup):
    step()
  sync()
  times = []
  for _ in range(a.steps):
    t = time.perf_counter()
    step()
    sync()
    times.append(time.perf_counter() - t)
  s = statistics.median(times)
  print(json.dumps({
    "framework": f"torch {torch.__version__} eager",
    "family": family,
    "device": str(dev),
    "threads": a.threads,
    "batch_size": batch,
    "step_ms": 1000 * s,
    "images_per_sec": batch / s,
    "first_step_s": first,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    **getattr(step, "info", {}),
  }))  # fmt: skip


if __name__ == "__main__":
  main()
