"""The benchmark command times the compiled step and reports the documented fields."""

import json
import os
import subprocess
import sys

import pytest

from experiments import gan_ring
from gan_jax import benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = {
  "images_per_sec",
  "step_ms",
  "compile_s",
  "gflop_per_step",
  "achieved_gflops",
  "peak_memory_mb",
  "device",
  "mfu",
}


@pytest.mark.parametrize("strategy", ["jit", "pmap"])
def test_run_reports_consistent_figures(strategy):
  cfg = gan_ring.get_config("tiny")
  cfg.parallel.strategy = strategy
  r = benchmark.run(cfg, steps=3, warmup=1)
  assert KEYS <= set(r) and r["strategy"] == strategy
  assert r["step_ms"] > 0 and r["gflop_per_step"] > 0
  assert (
    abs(r["images_per_sec"] - cfg.data.batch_size / (r["step_ms"] / 1000))
    < 1e-6 * r["images_per_sec"]
  )
  assert (
    abs(r["achieved_gflops"] - r["gflop_per_step"] / (r["step_ms"] / 1000))
    < 1e-6 * r["achieved_gflops"]
  )
  assert "cpu" in r["device"].lower() and r["mfu"] is None


def test_cli_prints_one_json_line_last():
  r = subprocess.run(
    [
      sys.executable,
      "-m",
      "gan_jax.benchmark",
      "--config=experiments/gan_ring.py:tiny",
      "--config.train.steps_per_call=2",
      "--steps=2",
      "--warmup=1",
    ],
    cwd=ROOT,
    env=dict(os.environ, JAX_PLATFORMS="cpu"),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  result = json.loads(r.stdout.strip().splitlines()[-1])
  assert KEYS <= set(result) and result["steps_per_call"] == 2
