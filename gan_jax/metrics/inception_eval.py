"""Inception metrics of a generator: FID, IS, KID, precision/recall, density/coverage.

Published FIDs differ mostly by protocol: the Inception weights, the resize, the sample
counts and the reference split. Every result here carries all of them in its
``protocol`` dict, and the reference (real-data) features are computed once per
(dataset, split, resolution, n_real, resize, weights) and cached under
``$GAN_JAX_CACHE/inception_ref/`` (default ``~/.cache/gan_jax``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from gan_jax.metrics import image_metrics, inception


def cache_dir() -> str:
  return os.environ.get("GAN_JAX_CACHE") or os.path.expanduser("~/.cache/gan_jax")


def weights_fingerprint(extractor: inception.InceptionExtractor) -> str:
  """A short id of the network's weights (CRC32 of every array), recorded with results."""
  crc = 0
  for leaf in jax.tree.leaves(extractor.variables):
    crc = zlib.crc32(np.ascontiguousarray(np.asarray(leaf)).tobytes(), crc)
  return f"{crc:08x}"


def real_images(data_cfg, n: int) -> np.ndarray:
  """The first ``n`` images of the dataset in a fixed order (seed 0), ``[n, H, W, C]``.

  For paired data (image-to-image translation) the real images are the held-out targets.
  """
  from gan_jax import data  # a light import cycle: data -> metrics.mixtures
  from gan_jax.data.paired import PAIRED

  if data_cfg.name in PAIRED:
    source = data.build_source(data_cfg, seed=0)
    try:
      targets = source.heldout(n)["target"]
    finally:
      source.close()
    if len(targets) < n:
      raise ValueError(f"eval.num_real={n}: the held-out split has {len(targets)} pairs.")
    return targets

  data_cfg = data_cfg.copy_and_resolve_references()
  with data_cfg.unlocked():
    data_cfg.random_flip = False  # the reference is the dataset itself
  source = data.build_source(data_cfg, seed=0, process_index=0, process_count=1)
  from gan_jax import progress

  out, step, have = [], 0, 0
  pbar = progress.bar(total=n, desc=f"Reference images of {data_cfg.name}", unit="img")
  try:
    while have < n:
      batch = source.batch(step, 1)["image"][0]
      out.append(batch)
      have += len(batch)
      pbar.update(min(len(batch), n - pbar.n))
      step += 1
  finally:
    pbar.close()
    source.close()
  return np.concatenate(out)[:n]


def reference_key(data_cfg, n_real: int, resize: str, fingerprint: str) -> dict[str, Any]:
  """Everything the reference features depend on."""
  from gan_jax.data.embedded import EMBEDDED
  from gan_jax.data.paired import PAIRED

  fields = ["name", "resolution"]
  if data_cfg.name in PAIRED:  # the held-out targets
    fields += ["folder", "eval_split", "direction", "channels", "eval_folder_a", "eval_folder_b"]
  elif data_cfg.name not in EMBEDDED:  # which files, which split, which crop
    fields += ["split", "tfds_name", "folder", "crop", "data_dir", "image_key", "label_key"]
    if data_cfg.name != "folder":  # which examples a shuffled stream yields first
      fields += ["shuffle_buffer", "batch_size"]
  if data_cfg.name in ("folder", "synthetic"):
    fields.append("channels")
  ref = {f: data_cfg.get(f) for f in fields if data_cfg.get(f) not in (None, "")}
  if data_cfg.name in PAIRED:
    ref["split"] = "heldout_targets"
  return {"data": ref, "n_real": n_real, "resize": resize, "weights": fingerprint}


def reference_features(
  data_cfg,
  n_real: int,
  extractor: inception.InceptionExtractor,
  batch_size: int = 64,
  images_fn: Callable[[Any, int], np.ndarray] = real_images,
) -> tuple[np.ndarray, dict[str, Any], bool]:
  """Pool features of ``n_real`` real images, from the cache when they were computed before.

  Returns:
    ``(features [n_real, 2048], key, from_cache)``.
  """
  key = reference_key(data_cfg, n_real, extractor.resize, weights_fingerprint(extractor))
  digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
  path = os.path.join(cache_dir(), "inception_ref", f"{data_cfg.name}-{digest}.npz")
  if os.path.exists(path):
    try:
      with np.load(path) as f:
        if json.loads(str(f["key"])) == key:
          return f["pool"].astype(np.float64), key, True
    except Exception as e:  # noqa: BLE001 (a damaged cache is recomputed)
      logging.warning("Ignoring unreadable reference cache %s (%s).", path, e)
  logging.info("Computing reference Inception features of %d real images (cached after).", n_real)
  pool, _ = extractor.features(images_fn(data_cfg, n_real), batch_size, log_every=20)
  if jax.process_index() == 0:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, pool=pool.astype(np.float32), key=json.dumps(key, sort_keys=True))
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
  return pool.astype(np.float32).astype(np.float64), key, False


def evaluate(
  config,
  sample_fn: Callable[[jax.Array, int], np.ndarray],
  key: jax.Array,
  extractor: inception.InceptionExtractor | None = None,
  images_fn: Callable[[Any, int], np.ndarray] = real_images,
) -> dict[str, Any]:
  """The Inception metrics of ``sample_fn``'s images against the dataset of ``config.data``.

  Args:
    config: the experiment config; reads ``config.data`` and ``config.eval`` (``num_samples``
      generated images, ``num_real`` real ones, ``resize``, ``inception_path``,
      ``batch_size``, ``kid_subset_size``).
    sample_fn: ``(key, n) -> images [n, H, W, C]`` in [-1, 1].
    key: PRNG key of the latent codes.
    extractor: the network (loaded from ``eval.inception_path`` when None).
    images_fn: ``(data_cfg, n) -> real images`` (tests replace it).

  Returns:
    ``fid``, ``is``, ``is_std``, ``kid``, ``kid_std``, ``precision``, ``recall``,
    ``density``, ``coverage`` and ``protocol``.
  """
  ec = config.eval
  resize = ec.get("resize", "pytorch_fid_bilinear")
  if extractor is None:
    extractor = inception.InceptionExtractor.load(ec.get("inception_path") or None, resize)
  batch_size = ec.get("batch_size", 64)
  n_real, n_fake = ec.get("num_real", 10000), ec.num_samples
  real, ref_key, cached = reference_features(config.data, n_real, extractor, batch_size, images_fn)
  fake_pool, fake_logits = extractor.features(sample_fn(key, n_fake), batch_size, log_every=20)
  kid_size = min(ec.get("kid_subset_size", 1000), n_real, n_fake)
  result = image_metrics.image_metrics(real, fake_pool, fake_logits, kid_subset_size=kid_size)
  result["protocol"] = {
    "name": "inception",
    "network": "pytorch-fid FID Inception-v3 (pt_inception-2015-12-05), pool3 / 1008 logits",
    "weights": ref_key["weights"],
    "resize": resize,
    "n_real": n_real,
    "n_fake": n_fake,
    "reference": ref_key["data"],
    "reference_cached": cached,
    "is_splits": min(10, n_fake),
    "kid": {"subsets": 100, "subset_size": kid_size, "kernel": "(x.y/d + 1)^3"},
    "precision_recall_k": 3,
    "density_coverage_k": 5,
  }
  return result
