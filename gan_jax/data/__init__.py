"""Input pipelines: name -> source of global batches ``{"image", "label"}``.

A source has a ``spec`` (sample shape, number of classes, kind) and
``batch(step, n_critic) -> {"image": [n_critic, B_local, ...], "label": [n_critic,
B_local]}`` in numpy, where ``B_local`` is this process's share of the global batch.
The batch is a pure function of (seed, step), so a resumed run sees the data an
uninterrupted run would have seen.

Sources: the embedded datasets (``embedded.py``, no download), TFDS datasets read from a
prepared data_dir (``tfds_source.py``: mnist, fashion_mnist, cifar10, svhn_cropped,
celeb_a, and ``tfds`` for any other by ``data.tfds_name``), and ``folder`` for a
directory of the user's own images (``folder.py``).

Paired sources for image-to-image translation (``paired.py``: ``edges2digits``,
``gray2color``, ``paired_folder``, ``paired_folders``) have ``spec.kind == "paired"`` and
return ``{"input", "target", "label"}`` batches of the same layout, plus a fixed held-out
set from ``heldout(n)``.

TensorFlow is imported only when a TFDS source is built (the modules themselves import
it lazily).
"""

from __future__ import annotations

from collections.abc import Callable

from gan_jax.data import folder, paired, sr, tfds_source, unpaired
from gan_jax.data.embedded import EMBEDDED, DataSpec, Source

__all__ = ["DataSpec", "Source", "build_source", "DATASETS"]


def _tfds(name: str) -> Callable[..., Source]:
  def build(data_cfg, seed, process_index, process_count):
    return tfds_source.TfdsSource(name, data_cfg, seed, process_index, process_count)

  return build


DATASETS: dict[str, Callable[..., Source]] = {
  **EMBEDDED,
  **{name: _tfds(name) for name in (*tfds_source.TFDS_DATASETS, "tfds")},
  "folder": folder.FolderSource,
  **paired.PAIRED,
  **sr.SR_DATASETS,
  **unpaired.UNPAIRED,
}


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
