"""train_and_evaluate(config, workdir): build, restore, loop, periodic actions.

Read top to bottom: workdir checks, the Run (input, mesh, networks, game, state; see
``build.py``), checkpoints and restore (``checkpoint.py``), the compiled step
(``parallel.py``), then the loop with its periodic actions (log, previews, checkpoints,
evaluation). ``sample`` and ``evaluate_checkpoint`` back the CLI's other modes. Nothing
here knows which game or model family runs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import re
import signal
import sys
import threading
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from gan_jax import build, checkpoint, errors, evaluation, sampling, step
from gan_jax.errors import ConfigError


class NonFiniteError(errors.RunFailure):
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
  if result and "ada_p" in run.state.extra:  # ADA's augmentation probability
    result["ada_p"] = float(np.asarray(run.state.extra["ada_p"]))
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
  """A tqdm bar (steps/s, ETA, losses) on a terminal; plain log lines otherwise."""

  def __init__(self, total: int, start: int):
    self.total, self.start, self.t0 = total, start, time.time()
    self.tty = sys.stderr.isatty() and jax.process_index() == 0
    self.bar = None
    if self.tty:
      from tqdm import tqdm

      self.bar = tqdm(
        total=total, initial=start, unit="step", dynamic_ncols=True, smoothing=0.05, leave=True
      )

  def update(self, step_: int, metrics: dict[str, float], force_log: bool = False) -> None:
    losses = {k: metrics[k] for k in metrics if k.endswith("_loss")}
    if self.bar is not None:
      self.bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
      self.bar.update(step_ - self.bar.n)
    elif force_log:
      rate = (step_ - self.start) / max(time.time() - self.t0, 1e-9)
      eta = (self.total - step_) / rate if rate > 0 else float("inf")
      eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if np.isfinite(eta) else "?"
      vals = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
      logging.info("step %d/%d | %.2f steps/s | ETA %s | %s", step_, self.total, rate, eta_s, vals)

  def done(self) -> None:
    if self.bar is not None:
      self.bar.close()
      self.bar = None


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


def _summary_writer_class():
  """tensorboardX's ``SummaryWriter``, imported with PyTorch hidden when it is not loaded yet.

  tensorboardX imports torch whenever it is installed, only to accept torch tensors; that
  costs seconds at every start (2-7 s on a 2-core machine). gan_jax logs numpy values, so
  torch is hidden for the import (tensorboardX then takes numpy arrays alone) and unhidden
  after it.
  """
  if "tensorboardX" not in sys.modules and "torch" not in sys.modules:
    sys.modules["torch"] = None  # `import torch` raises ImportError
    try:
      import tensorboardX  # noqa: F401  (the import is the point)
    finally:
      del sys.modules["torch"]
  from tensorboardX import SummaryWriter

  return SummaryWriter


def _make_writer(workdir: str):
  if jax.process_index() != 0:
    return None
  return _summary_writer_class()(os.path.join(workdir, "tensorboard"))


# --------------------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------------------


def check_drift(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a config that changes what the saved run in ``workdir`` computes (read from
  its newest checkpoint's own record, else ``config.json``): before anything is built."""
  if config.train.get("allow_config_change", False):
    return
  saved = checkpoint.saved_config(workdir)
  drift = checkpoint.config_drift(saved, config) if saved is not None else []
  if drift:
    raise ConfigError(
      f"The config differs from the one the run in {workdir} was trained with, in fields "
      f"that change what it computes: {'; '.join(drift)}. Pass the run's own flags (its "
      "config.json holds them), use another --workdir, or pass "
      "--config.train.allow_config_change=True."
    )


def _restore_for_training(run: build.Run, ckpt: checkpoint.Checkpoints, workdir: str) -> int:
  """Restores the newest good checkpoint (or ``init_from``); returns the start step."""
  config, tc = run.config, run.config.train
  found = ckpt.restore(run.state.arrays())
  if found is not None:
    step_, arrays, _ = found
    run.state = run.state.replace(**arrays)
    logging.info("Restored checkpoint at step %d from %s; resuming", step_, ckpt.directory)
  elif tc.get("init_from", ""):
    arrays, names = checkpoint.init_from(
      tc.init_from, run.state.arrays(), tuple(tc.get("init_networks", ()))
    )
    run.state = run.state.replace(**arrays)
    logging.info("Networks %s start from the newest checkpoint of %s", list(names), tc.init_from)
  else:
    logging.info("Starting a fresh run in %s", workdir)
  start = int(run.state.step)
  if start % tc.steps_per_call:
    raise ConfigError(
      f"Restored step {start} is not a multiple of train.steps_per_call={tc.steps_per_call}."
    )
  if jax.process_index() == 0 and start < tc.num_steps:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))
  return start


def _close(run: build.Run, ckpt: checkpoint.Checkpoints | None) -> None:
  """Closes the checkpoints (raising the first failed save) and the input source."""
  try:
    if ckpt is not None:
      ckpt.close()
  finally:
    run.source.close()


def _root_cause(e: BaseException) -> str:
  """The innermost useful message of a failed write: the OS error, or the first line."""
  seen = e
  while seen is not None:
    if isinstance(seen, OSError) and seen.strerror:
      return seen.strerror
    m = re.search(r"\[OS error[^\]]*\]|No space left on device|File too large", str(seen))
    if m:
      return m.group(0).strip("[]")
    seen = seen.__cause__ or seen.__context__
  return errors.one_line(str(e))[:200] or type(e).__name__


def _save_failed(e: BaseException, ckpt: checkpoint.Checkpoints) -> errors.RunFailure:
  checkpoint.quiet_stragglers()  # the failed write's other in-flight writes report too
  steps = sorted(ckpt.manager.all_steps())
  return errors.RunFailure(
    f"Saving a checkpoint in {ckpt.directory} failed ({_root_cause(e)}). The checkpoints "
    f"already saved are intact (newest: {steps[-1] if steps else 'none'}); fix the cause "
    "(free space, permissions) and run the same command to continue."
  )


class _DiskWatch:
  """Stops the run before a checkpoint would fill the disk: the room needed is the real
  on-disk size of this run's newest saved checkpoint (array bytes plus metadata)."""

  def __init__(self, workdir: str, ckpt: checkpoint.Checkpoints, estimate: int):
    self.workdir, self.ckpt, self.size = workdir, ckpt, estimate
    self.measured = False

  def measure(self, step_: int) -> None:
    path = os.path.join(self.ckpt.directory, str(step_))
    if os.path.isdir(path):
      self.size, self.measured = checkpoint.directory_bytes(path), True

  def check(self, next_step: int) -> None:
    free = checkpoint.free_bytes(self.workdir)  # the fullest disk of all processes
    if free < 1.5 * self.size:
      latest = self.ckpt.latest_step()
      raise errors.RunFailure(
        f"The disk of {self.workdir} is nearly full: {free / 2**20:,.1f} MiB free, and a "
        f"checkpoint of this run takes {self.size / 2**20:,.1f} MiB; stopped before saving "
        f"step {next_step}. The checkpoints are intact (newest: {latest}); free space and "
        "run the same command to continue."
      )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> step.GANState:
  """Trains (or continues) the run in ``workdir`` and returns the final state.

  Args:
    config: the experiment config (see experiments/base.py).
    workdir: where checkpoints, samples, TensorBoard events, metrics.jsonl and
      eval.jsonl go; a workdir that holds checkpoints is resumed from its newest good one.

  Returns:
    The final GANState.

  Raises:
    A user error (``errors.is_user_error``: a bad config value, missing data, a workdir in
    use, a changed config) before anything is computed or written; ``errors.RunFailure``
    when a started run stops (a failed save, a full disk, a non-finite loss).
  """
  # ---- Config, workdir (one process owns it), the Run --------------------------------------
  with errors.user_input():
    build.validate_config(config)
    created = not os.path.exists(workdir)
    checkpoint.check_workdir(workdir)
    lock = _lock_workdir(workdir)
  try:
    with errors.user_input():
      check_drift(config, workdir)
    return _train(config, workdir)
  except BaseException as e:
    # A config refused while the Run is built (a model that cannot take these shapes, data
    # that is not there) leaves no trace: the workdir this call created goes again.
    if created and lock is not None and errors.is_user_error(e):
      lock.discard_workdir()
    raise
  finally:
    if lock is not None:
      lock.release()


def _lock_workdir(workdir: str) -> checkpoint.WorkdirLock | None:
  """Process 0 locks the workdir; in a multi-host run every process learns whether it did
  (so that none goes on into the collectives alone)."""
  lock, refused = None, None
  if jax.process_index() == 0:
    try:
      lock = checkpoint.WorkdirLock(workdir).acquire()
    except errors.WorkdirError as e:
      refused = e
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    ok = int(multihost_utils.broadcast_one_to_all(np.int32(refused is None)))
    if not ok and refused is None:
      refused = errors.WorkdirError(f"Workdir {workdir!r} is in use (process 0 could not lock it).")
  if refused is not None:
    raise refused
  return lock


def _train(config: ml_collections.ConfigDict, workdir: str) -> step.GANState:
  tc = config.train
  k = tc.steps_per_call
  with errors.user_input():
    if "inception" in evaluation.metric_names(config):
      _check_inception_weights(config)
    run = build.build(config)
    try:
      evaluation.check(config, tuple(run.game.predict), read_heldout=tc.eval_every > 0)
    except BaseException:
      run.source.close()
      raise

  # ---- Checkpoints and restore -----------------------------------------------------------
  ckpt = None
  try:
    with errors.user_input():
      ckpt = checkpoint.Checkpoints(workdir, tc)
      newest = ckpt.latest_step()
      estimate = run.state_bytes() + checkpoint.CHECKPOINT_OVERHEAD_BYTES
      if newest is not None:  # the real size of a checkpoint of this run
        estimate = max(
          estimate, checkpoint.directory_bytes(os.path.join(ckpt.directory, str(newest)))
        )
      # The checkpoints kept, one being written, and the best one.
      copies = tc.keep_checkpoints + 1 + bool(ckpt.best_metric)
      checkpoint.check_free_space(workdir, estimate, copies)
      start = _restore_for_training(run, ckpt, workdir)
  except BaseException:
    _close(run, ckpt)
    raise
  logging.info(
    "Run: %s game, %s model, %s data, batch %d, to step %d",
    config.game.name,
    config.model.name,
    config.data.name,
    config.data.batch_size,
    tc.num_steps,
  )
  if start >= tc.num_steps:
    _close(run, ckpt)
    logging.info(
      "The run is at step %d, at or past train.num_steps=%d: nothing to train. Raise "
      "--config.train.num_steps to continue it.",
      start,
      tc.num_steps,
    )
    return run.state
  disk = _DiskWatch(workdir, ckpt, estimate)
  checkpoint.quiet_stragglers(float("inf"))
  saved_steps: list[int] = []

  def wait() -> None:
    """Waits for the background save; its failure is reported as a failed save."""
    try:
      ckpt.wait()
    except Exception as e:  # noqa: BLE001 (Orbax / TensorStore errors of the write)
      raise _save_failed(e, ckpt) from e

  def save(s: int, force: bool = False) -> None:
    if saved_steps and not disk.measured:
      wait()  # the previous save is this run's: measure its real size
      disk.measure(saved_steps[-1])
    disk.check(s)
    meta = {"step": s, "data_position": s, "config": json.loads(config.to_json_best_effort())}
    try:
      ckpt.save(s, run.state.arrays(), meta, force=force)
    except Exception as e:  # this save, or the one before it in the background, failed
      raise _save_failed(e, ckpt) from e
    saved_steps.append(s)

  def keep_if_best(s: int, result: dict[str, Any]) -> None:
    try:
      ckpt.keep_if_best(s, run.state.arrays(), result)
    except Exception as e:  # noqa: BLE001 (a failed write of the best checkpoint)
      raise _save_failed(e, ckpt) from e

  def crossed(every: int, before: int, after: int) -> bool:
    return every > 0 and after // every != before // every

  # ---- The compiled step and the loop ----------------------------------------------------
  writer = metrics_log = progress = batches = old_handler = None
  preempted = threading.Event()
  failure: BaseException | None = None
  try:
    p_step = run.compiled_step(k)
    writer = _make_writer(workdir)
    metrics_log = _MetricsLog(workdir)
    progress = _Progress(tc.num_steps, start)
    pending = None  # (step after the call, metrics on device): read one call late.
    last_log_t, last_log_step = time.time(), start
    compile_t0 = time.time()

    def handle(end: int, metrics) -> None:
      nonlocal last_log_t, last_log_step
      m = {key: float(v) for key, v in jax.device_get(metrics).items()}
      if m["nonfinite"] > 0:
        if tc.nan_policy == "stop":
          wait()
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
        metrics_log.write(end, m)
        progress.update(end, m, force_log=True)
      else:
        progress.update(end, m)

    run_state = run.layout.run_state(run.state)

    def sync() -> None:  # run.state <- the running state (for saving and sampling)
      run.state = run.layout.host_state(run_state)

    batches = _prefetch(run, start, tc.num_steps, k)
    if threading.current_thread() is threading.main_thread():
      old_handler = signal.signal(signal.SIGTERM, lambda *_: preempted.set())
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
        keep_if_best(end, _evaluate(run, workdir, end, writer))
      if crossed(tc.checkpoint_every, s, end) or end == tc.num_steps or preempted.is_set():
        handle(*pending)  # Apply the NaN policy before anything is saved.
        pending = None
        sync()
        save(end, force=True)
      if preempted.is_set():
        wait()
        logging.warning(
          "SIGTERM: saved a checkpoint at step %d; run the same command to continue.", end
        )
        break
    if pending is not None:
      handle(*pending)
    progress.done()
    final_written = crossed(tc.sample_every, tc.num_steps - k, tc.num_steps)
    sync()
    if not (preempted.is_set() or final_written):
      _write_preview(run, workdir, tc.num_steps, writer)
    if not preempted.is_set():
      logging.info(
        "Final samples: %s", os.path.join(workdir, "samples", f"step_{tc.num_steps:07d}.png")
      )
  except errors.RunFailure as e:
    failure = e
    raise
  except OSError as e:  # a full disk or a lost mount under samples, logs or checkpoints
    failure = _io_failed(e, ckpt) if _is_workdir_error(e, workdir) else e
    if failure is e:
      raise
    raise failure from e
  except BaseException as e:
    failure = e
    raise
  finally:
    if progress is not None:
      progress.done()
    if batches is not None:
      batches.close()
    try:
      _close(run, ckpt)
    except Exception as e:
      if failure is None:  # a save that failed in the background: the run's only failure
        raise _save_failed(e, ckpt) from e
      logging.debug("Also failed while closing the checkpoints: %s", e)
    finally:
      if metrics_log is not None:
        metrics_log.close()
      if writer is not None:
        with contextlib.suppress(Exception):
          writer.close()
      if old_handler is not None:
        signal.signal(signal.SIGTERM, old_handler)
  return run.state


def _is_workdir_error(e: OSError, workdir: str) -> bool:
  """An error of writing the run's own files (not of reading the data)."""
  if e.filename:
    return os.path.abspath(str(e.filename)).startswith(os.path.abspath(workdir) + os.sep)
  return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _io_failed(e: OSError, ckpt: checkpoint.Checkpoints) -> errors.RunFailure:
  steps = sorted(ckpt.manager.all_steps())
  return errors.RunFailure(
    f"Writing to {e.filename or 'the workdir'} failed ({e.strerror or e}). The checkpoints "
    f"are intact (newest: {steps[-1] if steps else 'none'}); fix the cause (free space, "
    "permissions) and run the same command to continue."
  )


class _MetricsLog:
  """``WORKDIR/metrics.jsonl``: the logged training metrics, one JSON object per log step
  (what ``--mode=report`` plots; TensorBoard gets the same values)."""

  def __init__(self, workdir: str):
    self.f = None
    if jax.process_index() == 0:
      self.f = open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115

  def write(self, step_: int, metrics: dict[str, float]) -> None:
    if self.f is not None:
      record = {"step": step_, **{k: v for k, v in metrics.items() if np.isfinite(v)}}
      self.f.write(json.dumps(record) + "\n")
      self.f.flush()

  def close(self) -> None:
    if self.f is not None:
      with contextlib.suppress(OSError):
        self.f.close()


# --------------------------------------------------------------------------------------
# Sample and eval modes.
# --------------------------------------------------------------------------------------


def restored_run(config, workdir: str, which: str = "newest") -> build.Run:
  """The Run of ``config`` with a checkpoint of ``workdir`` restored (input closed).

  A config whose data, model or game differ from the run's own (``checkpoint.READ_FIELDS``)
  is used as given, with a warning naming the fields: a sampling option such as
  ``game.standing_stats`` may be chosen at evaluation, but forgetting a training flag also
  lands here. When the checkpoint then cannot be restored into this config's networks,
  the error names the differing fields."""
  saved = checkpoint.saved_config(workdir)
  drift = checkpoint.config_drift(saved, config, checkpoint.READ_FIELDS) if saved else []
  if drift:
    logging.warning(
      "Reading the run in %s with a config that differs from its own (its config.json) in: %s.",
      workdir,
      "; ".join(drift),
    )
  with errors.user_input():
    run = build.build(config)
  ckpt = checkpoint.Checkpoints(workdir, config.train, async_save=False)
  try:
    with errors.user_input():
      try:
        found = ckpt.restore(run.state.arrays(), which)
      except Exception as e:
        if not drift:
          raise
        raise ConfigError(
          f"{e}\nThe config differs from the one the run in {workdir} was trained with: "
          f"{'; '.join(drift)}. Pass the run's own flags (its config.json holds them)."
        ) from e
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
    raise ConfigError(
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
