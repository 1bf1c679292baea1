"""Progress bars for the long loops (training, sampling for evaluation, feature
extraction, reference statistics, translating a folder, sweeps).

On a terminal a tqdm bar (rate, ETA); elsewhere (a log file, a batch job) nothing: those
loops log their result, and the training loop logs a plain line every ``train.log_every``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def on_terminal() -> bool:
  """Whether bars are drawn: stderr is a terminal, and this is process 0."""
  import jax

  return sys.stderr.isatty() and jax.process_index() == 0


def bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
        unit: str = "it", leave: bool = False):  # fmt: skip
  """A tqdm bar over ``iterable`` (or updated by hand), disabled off a terminal."""
  from tqdm import tqdm

  return tqdm(
    iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True,
    disable=not on_terminal(),
  )  # fmt: skip
