"""Orbax checkpoints: save the whole GANState, restore the newest good step.

A checkpoint step directory holds two items: ``state`` (every array of the GANState:
both players, the EMA generator, both optimizer states, model collections, the step)
and ``meta`` (JSON: step, data position, the config, and a CRC32 of every array). Saves
are asynchronous and atomic (written to a temporary directory, then renamed). A newest
step that fails to restore, or whose arrays do not match their checksums (a flipped bit
the storage layer would not notice), is reported and skipped for the one before it.
"""

from __future__ import annotations

import logging as pylogging
import os
import sys
import time
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class NoGoodCheckpointError(RuntimeError):
  """Every checkpoint in the directory failed to restore."""


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
  meta = {**meta, "checksums": checksums(state_arrays)}
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
    except Exception as e:  # noqa: BLE001 (any failure means: try an older step)
      _quiet_stragglers_of_failed_reads()
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
  return isinstance(exc, ValueError) and "tensorstore_spec" in str(exc)  # its own error


class _DropStragglerFutures(pylogging.Filter):
  def filter(self, record: pylogging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith("Future exception") and _is_straggler(exc))


def _quiet_stragglers_of_failed_reads() -> None:
  """Silences the aftermath of a failed restore, for ``STRAGGLER_WINDOW_S`` seconds.

  When one read of a damaged checkpoint fails, Orbax ends the restore and its event loop
  while TensorStore's other reads are in flight; as they complete, each reports "Event
  loop is closed" (or its own read error) as an unraisable exception or an unretrieved
  future, dozens of tracebacks in all. The warning of ``restore_newest_good`` already
  names the checkpoint and the first error, so these reports, and only these, are dropped.
  """
  global _quiet_until
  _quiet_until = time.monotonic() + STRAGGLER_WINDOW_S
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
