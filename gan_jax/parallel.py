"""Device mesh, shardings and host-local -> global batches (data parallelism)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D data-parallel mesh over all (or the given) devices."""
  devices = np.asarray(devices if devices is not None else jax.devices())
  return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding of an array copied on every device (the train state)."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int) -> NamedSharding:
  """Sharding that splits axis ``batch_axis`` of an array over the mesh's devices."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  """Fails at start-up when the global batch cannot be split evenly over the devices."""
  n = mesh.devices.size
  if global_batch % n:
    raise ValueError(
      f"data.batch_size={global_batch} does not divide over {n} devices; use a multiple of {n}."
    )


def to_global(
  local_batch: dict[str, np.ndarray], mesh: Mesh, batch_axis: int
) -> dict[str, jax.Array]:
  """Assembles each process's share into global arrays sharded on ``batch_axis``."""
  sharding = batch_sharding(mesh, batch_axis)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}
