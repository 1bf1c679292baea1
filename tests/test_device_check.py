"""benchmarks/device_check.sh on CPU at small sizes: one family, the table it prints and
its exit status (the accelerator sizes run where a GPU or TPU is lent)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_device_check_prints_a_row_per_family_and_dtype():
  r = subprocess.run(
    ["bash", "benchmarks/device_check.sh", "--small", "--families=dcgan64", "--dtypes=float32"],
    cwd=ROOT, env=dict(os.environ, PYTHON=sys.executable, JAX_PLATFORMS="cpu"),
    capture_output=True, text=True, timeout=600,
  )  # fmt: skip
  assert r.returncode == 0, r.stderr[-3000:]
  lines = r.stdout.splitlines()
  assert any(ln.startswith("sizes: small") for ln in lines)
  rows = [ln.split("|")[1:-1] for ln in lines if ln.startswith("| dcgan64 |")]
  assert len(rows) == 1
  family, dtype, ips, step_ms, *_ = (c.strip() for c in rows[0])
  assert dtype == "float32" and float(ips) > 0 and float(step_ms) > 0


def test_device_check_refuses_an_unknown_family():
  r = subprocess.run(
    [sys.executable, "benchmarks/device_check.py", "--small", "--families=vae"],
    cwd=ROOT, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert r.returncode == 2 and "unknown families ['vae']" in r.stderr
