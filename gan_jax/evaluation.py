"""Evaluation of a generator: metrics by data kind, appended to ``WORKDIR/eval.jsonl``.

``EVALUATORS`` maps a dataset name to a function ``(sample_fn, key, num_samples) -> dict``:

- ``ring`` / ``grid``: PacGAN / VEEGAN mode coverage of the 2-D mixtures.
- ``digits``: the Inception Score and Frechet distance of ``gan_jax.metrics.digits``, with a
  classifier trained in the project in place of Inception-v3.
- ``stacked_digits``: the 1,000-mode count and KL to uniform of the stacked-digits test, plus
  the digits IS / FD of the single channels.

Inception-based FID / IS / KID / precision-recall for natural-image datasets go through
``gan_jax.metrics.image_metrics.image_metrics(features_real, features_fake, logits_fake)``:
an evaluator for such a dataset extracts Inception features of real and generated images
and adds itself to ``EVALUATORS``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gan_jax.metrics import digits, mixtures

SampleFn = Callable[[jax.Array, int], np.ndarray]  # (key, n) -> samples [n, ...]
Evaluator = Callable[[SampleFn, jax.Array, int], dict[str, Any]]


def _mixture(name: str) -> Evaluator:
  def fn(sample_fn: SampleFn, key: jax.Array, num_samples: int) -> dict[str, Any]:
    means, sigma = mixtures.mixture_spec(name)
    result = mixtures.mode_metrics(sample_fn(key, num_samples), means, sigma)
    result["protocol"] = {
      "name": "pacgan_mode_coverage",
      "n_fake": num_samples,
      "high_quality_radius": f"3 sigma = {3 * sigma}",
      "min_count": 20,
    }
    return result

  return fn


def _finite(samples: np.ndarray) -> np.ndarray:
  samples = np.asarray(samples, np.float32)
  if not np.all(np.isfinite(samples)):
    raise ValueError("The generator produced NaN or inf samples; nothing to evaluate.")
  return samples


def _digits(sample_fn: SampleFn, key: jax.Array, num_samples: int) -> dict[str, Any]:
  samples = _finite(sample_fn(key, num_samples))  # [n, R, R, 1]
  result = digits.digits_metrics(samples)
  result["protocol"] = {
    **digits.protocol(samples.shape[1], num_samples, digits.NUM_REAL),
    "is_splits": min(10, num_samples),
  }
  return result


def _stacked_digits(sample_fn: SampleFn, key: jax.Array, num_samples: int) -> dict[str, Any]:
  samples = _finite(sample_fn(key, num_samples))  # [n, R, R, 3]
  result = digits.stacked_digits_metrics(samples)
  result["protocol"] = {
    **digits.protocol(samples.shape[1], num_samples, digits.NUM_REAL),
    "name": "stacked_digits_modes",
    "num_modes": digits.NUM_MODES_STACKED,
    "mode_min_count": 1,
    "channel_metrics": "digits_is / digits_fd over the 3 n channels as single digits",
    "is_splits": min(10, 3 * num_samples),
  }
  return result


EVALUATORS: dict[str, Evaluator] = {
  **{name: _mixture(name) for name in mixtures.MIXTURES},
  "digits": _digits,
  "stacked_digits": _stacked_digits,
}


def evaluate(
  data_name: str, sample_fn: SampleFn, key: jax.Array, num_samples: int
) -> dict[str, Any]:
  """Computes the metrics defined for ``data_name``.

  Args:
    data_name: ``config.data.name``.
    sample_fn: draws ``n`` samples from the (EMA) generator.
    key: PRNG key for the latent codes.
    num_samples: samples to draw (2,500 in the PacGAN / VEEGAN protocol for mixtures,
      26,000 in PacGAN's stacked-MNIST protocol).

  Returns:
    Metric values plus a ``protocol`` dict describing how they were computed; empty
    metrics for datasets without an evaluation yet (see ``EVALUATORS``).
  """
  if data_name not in EVALUATORS:
    return {}
  return EVALUATORS[data_name](sample_fn, key, num_samples)


def append_jsonl(workdir: str, record: dict[str, Any]) -> None:
  """Appends one JSON line to ``WORKDIR/eval.jsonl``."""
  with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
    f.write(json.dumps(record, default=_to_builtin) + "\n")


def _to_builtin(x):
  if isinstance(x, np.generic):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")
