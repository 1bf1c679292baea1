"""The zoo's convolution shapes on this CPU, with and without XLA's YNNPACK convolutions.

    python benchmarks/cpu_conv_probe.py [--repeats 5]

Each layer below (the shapes that dominate DCGAN-64, pix2pix-256, CycleGAN-256 and SRGAN's
discriminator) is timed three ways, forward, weight gradient and input gradient, in two
processes: one with XLA's default CPU convolutions (YNNPACK kernels in jaxlib 0.10, as
``GAN_JAX_YNN_CONV=1`` leaves them) and one with the flag gan_jax sets on import
(``gan_jax.CPU_CONV_FLAG``: XLA's own convolutions). Prints GFLOP/s per piece and the
speed-up, and the 2048x2048 float32 matmul rate for scale.

On the 2-core AMD EPYC development machine (2026-12-02, nothing else running), XLA's own
convolutions were as fast or faster on every piece but two (the 7x7 stem's input gradient,
16 against 13 GFLOP/s, and pix2pix's 4x4 stride-2 weight gradient, 40 against 36), up to
15x on weight gradients at batch 8; README's Performance section has the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# (name, batch, input side, in channels, out channels, kernel, stride, kind): kind False is a
# zero-padded convolution, "reflect" reflection padding then an unpadded one (CycleGAN's),
# True gan_jax's conv_transpose, "lax" lax.conv_transpose)
LAYERS = [
  ("CycleGAN res block 3x3 256->256 @64 b1, reflect", 1, 64, 256, 256, 3, 1, "reflect"),
  ("CycleGAN stem 7x7 3->64 @256 b1, reflect", 1, 256, 3, 64, 7, 1, "reflect"),
  ("CycleGAN up 3x3/2 T 256->128 @64 b1", 1, 64, 256, 128, 3, 2, True),
  ("pix2pix down 4x4/2 128->256 @64 b1", 1, 64, 128, 256, 4, 2, False),
  ("pix2pix up 4x4/2 T 256->64 @64 b1", 1, 64, 256, 64, 4, 2, True),
  ("pix2pix up 4x4/2 T 256->64 @64 b1, lax", 1, 64, 256, 64, 4, 2, "lax"),
  ("CycleGAN up 3x3/2 T 256->128 @64 b1, lax", 1, 64, 256, 128, 3, 2, "lax"),
  ("DCGAN D 4x4/2 64->128 @32 b64", 64, 32, 64, 128, 4, 2, False),
  ("DCGAN D 4x4/2 128->256 @16 b64", 64, 16, 128, 256, 4, 2, False),
  ("DCGAN G 4x4/2 T 256->128 @8 b64", 64, 8, 256, 128, 4, 2, True),
  ("DCGAN G 4x4/2 T 256->128 @8 b64, lax", 64, 8, 256, 128, 4, 2, "lax"),
  ("SRGAN D 3x3/2 64->64 @96 b16", 16, 96, 64, 64, 3, 2, False),
  ("res block 3x3 256->256 @64 b8, reflect", 8, 64, 256, 256, 3, 1, "reflect"),
  ("res block 3x3 256->256 @64 b8, zero", 8, 64, 256, 256, 3, 1, False),
]


def _child(repeats: int) -> None:
  import statistics
  import time

  import jax
  import jax.numpy as jnp
  from jax import lax

  import gan_jax  # noqa: F401  (sets or, with GAN_JAX_YNN_CONV=1, skips the flag)
  from gan_jax.models.layers import conv_transpose

  def timed(f, *args) -> float:
    f = jax.jit(f)
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(repeats):
      t = time.perf_counter()
      jax.block_until_ready(f(*args))
      ts.append(time.perf_counter() - t)
    return statistics.median(ts)

  def lax_transpose(x, w, strides, pad):
    return lax.conv_transpose(x, w, strides, pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))

  key = jax.random.key(0)
  a = jnp.ones((2048, 2048))
  out = {"matmul": 2 * 2048**3 / timed(lambda a: a @ a, a) / 1e9}
  for name, n, side, cin, cout, k, s, kind in LAYERS:
    kx, kw = jax.random.split(key)
    x = jax.random.normal(kx, (n, side, side, cin))
    w = 0.02 * jax.random.normal(kw, (k, k, cin, cout))
    if kind in (True, "lax"):
      pad = ((k - 1 - (k - 1) // 2, k - 1 - (k - 1) // 2 + s - 1),) * 2

      def f(x, w, pad=pad, s=s, fn=lax_transpose if kind == "lax" else conv_transpose):
        return fn(x, w, (s, s), pad)
    else:
      p = (k - 1) // 2
      reflect = kind == "reflect"

      def f(x, w, p=p, s=s, reflect=reflect):
        dn = ("NHWC", "HWIO", "NHWC")
        if reflect:
          x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        pad = ((0, 0),) * 2 if reflect else ((p, p),) * 2
        return lax.conv_general_dilated(x, w, (s, s), pad, dimension_numbers=dn)

    y = f(x, w)
    g = jnp.ones_like(y)
    flop = 2 * y.shape[0] * y.shape[1] * y.shape[2] * cout * k * k * cin
    if kind in (True, "lax"):
      flop = 2 * n * side * side * cin * k * k * cout
    times = {
      "fwd": timed(f, x, w),
      "wgrad": timed(lambda x, w, g: jax.vjp(lambda w: f(x, w), w)[1](g)[0], x, w, g),
      "igrad": timed(lambda x, w, g: jax.vjp(lambda x: f(x, w), x)[1](g)[0], x, w, g),
    }
    out[name] = {d: flop / t / 1e9 for d, t in times.items()}
    print(f"  {name}: " + ", ".join(f"{d} {v:.0f}" for d, v in out[name].items()),
          file=sys.stderr, flush=True)  # fmt: skip
  print(json.dumps(out))


def _run(ynn: bool, repeats: int) -> dict:
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  env["GAN_JAX_YNN_CONV"] = "1" if ynn else "0"
  cmd = [sys.executable, os.path.abspath(__file__), "--child", "--repeats", str(repeats)]
  r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
  return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  a = p.parse_args(argv)
  if a.child:
    _child(a.repeats)
    return 0
  ynn, xla = _run(True, a.repeats), _run(False, a.repeats)
  print(f"2048x2048 float32 matmul: {xla['matmul']:.0f} GFLOP/s ({ynn['matmul']:.0f} with YNN)")
  print("| layer | forward GFLOP/s (YNN / XLA) | weight grad | input grad |")
  print("| --- | --- | --- | --- |")
  for name, *_ in LAYERS:
    cells = [
      f"{ynn[name][d]:.0f} / {xla[name][d]:.0f} ({xla[name][d] / ynn[name][d]:.1f}x)"
      for d in ("fwd", "wgrad", "igrad")
    ]
    print(f"| {name} | " + " | ".join(cells) + " |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
