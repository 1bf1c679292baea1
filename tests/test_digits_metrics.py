"""Tests for the digits classifier metrics, the stacked_digits dataset and their evaluation."""

import json
import math
import os

import jax
import ml_collections
import numpy as np
import pytest

from experiments import dcgan_stacked_digits
from gan_jax import build, data, evaluation
from gan_jax.data import embedded
from gan_jax.metrics import digits

R = 8  # the resolution of the tiny configs


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
  """One classifier cache for the module, never the user's."""
  path = str(tmp_path_factory.mktemp("cache"))
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("GAN_JAX_CACHE", path)
    yield path


def _stacked_cfg(batch_size=16, resolution=R):
  return ml_collections.ConfigDict(
    {"name": "stacked_digits", "batch_size": batch_size, "resolution": resolution}
  )


def test_classifier_accuracy_and_disk_cache(cache, monkeypatch):
  clf = digits.load_classifier(R)
  assert clf.accuracy > 0.95  # held-out: 297 digits never seen in training
  _, _, x_test, y_test = digits.split(R)
  assert np.mean(np.argmax(clf(x_test)[0], 1) == y_test) == pytest.approx(clf.accuracy)
  path = digits.cache_path(R)
  assert path.startswith(cache) and os.path.exists(path)
  # Training is deterministic: a retraining gives the cached weights bit for bit.
  for a, b in zip(
    jax.tree.leaves(digits.train_classifier(R).params), jax.tree.leaves(clf.params), strict=True
  ):
    np.testing.assert_array_equal(a, b)
  # A corrupt cache file is retrained and replaced.
  with open(path, "wb") as f:
    f.write(b"not msgpack")
  digits._load_classifier.cache_clear()
  assert digits.load_classifier(R).accuracy == clf.accuracy
  # A new process (emptied memory cache) reads the weights back instead of training again.
  digits._load_classifier.cache_clear()
  monkeypatch.setattr(digits, "train_classifier", lambda r: pytest.fail("retrained"))
  again = digits.load_classifier(R)
  assert again.accuracy == clf.accuracy
  np.testing.assert_array_equal(again(x_test[:5])[1], clf(x_test[:5])[1])
  with pytest.raises(ValueError, match="shape"):
    clf(np.zeros((2, R + 1, R + 1, 1)))


def test_real_digits_score_well_and_noise_or_one_class_badly():
  images, labels = embedded.load_digits(R)
  perm = np.random.default_rng(0).permutation(len(images))
  a, b = images[perm[:900]], images[perm[900:]]
  real = digits.digits_metrics(a, real_images=b)
  full = digits.digits_metrics(images)
  assert full["digits_fd"] == pytest.approx(0.0, abs=1e-6)  # the same set as the statistics
  # A confident classifier on balanced classes: IS near 10; a disjoint half scores the same.
  assert full["digits_is"] > 8.5 and abs(real["digits_is"] - full["digits_is"]) < 0.5
  noise = np.random.default_rng(1).uniform(-1, 1, (900, R, R, 1)).astype(np.float32)
  one_class = images[labels == 3][:150]
  bad_noise = digits.digits_metrics(noise, real_images=b)
  bad_one = digits.digits_metrics(one_class, real_images=b)
  assert bad_one["digits_is"] < 1.5
  assert bad_noise["digits_is"] < 0.6 * real["digits_is"]
  assert real["digits_fd"] < 0.05 * min(bad_noise["digits_fd"], bad_one["digits_fd"])


def test_mode_histogram_closed_forms():
  uniform = digits.mode_histogram_metrics(np.arange(2000) % 1000)
  assert uniform == {"modes_covered": 1000, "reverse_kl": pytest.approx(0.0, abs=1e-12)}
  collapsed = digits.mode_histogram_metrics(np.full(50, 123))
  assert collapsed == {"modes_covered": 1, "reverse_kl": pytest.approx(math.log(1000))}
  # Half the samples on mode 0, half spread over modes 1..5: KL by hand.
  modes = np.array([0] * 5 + [1, 2, 3, 4, 5])
  expected = 0.5 * math.log(0.5 * 1000) + 5 * 0.1 * math.log(0.1 * 1000)
  assert digits.mode_histogram_metrics(modes)["reverse_kl"] == pytest.approx(expected, rel=1e-12)
  with pytest.raises(ValueError):
    digits.mode_histogram_metrics([1000])


def test_stacked_mode_metrics_split_channels_from_dependence():
  i = np.arange(1000)
  # R always 1, (G, B) running over 100 triples: all of the KL is in the channels.
  one_red = np.stack([np.ones_like(i), (i // 10) % 10, i % 10], axis=1)
  m = digits.stacked_mode_metrics(one_red)
  assert m["modes_covered"] == 100
  assert m["reverse_kl"] == pytest.approx(math.log(10), rel=1e-12)
  assert m["channel_kl"] == pytest.approx(math.log(10), rel=1e-12)
  # Every channel uniform, all three the same digit: all of the KL is in the dependence.
  same = np.stack([i % 10] * 3, axis=1)
  m = digits.stacked_mode_metrics(same)
  assert m["modes_covered"] == 10 and m["channel_kl"] == pytest.approx(0.0, abs=1e-12)
  assert m["reverse_kl"] == pytest.approx(math.log(100), rel=1e-12)
  # Any histogram: the channels' KLs against numpy float64.
  rng = np.random.default_rng(0)
  d = rng.choice(10, size=(500, 3), p=np.arange(1, 11) / 55.0)
  expected = 0.0
  for c in range(3):
    p = np.bincount(d[:, c], minlength=10) / 500.0
    p = p[p > 0]
    expected += float(np.sum(p * np.log(p * 10)))
  m = digits.stacked_mode_metrics(d)
  assert m["channel_kl"] == pytest.approx(expected, rel=1e-12)
  # Each digit's share of all channel readings, against a count by hand.
  for k in range(10):
    assert m[f"digit_share_{k}"] == pytest.approx(np.sum(d == k) / d.size, rel=1e-12)
  assert sum(m[f"digit_share_{k}"] for k in range(10)) == pytest.approx(1.0)
  pooled = np.bincount(d.reshape(-1), minlength=10) / d.size  # every channel reading
  assert m["digit_kl"] == pytest.approx(float(np.sum(pooled * np.log(pooled * 10))), rel=1e-12)
  assert m == {
    **digits.mode_histogram_metrics(100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]),
    "channel_kl": m["channel_kl"],
    **{f"digit_share_{k}": m[f"digit_share_{k}"] for k in range(10)},
    "digit_kl": m["digit_kl"],
  }
  with pytest.raises(ValueError, match="shape"):
    digits.stacked_mode_metrics(d[:, :2])


def test_stacked_real_data_covers_all_modes_and_collapse_one():
  src = data.build_source(_stacked_cfg(batch_size=10_000), seed=0)
  real = src.batch(0)["image"][0]  # [10000, R, R, 3]
  m = digits.stacked_digits_metrics(real)
  assert m["modes_covered"] >= 995  # expected ~1000 (1 - e^-10) with ~99 % channel accuracy
  # Plug-in bias ~ (1000 - 1) / (2 * 10000) = 0.05; uniform draws of digits otherwise.
  assert m["reverse_kl"] < 0.1
  assert m["digits_is"] > 8.5
  assert m["channel_kl"] < 0.02  # plug-in bias 3 * 9 / 20000; the classifier's errors
  # Real digits read as clean digits; against the classifier's logits in numpy float64.
  channels = np.moveaxis(real, -1, 1).reshape(-1, R, R, 1)
  logits = digits.load_classifier(R)(channels)[0].astype(np.float64)
  probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  assert m["confident_share"] == pytest.approx(np.mean(probs.max(axis=1) > 0.9), abs=1e-9)
  assert m["confident_share"] > 0.9
  # The digit histogram of the confident readings alone, counted in numpy float64.
  confident = np.argmax(logits, axis=1)[probs.max(axis=1) > 0.9]
  p = np.bincount(confident, minlength=10) / confident.size
  p = p[p > 0]
  assert m["confident_digit_kl"] == pytest.approx(float(np.sum(p * np.log(p * 10))), rel=1e-9)
  assert m["digit_kl"] < 0.005 and m["confident_digit_kl"] < 0.005  # real digits: 10 % each
  # Blends of two real images (half of each) read as neither: fewer confident readings,
  # and the argmax gives blends to some digits more than others (an 8 over a 1).
  blend = 0.5 * (real[:2000] + real[2000:4000])
  b = digits.stacked_digits_metrics(blend)
  assert b["confident_share"] < m["confident_share"] - 0.2
  assert b["digit_kl"] > 0.03 and b["digit_share_8"] > 0.15 and b["digit_share_1"] < 0.06
  one = np.repeat(real[:1], 500, axis=0)  # a generator that always draws the same image
  c = digits.stacked_digits_metrics(one)
  assert c["modes_covered"] == 1 and c["reverse_kl"] == pytest.approx(math.log(1000))
  assert c["channel_kl"] == pytest.approx(3 * math.log(10))
  assert sorted(c[f"digit_share_{k}"] for k in range(10))[-1] > 0.3  # one triple's digits
  assert c["digits_fd"] > 10 * m["digits_fd"]


def test_stacked_source_shapes_labels_and_determinism():
  src = data.build_source(_stacked_cfg(), seed=3)
  assert src.spec == data.DataSpec((R, R, 3), 1000, "image")
  b = src.batch(5, n_critic=2)
  assert b["image"].shape == (2, 16, R, R, 3) and b["image"].dtype == np.float32
  assert b["label"].shape == (2, 16) and b["label"].dtype == np.int32
  assert -1.0 <= b["image"].min() and b["image"].max() <= 1.0
  again = data.build_source(_stacked_cfg(), seed=3).batch(5, n_critic=2)
  np.testing.assert_array_equal(b["image"], again["image"])
  np.testing.assert_array_equal(b["label"], again["label"])
  assert not np.array_equal(b["image"], src.batch(6, n_critic=2)["image"])
  assert not np.array_equal(
    b["image"], data.build_source(_stacked_cfg(), seed=4).batch(5, 2)["image"]
  )
  # Each channel is a real digit whose class is the matching decimal digit of the label.
  images, labels = embedded.load_digits(R)
  flat = images.reshape(len(images), -1)
  for img, label in zip(b["image"][0], b["label"][0], strict=True):
    for c, digit in enumerate((label // 100, label // 10 % 10, label % 10)):
      match = np.all(flat == img[..., c].reshape(1, -1), axis=1)
      assert match.any() and digit in set(labels[match])
  # Two processes' shares make up the single-process batch.
  parts = [data.build_source(_stacked_cfg(), 3, i, 2).batch(5, 2) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate([p["image"] for p in parts], 1), b["image"])
  np.testing.assert_array_equal(np.concatenate([p["label"] for p in parts], 1), b["label"])


def _eval_config(name, num_samples, metrics=()):
  cfg = ml_collections.ConfigDict({"data": {"name": name}, "eval": {"metrics": metrics}})
  cfg.eval.num_samples = num_samples
  return cfg


def test_evaluate_dispatch():
  images, _ = embedded.load_digits(R)
  real = lambda name, key, n: images[:n]  # noqa: E731
  out = evaluation.evaluate(real, None, _eval_config("digits", 300))
  assert set(out) == {"digits_is", "digits_is_std", "digits_fd", "protocol"}
  p = out["protocol"]
  assert p["classifier_version"] == digits.VERSION and p["resolution"] == R
  assert p["n_fake"] == 300 and p["n_real"] == 1797
  src = data.build_source(_stacked_cfg(batch_size=200), seed=0)
  out = evaluation.evaluate(
    lambda name, key, n: src.batch(0)["image"][0][:n], None, _eval_config("stacked_digits", 200)
  )
  assert {"modes_covered", "reverse_kl", "digits_is", "digits_fd"} <= set(out)
  assert 150 < out["modes_covered"] <= 200 and out["protocol"]["num_modes"] == 1000
  assert evaluation.evaluate(real, None, _eval_config("synthetic", 10)) == {}
  # A metric named in eval.metrics runs on any dataset of its shape.
  out = evaluation.evaluate(real, None, _eval_config("lfw", 300, ("digits",)))
  assert out["protocol"]["n_fake"] == 300
  with pytest.raises(ValueError, match="Unknown eval.metrics"):
    evaluation.evaluate(real, None, _eval_config("digits", 10, ("fidd",)))
  with pytest.raises(ValueError, match=r"needs predict \['generate'\]"):
    evaluation.evaluate(real, None, _eval_config("digits", 10), predicts=("translate",))
  nan = lambda name, key, n: np.full((n, R, R, 1), np.nan)  # noqa: E731
  with pytest.raises(ValueError, match="NaN"):
    evaluation.evaluate(nan, None, _eval_config("digits", 20))


def test_stacked_digits_experiment_generator_evaluates(tmp_path):
  """The experiment's (untrained) generator goes through evaluation into eval.jsonl."""
  cfg = dcgan_stacked_digits.get_config("tiny")
  run = build.build(cfg)
  run.source.close()
  result = evaluation.evaluate(run.sampler(), jax.random.key(0), cfg)
  evaluation.append_jsonl(str(tmp_path), {"step": 0, **result})
  line = json.loads(open(tmp_path / "eval.jsonl").read())
  assert 1 <= line["modes_covered"] <= cfg.eval.num_samples
  assert line["reverse_kl"] >= 0 and line["digits_fd"] > 0
  assert line["protocol"]["n_fake"] == cfg.eval.num_samples == 200
  assert line["protocol"]["resolution"] == cfg.data.resolution == R
