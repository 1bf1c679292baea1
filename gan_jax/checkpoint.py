"""Orbax checkpoints: save the whole GANState, restore the newest good step.

A checkpoint step directory holds two items: ``state`` (every array of the GANState:
parameters, optimizer states, collections and EMA copies keyed by network name, the
game's extra state, the step) and ``meta`` (JSON: format version, step, data position,
the config, and a CRC32 of every array). Saves
are asynchronous and atomic (written to a temporary directory, then renamed). A newest
step that fails to restore, or whose arrays do not match their checksums (a flipped bit
the storage layer would not notice), is reported and skipped for the one before it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging as pylogging
import os
import shutil
import socket
import sys
import time
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.errors import RunFailure, WorkdirError

# 2: arrays keyed by network name (params/opt_state/collections/ema/extra). 1 (no version
# in meta): one generator and one discriminator (g_params, d_params, g_ema_params, ...).
FORMAT_VERSION = 2
_V1_LAYOUT = {
  "g_params": ("params", "g"),
  "d_params": ("params", "d"),
  "g_ema_params": ("ema", "g"),
  "g_opt_state": ("opt_state", "g"),
  "d_opt_state": ("opt_state", "d"),
  "g_vars": ("collections", "g"),
  "d_vars": ("collections", "d"),
}


class NoGoodCheckpointError(RunFailure):
  """Every checkpoint in the directory failed to restore."""


class FormatError(ValueError):
  """A checkpoint of an older layout that cannot be converted to this run's state."""


def _v1_target(target: dict[str, Any], where: str) -> dict[str, Any]:
  """This run's state in the format-1 layout, or FormatError when it has no such form."""
  if set(target["params"]) != {"g", "d"} or set(target["ema"]) != {"g"} or target["extra"]:
    raise FormatError(
      f"{where} was written before named networks (format 1: one generator 'g' and one "
      f"discriminator 'd'); this run's networks are {sorted(target['params'])} with EMA "
      f"{sorted(target['ema'])} and extra state {sorted(target['extra'])}. Continue it "
      "with the classic game (game.name='gan') and its model, or start a new --workdir."
    )
  out = {"step": target["step"], "nonfinite_count": target["nonfinite_count"]}
  for old, (field, name) in _V1_LAYOUT.items():
    out[old] = target[field][name]
  return out


def _from_v1(old: dict[str, Any]) -> dict[str, Any]:
  new = {"step": old["step"], "nonfinite_count": old["nonfinite_count"], "extra": {}}
  for key, (field, name) in _V1_LAYOUT.items():
    new.setdefault(field, {})[name] = old[key]
  return new


def make_manager(
  workdir: str,
  max_to_keep: int = 3,
  keep_period: int | None = None,
  async_save: bool = True,
  subdir: str = "checkpoints",
) -> ocp.CheckpointManager:
  """A CheckpointManager over ``WORKDIR/<subdir>`` with the ``state`` and ``meta`` items.

  Args:
    workdir: the run's directory.
    max_to_keep: newest checkpoints kept.
    keep_period: also keep every step that is a multiple of this (None: none kept extra).
    async_save: write in a background thread while training continues.
    subdir: ``checkpoints`` for the run, ``best_checkpoint`` for the best by a metric.

  Returns:
    The manager.
  """
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep,
    keep_period=keep_period,
    enable_async_checkpointing=async_save,
    create=True,
  )
  return ocp.CheckpointManager(
    os.path.abspath(os.path.join(workdir, subdir)),
    options=options,
    item_names=("state", "meta"),
  )


def save(
  manager: ocp.CheckpointManager,
  step: int,
  state_arrays: dict[str, Any],
  meta: dict[str, Any],
  force: bool = False,
) -> bool:
  """Starts saving ``state_arrays`` and ``meta`` at ``step``; returns whether it saved."""
  meta = {**meta, "format_version": FORMAT_VERSION, "checksums": checksums(state_arrays)}
  return manager.save(
    step,
    args=ocp.args.Composite(
      state=ocp.args.StandardSave(state_arrays), meta=ocp.args.JsonSave(meta)
    ),
    force=force,
  )


def checksums(arrays: dict[str, Any]) -> dict[str, int]:
  """CRC32 of every array's bytes, keyed by its path in the tree.

  Reads this process's first shard of each array: the state is replicated, so that is
  the whole array on every process.
  """
  out = {}
  for path, x in jax.tree_util.tree_flatten_with_path(arrays)[0]:
    local = x.addressable_data(0) if isinstance(x, jax.Array) else x
    out[jax.tree_util.keystr(path)] = zlib.crc32(np.ascontiguousarray(local).tobytes())
  return out


def restore_newest_good(
  manager: ocp.CheckpointManager, target: dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
  """Restores the newest checkpoint that reads back whole.

  Args:
    manager: the run's manager.
    target: arrays shaped (and sharded) like the state to restore, as ``state.arrays()``.

  Returns:
    ``(step, state_arrays, meta)``, or None when the directory holds no checkpoint.
    Newer steps that failed are moved, not deleted, to ``WORKDIR/corrupt_checkpoints/``
    so that the resumed run can write those steps again.

  Raises:
    NoGoodCheckpointError: checkpoints exist but none restores; nothing is moved.
  """
  manager.reload()
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    return None
  failures = []
  for step in steps:
    try:
      state, meta = _restore_verified(manager, step, target)
      _set_aside(manager, [s for s in steps if s > step])
      return step, state, meta
    except FormatError:
      raise  # readable, but not into this state: nothing older will be either
    except Exception as e:  # noqa: BLE001 (any failure means: try an older step)
      quiet_stragglers()
      msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
      logging.warning(
        "Checkpoint at step %d in %s cannot be restored (%s); trying an older one.",
        step,
        manager.directory,
        msg,
      )
      failures.append(f"step {step}: {msg}")
  raise NoGoodCheckpointError(
    f"No checkpoint in {manager.directory} could be restored (nothing was deleted):\n  "
    + "\n  ".join(failures)
  )


# Reports from a failed restore's reads are dropped for this long after the failure.
STRAGGLER_WINDOW_S = 30.0
_quiet_until = 0.0


def _is_straggler(exc: BaseException | None) -> bool:
  if time.monotonic() >= _quiet_until:
    return False
  if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
    return True  # a read completing onto the finished restore's event loop
  # Its own error: of a read ("tensorstore_spec") or of a write that failed with the save.
  return isinstance(exc, ValueError) and any(
    t in str(exc) for t in ("tensorstore_spec", "Error writing", "Failed writing")
  )


class _DropStragglerFutures(pylogging.Filter):
  def filter(self, record: pylogging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith("Future exception") and _is_straggler(exc))


def quiet_stragglers(seconds: float = STRAGGLER_WINDOW_S) -> None:
  """Silences the aftermath of a failed restore or save, for ``STRAGGLER_WINDOW_S`` seconds.

  When one read of a damaged checkpoint fails, Orbax ends the restore and its event loop
  while TensorStore's other reads are in flight; as they complete, each reports "Event
  loop is closed" (or its own read error) as an unraisable exception or an unretrieved
  future, dozens of tracebacks in all. The warning of ``restore_newest_good`` already
  names the checkpoint and the first error, so these reports, and only these, are dropped.
  A failed save ends the same way; training keeps them quiet throughout (``seconds=inf``):
  the save's own exception reports the failure.
  """
  global _quiet_until
  _quiet_until = max(_quiet_until, time.monotonic() + seconds)
  previous = sys.unraisablehook
  if getattr(previous, "gan_jax_stragglers", False):
    return

  def hook(unraisable):
    if not _is_straggler(unraisable.exc_value):
      previous(unraisable)

  hook.gan_jax_stragglers = True
  sys.unraisablehook = hook
  asyncio_log = pylogging.getLogger("asyncio")
  if not any(isinstance(f, _DropStragglerFutures) for f in asyncio_log.filters):
    asyncio_log.addFilter(_DropStragglerFutures())


def _restore_verified(
  manager: ocp.CheckpointManager, step: int, target: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
  # A read that fails ends the restore while others are in flight; their reports can
  # arrive before the failure reaches us: quiet from the start.
  quiet_stragglers()
  version = read_meta(manager, step).get("format_version", 1)
  if version > FORMAT_VERSION:
    raise FormatError(
      f"Checkpoint {step} in {manager.directory} has format {version}, newer than this "
      f"gan_jax's {FORMAT_VERSION}: update gan_jax to continue it."
    )
  if version == 1:
    target = _v1_target(target, f"Checkpoint {step} in {manager.directory}")
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  restored = manager.restore(
    step,
    args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
  )
  state, meta = restored["state"], restored["meta"]
  expected = meta.get("checksums")
  if expected is not None and checksums(state) != expected:
    bad = [k for k, v in checksums(state).items() if expected.get(k) != v]
    raise ValueError(f"checksum mismatch in {len(bad)} array(s), first {bad[0]}")
  if version == 1:
    logging.info("Converted checkpoint %d from format 1 (g/d players) to named networks.", step)
    state = _from_v1(state)
  return state, meta


def restore_step(
  manager: ocp.CheckpointManager, step: int, target: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
  """Restores one named step, checksums verified; raises with the available steps if absent.

  Returns:
    ``(state_arrays, meta)``.
  """
  manager.reload()
  if step not in manager.all_steps():
    raise FileNotFoundError(
      f"No checkpoint at step {step} in {manager.directory}; available: "
      f"{sorted(manager.all_steps())}"
    )
  return _restore_verified(manager, step, target)


def read_meta(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
  """The ``meta`` item of one step (no arrays read)."""
  return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]


def _set_aside(manager: ocp.CheckpointManager, steps: list[int]) -> None:
  """Moves unreadable step directories out of the manager's directory, keeping them."""
  if not steps or jax.process_index() != 0:
    return
  root = os.path.dirname(os.fspath(manager.directory))
  dest = os.path.join(root, "corrupt_checkpoints")
  os.makedirs(dest, exist_ok=True)
  for step in steps:
    src = os.path.join(os.fspath(manager.directory), str(step))
    target = os.path.join(dest, f"{step}.{time.strftime('%Y%m%d-%H%M%S')}")
    os.rename(src, target)
    logging.warning("Moved unreadable checkpoint %s to %s", src, target)
  manager.reload()


# --------------------------------------------------------------------------------------
# The workdir: writable, with room for the checkpoints.
# --------------------------------------------------------------------------------------


def check_workdir(workdir: str) -> None:
  """Creates ``workdir`` and proves it writable now rather than at the first save."""
  probe = os.path.join(workdir, f".write_probe_{os.getpid()}")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "wb") as f:
      f.write(b"\0" * 65536)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    raise WorkdirError(
      f"Workdir {workdir!r} is not writable ({e.strerror or e}); choose "
      "another --workdir or free space."
    ) from e
  finally:
    with contextlib.suppress(OSError):
      os.remove(probe)


class WorkdirLock:
  """``WORKDIR/.lock``: one training process per workdir.

  The lock is an exclusive ``flock`` on the file, which the kernel releases when the
  process ends however it ends; the file's content (pid, host, start time) names the
  owner in the refusal. Content left by a process that was killed is a *stale* lock: it is
  reported and taken over. The file is emptied, never removed, on release (removing it
  would let two processes lock two different files of the same name). On a filesystem
  without file locks the run warns and goes on unlocked.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, ".lock")
    self.fd: int | None = None

  def acquire(self) -> WorkdirLock:
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      owner = _read_owner(fd)
      os.close(fd)
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        logging.warning(
          "Cannot lock %s (%s; a filesystem without file locks): make sure no other run "
          "uses this workdir.", self.path, e.strerror or e,
        )  # fmt: skip
        return self
      raise WorkdirError(
        f"Workdir {os.path.dirname(self.path)!r} is in use by {_owner_text(owner)}; wait for "
        "that run to end or stop it, or choose another --workdir."
      ) from None
    try:
      owner = _read_owner(fd)
      if owner:  # the lock is free, so its last owner ended without releasing it
        logging.warning("Took over a stale lock of %s (it ended without releasing the "
                        "workdir).", _owner_text(owner))  # fmt: skip
      me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%F %T")}
      os.ftruncate(fd, 0)
      os.pwrite(fd, json.dumps(me).encode(), 0)
      os.fsync(fd)
    except BaseException:
      os.close(fd)  # releases the lock
      raise
    self.fd = fd
    return self

  def release(self) -> None:
    if self.fd is None:
      return
    with contextlib.suppress(OSError):
      os.ftruncate(self.fd, 0)
    with contextlib.suppress(OSError):
      fcntl.flock(self.fd, fcntl.LOCK_UN)
    os.close(self.fd)
    self.fd = None

  def discard_workdir(self) -> None:
    """Removes the locked workdir if it holds nothing but the lock file (a run refused at
    start in a workdir it created), then releases the lock."""
    workdir = os.path.dirname(self.path)
    with contextlib.suppress(OSError):
      if self.fd is not None and os.listdir(workdir) == [".lock"]:
        os.unlink(self.path)
        os.rmdir(workdir)
    self.release()

  def __enter__(self) -> WorkdirLock:
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def _read_owner(fd: int) -> dict[str, Any]:
  try:
    return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
  except (OSError, ValueError):
    return {}


def _owner_text(owner: dict[str, Any]) -> str:
  if not owner:
    return "another process"
  return f"pid {owner.get('pid')} on host {owner.get('host')} (since {owner.get('since')})"


def directory_bytes(path: str) -> int:
  """Bytes of the files under ``path`` (a checkpoint's real size on disk)."""
  total = 0
  for root, _, files in os.walk(path):
    for name in files:
      with contextlib.suppress(OSError):
        total += os.stat(os.path.join(root, name)).st_blocks * 512
  return total


# Metadata files of a checkpoint (JSON, OCDBT manifests), beyond its array bytes.
CHECKPOINT_OVERHEAD_BYTES = 1 << 20


def free_bytes(workdir: str) -> int:
  """Free bytes of the workdir's disk; in a multi-host run, of the fullest disk among all
  processes (every process takes the same decision, none is left in a collective)."""
  free = shutil.disk_usage(workdir).free
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    free_mib = multihost_utils.process_allgather(np.float32(free / 2**20))
    free = int(float(np.min(free_mib)) * 2**20)
  return free


def check_free_space(workdir: str, checkpoint_bytes: int, copies: int) -> None:
  """Refuses to start where not even one checkpoint fits; warns where ``copies`` won't.

  Every process of a multi-host run takes the same decision, on the fullest disk among
  them, so that none is left waiting for the others in a collective.
  """
  free = free_bytes(workdir)
  mib = lambda n: f"{n / 2**20:,.1f} MiB"  # noqa: E731
  if free < checkpoint_bytes:
    raise WorkdirError(
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


# --------------------------------------------------------------------------------------
# Config drift: fields that change what a run computes cannot change on resume.
# --------------------------------------------------------------------------------------

LOCKED_FIELDS = (
  "seed",
  "data",
  "model",
  "game",
  "loss",
  "optim",
  "augment",
)
# The sections that change what a restored run's networks compute (``--mode=eval`` / ``sample``,
# translate, upscale): the training-only ones (loss, optimizer, augmentation) may differ there.
READ_FIELDS = ("data", "model", "game")
# Fields of the locked sections that only say where things are, or how fast to read them.
UNLOCKED_FIELDS = (
  "data.data_dir",
  "data.download",
  "data.eval_folder_a",
  "data.eval_folder_b",
  "data.eval_split",
  "data.num_workers",
  "data.on_bad_file",
)
# Fields that moved: a saved config's old name is compared under the new one.
RENAMED_FIELDS = {"optim.n_critic": "game.n_critic"}


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(_flatten(v, key + "."))
    else:
      out[key] = v
  return out


def saved_config(workdir: str) -> dict | None:
  """The config a workdir's run was trained with: the record in its newest checkpoint
  whose ``meta`` item reads (a JSON file: no arrays, no checkpoint manager), else
  ``WORKDIR/config.json`` when checkpoints exist; None for a fresh workdir."""
  root = os.path.join(workdir, "checkpoints")
  steps = sorted((int(s) for s in _listdir(root) if s.isdigit()), reverse=True)
  for s in steps:
    try:
      with open(os.path.join(root, str(s), "meta", "metadata")) as f:
        saved = json.load(f).get("config")
    except (OSError, ValueError, AttributeError):
      continue  # a damaged step: the restore reports it
    if saved:
      return saved
  path = os.path.join(workdir, "config.json")
  if steps and os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None


def _listdir(path: str) -> list[str]:
  try:
    return os.listdir(path)
  except OSError:
    return []


def config_drift(saved: dict, config, fields: tuple[str, ...] = LOCKED_FIELDS) -> list[str]:
  """Lists the fields under ``fields`` (locked, not unlocked) whose value differs between
  the saved and the given config."""
  now = _flatten(json.loads(config.to_json_best_effort()))
  old = {RENAMED_FIELDS.get(k, k): v for k, v in _flatten(saved).items()}
  diffs = []
  for key in sorted(set(now) | set(old)):
    if key not in old:  # a field newer than the saved run: it had the default behaviour
      continue
    if key in UNLOCKED_FIELDS:
      continue
    if any(key == f or key.startswith(f + ".") for f in fields):
      if now.get(key) != old.get(key):
        diffs.append(f"{key}: saved {old.get(key)!r}, now {now.get(key)!r}")
  return diffs


# --------------------------------------------------------------------------------------
# A run's checkpoints: the rotating ones and the best one.
# --------------------------------------------------------------------------------------


class Checkpoints:
  """The managers of ``WORKDIR/checkpoints`` and ``WORKDIR/best_checkpoint``.

  Args:
    workdir: the run's directory.
    train_cfg: ``config.train`` (keep_checkpoints, keep_period, best_metric, best_mode).
    async_save: write in a background thread while training continues.
  """

  def __init__(self, workdir: str, train_cfg, async_save: bool = True):
    self.workdir = workdir
    self.manager = make_manager(
      workdir, train_cfg.keep_checkpoints, train_cfg.get("keep_period") or None, async_save
    )
    self.best_metric = train_cfg.get("best_metric", "")
    self.best_mode = train_cfg.get("best_mode", "min")
    self.best_value = None
    self.best_manager = None
    if self.best_metric:
      self.best_manager = self._best()
      best_step = self.best_manager.latest_step()
      if best_step is not None:
        meta = read_meta(self.best_manager, best_step)
        if (meta.get("metric"), meta.get("mode", "min")) == (self.best_metric, self.best_mode):
          self.best_value = meta["value"]
        else:
          logging.warning(
            "The best checkpoint in %s was chosen by %s (%s); starting afresh with %s (%s).",
            self.best_manager.directory,
            meta.get("metric"),
            meta.get("mode", "min"),
            self.best_metric,
            self.best_mode,
          )

  def _best(self) -> ocp.CheckpointManager:
    return make_manager(self.workdir, 1, None, async_save=False, subdir="best_checkpoint")

  @property
  def directory(self) -> str:
    return os.fspath(self.manager.directory)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, arrays: dict[str, Any], meta: dict[str, Any], force: bool = False):
    return save(self.manager, step, arrays, meta, force=force)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def restore(self, target: dict[str, Any], which: str = "newest"):
    """Restores ``newest`` (good), ``best`` or a step number into ``target``'s layout.

    Returns:
      ``(step, arrays, meta)``, or None when there is no checkpoint (``newest`` only).
    """
    if which == "newest":
      return restore_newest_good(self.manager, target)
    manager, step = self.manager, None
    if which == "best":
      self.best_manager = manager = self.best_manager or self._best()
      step = manager.latest_step()
      if step is None:
        raise FileNotFoundError(
          f"No best checkpoint in {manager.directory}: set train.best_metric and "
          "train.eval_every when training."
        )
    else:
      step = int(which)
    arrays, meta = restore_step(manager, step, target)
    return step, arrays, meta

  def keep_if_best(self, step: int, arrays: dict[str, Any], result: dict[str, Any]) -> bool:
    """Saves ``arrays`` as the best checkpoint when ``train.best_metric`` improved."""
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
    if self.best_value is not None and not (
      value < self.best_value if self.best_mode == "min" else value > self.best_value
    ):
      return False
    self.best_value = value
    meta = {"step": step, "metric": self.best_metric, "mode": self.best_mode, "value": value}
    if step in self.best_manager.all_steps():  # a run resumed behind its best step
      self.best_manager.delete(step)
    save(self.best_manager, step, arrays, meta, force=True)
    logging.info("New best %s = %.6g at step %d", self.best_metric, value, step)
    return True

  def close(self) -> None:
    """Waits for pending saves and closes both managers, then raises the first failure."""
    errors = []
    for m in (self.manager, self.best_manager):
      if m is not None:
        try:
          m.wait_until_finished()
        except Exception as e:  # noqa: BLE001 (raised below, once all is closed)
          errors.append(e)
        finally:
          m.close()
    if errors:
      raise errors[0]


def init_from(workdir: str, target: dict[str, Any], names: tuple[str, ...] = ()):
  """Networks of another run's newest checkpoint, for a fresh run to start from.

  Args:
    workdir: the other run's directory.
    target: this run's state arrays (shapes and shardings to restore into).
    names: networks to take; empty: every network both runs have.

  Returns:
    ``target`` with those networks' parameters, collections and EMA copies replaced
    (optimizer states, step and extra state stay fresh), and the names taken.
  """
  src = os.path.join(workdir, "checkpoints")
  manager = ocp.CheckpointManager(
    os.path.abspath(src),
    item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()},
  )
  try:
    step = manager.latest_step()
    if step is None:
      raise FileNotFoundError(f"train.init_from: no checkpoint in {src}")
    structure = manager.item_metadata(step)["state"]
    has = set(structure["params"]) if "params" in structure else {"g", "d"}
    take = tuple(names) or tuple(sorted(has & set(target["params"])))
    missing = [n for n in take if n not in has or n not in target["params"]]
    if missing or not take:
      raise ValueError(
        f"train.init_from: networks {missing or list(names)} are not in both this run "
        f"{sorted(target['params'])} and {src} {sorted(has)}."
      )
    # Restore the whole source state in its own layout; only the named parts are kept.
    own = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), structure)
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(own)))[
      "state"
    ]
    if "params" not in restored:
      restored = _from_v1(restored)
  finally:
    manager.close()
  out = {k: dict(v) if isinstance(v, dict) else v for k, v in target.items()}
  for name in take:
    for field in ("params", "collections", "ema"):
      if name not in target[field]:
        continue
      src_tree = restored[field].get(name, restored["params"][name] if field == "ema" else None)

      def sig(tree):
        return jax.tree.structure(tree), [(x.shape, x.dtype) for x in jax.tree.leaves(tree)]

      if sig(src_tree) != sig(target[field][name]):
        raise ValueError(
          f"train.init_from: network {name!r} ({field}) has other shapes in {src}: the "
          "model configs must agree."
        )
      out[field][name] = jax.tree.map(
        lambda s, t: jax.device_put(np.asarray(s), t.sharding), src_tree, target[field][name]
      )
  return out, take
