"""Every family's training step on this machine's accelerator (or CPU), in one table.

    python benchmarks/device_check.py                  # realistic sizes (a GPU or TPU)
    python benchmarks/device_check.py --small          # tiny sizes (CPU, CI)
    python benchmarks/device_check.py --small --scaling   # + 8 fake CPU devices against 1

Each row is one ``python -m gan_jax.benchmark`` process (synthetic batches of the
config's shapes, its own compile), so a family that fails or runs out of memory is one
row that says so. Columns: images/s, step time, MFU (XLA's FLOP count of the step over
the device's dense peak for the compute dtype, where gan_jax.benchmark knows the device),
compile seconds, peak device memory, and PyTorch eager's images/s at the same shapes for
every family (``benchmarks/torch_reference.py`` on the same config) when torch is
importable (realistic sizes only; StyleGAN2's lazy regularisers at their intervals on
both sides, so that the median step is one without them). ``--budget_s``
stops starting new rows once spent (a lent accelerator's minutes are few).

Realistic sizes: DCGAN-64 batch 128, BigGAN-128 (width 96, 1,000 classes) batch 256,
StyleGAN2-256 batch 32, CycleGAN-256 batch 1 and 8, SRGAN x4 on 96-px crops batch 16,
pix2pix-256 batch 1; each in float32 and bfloat16 (StyleGAN2 runs in float32 only).

``--scaling`` (CPU): the DCGAN and BigGAN steps on 8 fake CPU devices at 8x the batch,
against 1 device at the same 8x batch: the difference is what the data-parallel
partitioning and its collectives cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from compare import last_json, torch_cmd  # noqa: E402

BIGGAN_128 = {
  "data.resolution": 128, "data.batch_size": 256, "data.num_classes": 1000,
  "model.width": 96, "model.g_width": 96, "model.d_width": 96, "model.z_dim": 120,
  "model.shared_dim": 128, "model.hier": True, "model.cond": "shared", "model.attention": 64,
}  # fmt: skip

# name -> (config, overrides at realistic size, config and overrides at small size)
FAMILIES: dict[str, tuple[str, dict, str, dict]] = {
  "dcgan64": ("dcgan_celeba", {"data.batch_size": 128}, "dcgan_digits:tiny", {}),
  "biggan128": ("biggan_cifar10", BIGGAN_128, "biggan_digits:tiny", {}),
  "stylegan2_256": ("stylegan2_ffhq", {"data.batch_size": 32}, "stylegan2_lfw:tiny", {}),
  "cyclegan256_b1": ("cyclegan_horse2zebra", {}, "cyclegan_digits:tiny", {}),
  "cyclegan256_b8": ("cyclegan_horse2zebra", {"data.batch_size": 8}, "cyclegan_digits:tiny",
                     {"data.batch_size": 4}),
  "srgan_x4_96": ("srgan_x4", {"data.resolution": 96, "data.batch_size": 16,
                               "model.width": 64}, "srgan_x4:tiny", {}),
  "pix2pix256": ("pix2pix_facades", {}, "pix2pix_facades:tiny", {}),
}  # fmt: skip
FLOAT32_ONLY = ("stylegan2_256",)
NO_TORCH_REFERENCE: tuple[str, ...] = ()  # families without a PyTorch rebuild of the step


def _flags(overrides: dict) -> list[str]:
  return [f"--config.{k}={v}" for k, v in overrides.items()]


def _problem(text: str) -> str:
  lines = [ln for ln in text.strip().splitlines() if ln.strip()]
  for ln in reversed(lines):
    if "Error" in ln or "error" in ln:
      return ln.strip()[:160]
  return (lines[-1].strip() if lines else "no output")[:160]


def bench(config: str, overrides: dict, dtype: str, steps: int, warmup: int, timeout: int,
          env: dict | None = None) -> dict:  # fmt: skip
  """One ``gan_jax.benchmark`` process; its JSON result, or ``{"error": ...}``."""
  path, _, arg = config.partition(":")
  cmd = [
    sys.executable, "-m", "gan_jax.benchmark", f"--config=experiments/{path}.py" +
    (f":{arg}" if arg else ""), *_flags({**overrides, "model.dtype": dtype}),
    f"--steps={steps}", f"--warmup={warmup}",
  ]  # fmt: skip
  try:
    r = subprocess.run(
      cmd, cwd=ROOT, env=env or os.environ.copy(), capture_output=True, text=True,
      timeout=timeout,
    )  # fmt: skip
  except subprocess.TimeoutExpired:
    return {"error": f"over {timeout} s"}
  out = last_json(r.stdout)
  if r.returncode or out is None:
    return {"error": _problem(r.stderr or r.stdout)}
  return out


def torch_images_per_sec(family: str, config: str, overrides: dict, steps: int) -> float | None:
  """PyTorch eager at the same config and shapes (``benchmarks/torch_reference.py``, CUDA
  when available), or None without torch or without a PyTorch rebuild of the family."""
  if family in NO_TORCH_REFERENCE:
    return None
  try:
    import torch  # noqa: F401
  except ImportError:
    return None
  cmd = torch_cmd(config, overrides, steps, 2, os.cpu_count() or 1)
  r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
  out = last_json(r.stdout)
  return out.get("images_per_sec") if out else None


def _fmt(v, spec: str) -> str:
  return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
  head = ("| family | dtype | images/s | step ms | MFU | compile s | peak MiB | torch eager "
          "images/s | device |")  # fmt: skip
  out = [head, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    res = r["result"]
    if "error" in res:
      what = "skipped" if res["error"] == "budget spent" else "failed"
      out.append(f"| {r['family']} | {r['dtype']} | {what}: {res['error']} | | | | | | |")
      continue
    mfu = None if res.get("mfu") is None else 100 * res["mfu"]
    out.append(
      f"| {r['family']} | {r['dtype']} | {_fmt(res['images_per_sec'], '.1f')} | "
      f"{_fmt(res['step_ms'], '.1f')} | {_fmt(mfu, '.1f')}{'' if mfu is None else ' %'} | "
      f"{_fmt(res['compile_s'], '.1f')} | {_fmt(res.get('peak_memory_mb'), '.0f')} | "
      f"{_fmt(r.get('torch'), '.1f')} | {res['device']} |"
    )
  return "\n".join(out)


def scaling(steps: int, timeout: int) -> str:
  """8 fake CPU devices at 8x the batch against 1 device at the same batch."""
  lines = ["| family | global batch | 1 device step ms | 8 devices step ms | 8 / 1 |",
           "| --- | --- | --- | --- | --- |"]  # fmt: skip
  for family in ("dcgan64", "biggan128"):
    _, _, config, small = FAMILIES[family]
    batch = 8 * 4
    over = {**small, "data.batch_size": batch}
    times = []
    for n in (1, 8):
      env = dict(os.environ, JAX_PLATFORMS="cpu",
                 XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")  # fmt: skip
      res = bench(config, over, "float32", steps, 1, timeout, env)
      times.append(res.get("step_ms"))
    ratio = times[1] / times[0] if None not in times else None
    lines.append(f"| {family} | {batch} | {_fmt(times[0], '.1f')} | {_fmt(times[1], '.1f')} | "
                 f"{_fmt(ratio, '.2f')} |")  # fmt: skip
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--small", action="store_true", help="tiny sizes (CPU, CI)")
  p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
  p.add_argument("--dtypes", default="float32,bfloat16")
  p.add_argument("--steps", type=int, default=None, help="timed calls (10; 2 with --small)")
  p.add_argument(
    "--budget_s",
    type=float,
    default=None,
    help="no new row after this many seconds (210; 1200 with --small)",
  )
  p.add_argument("--timeout_s", type=int, default=600, help="per row")
  p.add_argument("--torch", choices=("auto", "off"), default="auto")
  p.add_argument("--scaling", action="store_true", help="8 fake CPU devices against 1")
  a = p.parse_args(argv)
  steps = a.steps or (2 if a.small else 10)
  budget = a.budget_s if a.budget_s is not None else (1200.0 if a.small else 210.0)
  unknown = set(a.families.split(",")) - set(FAMILIES)
  if unknown:
    p.error(f"unknown families {sorted(unknown)}; valid: {list(FAMILIES)}")
  t0, rows = time.time(), []
  for family in a.families.split(","):
    config, big, small_config, small = FAMILIES[family]
    cfg, over = (small_config, small) if a.small else (config, big)
    for dtype in a.dtypes.split(","):
      if dtype != "float32" and family in FLOAT32_ONLY:
        continue
      if time.time() - t0 > budget:
        rows.append({"family": family, "dtype": dtype, "result": {"error": "budget spent"}})
        continue
      res = bench(cfg, over, dtype, steps, 1 if a.small else 2, a.timeout_s)
      torch_ips = None
      if a.torch == "auto" and not a.small and dtype == "float32" and "error" not in res:
        torch_ips = torch_images_per_sec(family, cfg, over, steps)
      rows.append({"family": family, "dtype": dtype, "result": res, "torch": torch_ips})
      print(f"{family} {dtype}: {json.dumps(res)}", file=sys.stderr, flush=True)
  print(f"sizes: {'small (the tiny configs)' if a.small else 'realistic'}; {steps} timed calls")
  print(table(rows))
  if a.scaling:
    print()
    print(scaling(steps, a.timeout_s))
  print(f"\n({time.time() - t0:.0f} s)")
  return 1 if any("error" in r["result"] and r["result"]["error"] != "budget spent"
                  for r in rows) else 0  # fmt: skip


if __name__ == "__main__":
  sys.exit(main())
