"""Evaluation of a generator: metrics by data kind, appended to ``WORKDIR/eval.jsonl``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gan_jax.metrics import mixtures

SampleFn = Callable[[jax.Array, int], np.ndarray]  # (key, n) -> samples [n, ...]


def evaluate(
  data_name: str, sample_fn: SampleFn, key: jax.Array, num_samples: int
) -> dict[str, Any]:
  """Computes the metrics defined for ``data_name``.

  Args:
    data_name: ``config.data.name``.
    sample_fn: draws ``n`` samples from the (EMA) generator.
    key: PRNG key for the latent codes.
    num_samples: samples to draw (2,500 in the PacGAN / VEEGAN protocol for mixtures).

  Returns:
    Metric values plus a ``protocol`` dict describing how they were computed; empty
    metrics for datasets without an evaluation yet.
  """
  if data_name in mixtures.MIXTURES:
    means, sigma = mixtures.mixture_spec(data_name)
    samples = sample_fn(key, num_samples)
    result = mixtures.mode_metrics(samples, means, sigma)
    result["protocol"] = {
      "name": "pacgan_mode_coverage",
      "n_fake": num_samples,
      "high_quality_radius": f"3 sigma = {3 * sigma}",
      "min_count": 20,
    }
    return result
  return {}


def append_jsonl(workdir: str, record: dict[str, Any]) -> None:
  """Appends one JSON line to ``WORKDIR/eval.jsonl``."""
  with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
    f.write(json.dumps(record, default=_to_builtin) + "\n")


def _to_builtin(x):
  if isinstance(x, np.generic):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")
