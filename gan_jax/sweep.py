"""One config over many seeds, and the table of mean +- standard error of every eval key.

    python -m gan_jax.sweep --config=experiments/gan_grid.py --seeds=10 --workdir=runs/grid10
    python -m gan_jax.sweep --config=experiments/gan_grid.py --seeds=10 --workdir=runs/grid10 \\
        --parallel=2 --config.model.pack=2

Seed ``k`` (``--first_seed`` + 0 .. N-1) trains in ``WORKDIR/seed_<k>`` with
``config.seed = k``; ``--config.*`` overrides apply to every seed. Every run ends with an
evaluation (``train.eval_every`` is made to divide ``train.num_steps`` where it does not).
A seed whose run is complete is not trained again (a run that stopped is continued: the
sweep can be rerun after an interruption). With ``--parallel=P`` the seeds run as P
processes at a time (``python -m gan_jax.main``), else one after another in this process.
Each seed's last ``eval.jsonl`` line enters the table: ``WORKDIR/sweep.json`` (every
value, the mean, the standard error ``std / sqrt(n)`` with ``ddof=1``, and each seed's
wall time) and ``WORKDIR/sweep.md`` (one row per key), also printed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """The command's flags, defined only when it runs (``gan_jax.main`` defines some of the
  same names, and both modules may be imported in one process)."""
  if "config" not in FLAGS:
    config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory of the sweep: one seed_<k> folder per seed.")
  flags.DEFINE_integer("seeds", 10, "Number of seeds.")
  flags.DEFINE_integer("first_seed", 0, "The first seed.")
  flags.DEFINE_integer("parallel", 1, "Seeds trained at a time (> 1: one process each).")
  flags.mark_flags_as_required(["config", "workdir"])


def seed_dirs(workdir: str, seeds: Sequence[int]) -> dict[int, str]:
  return {k: os.path.join(workdir, f"seed_{k}") for k in seeds}


def last_eval(workdir: str) -> dict[str, Any] | None:
  """The run's last eval.jsonl line, or None."""
  path = os.path.join(workdir, "eval.jsonl")
  if not os.path.exists(path):
    return None
  lines = [line for line in open(path) if line.strip()]
  return json.loads(lines[-1]) if lines else None


def summarize(results: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Per numeric eval key: the values by seed, their mean and standard error.

  Args:
    results: ``{seed: eval line}``.

  Returns:
    ``{key: {"values": [...], "n": n, "mean": m, "stderr": s}}`` for every key holding a
    finite or infinite number in any seed's line (``step`` included); ``stderr`` is
    ``std(ddof=1) / sqrt(n)``, 0 for one seed, NaN where a value is infinite.
  """
  keys = sorted({k for line in results.values() for k, v in line.items() if _is_number(v)}, key=str)
  table = {}
  for key in keys:
    values = [float(line[key]) for line in results.values() if _is_number(line.get(key))]
    arr = np.asarray(values, np.float64)
    n = len(arr)
    if not np.all(np.isfinite(arr)):
      stderr = math.nan
    else:
      stderr = float(np.std(arr, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    table[key] = {"values": values, "n": n, "mean": float(np.mean(arr)), "stderr": stderr}
  return table


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def markdown(table: dict[str, dict[str, Any]], title: str) -> str:
  lines = [f"{title}", "", "| key | mean | standard error | n |", "| --- | --- | --- | --- |"]
  for key, row in table.items():
    lines.append(f"| {key} | {row['mean']:.6g} | {row['stderr']:.3g} | {row['n']} |")
  return "\n".join(lines) + "\n"


def _child_argv(argv: Sequence[str], seed: int, workdir: str, eval_every: int) -> list[str]:
  """``python -m gan_jax.main`` with this command's ``--config`` flags, one seed (and the
  sweep's ``eval_every``, so that every run ends with an evaluation)."""
  keep = [a for a in argv[1:] if a.startswith("--config")]
  return [
    sys.executable, "-m", "gan_jax.main", *keep, f"--config.seed={seed}",
    f"--config.train.eval_every={eval_every}", f"--workdir={workdir}",
  ]  # fmt: skip


def _complete(workdir: str, num_steps: int) -> bool:
  line = last_eval(workdir)
  return line is not None and int(line.get("step", -1)) >= num_steps


def run_sweep(config, workdir: str, seeds: Sequence[int], parallel: int = 1, argv=None):
  """Trains ``config`` once per seed and writes the table; returns it.

  Args:
    config: the experiment config (its ``seed`` is replaced per run).
    workdir: the sweep's directory.
    seeds: the seeds.
    parallel: seeds trained at a time; > 1 starts ``python -m gan_jax.main`` processes
      with ``argv``'s ``--config`` flags (the command line the config came from).
    argv: the command line (``parallel > 1`` only).

  Returns:
    ``{"table": summarize(...), "wall_s": {seed: s}, "seeds": [...], ...}``.
  """
  from gan_jax import progress, train

  config = config.copy_and_resolve_references()
  every, steps = config.train.eval_every, config.train.num_steps
  if not every or steps % every:  # every run must end with an evaluation
    with config.unlocked():
      config.train.eval_every = math.gcd(every, steps) if every else steps
  os.makedirs(workdir, exist_ok=True)
  dirs = seed_dirs(workdir, seeds)
  todo = [k for k in seeds if not _complete(dirs[k], config.train.num_steps)]
  wall = {}
  if parallel > 1:
    if argv is None:
      raise ValueError("parallel > 1 needs the command line (argv) to start the runs")
    pending, running = list(todo), {}
    pbar = progress.bar(total=len(todo), desc=f"Sweep of {len(todo)} seeds", unit="run", leave=True)
    while pending or running:
      while pending and len(running) < parallel:
        k = pending.pop(0)
        os.makedirs(dirs[k], exist_ok=True)
        log = open(os.path.join(dirs[k], "sweep_run.log"), "a")
        child = _child_argv(argv, k, dirs[k], config.train.eval_every)
        proc = subprocess.Popen(child, stdout=log, stderr=log)
        running[k] = (proc, time.time(), log)
      time.sleep(0.5)
      for k, (proc, start, log) in list(running.items()):
        if proc.poll() is not None:
          log.close()
          wall[k] = time.time() - start
          del running[k]
          pbar.update(1)
          if proc.returncode != 0:
            raise RuntimeError(
              f"seed {k} failed (exit {proc.returncode}); see {dirs[k]}/sweep_run.log"
            )
    pbar.close()
  else:
    for k in progress.bar(todo, desc=f"Sweep of {len(todo)} seeds", unit="run", leave=True):
      cfg = config.copy_and_resolve_references()
      cfg.seed = k
      start = time.time()
      train.train_and_evaluate(cfg, dirs[k])
      wall[k] = time.time() - start
  results = {}
  for k in seeds:
    line = last_eval(dirs[k])
    if line is None:
      raise RuntimeError(
        f"seed {k} has no evaluation in {dirs[k]}/eval.jsonl: set train.eval_every "
        "(or eval at the end) so that every run is scored"
      )
    results[k] = line
  table = summarize(results)
  out = {
    "seeds": list(seeds),
    "num_steps": config.train.num_steps,
    "wall_s": {str(k): round(v, 1) for k, v in wall.items()},
    "table": table,
  }
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump(out, f, indent=1)
  title = f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), last eval line of each run"
  text = markdown(table, title)
  with open(os.path.join(workdir, "sweep.md"), "w") as f:
    f.write(text)
  return out, text


def main(argv):
  if FLAGS.seeds < 1 or FLAGS.parallel < 1:
    raise app.UsageError("--seeds and --parallel must be at least 1")
  seeds = list(range(FLAGS.first_seed, FLAGS.first_seed + FLAGS.seeds))
  config = FLAGS.config
  start = time.time()
  out, text = run_sweep(config, FLAGS.workdir, seeds, FLAGS.parallel, sys.argv)
  print(text)
  logging.info("Sweep of %d seeds took %.1f s; table in %s", len(seeds), time.time() - start,
               os.path.join(FLAGS.workdir, "sweep.md"))  # fmt: skip
  del out


if __name__ == "__main__":
  _define_flags()
  app.run(main)
