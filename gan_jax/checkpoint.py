"""Orbax checkpoints: save the whole GANState, restore the newest good step.

A checkpoint step directory holds two items: ``state`` (every array of the GANState:
both players, the EMA generator, both optimizer states, model collections, the step)
and ``meta`` (JSON: step, data position, the config). Saves are asynchronous; a newest
step that fails to restore is reported and skipped in favour of the one before it.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging


class NoGoodCheckpointError(RuntimeError):
  """Every checkpoint in the directory failed to restore."""


def make_manager(
  workdir: str, max_to_keep: int = 3, keep_period: int | None = None, async_save: bool = True
) -> ocp.CheckpointManager:
  """A CheckpointManager over ``WORKDIR/checkpoints`` with the ``state`` and ``meta`` items.

  Args:
    workdir: the run's directory.
    max_to_keep: newest checkpoints kept.
    keep_period: also keep every step that is a multiple of this (None: none kept extra).
    async_save: write in a background thread while training continues.

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
    os.path.abspath(os.path.join(workdir, "checkpoints")),
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
  return manager.save(
    step,
    args=ocp.args.Composite(
      state=ocp.args.StandardSave(state_arrays), meta=ocp.args.JsonSave(meta)
    ),
    force=force,
  )


def restore_newest_good(
  manager: ocp.CheckpointManager, target: dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
  """Restores the newest checkpoint that reads back whole.

  Args:
    manager: the run's manager.
    target: arrays shaped (and sharded) like the state to restore, as ``state.arrays()``.

  Returns:
    ``(step, state_arrays, meta)``, or None when the directory holds no checkpoint.

  Raises:
    NoGoodCheckpointError: checkpoints exist but none restores; nothing is deleted.
  """
  manager.reload()
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  failures = []
  for step in steps:
    try:
      restored = manager.restore(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
        ),
      )
      return step, restored["state"], restored["meta"]
    except Exception as e:  # noqa: BLE001 (any failure means: try an older step)
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
