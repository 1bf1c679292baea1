"""train_and_evaluate(config, workdir): build, restore, loop, periodic actions.

Read top to bottom: workdir and config checks, input, mesh and models, state (created
already sharded), restore, the compiled step, then the loop with its periodic actions
(log, samples, checkpoints, evaluation). ``sample`` and ``evaluate_checkpoint`` back the
CLI's other modes.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sys
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from gan_jax import checkpoint, data, evaluation, losses, models, parallel, sampling, step
from gan_jax.metrics import mixtures

# Fields that change shapes or semantics: a resumed run must not change them silently.
LOCKED_FIELDS = (
  "seed",
  "data.name",
  "data.resolution",
  "data.batch_size",
  "data.channels",
  "data.crop",
  "data.split",
  "data.tfds_name",
  "data.folder",
  "model",
  "loss",
  "optim.g",
  "optim.d",
  "optim.n_critic",
  "optim.ema_decay",
)
NAN_POLICIES = ("stop", "skip")
PMAP_AXIS = "batch"  # the pmap axis name of parallel.strategy='pmap'


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN or infinite under ``train.nan_policy='stop'``."""


# --------------------------------------------------------------------------------------
# Config and workdir checks: everything that can fail does so before any compute.
# --------------------------------------------------------------------------------------


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the bad field and its valid values."""
  losses.get_loss(config.loss.name)
  if config.loss.penalty not in losses.PENALTIES:
    raise ValueError(
      f"Unknown loss.penalty {config.loss.penalty!r}; valid: {list(losses.PENALTIES)}"
    )
  if config.model.name not in models.MODELS:
    raise ValueError(f"Unknown model {config.model.name!r}; valid models: {sorted(models.MODELS)}")
  if config.data.name not in data.DATASETS:
    raise ValueError(
      f"Unknown dataset {config.data.name!r}; valid datasets: {sorted(data.DATASETS)}"
    )
  models.compute_dtype(config.model.dtype)
  if config.model.z_dist not in step.Z_DISTS:
    raise ValueError(f"Unknown model.z_dist {config.model.z_dist!r}; valid: {list(step.Z_DISTS)}")
  for player in ("g", "d"):
    step.make_optimizer(config.optim[player])
  if config.optim.n_critic < 1:
    raise ValueError(f"optim.n_critic must be >= 1; got {config.optim.n_critic}")
  if config.train.nan_policy not in NAN_POLICIES:
    raise ValueError(
      f"Unknown train.nan_policy {config.train.nan_policy!r}; valid: {list(NAN_POLICIES)}"
    )
  if config.loss.penalty != "none" and config.model.get("d_norm", "none") == "batch":
    raise ValueError(
      f"loss.penalty={config.loss.penalty!r} needs per-sample gradients of D, which "
      "BatchNorm couples across the batch: set model.d_norm to 'layer' or 'none' "
      "(Gulrajani et al. 2017, Section 4)."
    )
  k = config.train.steps_per_call
  if k < 1 or config.train.num_steps % k:
    raise ValueError(
      f"train.num_steps={config.train.num_steps} must be a multiple of "
      f"train.steps_per_call={k} (>= 1)."
    )
  if config.data.batch_size < 1:
    raise ValueError(f"data.batch_size must be positive; got {config.data.batch_size}")
  if config.train.get("best_mode", "min") not in ("min", "max"):
    raise ValueError(f"train.best_mode must be 'min' or 'max'; got {config.train.best_mode!r}")
  strategy = _strategy(config)
  if strategy not in parallel.STRATEGIES:
    raise ValueError(f"Unknown parallel.strategy {strategy!r}; valid: {list(parallel.STRATEGIES)}")


def _strategy(config: ml_collections.ConfigDict) -> str:
  return config.get("parallel", {}).get("strategy", "jit")


def check_workdir(workdir: str) -> None:
  """Creates ``workdir`` and proves it writable now rather than at the first save."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_probe_{os.getpid()}")
    with open(probe, "wb") as f:
      f.write(b"\0" * 65536)
      f.flush()
      os.fsync(f.fileno())
    os.remove(probe)
  except OSError as e:
    raise OSError(
      f"Workdir {workdir!r} is not writable ({e.strerror or e}); choose "
      "another --workdir or free space."
    ) from e


def check_free_space(workdir: str, checkpoint_bytes: int, copies: int) -> None:
  """Refuses to start where not even one checkpoint fits; warns where ``copies`` won't.

  Every process of a multi-host run takes the same decision, on the fullest disk among
  them, so that none is left waiting for the others in a collective.
  """
  free = shutil.disk_usage(workdir).free
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    free_mib = multihost_utils.process_allgather(np.float32(free / 2**20))
    free = int(float(np.min(free_mib)) * 2**20)
  mib = lambda n: f"{n / 2**20:,.1f} MiB"  # noqa: E731
  if free < checkpoint_bytes:
    raise OSError(
      f"Workdir {workdir!r} has {mib(free)} free, less than one checkpoint of this run "
      f"({mib(checkpoint_bytes)}); free space or choose another --workdir."
    )
  if free < copies * checkpoint_bytes and jax.process_index() == 0:
    logging.warning(
      "Workdir %s has %s free; the run keeps up to %d checkpoints of %s (more with "
      "train.keep_period).",
      workdir,
      mib(free),
      copies,
      mib(checkpoint_bytes),
    )


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, key + "."))
    else:
      out[key] = v
  return out


def config_drift(saved: dict, config: ml_collections.ConfigDict) -> list[str]:
  """Lists locked fields whose value differs between the saved and the given config."""
  now = _flatten(json.loads(config.to_json_best_effort()))
  old = _flatten(saved)
  diffs = []
  for key in sorted(set(now) | set(old)):
    if key not in old:  # a field newer than the saved run: it had the default behaviour
      continue
    if any(key == f or key.startswith(f + ".") for f in LOCKED_FIELDS):
      if now.get(key) != old.get(key):
        diffs.append(f"{key}: saved {old.get(key)!r}, now {now.get(key)!r}")
  return diffs


# --------------------------------------------------------------------------------------
# Building blocks shared by the modes.
# --------------------------------------------------------------------------------------


def _best_manager(workdir: str):
  """The manager of ``WORKDIR/best_checkpoint``: one step, the best by train.best_metric."""
  return checkpoint.make_manager(workdir, 1, None, async_save=False, subdir="best_checkpoint")


class Setup:
  """What every mode builds: input source, mesh, models, initial state, checkpoints.

  With ``workdir=None`` (the benchmark) no checkpoint manager is made.
  """

  def __init__(
    self, config: ml_collections.ConfigDict, workdir: str | None, async_save: bool = True
  ):
    validate_config(config)
    self.config = config
    self.workdir = workdir
    self.strategy = _strategy(config)
    self.source = data.build_source(
      config.data, config.seed, jax.process_index(), jax.process_count()
    )
    spec = self.source.spec
    self.num_classes = spec.num_classes if config.model.get("conditional", False) else 0
    self.mesh = parallel.make_mesh()
    self.local_mesh = parallel.local_mesh()
    parallel.check_batch_size(config.data.batch_size, self.mesh)
    self.generator, self.discriminator = models.build_models(
      config.model, spec.sample_shape, self.num_classes
    )
    g_tx, d_tx = step.make_optimizer(config.optim.g), step.make_optimizer(config.optim.d)
    init = lambda key: step.init_state(  # noqa: E731
      key,
      self.generator,
      self.discriminator,
      g_tx,
      d_tx,
      spec.sample_shape,
      config.model.z_dim,
      self.num_classes,
    )
    self.rep = parallel.replicated(self.mesh)
    # Created already replicated on every device, never assembled on the host.
    self.state = jax.jit(init, out_shardings=self.rep)(jax.random.key(config.seed))
    self.best_metric = config.train.get("best_metric", "")
    self.best_value = None
    self.manager = self.best_manager = None
    if workdir is not None:
      self.manager = checkpoint.make_manager(
        workdir, config.train.keep_checkpoints, config.train.get("keep_period") or None, async_save
      )
      if self.best_metric:
        self.best_manager = _best_manager(workdir)
        best_step = self.best_manager.latest_step()
        if best_step is not None:
          meta = checkpoint.read_meta(self.best_manager, best_step)
          mode = config.train.get("best_mode", "min")
          if (meta.get("metric"), meta.get("mode", "min")) == (self.best_metric, mode):
            self.best_value = meta["value"]
          else:
            logging.warning(
              "The best checkpoint in %s was chosen by %s (%s); starting afresh with %s (%s).",
              self.best_manager.directory,
              meta.get("metric"),
              meta.get("mode", "min"),
              self.best_metric,
              mode,
            )

  def state_bytes(self) -> int:
    """The size of the state's arrays: about what one checkpoint takes on disk."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(self.state.arrays()))

  def close(self) -> None:
    """Waits for pending saves, closes the checkpoint managers and the input source.

    Everything is closed even when a save failed; the first failure is raised after.
    """
    errors = []
    for m in (self.manager, self.best_manager):
      if m is not None:
        try:
          m.wait_until_finished()
        except Exception as e:  # noqa: BLE001 (raised below, once all is closed)
          errors.append(e)
        finally:
          m.close()
    self.source.close()
    if errors:
      raise errors[0]

  def keep_if_best(self, step_: int, result: dict[str, Any]) -> bool:
    """Saves the state to ``WORKDIR/best_checkpoint`` when ``train.best_metric`` improved."""
    if not self.best_metric:
      return False
    if self.best_metric not in result:
      logging.warning(
        "train.best_metric=%r is not among this evaluation's metrics %s.",
        self.best_metric,
        sorted(k for k in result if k != "protocol"),
      )
      return False
    value = float(result[self.best_metric])
    if jax.process_count() > 1:  # every process must take the same decision (a collective save)
      from jax.experimental import multihost_utils

      value = float(multihost_utils.broadcast_one_to_all(np.float64(value)))
    if np.isnan(value):
      return False
    mode = self.config.train.get("best_mode", "min")
    if self.best_value is not None and not (
      value < self.best_value if mode == "min" else value > self.best_value
    ):
      return False
    self.best_value = value
    meta = {"step": step_, "metric": self.best_metric, "mode": mode, "value": value}
    if step_ in self.best_manager.all_steps():  # a run resumed behind its best step
      self.best_manager.delete(step_)
    checkpoint.save(self.best_manager, step_, self.state.arrays(), meta, force=True)
    logging.info("New best %s = %.6g at step %d", self.best_metric, value, step_)
    return True

  def train_step(self, steps_per_call: int, jit: bool = True):
    """The step over ``[steps_per_call, n_critic, B, ...]`` batches, compiled.

    Under ``parallel.strategy='jit'`` (the default) the step is jitted with the batch
    sharded over the mesh and the state replicated; under ``'pmap'`` the same pure step
    runs per device with gradients and BatchNorm statistics averaged over ``PMAP_AXIS``.
    Either way the compiled function takes ``(self.run_state(state), self.device_batch(b))``
    and donates the state. ``jit=False`` returns the pure (jit-strategy) function.
    """
    if self.strategy == "pmap" and jit:
      return self._pmap_step(steps_per_call)
    fn = self._pure_step(steps_per_call, self.generator, self.discriminator)
    if not jit:
      return fn
    return jax.jit(
      fn,
      in_shardings=(self.rep, parallel.batch_sharding(self.mesh, 2)),
      out_shardings=(self.rep, self.rep),
      donate_argnums=0,
    )

  def _pure_step(self, steps_per_call: int, generator, discriminator, axis_name=None):
    step_cfg = step.StepConfig.from_config(self.config, self.num_classes, axis_name=axis_name)
    train_step = step.make_train_step(generator, discriminator, step_cfg)
    return step.make_multi_step(train_step, steps_per_call)

  def _pmap_step(self, steps_per_call: int):
    # The same modules with BatchNorm statistics averaged over the pmap axis.
    g, d = models.build_models(
      self.config.model, self.source.spec.sample_shape, self.num_classes, axis_name=PMAP_AXIS
    )
    fn = self._pure_step(steps_per_call, g, d, axis_name=PMAP_AXIS)
    pmapped = jax.pmap(fn, axis_name=PMAP_AXIS, donate_argnums=0)

    def run(state, batch):
      state, metrics = pmapped(state, batch)
      return state, jax.tree.map(lambda m: m[0], metrics)  # averaged over devices already

    return run

  def device_batch(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """This process's ``[k, n_critic, B_local, ...]`` batch, placed for the strategy."""
    if self.strategy == "pmap":
      return parallel.to_pmap_batch(local, self.local_mesh, batch_axis=2)
    return parallel.to_global(local, self.mesh, batch_axis=2)

  def run_state(self, state: step.GANState) -> step.GANState:
    """The state in the layout the compiled step takes (one replica a device for pmap)."""
    if self.strategy == "pmap":
      return parallel.stack_replicas(state, self.local_mesh)
    return state

  def host_state(self, run_state: step.GANState) -> step.GANState:
    """The inverse of ``run_state``: replicated global arrays (checkpoints, sampling)."""
    if self.strategy == "pmap":
      return parallel.unstack_replicas(run_state, self.rep)
    return run_state

  def restore(self, which: str = "newest") -> dict | None:
    """Restores a checkpoint into ``self.state``; returns its meta, or None if there is none.

    Args:
      which: ``newest`` (the newest good step), ``best`` (``WORKDIR/best_checkpoint``),
        or a step number.
    """
    if which != "newest":
      manager, step_ = self.manager, int(which) if which != "best" else None
      if which == "best":
        self.best_manager = manager = self.best_manager or _best_manager(self.workdir)
        step_ = manager.latest_step()
        if step_ is None:
          raise FileNotFoundError(
            f"No best checkpoint in {manager.directory}: set train.best_metric and "
            "train.eval_every when training."
          )
      arrays, meta = checkpoint.restore_step(manager, step_, self.state.arrays())
      self.state = self.state.replace(**arrays)
      logging.info("Restored the %s checkpoint: step %d", which, step_)
      return meta
    found = checkpoint.restore_newest_good(self.manager, self.state.arrays())
    if found is None:
      return None
    step_, arrays, meta = found
    self.state = self.state.replace(**arrays)
    logging.info("Restored checkpoint at step %d from %s", step_, self.manager.directory)
    return meta

  def sample_fn(self, params=None):
    """``(key, n) -> samples`` from the EMA generator (inference mode), in batches."""
    params = params if params is not None else self.state.g_ema_params
    g_vars = self.state.g_vars
    # Replicated in and out, so every process of a multi-host run takes part and holds
    # the whole result.
    gen = jax.jit(
      lambda p, v, z, y: step.generate(self.generator, p, v, z, y), out_shardings=self.rep
    )
    z_dim, dist = self.config.model.z_dim, self.config.model.z_dist

    def fn(key, n, z=None):
      z = np.asarray(step.sample_z(key, n, z_dim, dist) if z is None else z)
      labels = (np.arange(n, dtype=np.int32) % self.num_classes) if self.num_classes else None
      out = []
      for i in range(0, n, 500):
        zi = jax.device_put(z[i : i + 500], self.rep)
        y = jax.device_put(labels[i : i + 500], self.rep) if labels is not None else None
        out.append(np.asarray(gen(params, g_vars, zi, y).addressable_data(0)))
      return np.concatenate(out)

    return fn


def _sample_key(seed: int) -> jax.Array:
  """A key for sample grids and evaluation, apart from the training keys."""
  return jax.random.fold_in(jax.random.key(seed), 0x7FFFFFFF)


def _write_samples(setup: Setup, step_: int, writer) -> str:
  """Writes the fixed-z sample grid (or 2-D scatter plot) for ``step_``; returns the path."""
  cfg = setup.config
  fn = setup.sample_fn()
  samples = fn(
    _sample_key(cfg.seed),
    cfg.train.num_samples if setup.source.spec.kind == "image" else cfg.eval.num_samples,
  )
  if setup.source.spec.kind == "points":
    means = mixtures.mixture_spec(cfg.data.name)[0] if cfg.data.name in mixtures.MIXTURES else None
    image = sampling.scatter_plot(samples, means)
    scale = 1
  else:
    image = sampling.make_grid(samples)
    scale = max(1, 256 // image.shape[0])
  path = os.path.join(setup.workdir, "samples", f"step_{step_:07d}.png")
  if jax.process_index() == 0:  # every process computes (global arrays), one writes
    sampling.save_image(path, image, scale)
  if writer is not None:
    writer.add_image("samples", np.transpose(image, (2, 0, 1)), step_)
  return path


def _evaluate(setup: Setup, step_: int, writer) -> dict[str, Any]:
  cfg = setup.config
  fn, key = setup.sample_fn(), jax.random.fold_in(_sample_key(cfg.seed), 1)
  result = evaluation.evaluate(cfg.data.name, fn, key, cfg.eval.num_samples)
  if cfg.eval.get("inception", False):
    from gan_jax.metrics import inception_eval

    scores = inception_eval.evaluate(cfg, fn, key)
    protocol = {"inception": scores.pop("protocol")}
    if "protocol" in result:
      protocol[cfg.data.name] = result.pop("protocol")
    result = {**result, **scores, "protocol": protocol}
  if result and jax.process_index() == 0:
    evaluation.append_jsonl(setup.workdir, {"step": step_, **result})
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


def _prefetch(
  source: data.Source, place, start: int, stop: int, k: int, n_critic: int, depth: int = 2
):
  """Yields device batches ``[k, n_critic, B, ...]`` for steps start, start+k, ... ahead."""
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
        parts = [source.batch(s + i, n_critic) for i in range(k)]
        local = {key: np.stack([p[key] for p in parts]) for key in parts[0]}
        if not put((s, place(local))):
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


def _restore_for_training(setup: Setup, workdir: str) -> int:
  """Checks config drift, restores the newest good checkpoint; returns the start step."""
  config, tc = setup.config, setup.config.train
  saved_config = os.path.join(workdir, "config.json")
  if setup.manager.latest_step() is not None and os.path.exists(saved_config):
    with open(saved_config) as f:
      drift = config_drift(json.load(f), config)
    if drift and not tc.get("allow_config_change", False):
      raise ValueError(
        "The config differs from the one this workdir was trained with in fields that "
        "change shapes or semantics:\n  "
        + "\n  ".join(drift)
        + "\nUse another --workdir, or pass --config.train.allow_config_change=True."
      )
  setup.restore()
  start = int(setup.state.step)
  if start % tc.steps_per_call:
    raise ValueError(
      f"Restored step {start} is not a multiple of train.steps_per_call={tc.steps_per_call}."
    )
  if jax.process_index() == 0:
    with open(saved_config, "w") as f:
      f.write(config.to_json_best_effort(indent=2))
  return start


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> step.GANState:
  """Trains (or continues) the run in ``workdir`` and returns the final state.

  Args:
    config: the experiment config (see experiments/base.py).
    workdir: where checkpoints, samples, TensorBoard events and eval.jsonl go; a workdir
      that holds checkpoints is resumed from its newest good one.

  Returns:
    The final GANState.
  """
  # ---- Workdir, config, input, models, state ------------------------------------------
  check_workdir(workdir)
  if config.eval.get("inception", False):
    _check_inception_weights(config)
  setup = Setup(config, workdir)
  tc = config.train
  k, n_critic = tc.steps_per_call, config.optim.n_critic

  # ---- Restore -------------------------------------------------------------------------
  try:
    # The checkpoints kept, one being written, and the best one.
    copies = tc.keep_checkpoints + 1 + bool(setup.best_metric)
    check_free_space(workdir, setup.state_bytes(), copies)
    start = _restore_for_training(setup, workdir)
  except BaseException:
    setup.close()
    raise

  # ---- The compiled step ---------------------------------------------------------------
  p_step = setup.train_step(k)

  def save(s: int, force: bool = False) -> None:
    meta = {"step": s, "data_position": s, "config": json.loads(config.to_json_best_effort())}
    checkpoint.save(setup.manager, s, setup.state.arrays(), meta, force=force)

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
        setup.manager.wait_until_finished()
        good = setup.manager.latest_step()
        raise NonFiniteError(
          f"Non-finite loss or gradient at step {end - 1} (update dropped). Last good "
          f"checkpoint: {good if good is not None else 'none'} in "
          f"{setup.manager.directory}. Lower the learning rates, or set "
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

  run_state = setup.run_state(setup.state)

  def sync() -> None:  # setup.state <- the running state (for saving and sampling)
    setup.state = setup.host_state(run_state)

  batches = _prefetch(setup.source, setup.device_batch, start, tc.num_steps, k, n_critic)
  try:
    for s, batch in batches:
      run_state, metrics = p_step(run_state, batch)  # setup.state is stale until sync()
      end = s + k
      if s == start:
        logging.info("First step compiled and dispatched in %.1fs", time.time() - compile_t0)
      if pending is not None:
        handle(*pending)
      pending = (end, metrics)
      if crossed(tc.sample_every, s, end):
        sync()
        _write_samples(setup, end, writer)
      if crossed(tc.eval_every, s, end):
        sync()
        setup.keep_if_best(end, _evaluate(setup, end, writer))
      if crossed(tc.checkpoint_every, s, end) or end == tc.num_steps or preempted.is_set():
        handle(*pending)  # Apply the NaN policy before anything is saved.
        pending = None
        sync()
        save(end, force=True)
      if preempted.is_set():
        setup.manager.wait_until_finished()
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
      _write_samples(setup, tc.num_steps, writer)
    if not preempted.is_set() and tc.num_steps > start:
      logging.info(
        "Final samples: %s", os.path.join(workdir, "samples", f"step_{tc.num_steps:07d}.png")
      )
  finally:
    batches.close()
    setup.close()
    if writer is not None:
      writer.close()
    if old_handler is not None:
      signal.signal(signal.SIGTERM, old_handler)
  return setup.state


# --------------------------------------------------------------------------------------
# Sample and eval modes.
# --------------------------------------------------------------------------------------


def _restored_setup(config, workdir, which: str = "newest") -> Setup:
  setup = Setup(config, workdir, async_save=False)
  try:
    if setup.restore(which) is None:
      raise FileNotFoundError(
        f"No checkpoint in {os.path.join(workdir, 'checkpoints')}; train first with "
        f"--mode=train --workdir={workdir}."
      )
  finally:
    setup.close()
  return setup


def sample(
  config: ml_collections.ConfigDict,
  workdir: str,
  rows: int = 8,
  cols: int = 8,
  psis: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0),
  which: str = "newest",
) -> dict[str, str]:
  """Writes a grid, a slerp interpolation strip and truncated samples of the EMA generator.

  Args:
    which: the checkpoint: ``newest``, ``best`` or a step number.

  Returns:
    Paths of the written PNG files by kind.
  """
  setup = _restored_setup(config, workdir, which)
  step_ = int(setup.state.step)
  fn = setup.sample_fn()
  key = jax.random.fold_in(_sample_key(config.seed), step_)
  k_grid, k_interp, k_trunc = jax.random.split(key, 3)
  out_dir = os.path.join(workdir, "samples")
  z_dim, dist = config.model.z_dim, config.model.z_dist
  paths = {}
  if setup.source.spec.kind == "points":
    means = (
      mixtures.mixture_spec(config.data.name)[0] if config.data.name in mixtures.MIXTURES else None
    )
    pts = fn(k_grid, config.eval.num_samples)
    paths["grid"] = os.path.join(out_dir, f"sample_scatter_{step_:07d}.png")
    sampling.save_image(paths["grid"], sampling.scatter_plot(pts, means))
    return paths

  def save_grid(name, z, ncol):
    images = fn(None, z.shape[0], z=z)
    grid = sampling.make_grid(images, ncol)
    path = os.path.join(out_dir, f"{name}_{step_:07d}.png")
    if jax.process_index() == 0:
      sampling.save_image(path, grid, max(1, 512 // grid.shape[1]))
    return path

  paths["grid"] = save_grid("sample_grid", step.sample_z(k_grid, rows * cols, z_dim, dist), cols)
  paths["interpolation"] = save_grid(
    "interpolation", sampling.interpolation_latents(k_interp, rows, cols, z_dim), cols
  )
  z = step.sample_z(k_trunc, cols, z_dim, dist)
  zt = jnp.concatenate([sampling.truncate(z, psi) for psi in psis])  # a row per psi
  paths["truncation"] = save_grid("truncation", zt, cols)
  for kind, path in paths.items():
    logging.info("Wrote %s: %s", kind, path)
  return paths


def evaluate_checkpoint(
  config: ml_collections.ConfigDict, workdir: str, which: str = "newest"
) -> dict[str, Any]:
  """Evaluates a checkpoint's EMA generator and appends to eval.jsonl.

  Args:
    which: the checkpoint: ``newest`` (good one), ``best`` or a step number.
  """
  setup = _restored_setup(config, workdir, which)
  result = _evaluate(setup, int(setup.state.step), None)
  if not result:
    logging.warning("No evaluation is defined for dataset %r yet.", config.data.name)
  else:
    logging.info(
      "Eval at step %d: %s",
      int(setup.state.step),
      {k: v for k, v in result.items() if k != "protocol"},
    )
  return result
