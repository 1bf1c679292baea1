"""PyTorch eager reference of a gan_jax experiment's training step, at the same shapes.

    python benchmarks/torch_reference.py --config=experiments/pix2pix_facades.py [--tiny]
        [--set data.batch_size=4 ...] [--threads 2] [--steps 10] [--warmup 2]

The networks are the PyTorch rebuilds the tests check gan_jax's against, layer for layer
(``tests/test_translation_models.py``, ``tests/test_sr_models.py``; DCGAN-64 is
``benchmarks/torch_dcgan.py``'s), sized from the same experiment config that
``python -m gan_jax.benchmark`` reads, and the update is the game's: both players'
losses, gradients and Adam steps. The last line printed is one JSON object
(``images_per_sec``, ``step_ms``, ``peak_rss_mb``, ...), the format of gan_jax.benchmark's.

Families: ``dcgan`` (at 64x64x3, width 64, z 100: the reference script's only shape),
``pix2pix`` (U-Net + PatchGAN, cGAN BCE + L1), ``cyclegan`` (two ResNet generators, two
PatchGANs, least squares + cycle + identity) and ``sr`` with the SRGAN discriminator
(MSRResNet or SRResNet G, pixel MSE + adversarial BCE) and ``biggan`` (``tests/
test_resnet_gan_torch.py``'s spectral-norm ResNets from gan_jax's BigGAN tables, hinge
loss, ``game.n_critic`` D steps, the EMA of G). No PyTorch rebuild exists here for
StyleGAN2's training step.
"""

from __future__ import annotations

import argparse
import importlib
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

FAMILIES = ("dcgan", "pix2pix", "cyclegan", "sr", "biggan")


def load_config(path: str, tiny: bool, sets: list[str]):
  """The experiment config (``get_config("tiny")`` with ``tiny``) with ``key=value`` sets."""
  import ast

  module = importlib.import_module("experiments." + os.path.splitext(os.path.basename(path))[0])
  c = module.get_config("tiny" if tiny else None)
  for item in sets:
    key, _, raw = item.partition("=")
    *parents, last = key.split(".")
    node = c
    for p in parents:
      node = node[p]
    try:
      node[last] = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      node[last] = raw
  return c


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


def family_of(c) -> str:
  name = c.model.name
  if name in ("dcgan", "pix2pix", "cyclegan", "sr", "biggan"):
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
  a = p.parse_args(argv)
  dev = torch.device(
    ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
  )
  torch.set_num_threads(a.threads)
  torch.manual_seed(0)
  c = load_config(a.config, a.tiny, a.set)
  step, batch = globals()[family_of(c)](c, dev)
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
    "family": family_of(c),
    "device": str(dev),
    "threads": a.threads,
    "batch_size": batch,
    "step_ms": 1000 * s,
    "images_per_sec": batch / s,
    "first_step_s": first,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }))  # fmt: skip


if __name__ == "__main__":
  main()
