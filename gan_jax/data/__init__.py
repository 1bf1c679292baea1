"""Input pipelines: name -> source of global batches ``{"image", "label"}``.

A source has a ``spec`` (sample shape, number of classes, kind) and
``batch(step, n_critic) -> {"image": [n_critic, B_local, ...], "label": [n_critic,
B_local]}`` in numpy, where ``B_local`` is this process's share of the global batch.
The batch is a pure function of (seed, step), so a resumed run sees the data an
uninterrupted run would have seen.
"""

from __future__ import annotations

from gan_jax.data.embedded import EMBEDDED, DataSpec, Source

__all__ = ["DataSpec", "Source", "build_source", "DATASETS"]

DATASETS = dict(EMBEDDED)


def build_source(data_cfg, seed: int, process_index: int = 0, process_count: int = 1) -> Source:
  """Builds the input source named by ``data_cfg.name``.

  Args:
    data_cfg: ``config.data`` (name, batch_size, resolution, ...).
    seed: the run's seed; batch order is a pure function of (seed, step).
    process_index: this process's index (multi-host).
    process_count: number of processes; each reads ``batch_size / process_count``.

  Returns:
    A ``Source``.
  """
  if data_cfg.name not in DATASETS:
    raise ValueError(f"Unknown dataset {data_cfg.name!r}; valid datasets: {sorted(DATASETS)}")
  if data_cfg.batch_size % process_count:
    raise ValueError(
      f"data.batch_size={data_cfg.batch_size} must divide evenly over {process_count} processes."
    )
  return DATASETS[data_cfg.name](data_cfg, seed, process_index, process_count)
