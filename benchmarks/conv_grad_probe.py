"""Weight gradients of DCGAN-64's discriminator convolutions (k4 s2 p1, batch 64) three
ways on this machine: XLA's own (``jax.vjp`` of the convolution), a matmul over im2col
patches from ``lax.conv_general_dilated_patches``, and a matmul over patches stacked from
16 strided slices. Prints each layer's relative difference to XLA and the median times
(ms) of two alternating rounds.

    python benchmarks/conv_grad_probe.py

On the 2-core development machine (2026-12-02, two training jobs beside it) XLA's own
weight gradients were the fastest on all four layers: 7 / 34 / 26 / 21 ms against 12 /
144 / 58 / 31 ms (patches) and 21 / 92 / 48 / 37 ms (slices) for the 3->64, 64->128,
128->256 and 256->512 layers; so gan_jax keeps XLA's convolution gradients.
"""

import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

DN = ("NHWC", "HWIO", "NHWC")
PAD = ((1, 1), (1, 1))


def conv(x, w):
  return lax.conv_general_dilated(x, w, (2, 2), PAD, dimension_numbers=DN)


def wgrad_xla(x, w, g):
  return jax.vjp(lambda w: conv(x, w), w)[1](g)[0]


def wgrad_patches(x, w, g):
  kh, kw, cin, cout = w.shape
  p = lax.conv_general_dilated_patches(x, (kh, kw), (2, 2), PAD, dimension_numbers=DN)
  gw = p.reshape(-1, p.shape[-1]).T @ g.reshape(-1, cout)  # patches are channel-major
  return gw.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)


def wgrad_slices(x, w, g):
  kh, kw, cin, cout = w.shape
  xp = jnp.pad(x, ((0, 0), *PAD, (0, 0)))
  ho, wo = x.shape[1] // 2, x.shape[2] // 2
  cols = [xp[:, i : i + 2 * ho : 2, j : j + 2 * wo : 2, :] for i in range(kh) for j in range(kw)]
  return jnp.einsum("nhwkc,nhwo->kco", jnp.stack(cols, axis=3), g).reshape(kh, kw, cin, cout)


def timed(f, *args, repeats=7) -> float:
  f = jax.jit(f)
  f(*args).block_until_ready()
  ts = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(*args).block_until_ready()
    ts.append(time.perf_counter() - t)
  return 1000 * statistics.median(ts)


def main():
  key = jax.random.key(0)
  ways = {"xla": wgrad_xla, "patches": wgrad_patches, "slices": wgrad_slices}
  for side, cin, cout in [(64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512)]:
    kx, kw, kg = jax.random.split(key, 3)
    x = jax.random.normal(kx, (64, side, side, cin))
    w = 0.02 * jax.random.normal(kw, (4, 4, cin, cout))
    g = jax.random.normal(kg, (64, side // 2, side // 2, cout))
    want = wgrad_xla(x, w, g)
    errs = {n: float(jnp.max(jnp.abs(f(x, w, g) - want)) / jnp.max(jnp.abs(want)))
            for n, f in ways.items()}  # fmt: skip
    times = {n: [] for n in ways}
    for _ in range(2):
      for n, f in ways.items():
        times[n].append(timed(f, x, w, g))
    cells = ", ".join(
      f"{n} {statistics.median(t):.1f} ms (rel. diff {errs[n]:.0e})" for n, t in times.items()
    )
    print(f"{cin:>3} -> {cout:<3} at {side:>2} px: {cells}", flush=True)


if __name__ == "__main__":
  main()
