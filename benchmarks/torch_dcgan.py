"""PyTorch eager reference for the DCGAN-64 step timed by ``gan_jax.benchmark``.

The model and update are those of the PyTorch DCGAN example (64x64x3, nz 100, ngf = ndf
= 64, BatchNorm, BCE loss, Adam 2e-4 / beta1 0.5): one discriminator update on a real and
a fake batch, then one generator update. Run it in its own environment:

    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0 numpy
    .venv-torch/bin/python benchmarks/torch_dcgan.py --batch 64 --threads 2

and compare with

    python -m gan_jax.benchmark --config=experiments/dcgan_digits.py \\
        --config.data.name=synthetic --config.data.resolution=64 --config.data.channels=3 \\
        --config.model.width=64 --config.model.z_dim=100 --config.data.batch_size=64
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def generator(nz=100, ngf=64, nc=3):
  return nn.Sequential(
    nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
    nn.BatchNorm2d(ngf * 8),
    nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ngf * 4),
    nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ngf * 2),
    nn.ReLU(True),
    nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ngf),
    nn.ReLU(True),
    nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
    nn.Tanh(),
  )


def discriminator(ndf=64, nc=3):
  return nn.Sequential(
    nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ndf * 2),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ndf * 4),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
    nn.BatchNorm2d(ndf * 8),
    nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
    nn.Sigmoid(),
  )


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when available)")
  args = p.parse_args()
  dev = torch.device(
    ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
  )
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  net_g, net_d = generator().to(dev), discriminator().to(dev)
  opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  bce = nn.BCELoss()
  real = torch.rand(args.batch, 3, 64, 64, device=dev) * 2 - 1
  ones, zeros = torch.ones(args.batch, device=dev), torch.zeros(args.batch, device=dev)
  sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

  def step():
    net_d.zero_grad()
    err_real = bce(net_d(real).view(-1), ones)
    err_real.backward()
    fake = net_g(torch.randn(args.batch, 100, 1, 1, device=dev))
    err_fake = bce(net_d(fake.detach()).view(-1), zeros)
    err_fake.backward()
    opt_d.step()
    net_g.zero_grad()
    err_g = bce(net_d(fake).view(-1), ones)
    err_g.backward()
    opt_g.step()

  for _ in range(args.warmup):
    step()
  sync()
  times = []
  for _ in range(args.steps):
    t = time.perf_counter()
    step()
    sync()
    times.append(time.perf_counter() - t)
  s = statistics.median(times)
  print(
    json.dumps(
      {
        "framework": f"torch {torch.__version__} eager",
        "threads": args.threads,
        "device": str(dev),
        "batch_size": args.batch,
        "step_ms": 1000 * s,
        "images_per_sec": args.batch / s,
      }
    )
  )


if __name__ == "__main__":
  main()
