"""Where a compiled train step spends its time, op by op (XLA's own names).

    python benchmarks/profile_step.py --config=experiments/pix2pix_facades.py [--top 30]
        [--steps 2] [--warmup 3] [--set train.x=y ...] [--tiny]

Builds the experiment's step on synthetic batches of its shapes (as
``python -m gan_jax.benchmark`` does), runs ``--warmup`` steps, traces ``--steps`` more with
``jax.profiler`` (a Perfetto trace under ``--out``) and prints two tables per step: time
by op kind (the op name without its number: ``transpose_copy_fusion``, ``convolution``,
...) and the ``--top`` single ops, each with the shape it writes and the JAX operation it
came from, read from the compiled program's HLO text (written beside the trace).

On XLA CPU the times of loop fusions (copies, transposes, pads, elementwise) are their
wall times; convolutions and matrix products may run on the thread pool after their
event closes, so their rows undercount. Tracing slows the step a little.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

# gan_jax sets its XLA CPU flag on import, before JAX starts its backend below.
import jax  # noqa: E402
from experiment_config import load_config  # noqa: E402

from gan_jax import benchmark, build, parallel  # noqa: E402


def events(trace_dir: str) -> list[dict]:
  files = sorted(
    glob.glob(os.path.join(trace_dir, "**", "*perfetto_trace.json.gz"), recursive=True)
  )
  if not files:
    raise SystemExit(f"No Perfetto trace under {trace_dir}.")
  data = json.load(gzip.open(files[-1]))
  return data["traceEvents"] if isinstance(data, dict) else data


def op_times(evs: list[dict], steps: int) -> dict[str, float]:
  """Milliseconds per step of each XLA op event (runtime and Python events left out)."""
  out: dict[str, float] = collections.defaultdict(float)
  for e in evs:
    name = e.get("name", "")
    if e.get("ph") != "X" or not re.fullmatch(r"[a-z][a-z0-9_.\-]*", name):
      continue  # runtime (ThunkExecutor::Execute, ParseArguments) and Python events
    out[name] += e.get("dur", 0) / 1000 / steps
  return out


def describe(hlo: str, name: str) -> tuple[str, str]:
  """The shape an op writes and the JAX operation it came from, from the HLO text."""
  m = re.search(r"\n\s*%" + re.escape(name) + r" = (\S+) ", hlo)
  line = re.search(r"\n\s*%" + re.escape(name) + r" = ([^\n]*)", hlo)
  origin = re.search(r'op_name="([^"]*)"', line.group(1)) if line else None
  return (m.group(1) if m else "?"), (origin.group(1)[-70:] if origin else "")


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True, help="experiments/X.py")
  p.add_argument("--set", action="append", default=[], help="key=value")
  p.add_argument("--tiny", action="store_true", help="the config's tiny sizes")
  p.add_argument("--steps", type=int, default=2)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--top", type=int, default=30)
  p.add_argument("--out", default="/tmp/gan_jax_profile")
  a = p.parse_args(argv)
  config = benchmark._synthetic_data(load_config(a.config, a.tiny, a.set))
  with benchmark.synthetic_source(config):
    run = build.build(config, random_frozen=True)
  local = run.local_batches(0, 1)
  run.source.close()
  batch, state = run.layout.device_batch(local), run.layout.run_state(run.state)
  compiled = run.compiled_step(1)
  for _ in range(a.warmup):
    state, _ = compiled(state, batch, 0)
  jax.block_until_ready(state)
  os.makedirs(a.out, exist_ok=True)
  trace_dir = os.path.join(a.out, "trace")
  with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
    for _ in range(a.steps):
      state, _ = compiled(state, batch, 0)
      jax.block_until_ready(state)
  # The same program, compiled again for its HLO text (op names match the trace's).
  pure = run.pure_step(1, key=run.schedule_key(0, 1))
  global_batch = parallel.to_global(local, run.layout.mesh, batch_axis=2)
  hlo = jax.jit(pure, donate_argnums=0).lower(run.state, global_batch).compile().as_text()
  with open(os.path.join(a.out, "step.hlo.txt"), "w") as f:
    f.write(hlo)

  times = op_times(events(trace_dir), a.steps)
  kinds: dict[str, float] = collections.defaultdict(float)
  for name, ms in times.items():
    kinds[re.sub(r"\.\d+$", "", name)] += ms
  print(f"{a.config}: ops total {sum(times.values()):.0f} ms a step (trace: {trace_dir})\n")
  print("| op kind | ms / step |\n| --- | --- |")
  for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1])[: a.top]:
    print(f"| {kind} | {ms:.1f} |")
  print("\n| op | ms / step | writes | from |\n| --- | --- | --- | --- |")
  for name, ms in sorted(times.items(), key=lambda kv: -kv[1])[: a.top]:
    shape, origin = describe(hlo, name)
    print(f"| {name} | {ms:.1f} | {shape} | {origin} |")


if __name__ == "__main__":
  main()
