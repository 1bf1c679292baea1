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


def _first_batch(config):
  from gan_jax import data

  with benchmark.synthetic_source(config):
    source = data.build_source(config.data, config.seed)
  try:
    return source.spec, source.batch(0)
  finally:
    source.close()


@pytest.mark.parametrize(
  "name,embedded",
  [("pix2pix_facades", "pix2pix_edges2digits"), ("cyclegan_horse2zebra", "cyclegan_digits")],
)
def test_unprepared_pairs_get_synthetic_batches_of_the_real_keys(name, embedded):
  """A paired or unpaired dataset that is not here (facades' folder, TFDS horse2zebra) is
  served by noise with the keys, dtypes and rank of the embedded dataset of its kind."""
  import importlib

  config = importlib.import_module(f"experiments.{name}").get_config("tiny")
  spec, batch = _first_batch(config)
  real_spec, real = _first_batch(importlib.import_module(f"experiments.{embedded}").get_config())
  assert spec.kind == real_spec.kind
  assert set(batch) == set(real)
  r, c = config.data.resolution, config.data.channels
  for k, v in batch.items():
    assert v.dtype == real[k].dtype and v.ndim == real[k].ndim, k
    assert v.shape[:2] == (1, config.data.batch_size)
    if v.ndim == 5:
      assert v.shape[2:] == (r, r, c) and -1 <= v.min() < v.max() <= 1


def test_unprepared_div2k_gets_hr_and_aligned_lr_crops():
  from experiments import rrdbnet_div2k

  config = rrdbnet_div2k.get_config("tiny")
  config.data.data_dir = "/nonexistent/tfds"
  spec, batch = _first_batch(config)
  r, s = config.data.resolution, config.model.scale
  assert set(batch) == {"image", "label", "lr"}
  assert batch["image"].shape[2:] == (r, r, 3) and batch["lr"].shape[2:] == (r // s, r // s, 3)
  assert spec.input_shape == (r // s, r // s, 3)
