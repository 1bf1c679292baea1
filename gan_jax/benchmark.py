"""Times the compiled train_step: ``python -m gan_jax.benchmark --config=experiments/X.py``.

The step runs on synthetic batches of the config's shapes (no input pipeline), after a
warm-up, and the last line printed is one JSON object:

  images_per_sec   generated images per second (global batch / step time)
  step_ms          median wall time of one training step (one call / steps per call)
  call_ms          median wall time of one compiled call (``train.steps_per_call`` steps)
  compile_s        the first call's time less a median call (lowering + compilation)
  gflop_per_step   XLA's cost analysis of one call (all devices)
  achieved_gflops  gflop_per_step / median step time
  peak_memory_mb   peak device memory where the backend reports it (GPU, TPU), else null
  device           device kind and count
  mfu              achieved / peak dense FLOP/s of the device for model.dtype, where known
"""

from __future__ import annotations

import json
import statistics
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from gan_jax import build, data, parallel

FLAGS = flags.FLAGS
if "config" not in FLAGS:  # main and benchmark may both be imported (tests)
  config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_integer("steps", 20, "Timed calls of the compiled step.")
flags.DEFINE_integer("warmup", 3, "Untimed calls after compilation.")
flags.mark_flags_as_required(["config"])

# Dense peak FLOP/s by (device kind prefix, compute dtype); figures from vendor data sheets.
PEAK_FLOPS = {
  ("NVIDIA H100", "bfloat16"): 989e12,
  ("NVIDIA H100", "float32"): 494.7e12,  # TF32 tensor cores (XLA's default f32 matmuls)
  ("NVIDIA H200", "bfloat16"): 989e12,
  ("NVIDIA H200", "float32"): 494.7e12,
  ("NVIDIA A100", "bfloat16"): 312e12,
  ("NVIDIA A100", "float32"): 156e12,
  ("TPU v4", "bfloat16"): 275e12,
  ("TPU v5 lite", "bfloat16"): 197e12,
  ("TPU v5p", "bfloat16"): 459e12,
}


def _peak(device_kind: str, dtype: str) -> float | None:
  for (kind, dt), flops in PEAK_FLOPS.items():
    if device_kind.startswith(kind) and dt == dtype:
      return flops
  return None


def _synthetic_data(config):
  """The config with its dataset replaced by synthetic images of the same shape."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    if config.data.name in ("ring", "grid", "synthetic"):
      return config
    try:
      spec = data.build_source(config.data, config.seed).spec
    except Exception:  # noqa: BLE001 (not prepared here: the usual channels of the dataset)
      spec = None
    if spec is not None and spec.kind != "image":  # points, paired, unpaired: as they are
      return config
    channels = spec.sample_shape[-1] if spec else GRAYSCALE.get(config.data.name, 3)
    config.data.channels = channels
    config.data.num_classes = spec.num_classes if spec else config.data.get("num_classes", 0)
    config.data.name = "synthetic"
  return config


GRAYSCALE = {"mnist": 1, "fashion_mnist": 1, "digits": 1, "lfw": 1}


def run(config, steps: int = 20, warmup: int = 3) -> dict:
  """Builds the step for ``config``, times ``steps`` calls and returns the result dict.

  The batches are synthetic, of the dataset's shapes, so a dataset that is not prepared
  here (CelebA, say) can still be benchmarked.
  """
  config = _synthetic_data(config)
  run = build.build(config)
  state, mesh = run.state, run.layout.mesh
  k, b = config.train.steps_per_call, config.data.batch_size
  slices = run.game.batches_per_step
  rng = np.random.default_rng(0)
  # Noise (images) or random classes (labels) of the shapes of the source's batches.
  local = {
    key: np.clip(rng.normal(size=v.shape), -1, 1).astype(v.dtype)
    if np.issubdtype(v.dtype, np.floating)
    else rng.integers(0, max(run.num_classes, 1), size=v.shape).astype(v.dtype)
    for key, v in run.local_batches(0, k).items()
  }
  run.source.close()
  # XLA counts a loop body once, so the FLOPs come from the one-iteration program of the
  # whole global batch (under pmap: the sum over the devices' programs). Step 0 runs
  # every lazy phase: the heaviest step.
  one = parallel.to_global(jax.tree.map(lambda x: x[:1], local), mesh, batch_axis=2)
  pure = run.pure_step(1, key=run.schedule_key(0, 1))
  cost = jax.jit(pure).lower(state, one).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", 0.0)) if cost else 0.0

  batch, state = run.layout.device_batch(local), run.layout.run_state(state)
  compiled = run.compiled_step(k)
  t0 = time.perf_counter()
  state, metrics = compiled(state, batch, 0)  # compiled on the first call
  jax.block_until_ready(state)
  first_s = time.perf_counter() - t0

  for _ in range(warmup):
    state, metrics = compiled(state, batch, 0)
  jax.block_until_ready(state)
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    state, metrics = compiled(state, batch, 0)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t)
  call_s = statistics.median(times)
  compile_s = max(first_s - call_s, 0.0)
  step_s = call_s / k
  dev = jax.devices()[0]
  stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
  peak_mb = stats["peak_bytes_in_use"] / 2**20 if stats and "peak_bytes_in_use" in stats else None
  achieved = flops / step_s
  peak = _peak(dev.device_kind, config.model.dtype)
  return {
    "images_per_sec": b / step_s,
    "step_ms": 1000 * step_s,
    "call_ms": 1000 * call_s,
    "compile_s": compile_s,
    "gflop_per_step": flops / 1e9,
    "achieved_gflops": achieved / 1e9,
    "peak_memory_mb": peak_mb,
    "device": f"{jax.device_count()} x {dev.device_kind}",
    "mfu": achieved / (peak * jax.device_count()) if peak else None,
    "batch_size": b,
    "steps_per_call": k,
    "batches_per_step": slices,
    "dtype": config.model.dtype,
    "strategy": run.layout.strategy,
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  print(json.dumps(run(FLAGS.config, FLAGS.steps, FLAGS.warmup)), flush=True)


if __name__ == "__main__":
  app.run(main)
