"""Times the compiled train_step: ``python -m gan_jax.benchmark --config=experiments/X.py``.

The step runs on synthetic batches of the config's shapes (no input pipeline; every
experiment, its dataset prepared here or not: images, pairs, unpaired sets, SR crops),
after a warm-up, and the last line printed is one JSON object:

  images_per_sec   generated images per second (global batch / step time)
  step_ms          median wall time of one training step (one call / steps per call)
  call_ms          median wall time of one compiled call (``train.steps_per_call`` steps)
  compile_s        the first call's time less a median call (lowering + compilation)
  gflop_per_step   XLA's cost analysis of one call (all devices)
  achieved_gflops  gflop_per_step / median step time
  peak_memory_mb   peak device memory where the backend reports it (GPU, TPU), else null
  peak_rss_mb      the process's peak resident memory (host)
  device           device kind and count
  mfu              achieved / peak dense FLOP/s of the device for model.dtype, where known
"""

from __future__ import annotations

import contextlib
import json
import logging as logging_
import resource
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
  """The config with an image dataset replaced by synthetic images of the same shape
  (paired, unpaired, SR and point datasets keep their name: see ``synthetic_source``)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    if config.data.name in ("ring", "grid", "synthetic") or _kind_of(config.data.name):
      return config
    try:
      spec = data.build_source(config.data, config.seed).spec
    except Exception:  # noqa: BLE001 (not prepared here: the usual channels of the dataset)
      spec = None
    if spec is not None and spec.kind != "image":  # points, paired, unpaired: as they are
      return config
    channels = spec.sample_shape[-1] if spec else GRAYSCALE.get(config.data.name, 3)
    config.data.channels = channels
    config.data.num_classes = (
      spec.num_classes if spec else config.data.num_classes or NUM_CLASSES.get(config.data.name, 0)
    )
    config.data.name = "synthetic"
  return config


GRAYSCALE = {"mnist": 1, "fashion_mnist": 1, "digits": 1, "lfw": 1}
# Classes of the named TFDS datasets, for benchmarking a conditional model without them.
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "svhn_cropped": 10, "celeb_a": 0}


def _kind_of(name: str) -> str:
  """ "paired", "unpaired" or "sr" for the datasets of those kinds, else ""."""
  from gan_jax.data import paired, sr, unpaired

  if name in paired.PAIRED:
    return "paired"
  if name in unpaired.UNPAIRED:
    return "unpaired"
  return "sr" if name in sr.SR_DATASETS else ""


class SyntheticSource(data.Source):
  """Uniform noise in [-1, 1] (and random labels) with the keys and shapes of the batches
  of a paired, unpaired or super-resolution dataset that is not prepared here: pix2pix's
  ``input`` / ``target`` / ``label``, CycleGAN's ``a`` / ``b`` / ``label_a`` / ``label_b``,
  SR's ``image`` / ``label`` plus ``lr`` for a dataset with its own LR images (DIV2K)."""

  def __init__(self, kind: str, data_cfg, model_cfg, seed: int, process_count: int = 1):
    r, c = data_cfg.resolution, data_cfg.get("channels", 3)
    self.batch_size, self.seed = data_cfg.batch_size // process_count, seed
    shapes: dict[str, tuple[int, ...]]
    if kind == "paired":
      self.spec = data.DataSpec((r, r, c), 0, "paired", (r, r, c))
      shapes = {"input": (r, r, c), "target": (r, r, c), "label": ()}
    elif kind == "unpaired":
      self.spec = data.DataSpec((r, r, c), 0, "unpaired")
      shapes = {"a": (r, r, c), "label_a": (), "b": (r, r, c), "label_b": ()}
    else:
      scale = model_cfg.get("scale", 4)
      own_lr = data_cfg.name == "div2k"
      self.spec = data.DataSpec(
        (r, r, 3), 0, "image", (r // scale, r // scale, 3) if own_lr else None
      )
      shapes = {"image": (r, r, 3), "label": ()}
      if own_lr:
        shapes["lr"] = (r // scale, r // scale, 3)
    self.shapes = shapes

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng((self.seed, step))
    lead = (n_critic, self.batch_size)
    return {
      k: np.zeros(lead, np.int32)
      if not shape
      else rng.uniform(-1, 1, lead + shape).astype(np.float32)
      for k, shape in self.shapes.items()
    }


@contextlib.contextmanager
def synthetic_source(config):
  """While inside: ``config``'s paired / unpaired / SR dataset, when it cannot be read
  here (not prepared, no folder), is served by a ``SyntheticSource`` of its shapes."""
  name, kind = config.data.name, _kind_of(config.data.name)
  real = data.DATASETS.get(name)
  if not kind:
    yield
    return
  try:
    real(config.data, config.seed, 0, 1).close()
    yield  # the dataset is here: benchmark on it
    return
  except Exception:  # noqa: BLE001 (not prepared, missing folder: synthetic batches instead)
    pass

  def fake(data_cfg, seed, process_index, process_count):
    del process_index
    return SyntheticSource(kind, data_cfg, config.model, seed, process_count)

  data.DATASETS[name] = fake
  try:
    yield
  finally:
    data.DATASETS[name] = real


def run(config, steps: int = 20, warmup: int = 3) -> dict:
  """Builds the step for ``config``, times ``steps`` calls and returns the result dict.

  The batches are synthetic, of the dataset's shapes, so a dataset that is not prepared
  here (CelebA, say) can still be benchmarked.
  """
  config = _synthetic_data(config)
  with synthetic_source(config):
    run = build.build(config, random_frozen=True)  # the VGG19 loss need not be at hand
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
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging_.getLogger("jax._src.xla_bridge").setLevel(logging_.WARNING)  # no absent-TPU line
  print(json.dumps(run(FLAGS.config, FLAGS.steps, FLAGS.warmup)), flush=True)


if __name__ == "__main__":
  app.run(main)
