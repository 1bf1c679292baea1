"""train_and_evaluate(config, workdir): build, restore, loop, periodic actions.

Read top to bottom: workdir checks, the Run (input, mesh, networks, game, state; see
``build.py``), checkpoints and restore (``checkpoint.py``), the compiled step
(``parallel.py``), then the loop with its periodic actions (log, previews, checkpoints,
evaluation). ``sample`` and ``evaluate_checkpoint`` back the CLI's other modes. Nothing
here knows which game or model family runs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from gan_jax import build, checkpoint, evaluation, sampling, step


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN or infinite under ``train.nan_policy='stop'``."""


# --------------------------------------------------------------------------------------
# Previews, evaluation, progress, input.
# --------------------------------------------------------------------------------------


def _sample_key(seed: int) -> jax.Array:
  """A key for sample grids and evaluation, apart from the training keys."""
  return jax.random.fold_in(jax.random.key(seed), 0x7FFFFFFF)


def _write_preview(run: build.Run, workdir: str, step_: int, writer) -> str:
  """Writes the game's preview (a fixed-input grid) for ``step_``; returns the path."""
  image, scale = run.game.preview(run.sampler(), _sample_key(run.config.seed), run.config)
  path = os.path.join(workdir, "samples", f"step_{step_:07d}.png")
  if jax.process_index() == 0:  # every process computes (global arrays), one writes
    sampling.save_image(path, image, scale)
  if writer is not None:
    writer.add_image("samples", np.transpose(image, (2, 0, 1)), step_)
  return path


def _evaluate(run: build.Run, workdir: str, step_: int, writer) -> dict[str, Any]:
  key = jax.random.fold_in(_sample_key(run.config.seed), 1)
  result = evaluation.evaluate(run.sampler(), key, run.config, tuple(run.game.predict))
  if result and jax.process_index() == 0:
    evaluation.append_jsonl(workdir, {"step": step_, **result})
    if writer is not None:
      for k, v in result.items():
        if isinstance(v, (int, float)) and np.isfinite(v):
          writer.add_scalar(f"eval/{k}", v, step_)
  return result


def _check_inception_weights(config) -> None:
  """Fails at start-up, not at the first evaluation, when the weights file is missing."""
  from gan_jax.metrics import inception

  path = config.eval.get("inception_path") or inception.default_weights_path()
  if not os.path.exists(path):
    inception.load_variables(path)  # raises with the conversion command


class _Progress:
  """A one-line progress bar on a terminal; plain log lines otherwise."""

  def __init__(self, total: int, start: int):
    self.total, self.start, self.t0 = total, start, time.time()
    self.tty = sys.stderr.isatty()

  def update(self, step_: int, metrics: dict[str, float], force_log: bool = False) -> None:
    rate = (step_ - self.start) / max(time.time() - self.t0, 1e-9)
    eta = (self.total - step_) / rate if rate > 0 else float("inf")
    eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if np.isfinite(eta) else "?"
    vals = " ".join(f"{k} {metrics[k]:.4g}" for k in ("d_loss", "g_loss") if k in metrics)
    line = f"step {step_}/{self.total} | {rate:.2f} steps/s | ETA {eta_s} | {vals}"
    if self.tty:
      sys.stderr.write("\r" + line.ljust(100))
      sys.stderr.flush()
    elif force_log:
      logging.info(line)

  def done(self) -> None:
    if self.tty:
      sys.stderr.write("\n")


def _prefetch(run: build.Run, start: int, stop: int, k: int, depth: int = 2):
  """Yields device batches ``[k, slices, B, ...]`` for steps start, start+k, ... ahead."""
  q: queue.Queue = queue.Queue(maxsize=depth)
  stop_flag = threading.Event()

  def put(item) -> bool:
    while not stop_flag.is_set():
      try:
        q.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def worker():
    try:
      for s in range(start, stop, k):
        if not put((s, run.layout.device_batch(run.local_batches(s, k)))):
          return
    except BaseException as e:  # noqa: BLE001 (re-raised in the consumer)
      put((None, e))

  thread = threading.Thread(target=worker, daemon=True)
  thread.start()
  try:
    for _ in range(start, stop, k):
      s, item = q.get()
      if s is None:
        raise item
      yield s, item
  finally:
    # Join the worker: a daemon thread still inside XLA when the interpreter exits aborts
    # the process ("terminate called ... exception not rethrown").
    stop_flag.set()
    thread.join()


def _make_writer(workdir: str):
  if jax.process_index() != 0:
    return None
  from tensorboardX import SummaryWriter

  return SummaryWriter(os.path.join(workdir, "tensorboard"))


# --------------------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------------------


def _restore_for_training(run: build.Run, ckpt: checkpoint.Checkpoints, workdir: str) -> int:
  """Checks config drift, restores the newest good checkpoint; returns the start step."""
  config, tc = run.config, run.config.train
  saved_config = os.path.join(workdir, "config.json")
  if ckpt.latest_step() is not None and os.path.exists(saved_config):
    with open(saved_config) as f:
      drift = checkpoint.config_drift(json.load(f), config)
    if drift and not tc.get("allow_config_change", False):
      raise ValueError(
        "The config differs from the one this workdir was trained with in fields that "
        "change shapes or semantics:\n  "
        + "\n  ".join(drift)
        + "\nUse another --workdir, or pass --config.train.allow_config_change=True."
      )
  found = ckpt.restore(run.state.arrays())
  if found is not None:
    step_, arrays, _ = found
    run.state = run.state.replace(**arrays)
    logging.info("Restored checkpoint at step %d from %s", step_, ckpt.directory)
  elif tc.get("init_from", ""):
    arrays, names = checkpoint.init_from(
      tc.init_from, run.state.arrays(), tuple(tc.get("init_networks", ()))
    )
    run.state = run.state.replace(**arrays)
    logging.info("Networks %s start from the newest checkpoint of %s", list(names), tc.init_from)
  start = int(run.state.step)
  if start % tc.steps_per_call:
    raise ValueError(
      f"Restored step {start} is not a multiple of train.steps_per_call={tc.steps_per_call}."
    )
  if jax.process_index() == 0:
    with open(saved_config, "w") as f:
      f.write(config.to_json_best_effort(indent=2))
  return start


def _close(run: build.Run, ckpt: checkpoint.Checkpoints | None) -> None:
  """Closes the checkpoints (raising the first failed save) and the input source."""
  try:
    if ckpt is not None:
      ckpt.close()
  finally:
    run.source.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> step.GANState:
  """Trains (or continues) the run in ``workdir`` and returns the final state.

  Args:
    config: the experiment config (see experiments/base.py).
    workdir: where checkpoints, samples, TensorBoard events and eval.jsonl go; a workdir
      that holds checkpoints is resumed from its newest good one.

  Returns:
    The final GANState.
  """
  # ---- Workdir, config, the Run (input, networks, game, state) --------------------------
  checkpoint.check_workdir(workdir)
  if "inception" in evaluation.metric_names(config):
    _check_inception_weights(config)
  run = build.build(config)
  tc = config.train
  k = tc.steps_per_call
  try:
    evaluation.check(config, tuple(run.game.predict), read_heldout=tc.eval_every > 0)
  except BaseException:
    run.source.close()
    raise

  # ---- Checkpoints and restore -----------------------------------------------------------
  ckpt = None
  try:
    ckpt = checkpoint.Checkpoints(workdir, tc)
    # The checkpoints kept, one being written, and the best one.
    copies = tc.keep_checkpoints + 1 + bool(ckpt.best_metric)
    checkpoint.check_free_space(workdir, run.state_bytes(), copies)
    start = _restore_for_training(run, ckpt, workdir)
  except BaseException:
    _close(run, ckpt)
    raise

  # ---- The compiled step ---------------------------------------------------------------
  p_step = run.compiled_step(k)

  def save(s: int, force: bool = False) -> None:
    meta = {"step": s, "data_position": s, "config": json.loads(config.to_json_best_effort())}
    ckpt.save(s, run.state.arrays(), meta, force=force)

  # ---- Loop ------------------------------------------------------------------------------
  writer = _make_writer(workdir)
  progress = _Progress(tc.num_steps, start)
  preempted = threading.Event()
  old_handler = None
  if threading.current_thread() is threading.main_thread():
    old_handler = signal.signal(signal.SIGTERM, lambda *_: preempted.set())

  def crossed(every: int, before: int, after: int) -> bool:
    return every > 0 and after // every != before // every

  pending = None  # (step after the call, metrics on device): read one call late.
  last_log_t, last_log_step = time.time(), start
  compile_t0 = time.time()

  def handle(end: int, metrics) -> None:
    nonlocal last_log_t, last_log_step
    m = {key: float(v) for key, v in jax.device_get(metrics).items()}
    if m["nonfinite"] > 0:
      if tc.nan_policy == "stop":
        ckpt.wait()
        good = ckpt.latest_step()
        raise NonFiniteError(
          f"Non-finite loss or gradient at step {end - 1} (update dropped). Last good "
          f"checkpoint: {good if good is not None else 'none'} in "
          f"{ckpt.directory}. Lower the learning rates, or set "
          "train.nan_policy='skip' to drop such updates and go on."
        )
      logging.warning("Dropped %d non-finite update(s) before step %d.", int(m["nonfinite"]), end)
    if crossed(tc.log_every, end - k, end) or end == tc.num_steps:
      now = time.time()
      m["steps_per_sec"] = (end - last_log_step) / max(now - last_log_t, 1e-9)
      last_log_t, last_log_step = now, end
      if writer is not None:
        for key, v in m.items():
          writer.add_scalar(f"train/{key}", v, end)
      progress.update(end, m, force_log=True)
    else:
      progress.update(end, m)

  run_state = run.layout.run_state(run.state)

  def sync() -> None:  # run.state <- the running state (for saving and sampling)
    run.state = run.layout.host_state(run_state)

  batches = _prefetch(run, start, tc.num_steps, k)
  try:
    for s, batch in batches:
      run_state, metrics = p_step(run_state, batch, s)  # run.state is stale until sync()
      end = s + k
      if s == start:
        logging.info("First step compiled and dispatched in %.1fs", time.time() - compile_t0)
      if pending is not None:
        handle(*pending)
      pending = (end, metrics)
      if crossed(tc.sample_every, s, end):
        sync()
        _write_preview(run, workdir, end, writer)
      if crossed(tc.eval_every, s, end):
        sync()
        ckpt.keep_if_best(end, run.state.arrays(), _evaluate(run, workdir, end, writer))
      if crossed(tc.checkpoint_every, s, end) or end == tc.num_steps or preempted.is_set():
        handle(*pending)  # Apply the NaN policy before anything is saved.
        pending = None
        sync()
        save(end, force=True)
      if preempted.is_set():
        ckpt.wait()
        logging.warning(
          "SIGTERM: saved a checkpoint at step %d; run the same command to continue.", end
        )
        break
    if pending is not None:
      handle(*pending)
    progress.done()
    final_written = crossed(tc.sample_every, tc.num_steps - k, tc.num_steps)
    sync()
    if not (preempted.is_set() or final_written) and tc.num_steps > start:
      _write_preview(run, workdir, tc.num_steps, writer)
    if not preempted.is_set() and tc.num_steps > start:
      logging.info(
        "Final samples: %s", os.path.join(workdir, "samples", f"step_{tc.num_steps:07d}.png")
      )
  finally:
    batches.close()
    _close(run, ckpt)
    if writer is not None:
      writer.close()
    if old_handler is not None:
      signal.signal(signal.SIGTERM, old_handler)
  return run.state


# --------------------------------------------------------------------------------------
# Sample and eval modes.
# --------------------------------------------------------------------------------------


def restored_run(config, workdir: str, which: str = "newest") -> build.Run:
  """The Run of ``config`` with a checkpoint of ``workdir`` restored (input closed)."""
  run = build.build(config)
  ckpt = checkpoint.Checkpoints(workdir, config.train, async_save=False)
  try:
    found = ckpt.restore(run.state.arrays(), which)
    if found is None:
      raise FileNotFoundError(
        f"No checkpoint in {os.path.join(workdir, 'checkpoints')}; train first with "
        f"--mode=train --workdir={workdir}."
      )
    run.state = run.state.replace(**found[1])
    logging.info("Restored the %s checkpoint: step %d", which, found[0])
  finally:
    _close(run, ckpt)
  return run


def sample(
  config: ml_collections.ConfigDict, workdir: str, which: str = "newest", **kwargs
) -> dict[str, str]:
  """Writes the game's samples (for a generator: a grid, a slerp interpolation strip and
  truncated samples) from a checkpoint's EMA weights; returns their paths by kind.

  Args:
    which: the checkpoint: ``newest``, ``best`` or a step number.
    **kwargs: the game's options (``rows``, ``cols``, ``psis`` for a generator).
  """
  run = restored_run(config, workdir, which)
  if run.game.write_samples is None:
    raise ValueError(
      f"Game {config.game.name!r} writes no samples; use --mode=eval, or gan_jax.load(workdir)."
    )
  step_ = int(run.state.step)
  key = jax.random.fold_in(_sample_key(config.seed), step_)
  out_dir = os.path.join(workdir, "samples")
  paths = run.game.write_samples(run.sampler(), key, out_dir, f"{step_:07d}", config, **kwargs)
  for kind, path in paths.items():
    logging.info("Wrote %s: %s", kind, path)
  return paths


def evaluate_checkpoint(
  config: ml_collections.ConfigDict, workdir: str, which: str = "newest"
) -> dict[str, Any]:
  """Evaluates a checkpoint's EMA weights and appends to eval.jsonl.

  Args:
    which: the checkpoint: ``newest`` (good one), ``best`` or a step number.
  """
  run = restored_run(config, workdir, which)
  result = _evaluate(run, workdir, int(run.state.step), None)
  if not result:
    logging.warning("No evaluation is defined for dataset %r yet.", config.data.name)
  else:
    logging.info(
      "Eval at step %d: %s",
      int(run.state.step),
      {k: v for k, v in result.items() if k != "protocol"},
    )
  return result
