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


# --------------------------------------------------------------------------------------
# pmap layout: the same pure step under ``jax.pmap``, one replica per local device.
# --------------------------------------------------------------------------------------

STRATEGIES = ("jit", "pmap")
PMAP_AXIS = "batch"  # the pmap axis name of parallel.strategy='pmap'


def local_mesh() -> Mesh:
  """A 1-D mesh over this process's devices, in ``jax.pmap``'s device order."""
  return Mesh(np.asarray(jax.local_devices()), (DATA_AXIS,))


def stack_replicas(tree, mesh: Mesh):
  """Replicated global arrays -> ``[n_local_devices, ...]`` arrays, one copy per device.

  Each device's slice is the copy it already holds, so nothing moves between devices.
  """
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  order = {d: i for i, d in enumerate(mesh.devices.flat)}

  def stack(x):
    shards = sorted(x.addressable_shards, key=lambda s: order[s.device])
    return jax.make_array_from_single_device_arrays(
      (len(shards), *x.shape), sharding, [s.data[None] for s in shards]
    )

  return jax.tree.map(stack, tree)


def unstack_replicas(tree, sharding: NamedSharding):
  """``[n_local_devices, ...]`` replicas -> replicated global arrays; the inverse of
  ``stack_replicas``: each device keeps the replica it holds, nothing moves."""

  def unstack(x):
    return jax.make_array_from_single_device_arrays(
      x.shape[1:], sharding, [s.data[0] for s in x.addressable_shards]
    )

  return jax.tree.map(unstack, tree)


def to_pmap_batch(
  local_batch: dict[str, np.ndarray], mesh: Mesh, batch_axis: int
) -> dict[str, jax.Array]:
  """Splits this process's batch over its devices: ``[..., B, ...] -> [n_dev, ..., B/n, ...]``."""
  n = mesh.devices.size
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  out = {}
  for k, v in local_batch.items():
    shape = v.shape
    v = v.reshape(*shape[:batch_axis], n, shape[batch_axis] // n, *shape[batch_axis + 1 :])
    out[k] = jax.device_put(np.moveaxis(v, batch_axis, 0), sharding)
  return out


# --------------------------------------------------------------------------------------
# The compiled step under either strategy.
# --------------------------------------------------------------------------------------


class Layout:
  """Where the state and batches live under a strategy.

  Under ``jit`` the state is replicated global arrays and the batch is sharded on its
  batch axis over the mesh; under ``pmap`` the state is stacked, one replica per local
  device, and the batch split over the local devices.
  """

  def __init__(self, strategy: str, mesh: Mesh, batch_axis: int = 2):
    if strategy not in STRATEGIES:
      raise ValueError(f"Unknown parallel.strategy {strategy!r}; valid: {list(STRATEGIES)}")
    self.strategy, self.mesh, self.batch_axis = strategy, mesh, batch_axis
    self.local_mesh = local_mesh()
    self.rep = replicated(mesh)

  def device_batch(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """This process's ``[k, slices, B_local, ...]`` batch, placed for the strategy."""
    if self.strategy == "pmap":
      return to_pmap_batch(local, self.local_mesh, self.batch_axis)
    return to_global(local, self.mesh, self.batch_axis)

  def run_state(self, state):
    """The state in the layout the compiled step takes."""
    return stack_replicas(state, self.local_mesh) if self.strategy == "pmap" else state

  def host_state(self, run_state):
    """The inverse of ``run_state``: replicated global arrays (checkpoints, sampling)."""
    return unstack_replicas(run_state, self.rep) if self.strategy == "pmap" else run_state

  def compile(self, make_pure, key_for=None):
    """The compiled step ``(run_state, batch, step) -> (run_state, metrics)``.

    Args:
      make_pure: ``(axis_name, key) -> pure step``; ``axis_name`` is None under jit.
      key_for: ``step -> schedule key`` (programs are compiled per key, on first use);
        None: one program.
    """
    programs: dict = {}

    def build(key):
      if self.strategy == "pmap":
        pmapped = jax.pmap(make_pure(PMAP_AXIS, key), axis_name=PMAP_AXIS, donate_argnums=0)

        def run(state, batch):
          state, metrics = pmapped(state, batch)
          return state, jax.tree.map(lambda m: m[0], metrics)  # averaged over devices

        return run
      return jax.jit(
        make_pure(None, key),
        in_shardings=(self.rep, batch_sharding(self.mesh, self.batch_axis)),
        out_shardings=(self.rep, self.rep),
        donate_argnums=0,
      )

    def step_fn(state, batch, step: int):
      key = key_for(step) if key_for is not None else None
      if key not in programs:
        programs[key] = build(key)
      return programs[key](state, batch)

    step_fn.programs = programs
    return step_fn


# --------------------------------------------------------------------------------------
# Multi-host start-up.
# --------------------------------------------------------------------------------------


def initialize_distributed(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  cpu_collectives: bool = False,
) -> bool:
  """Starts JAX's multi-process runtime; returns whether it did.

  With a coordinator address (GPU clusters, or localhost for tests) the three values are
  passed on; with none, ``jax.distributed.initialize()`` detects the cluster itself (TPU
  VM pod slices, SLURM, Open MPI). Call it before anything touches a device.

  Args:
    coordinator_address: ``host:port`` of process 0, or None to auto-detect.
    num_processes: total number of processes.
    process_id: this process's index in ``[0, num_processes)``.
    cpu_collectives: use gloo for cross-process collectives on CPU devices.
  """
  if cpu_collectives:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
    coordinator_address=coordinator_address,
    num_processes=num_processes,
    process_id=process_id,
  )
  return True
