"""Inception metrics of a generator end to end: reference caching, protocol, plumbing.

The network has random weights (the published ones are not downloaded), so the values
are not FIDs; what is tested is that real images, generated images and the cache meet
the metric functions correctly.
"""

import json
import os

import jax
import numpy as np
import pytest

from experiments import dcgan_digits
from gan_jax.metrics import fid, inception, inception_eval

# Images per set: enough for the k-NN metrics (k = 5); each costs ~0.1 s of Inception at 299 px.
N = 8


@pytest.fixture(scope="module")
def extractor():
  return inception.InceptionExtractor.from_variables(inception.random_variables(0))


def _config():
  c = dcgan_digits.get_config("tiny")
  c.eval.num_samples = N
  c.eval.num_real = N
  c.eval.batch_size = 4
  return c


def test_real_images_score_as_real_and_the_reference_is_cached(tmp_path, monkeypatch, extractor):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  c = _config()
  real = inception_eval.real_images(c.data, N)
  assert real.shape == (N, 8, 8, 1) and real.min() >= -1 and real.max() <= 1
  calls = []

  def images_fn(data_cfg, n):
    calls.append(n)
    return inception_eval.real_images(data_cfg, n)

  same = inception_eval.evaluate(c, lambda key, n: real[:n], None, extractor, images_fn)
  assert abs(same["fid"]) < 1e-3  # generated == reference images
  assert same["precision"] == same["recall"] == same["coverage"] == 1.0
  p = same["protocol"]
  assert (p["n_real"], p["n_fake"], p["resize"], p["reference_cached"]) == (
    N,
    N,
    "pytorch_fid_bilinear",
    False,
  )
  assert p["reference"] == {"name": "digits", "resolution": 8}
  files = os.listdir(tmp_path / "inception_ref")
  assert len(files) == 1 and files[0].startswith("digits-")

  noise = lambda key, n: np.asarray(jax.random.uniform(key, (n, 8, 8, 1), minval=-1, maxval=1))
  key = jax.random.key(1)
  bad = inception_eval.evaluate(c, noise, key, extractor, images_fn)
  assert calls == [N]  # the second evaluation read the cached reference
  assert bad["protocol"]["reference_cached"] is True
  # The same number through an independent path: features of both sets, then the formula.
  real_f, _ = extractor.features(real, 4)
  fake_f, _ = extractor.features(noise(key, N), 4)
  want = fid.frechet_distance(*fid.statistics(fake_f), *fid.statistics(real_f))
  assert bad["fid"] == pytest.approx(want, rel=1e-4)
  assert bad["fid"] > 100 * max(abs(same["fid"]), 1e-6)
  assert json.dumps(bad)  # one JSON line in eval.jsonl


def test_a_different_protocol_is_a_different_reference(tmp_path, monkeypatch, extractor):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  c = _config()
  k1 = inception_eval.reference_key(c.data, N, "pytorch_fid_bilinear", "0")
  c.data.resolution = 16
  assert inception_eval.reference_key(c.data, N, "pytorch_fid_bilinear", "0") != k1
  assert inception_eval.reference_key(c.data, N, "clean_bicubic", "0") != k1
  assert inception_eval.reference_key(c.data, 2 * N, "pytorch_fid_bilinear", "0") != k1
  other = inception.InceptionExtractor.from_variables(inception.random_variables(1))
  assert inception_eval.weights_fingerprint(other) != inception_eval.weights_fingerprint(extractor)


def test_translations_are_scored_against_the_held_out_targets(tmp_path, monkeypatch, extractor):
  """Paired data: FID of translated held-out inputs against the held-out targets."""
  from experiments import pix2pix_edges2digits
  from gan_jax import evaluation

  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  monkeypatch.setattr(
    inception.InceptionExtractor, "load", classmethod(lambda cls, *a, **k: extractor)
  )
  c = pix2pix_edges2digits.get_config("tiny")
  c.eval.update(metrics=("inception",), num_samples=N, num_real=N, batch_size=4)
  targets = inception_eval.real_images(c.data, N + 4)
  seen = []

  def sample(name, key, n, inputs=None):  # a perfect translator: returns the targets
    seen.append((name, n, inputs[0].shape))
    return targets[:n]

  out = evaluation.evaluate(sample, None, c, predicts=("translate", "translate_eval"))
  assert seen == [("translate", N, (N, 32, 32, 1))]
  assert abs(out["fid"]) < 1e-3
  p = out["protocol"]
  assert p["n_fake"] == p["n_real"] == N and p["reference"]["split"] == "heldout_targets"
  c.eval.update(num_samples=10_000, num_real=10_000, num_heldout=N + 4)  # capped
  p = evaluation.evaluate(sample, None, c)["protocol"]
  assert p["n_fake"] == p["n_real"] == N + 4
