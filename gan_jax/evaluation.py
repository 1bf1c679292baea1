"""Evaluation: metrics by name, each on one of the game's predict functions.

``EVALUATORS`` maps a metric name to an ``Evaluator(predict, fn)``: ``fn(sample_fn, key,
config) -> dict`` receives ``sample_fn(key, n)`` over the game's predict function
``predict`` (EMA weights) and returns values plus a ``protocol`` dict:

- ``mode_coverage``: PacGAN / VEEGAN mode coverage of the 2-D mixtures (``ring``, ``grid``).
- ``digits``: the Inception Score and Frechet distance of ``gan_jax.metrics.digits``, with a
  classifier trained in the project in place of Inception-v3.
- ``stacked_digits``: the 1,000-mode count and KL to uniform of the stacked-digits test, plus
  the digits IS / FD of the single channels.
- ``inception``: FID, IS, KID, precision/recall, density/coverage (converted weights).

``config.eval.metrics`` names the metrics; empty means the dataset's own
(``DATASET_METRICS``), plus ``inception`` when ``eval.inception`` is set. Results go to
``WORKDIR/eval.jsonl``, one line per evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gan_jax.metrics import digits, mixtures

SampleFn = Callable[[jax.Array, int], np.ndarray]  # (key, n) -> samples [n, ...]


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """A metric: ``fn(sample_fn, key, config) -> dict`` over the game's ``predict``."""

  predict: str
  fn: Callable[[SampleFn, jax.Array, Any], dict[str, Any]]


def _mode_coverage(sample_fn: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  name, num_samples = config.data.name, config.eval.num_samples
  if name not in mixtures.MIXTURES:
    raise ValueError(f"mode_coverage needs a 2-D mixture dataset {list(mixtures.MIXTURES)}")
  means, sigma = mixtures.mixture_spec(name)
  result = mixtures.mode_metrics(sample_fn(key, num_samples), means, sigma)
  result["protocol"] = {
    "name": "pacgan_mode_coverage",
    "n_fake": num_samples,
    "high_quality_radius": f"3 sigma = {3 * sigma}",
    "min_count": 20,
  }
  return result


def _finite(samples: np.ndarray) -> np.ndarray:
  samples = np.asarray(samples, np.float32)
  if not np.all(np.isfinite(samples)):
    raise ValueError("The generator produced NaN or inf samples; nothing to evaluate.")
  return samples


def _digits(sample_fn: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  num_samples = config.eval.num_samples
  samples = _finite(sample_fn(key, num_samples))  # [n, R, R, 1]
  result = digits.digits_metrics(samples)
  result["protocol"] = {
    **digits.protocol(samples.shape[1], num_samples, digits.NUM_REAL),
    "is_splits": min(10, num_samples),
  }
  return result


def _stacked_digits(sample_fn: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  num_samples = config.eval.num_samples
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


def _inception(sample_fn: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  from gan_jax.metrics import inception_eval

  return inception_eval.evaluate(config, sample_fn, key)


EVALUATORS: dict[str, Evaluator] = {
  "mode_coverage": Evaluator("generate", _mode_coverage),
  "digits": Evaluator("generate", _digits),
  "stacked_digits": Evaluator("generate", _stacked_digits),
  "inception": Evaluator("generate", _inception),
}
DATASET_METRICS: dict[str, tuple[str, ...]] = {
  **{name: ("mode_coverage",) for name in mixtures.MIXTURES},
  "digits": ("digits",),
  "stacked_digits": ("stacked_digits",),
}


def metric_names(config) -> tuple[str, ...]:
  """The metrics a run evaluates: ``eval.metrics``, else the dataset's (+ inception)."""
  names = tuple(config.eval.get("metrics", ()) or ())
  if not names:
    names = DATASET_METRICS.get(config.data.name, ())
    if config.eval.get("inception", False):
      names += ("inception",)
  unknown = [n for n in names if n not in EVALUATORS]
  if unknown:
    raise ValueError(f"Unknown eval.metrics {unknown}; valid: {sorted(EVALUATORS)}")
  return names


def evaluate(sample, key: jax.Array, config, predicts=None) -> dict[str, Any]:
  """Computes the run's metrics.

  Args:
    sample: ``sample(predict_name, key, n) -> np.ndarray`` (``build.Run.sampler()``).
    key: PRNG key of the random inputs.
    config: the experiment config.
    predicts: the game's predict names (a metric whose predict function the game lacks
      is an error); None skips the check.

  Returns:
    Metric values plus ``protocol``: the one evaluator's protocol dict, or one per metric
    (keyed by the dataset's name for its own metric) when there are several. Empty when
    no metric is defined for the run.
  """
  names = metric_names(config)
  result, protocols = {}, {}
  for name in names:
    ev = EVALUATORS[name]
    if predicts is not None and ev.predict not in predicts:
      raise ValueError(f"eval metric {name!r} needs predict {ev.predict!r}; game has {predicts}")
    out = dict(ev.fn(lambda k, n, p=ev.predict: sample(p, k, n), key, config))
    protocols[config.data.name if name in DATASET_METRICS.get(config.data.name, ()) else name] = (
      out.pop("protocol", None)
    )
    result.update(out)
  if len(protocols) == 1:
    result["protocol"] = next(iter(protocols.values()))
  elif protocols:
    result["protocol"] = protocols
  return result


def append_jsonl(workdir: str, record: dict[str, Any]) -> None:
  """Appends one JSON line to ``WORKDIR/eval.jsonl``."""
  with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
    f.write(json.dumps(record, default=_to_builtin) + "\n")


def _to_builtin(x):
  if isinstance(x, np.generic):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")
