"""The zoo's strided convolutions: XLA's own gradients against gan_jax's ``layers.conv``.

    python benchmarks/strided_conv_probe.py [--repeats 5] [--only pix2pix]

For each stride-2 layer of the pix2pix U-Net and PatchGAN, DCGAN-64's discriminator,
SRGAN's discriminator and CycleGAN's encoder, at the configs' batch sizes, times the
weight gradient and the input gradient two ways in one process (with the XLA CPU flag
that ``import gan_jax`` sets): ``jax.vjp`` of ``lax.conv_general_dilated`` (XLA's
"backprop" convolutions) and of ``gan_jax.models.layers.conv`` (the adjoint transposed
convolution: per-phase stride-1 convolutions for the input gradient, one matrix product
for the kernel gradient where the output map is large). Prints GFLOP/s per piece.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

# (name, batch, input side, in channels, out channels, kernel): stride 2, padding 1
LAYERS = [
  ("pix2pix D 4x4/2 6->64 @256 b1", 1, 256, 6, 64, 4),
  ("pix2pix 4x4/2 64->128 @128 b1", 1, 128, 64, 128, 4),
  ("pix2pix 4x4/2 128->256 @64 b1", 1, 64, 128, 256, 4),
  ("pix2pix 4x4/2 256->512 @32 b1", 1, 32, 256, 512, 4),
  ("pix2pix 4x4/2 512->512 @16 b1", 1, 16, 512, 512, 4),
  ("DCGAN D 4x4/2 3->64 @64 b64", 64, 64, 3, 64, 4),
  ("DCGAN D 4x4/2 64->128 @32 b64", 64, 32, 64, 128, 4),
  ("DCGAN D 4x4/2 128->256 @16 b64", 64, 16, 128, 256, 4),
  ("DCGAN D 4x4/2 256->512 @8 b64", 64, 8, 256, 512, 4),
  ("SRGAN D 3x3/2 64->64 @96 b16", 16, 96, 64, 64, 3),
  ("SRGAN D 3x3/2 128->128 @48 b16", 16, 48, 128, 128, 3),
  ("SRGAN D 3x3/2 256->256 @24 b16", 16, 24, 256, 256, 3),
  ("CycleGAN 3x3/2 64->128 @256 b1", 1, 256, 64, 128, 3),
  ("CycleGAN 3x3/2 128->256 @128 b1", 1, 128, 128, 256, 3),
]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--only", default="", help="layers whose name contains this")
  a = p.parse_args(argv)

  import jax
  import jax.numpy as jnp
  from jax import lax

  import gan_jax  # noqa: F401  (the XLA CPU flag, read when JAX starts its backend)
  from gan_jax.models.layers import conv

  def timed(f, *args) -> float:
    f = jax.jit(f)
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(a.repeats):
      t = time.perf_counter()
      jax.block_until_ready(f(*args))
      ts.append(time.perf_counter() - t)
    return statistics.median(ts)

  pad = ((1, 1), (1, 1))

  def xla(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def ours(x, w):
    return conv(x, w, (2, 2), pad)

  print("| layer | weight grad GFLOP/s (XLA / gan_jax) | input grad |")
  print("| --- | --- | --- |")
  kx, kw = jax.random.split(jax.random.key(0))
  for name, n, side, cin, cout, k in LAYERS:
    if a.only not in name:
      continue
    x = jax.random.normal(kx, (n, side, side, cin))
    w = 0.02 * jax.random.normal(kw, (k, k, cin, cout))
    g = jnp.ones_like(xla(x, w))
    flop = 2 * g.size * cin * k * k
    cells = []
    for wrt in (1, 0):  # weight gradient, then input gradient
      rates = []
      for f in (xla, ours):

        def grad(x, w, g, f=f, wrt=wrt):
          return jax.vjp(f, x, w)[1](g)[wrt]

        rates.append(flop / timed(grad, x, w, g) / 1e9)
      cells.append(f"{rates[0]:.0f} / {rates[1]:.0f} ({rates[1] / rates[0]:.1f}x)")
    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
