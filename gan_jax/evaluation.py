"""Evaluation: metrics by name, each on one of the game's predict functions.

``EVALUATORS`` maps a metric name to an ``Evaluator(predicts, fn)``: ``fn(sample, key,
config) -> dict`` receives ``sample(name, key, n, inputs=None)`` over the game's predict
functions (EMA weights; ``predicts`` names those it needs) and returns values plus a
``protocol`` dict:

- ``mode_coverage``: PacGAN / VEEGAN mode coverage of the 2-D mixtures (``ring``, ``grid``).
- ``digits``: the Inception Score and Frechet distance of ``gan_jax.metrics.digits``, with a
  classifier trained in the project in place of Inception-v3.
- ``stacked_digits``: the 1,000-mode count and KL to uniform of the stacked-digits test, plus
  the digits IS / FD of the single channels.
- ``inception``: FID, IS, KID, precision/recall, density/coverage (converted weights).
- ``class_accuracy`` (conditional digits runs): how often the digits classifier reads
  the requested class, and the intra-class digits FD / IS.
- ``truncation`` (digits runs with ``eval.truncation`` thresholds): digits IS / FD and
  class accuracy at each threshold of the truncation trick.
- ``super_resolution`` (``photos``): PSNR / SSIM on Y of the upscaled held-out photographs
  and of bicubic upsampling (``psnr``, ``ssim``, ``psnr_bicubic``, ``ssim_bicubic``).

``config.eval.metrics`` names the metrics; empty means the dataset's own
(``DATASET_METRICS``), plus ``inception`` when ``eval.inception`` is set. Results go to
``WORKDIR/eval.jsonl``, one line per evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gan_jax.metrics import digits, mixtures

# sample(predict_name, key, n, inputs=None) -> outputs [n, ...] (build.Run.sampler())
SampleFn = Callable[..., np.ndarray]


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """A metric: ``fn(sample, key, config) -> dict`` over the game's ``predicts``."""

  predicts: tuple[str, ...]
  fn: Callable[[SampleFn, jax.Array, Any], dict[str, Any]]


def _mode_coverage(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  name, num_samples = config.data.name, config.eval.num_samples
  if name not in mixtures.MIXTURES:
    raise ValueError(f"mode_coverage needs a 2-D mixture dataset {list(mixtures.MIXTURES)}")
  means, sigma = mixtures.mixture_spec(name)
  samples = sample("generate", key, num_samples)
  result = mixtures.mode_metrics(samples, means, sigma)
  # The looser count too: modes with at least one high-quality sample (PacGAN's logger).
  result["modes_covered_any"] = mixtures.mode_metrics(samples, means, sigma, 1)["modes_covered"]
  result["protocol"] = {
    "name": "pacgan_mode_coverage",
    "n_fake": num_samples,
    "high_quality_radius": f"3 sigma = {3 * sigma}",
    "min_count": 20,
    "modes_covered_any": "modes with >= 1 high-quality sample",
  }
  return result


def _finite(samples: np.ndarray) -> np.ndarray:
  samples = np.asarray(samples, np.float32)
  if not np.all(np.isfinite(samples)):
    raise ValueError("The generator produced NaN or inf samples; nothing to evaluate.")
  return samples


def _digits(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  num_samples = config.eval.num_samples
  samples = _finite(sample("generate", key, num_samples))  # [n, R, R, 1]
  result = digits.digits_metrics(samples)
  result["protocol"] = {
    **digits.protocol(samples.shape[1], num_samples, digits.NUM_REAL),
    "is_splits": min(10, num_samples),
  }
  return result


def _faces(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """Eigenface Frechet distance and nearest-training-face distance (``metrics/faces.py``)."""
  from gan_jax.data.embedded import load_lfw
  from gan_jax.metrics import faces

  if config.data.name != "lfw":
    raise ValueError(f"eval metric 'faces' scores the lfw faces; data.name is {config.data.name!r}")
  n = config.eval.num_samples
  real = load_lfw(config.data.resolution)
  result = faces.face_metrics(_finite(sample("generate", key, n)), real)
  result["protocol"] = {
    "name": "lfw_eigenfaces",
    "n_fake": n,
    "n_real": len(real),
    "features": f"projections on the first {faces.NUM_COMPONENTS} principal components of "
    "the real faces (flattened, [-1, 1])",
    "face_nn": "mean RMS pixel distance of a sample to its nearest training face",
  }
  return result


def _stacked_digits(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  num_samples = config.eval.num_samples
  samples = _finite(sample("generate", key, num_samples))  # [n, R, R, 3]
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


_HELDOUT_CACHE: dict[str, dict[str, np.ndarray]] = {}


def _heldout(config) -> dict[str, np.ndarray]:
  """The held-out split the translation metrics use, read once per process."""
  from gan_jax.games.base import heldout

  n = config.eval.get("num_heldout", 0) or None
  key = f"{config.data.to_json_best_effort(sort_keys=True)}|{n}"
  if key not in _HELDOUT_CACHE:
    _HELDOUT_CACHE.clear()  # one dataset at a time
    _HELDOUT_CACHE[key] = heldout(config, n)
  return _HELDOUT_CACHE[key]


HELDOUT_METRICS = ("translation", "label_accuracy", "cycle")


def check(config, predicts: tuple[str, ...], read_heldout: bool = False) -> None:
  """Fails before training when a metric needs a predict function the game lacks, or
  (``read_heldout``) a held-out split the dataset does not have."""
  names = metric_names(config)
  for name in names:
    missing = [p for p in EVALUATORS[name].predicts if p not in predicts]
    if missing:
      raise ValueError(
        f"eval metric {name!r} needs the predict functions {missing}; this game has "
        f"{list(predicts)}. Set eval.metrics to ones it supports."
      )
  if read_heldout and any(n in HELDOUT_METRICS for n in names):
    _heldout(config)


def _translation(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """``l1``, ``psnr`` and ``ssim`` of the translations of the held-out inputs."""
  from gan_jax.metrics import image_quality

  held = _heldout(config)
  out = _finite(sample("translate", key, len(held["input"]), inputs=(held["input"],)))
  target = held["target"]
  return {
    "l1": float(np.mean(image_quality.l1(out, target))),
    "psnr": float(np.mean(image_quality.psnr(out, target))),
    "ssim": float(np.mean(image_quality.ssim(out, target))),
    "protocol": {
      "name": "heldout_translation",
      "n": len(target),
      "split": "heldout",
      "l1": "mean |output - target| in [-1, 1] units",
      "psnr_ssim": "8-bit levels, all channels, no border crop (gan_jax.metrics.image_quality)",
    },
  }


def _sr_heldout(config) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
  """The SR dataset's held-out ``(name, hr, lr or None)``, read once per process."""
  from gan_jax.data import sr as sr_data

  n = config.eval.get("num_heldout", 0) or None
  key = f"sr|{config.data.to_json_best_effort(sort_keys=True)}|{config.model.scale}|{n}"
  if key not in _HELDOUT_CACHE:
    _HELDOUT_CACHE.clear()  # one dataset at a time
    _HELDOUT_CACHE[key] = sr_data.heldout_pairs(config.data, config.model.scale, n)
  return _HELDOUT_CACHE[key]


def _super_resolution(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """PSNR and SSIM of the upscaled held-out images, whole, against their HR, and of plain
  bicubic upsampling of the same LR images: on the Y channel with ``scale`` border pixels
  cropped (the SR literature's protocol), PSNR on RGB too. The LR image is the dataset's
  own where it has one (DIV2K), else ``games.sr.degrade`` of the HR image. Images larger
  than ``eval.sr_tile`` LR pixels are upscaled in tiles of that side overlapping by a
  quarter of it (``gan_jax.upscale``), so that every image runs one compiled program and
  memory stays bounded."""
  from gan_jax import upscale
  from gan_jax.games.sr import degrade
  from gan_jax.metrics import image_quality as iq

  scale = config.model.scale
  tile = config.eval.get("sr_tile", 0)
  scores: dict[str, list[float]] = {}
  held = _sr_heldout(config)
  own_lr = held[0][2] is not None
  for _, hr, lr in held:
    if lr is None:
      lr = np.asarray(degrade(jax.numpy.asarray(hr[None]), scale))[0]
    for name, prefix in (("upscale", ""), ("bicubic", "_bicubic")):
      if tile and max(lr.shape[:2]) > tile:
        fn = functools.partial(lambda name, x: sample(name, key, len(x), inputs=(x,)), name)
        out = upscale.tiled_upscale(fn, lr, scale, tile, tile // 4)[None]
      else:
        out = sample(name, key, 1, inputs=(lr[None],))
      out, ref = _finite(out), hr[None]
      for metric, value in (
        ("psnr", iq.psnr(out, ref, crop_border=scale, y_channel=True)),
        ("ssim", iq.ssim(out, ref, crop_border=scale, y_channel=True)),
        ("psnr_rgb", iq.psnr(out, ref, crop_border=scale)),
      ):
        scores.setdefault(metric + prefix, []).append(float(value[0]))
  result = {k: float(np.mean(v)) for k, v in scores.items()}
  result["protocol"] = {
    "name": "heldout_super_resolution",
    "dataset": config.data.name,
    "images": [name for name, _, _ in held],
    "scale": scale,
    "lr": "the dataset's own LR images"
    if own_lr
    else "games.sr.degrade: antialiased bicubic (a=-0.5), float32",
    "psnr_ssim": f"Y (BT.601) of 8-bit levels, {scale} border pixels cropped; psnr_rgb: RGB",
  }
  if config.data.name == "photos":
    from gan_jax.data import sr as sr_data

    result["protocol"]["short_side"] = config.data.get("load_size", 0) or sr_data.LOAD_SIZE
  return result


def _label_accuracy(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """How often the digits classifier reads the held-out digit's label in the translation."""
  held = _heldout(config)
  out = _finite(sample("translate", key, len(held["input"]), inputs=(held["input"],)))
  clf = digits.load_classifier(out.shape[1])
  predicted = np.argmax(clf(out)[0], axis=-1)
  return {
    "label_accuracy": float(np.mean(predicted == held["label"])),
    "protocol": {**digits.protocol(out.shape[1], len(out), 0), "name": "label_accuracy"},
  }


def _cycle(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """Unpaired translation: does G(a) keep a's content, and does F(G(a)) come back to a?

  ``cycle_l1``: the mean of ``|F(G(a)) - a|`` and ``|G(F(b)) - b|`` over the held-out
  images of both domains. ``label_accuracy_ab`` / ``_ba`` (digits domains only): how often
  the digits classifier reads a held-out digit's label in its translation, read in the
  target domain's style (``gan_jax.data.unpaired.to_classifier_input``).
  """
  from gan_jax.data import unpaired

  held = _heldout(config)
  out, l1 = {}, []
  for src, dst, there, back in (("a", "b", "translate_ab", "translate_ba"),
                                ("b", "a", "translate_ba", "translate_ab")):  # fmt: skip
    x = held[src]
    y = _finite(sample(there, key, len(x), inputs=(x,)))
    l1.append(np.mean(np.abs(_finite(sample(back, key, len(y), inputs=(y,))) - x)))
    if config.data.name == "digits2styled":
      clf = digits.load_classifier(x.shape[1])
      read = np.argmax(clf(unpaired.to_classifier_input(y, dst))[0], axis=-1)
      out[f"label_accuracy_{src}{dst}"] = float(np.mean(read == held[f"label_{src}"]))
  out["cycle_l1"] = float(np.mean(l1))
  out["protocol"] = {
    "name": "heldout_cycle",
    "n_a": len(held["a"]),
    "n_b": len(held["b"]),
    "cycle_l1": "mean over both domains of mean |F(G(x)) - x| in [-1, 1] units",
    "label_accuracy": "digits classifier on the translation, read in the target style",
  }
  return out


def _inception(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """Inception metrics of generated images, or for paired data of the translations of
  the held-out inputs against the held-out targets (``eval.num_samples`` and
  ``eval.num_real`` capped at the held-out split's size)."""
  from gan_jax.data.paired import PAIRED
  from gan_jax.metrics import inception_eval

  if config.data.name not in PAIRED:
    return inception_eval.evaluate(config, functools.partial(sample, "generate"), key)
  held = _heldout(config)
  n = len(held["input"])
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.eval.num_samples = min(config.eval.num_samples, n)
    config.eval.num_real = min(config.eval.get("num_real", n), n)

  def translations(key, m):
    return sample("translate", key, m, inputs=(held["input"][:m],))

  return inception_eval.evaluate(config, translations, key)


def _conditional_inputs(key, n: int, config, threshold: float | None = None):
  """``(z, labels)``: ``n`` codes (truncated at ``threshold`` if given) for the classes
  ``0, 1, ..., C - 1, 0, 1, ...`` (``C`` = 10 digits, or none when unconditional)."""
  from gan_jax import sampling

  z_dim, dist = config.model.z_dim, config.model.z_dist
  if threshold is None:
    z = sampling.sample_z(key, n, z_dim, dist)
  else:
    z = sampling.truncated_normal(key, n, z_dim, threshold)
  labels = np.arange(n, dtype=np.int32) % 10 if config.model.get("conditional", False) else None
  return np.asarray(z), labels


def _check_conditional_digits(config, metric: str, needs_labels: bool = True) -> None:
  if config.data.name != "digits" or (needs_labels and not config.model.get("conditional")):
    raise ValueError(
      f"eval metric {metric!r} needs a class-conditional model (model.conditional=True) "
      "of the digits dataset" + ("." if needs_labels else " (unconditional models too).")
    )


def _class_accuracy(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """Class accuracy and intra-class digits FD / IS of samples of every class."""
  _check_conditional_digits(config, "class_accuracy")
  n = config.eval.num_samples
  z, labels = _conditional_inputs(key, n, config)
  images = _finite(sample("generate", None, n, inputs=(z, labels)))
  result = digits.class_conditional_metrics(images, labels)
  result["protocol"] = {
    **digits.protocol(images.shape[1], n, digits.NUM_REAL),
    "name": "digits_class_conditional",
    "classes": "0..9 in turn",
    "intra_fd_real": "the real digits of the class (about 180)",
  }
  return result


def _truncation(sample: SampleFn, key: jax.Array, config) -> dict[str, Any]:
  """The truncation trick's trade-off: digits IS / FD (variety and fidelity) and, for
  conditional runs, class accuracy, with codes drawn from N(0, I) truncated at each of
  ``eval.truncation`` (BigGAN: entries beyond the threshold redrawn), plus untruncated."""
  _check_conditional_digits(config, "truncation", needs_labels=False)
  n = config.eval.num_samples
  out = {}
  for t in (*config.eval.truncation, None):
    z, labels = _conditional_inputs(key, n, config, t)
    images = _finite(sample("generate", None, n, inputs=(z, labels)))
    name = "none" if t is None else f"{t:g}"
    values = digits.digits_metrics(images)
    if labels is not None:
      values.update(digits.class_conditional_metrics(images, labels))
    for k in ("digits_is", "digits_fd", "class_accuracy", "intra_digits_fd"):
      if k in values:
        out[f"trunc{name}_{k}"] = values[k]
  out["protocol"] = {
    **digits.protocol(config.data.resolution, n, digits.NUM_REAL),
    "name": "truncation_sweep",
    "thresholds": list(config.eval.truncation),
    "draw": "N(0, I) conditioned on |z_i| <= threshold (resampling); 'none' untruncated",
  }
  return out


EVALUATORS: dict[str, Evaluator] = {
  "class_accuracy": Evaluator(("generate",), _class_accuracy),
  "truncation": Evaluator(("generate",), _truncation),
  "mode_coverage": Evaluator(("generate",), _mode_coverage),
  "digits": Evaluator(("generate",), _digits),
  "faces": Evaluator(("generate",), _faces),
  "stacked_digits": Evaluator(("generate",), _stacked_digits),
  "inception": Evaluator((), _inception),  # generate, or translate for paired data
  "translation": Evaluator(("translate",), _translation),
  "super_resolution": Evaluator(("upscale", "bicubic"), _super_resolution),
  "label_accuracy": Evaluator(("translate",), _label_accuracy),
  "cycle": Evaluator(("translate_ab", "translate_ba"), _cycle),
}
DATASET_METRICS: dict[str, tuple[str, ...]] = {
  **{name: ("mode_coverage",) for name in mixtures.MIXTURES},
  "digits": ("digits",),
  "lfw": ("faces",),
  "stacked_digits": ("stacked_digits",),
  **{name: ("super_resolution",) for name in ("photos", "sr_folder", "div2k")},
  "edges2digits": ("translation", "label_accuracy"),
  "gray2color": ("translation",),
  "paired_folder": ("translation",),
  "paired_folders": ("translation",),
  "digits2styled": ("cycle",),
  "unpaired_folders": ("cycle",),
  "cycle_gan": ("cycle",),
}


def metric_names(config) -> tuple[str, ...]:
  """The metrics a run evaluates: ``eval.metrics``, else the dataset's (+ inception)."""
  names = tuple(config.eval.get("metrics", ()) or ())
  if not names:
    names = DATASET_METRICS.get(config.data.name, ())
    if config.data.name == "digits" and config.get("model", {}).get("conditional", False):
      names += ("class_accuracy",)
    if config.data.name == "digits" and config.eval.get("truncation", ()):
      names += ("truncation",)
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
    (keyed by metric name) when there are several. Empty when no metric is defined for
    the run.
  """
  names = metric_names(config)
  result, protocols = {}, {}
  for name in names:
    ev = EVALUATORS[name]
    missing = [p for p in ev.predicts if predicts is not None and p not in predicts]
    if missing:
      raise ValueError(f"eval metric {name!r} needs predict {missing}; the game has {predicts}")
    out = dict(ev.fn(sample, key, config))
    protocols[name] = out.pop("protocol", None)
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
