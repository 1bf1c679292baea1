"""gan_jax against PyTorch eager, family by family, on this machine: one table.

    python benchmarks/compare.py                       # the families at their CPU sizes
    python benchmarks/compare.py --small --rounds 1    # tiny sizes (a smoke test)
    python benchmarks/compare.py --families=pix2pix256,cyclegan256 --rounds 3

For each family the two frameworks run alternately, ``--rounds`` times each, every run its
own process (``python -m gan_jax.benchmark`` and ``benchmarks/torch_reference.py`` on the
same experiment config and overrides), so a machine that slows down or speeds up mid-way
affects both; the table gives the median images/s of each, their ratio, gan_jax's
compile time, XLA's GFLOP per step, the fraction of the machine's float32 matmul peak
that gan_jax's step reaches (a 2048x2048 matmul timed in JAX first), and each process's
peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (experiment config, overrides; tiny config, overrides)
FAMILIES: dict[str, tuple[str, dict, str, dict]] = {
  "dcgan64": ("dcgan_celeba", {"data.batch_size": 64}, "dcgan_celeba", {"data.batch_size": 8}),
  "pix2pix256": ("pix2pix_facades", {}, "pix2pix_facades:tiny", {}),
  "cyclegan256": ("cyclegan_horse2zebra", {}, "cyclegan_horse2zebra:tiny", {}),
  "srgan_x4": ("srgan_x4", {}, "srgan_x4:tiny", {}),
  "srresnet_x4": ("srresnet_x4", {}, "srresnet_x4:tiny", {}),
  "biggan32": ("biggan_cifar10", {}, "biggan_cifar10", {"model.width": 8, "data.batch_size": 4}),
  # The CPU StyleGAN2 experiment (32 px, batch 16); on CPU both time a step with both lazy
  # regularisers (see torch_reference.stylegan2).
  "stylegan2_32": ("stylegan2_lfw", {}, "stylegan2_lfw:tiny", {}),
}


def last_json(text: str) -> dict | None:
  """The last line of ``text`` that is a JSON object (the result line of a benchmark)."""
  for line in reversed(text.strip().splitlines()):
    if line.startswith("{"):
      try:
        return json.loads(line)
      except ValueError:
        return None
  return None


def _run(cmd: list[str], timeout: int) -> dict:
  try:
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"error": f"over {timeout} s"}
  out = last_json(r.stdout)
  if r.returncode or out is None:
    tail = [ln for ln in (r.stderr or r.stdout).strip().splitlines() if ln.strip()]
    return {"error": (tail[-1] if tail else f"exit {r.returncode}")[:160]}
  return out


def jax_cmd(config: str, overrides: dict, steps: int, warmup: int) -> list[str]:
  path, _, arg = config.partition(":")
  return [
    sys.executable, "-m", "gan_jax.benchmark",
    f"--config=experiments/{path}.py" + (f":{arg}" if arg else ""),
    *[f"--config.{k}={v}" for k, v in overrides.items()],
    f"--steps={steps}", f"--warmup={warmup}",
  ]  # fmt: skip


def torch_cmd(config: str, overrides: dict, steps: int, warmup: int, threads: int) -> list[str]:
  path, _, arg = config.partition(":")
  return [
    sys.executable, os.path.join(ROOT, "benchmarks", "torch_reference.py"),
    f"--config=experiments/{path}.py", *(["--tiny"] if arg == "tiny" else []),
    *[a for k, v in overrides.items() for a in ("--set", f"{k}={v}")],
    "--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads),
  ]  # fmt: skip


def matmul_peak_gflops() -> float:
  """float32 GFLOP/s of a 2048x2048 matmul in JAX on this machine (median of 10)."""
  code = (
    "import jax, jax.numpy as jnp, time, statistics;"
    "a = jnp.ones((2048, 2048), jnp.float32); f = jax.jit(lambda x: x @ x);"
    "f(a).block_until_ready(); t = [];\n"
    "for _ in range(10):\n"
    "  s = time.perf_counter(); f(a).block_until_ready(); t.append(time.perf_counter() - s)\n"
    "print(2 * 2048**3 / statistics.median(t) / 1e9)"
  )
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  return float(r.stdout.strip().splitlines()[-1])


def _median(rows: list[dict], key: str) -> float | None:
  vals = [r[key] for r in rows if r.get(key) is not None and "error" not in r]
  return statistics.median(vals) if vals else None


def summarize(family: str, jax_runs: list[dict], torch_runs: list[dict], peak: float | None):
  j, t = _median(jax_runs, "images_per_sec"), _median(torch_runs, "images_per_sec")
  gflops = _median(jax_runs, "achieved_gflops")
  errors = [r["error"] for r in jax_runs + torch_runs if "error" in r]
  return {
    "family": family,
    "batch": (jax_runs[0].get("batch_size") if jax_runs else None),
    "gan_jax": j,
    "torch": t,
    "ratio": j / t if j and t else None,
    "compile_s": _median(jax_runs, "compile_s"),
    "gflop_per_step": _median(jax_runs, "gflop_per_step"),
    "peak_fraction": gflops / peak if gflops and peak else None,
    "jax_rss_mb": _median(jax_runs, "peak_rss_mb"),
    "torch_rss_mb": _median(torch_runs, "peak_rss_mb"),
    "error": errors[0] if errors else None,
  }


def _f(v, spec):
  return "-" if v is None else format(v, spec)


def _rate(v):
  """Images/s to 3 significant figures (0.0573, 1.51, 42.7, 572)."""
  return _f(v, ".0f" if v is not None and v >= 100 else ".3g")


def table(rows: list[dict], peak: float | None) -> str:
  out = [
    f"float32 matmul peak (2048x2048, JAX): {_f(peak, '.0f')} GFLOP/s",
    "",
    "| family | batch | gan_jax images/s | PyTorch eager images/s | ratio | compile s | "
    "GFLOP/step | of matmul peak | RSS MiB (jax / torch) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for r in rows:
    frac = None if r["peak_fraction"] is None else 100 * r["peak_fraction"]
    note = f" ({r['error']})" if r["error"] else ""
    out.append(
      f"| {r['family']}{note} | {_f(r['batch'], 'd')} | {_rate(r['gan_jax'])} | "
      f"{_rate(r['torch'])} | {_f(r['ratio'], '.2f')}x | {_f(r['compile_s'], '.1f')} | "
      f"{_f(r['gflop_per_step'], '.2f')} | {_f(frac, '.0f')}{'' if frac is None else ' %'} | "
      f"{_f(r['jax_rss_mb'], '.0f')} / {_f(r['torch_rss_mb'], '.0f')} |"
    )
  return "\n".join(out)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--families", default=",".join(FAMILIES))
  p.add_argument("--small", action="store_true", help="tiny sizes")
  p.add_argument("--rounds", type=int, default=2, help="alternating runs of each framework")
  p.add_argument("--steps", type=int, default=None, help="timed steps a run (10; 2 small)")
  p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="PyTorch threads")
  p.add_argument("--timeout_s", type=int, default=1200)
  a = p.parse_args(argv)
  unknown = set(a.families.split(",")) - set(FAMILIES)
  if unknown:
    p.error(f"unknown families {sorted(unknown)}; valid: {list(FAMILIES)}")
  steps, warmup = a.steps or (2 if a.small else 10), 1 if a.small else 2
  t0 = time.time()
  peak = matmul_peak_gflops()
  rows = []
  for family in a.families.split(","):
    config, over, small_config, small_over = FAMILIES[family]
    cfg, ov = (small_config, small_over) if a.small else (config, over)
    jax_runs, torch_runs = [], []
    for _ in range(a.rounds):
      jax_runs.append(_run(jax_cmd(cfg, ov, steps, warmup), a.timeout_s))
      torch_runs.append(_run(torch_cmd(cfg, ov, steps, warmup, a.threads), a.timeout_s))
      print(f"{family}: {jax_runs[-1]} | {torch_runs[-1]}", file=sys.stderr, flush=True)
    rows.append(summarize(family, jax_runs, torch_runs, peak))
  print(table(rows, peak))
  print(f"\n({time.time() - t0:.0f} s, {a.rounds} alternating rounds, {steps} timed steps a run)")
  return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
  sys.exit(main())
