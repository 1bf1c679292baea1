"""Tests for the TFDS source: mock data, a real prepared data_dir, resume, shards, training.

TensorFlow is imported once for the module (several seconds); the tests share it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

import numpy as np
import pytest

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  tfds = importlib.import_module("tensorflow_datasets")
  tf = importlib.import_module("tensorflow")
else:
  tfds = pytest.importorskip("tensorflow_datasets")
  tf = pytest.importorskip("tensorflow")

from absl import flags  # noqa: E402

from experiments import base, wgan_celeba  # noqa: E402
from gan_jax import data, train  # noqa: E402
from gan_jax.data import fake, tfds_source  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _keys(images: np.ndarray) -> list[bytes]:
  """One hashable key per image of ``[..., H, W, C]``."""
  h, w, c = images.shape[-3:]
  return [x.tobytes() for x in np.ascontiguousarray(images).reshape(-1, h * w * c)]


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
  """A real prepared TFDS data_dir: 40 JPEG examples of 24x20 with 3 classes."""
  d = str(tmp_path_factory.mktemp("tfds"))
  fake.prepare_fake_tfds(d, 40, (24, 20))
  return d


def _fake_cfg(data_dir: str, batch_size: int = 8, **kw):
  c = base.get_base_config().data
  c.name, c.tfds_name, c.label_key = "tfds", fake.FAKE_TFDS_NAME, "label"
  c.data_dir, c.batch_size, c.resolution = data_dir, batch_size, 8
  for k, v in kw.items():
    c[k] = v
  return c


def test_missing_dataset_fails_fast_with_the_prepare_command(tmp_path):
  cfg = wgan_celeba.get_config().data
  empty = str(tmp_path / "no_data_here")
  cfg.data_dir = empty
  times = []
  for _ in range(2):  # the faster of two: the other test worker may hold both cores
    t0 = time.perf_counter()  # TensorFlow is already imported by this module
    with pytest.raises(tfds_source.DatasetNotPreparedError) as e:
      data.build_source(cfg, 0)
    times.append(time.perf_counter() - t0)
  msg = str(e.value)
  assert f"tfds build celeb_a --data_dir={empty}" in msg
  assert f"data_dir searched: {empty}" in msg and "data.download=True" in msg
  # No attempt to reach the network (which would wait for its timeouts): well under 2 s.
  assert min(times) < 2.0, f"took {times}"
  assert not os.path.exists(empty)  # nothing was created or downloaded


def test_unknown_tfds_name_and_bad_keys(fake_dir):
  with pytest.raises(ValueError, match="Unknown TFDS dataset 'no_such_dataset_xyz'"):
    data.build_source(_fake_cfg(fake_dir, tfds_name="no_such_dataset_xyz"), 0)
  with pytest.raises(ValueError, match=r"no feature 'img'.*\['image', 'label'\]"):
    data.build_source(_fake_cfg(fake_dir, image_key="img"), 0)


def test_real_data_dir_epochs_resume_and_labels(fake_dir):
  cfg = _fake_cfg(fake_dir)
  src = data.build_source(cfg, seed=0)
  assert src.spec == data.DataSpec((8, 8, 3), 3, "image")
  assert (src.num_examples, src.batches_per_epoch) == (40, 5)
  seen = [src.batch(s, 2) for s in range(5)]  # 10 batches: two whole epochs
  flat = np.concatenate([b["image"] for b in seen]).reshape(10, 8, 8, 8, 3)
  epoch0, epoch1 = _keys(flat[:5]), _keys(flat[5:])
  assert len(set(epoch0)) == 40 and set(epoch0) == set(epoch1)  # every example once
  assert epoch0 != epoch1  # reshuffled each epoch
  # Labels are those the builder wrote (i % 3), matched through the image content.
  ref = tfds.builder(fake.FAKE_TFDS_NAME, data_dir=fake_dir).as_dataset(split="train")
  by_key = {}
  for ex in ref.as_numpy_iterator():
    img = tfds_source.center_crop_resize(ex["image"], 8, None).numpy()
    by_key[img.tobytes()] = ex["label"]
  labels = np.concatenate([b["label"] for b in seen]).reshape(-1)
  assert [by_key[k] for k in epoch0 + epoch1] == labels.tolist()
  # A fresh source asked for a later step (a resume, across an epoch) gives the same batch.
  for s in (3, 1, 4):
    again = data.build_source(cfg, seed=0).batch(s, 2)
    np.testing.assert_array_equal(again["image"], seen[s]["image"])
    np.testing.assert_array_equal(again["label"], seen[s]["label"])
  assert not np.array_equal(data.build_source(cfg, seed=1).batch(0, 2)["image"], seen[0]["image"])
  # close() ends the open stream; the source reopens it where asked.
  src.close()
  assert src._stream is None
  np.testing.assert_array_equal(src.batch(2, 2)["image"], seen[2]["image"])


def test_process_shards_are_disjoint_halves(fake_dir):
  cfg = _fake_cfg(fake_dir)
  shards = [data.build_source(cfg, 0, p, 2) for p in range(2)]
  keys = []
  for s in shards:
    assert (s.num_examples, s.local_batch) == (20, 4)
    b = np.concatenate([s.batch(i)["image"] for i in range(5)])  # one epoch of the shard
    keys.append(set(_keys(b)))
  assert len(keys[0]) == len(keys[1]) == 20 and not keys[0] & keys[1]


def test_random_flip_is_a_pure_function_of_seed_and_step(fake_dir):
  plain = data.build_source(_fake_cfg(fake_dir), 0).batch(2)["image"]
  flipped = data.build_source(_fake_cfg(fake_dir, random_flip=True), 0).batch(2)["image"]
  same = np.all(plain == flipped, axis=(2, 3, 4))
  mirrored = np.all(plain[:, :, :, ::-1] == flipped, axis=(2, 3, 4))
  assert np.all(same | mirrored) and same.any() and mirrored.any()
  again = data.build_source(_fake_cfg(fake_dir, random_flip=True), 0).batch(2)["image"]
  np.testing.assert_array_equal(again, flipped)


def test_center_crop_resize_takes_celeba_140_center():
  img = np.zeros((218, 178, 3), np.uint8)
  img[39:179, 19:159] = 200  # the centered 140x140 square
  out = tfds_source.center_crop_resize(tf.constant(img), 64, 140).numpy()
  np.testing.assert_allclose(out, 200 / 127.5 - 1.0, atol=1e-5)
  out = tfds_source.center_crop_resize(tf.constant(img), 140, None).numpy()  # 178 square
  assert out.shape == (140, 140, 3) and out.min() == -1.0  # the border is kept


def test_wgan_celeba_tiny_trains_under_mock_data(tmp_path):
  with tfds.testing.mock_data(num_examples=160):  # one epoch of 4 steps
    state = train.train_and_evaluate(wgan_celeba.get_config("tiny"), str(tmp_path))
  assert int(state.step) == 4 and int(state.nonfinite_count) == 0
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]


def test_used_by_command_runs_a_step_under_mock_data(tmp_path, monkeypatch):
  from gan_jax import main

  monkeypatch.chdir(ROOT)
  argv = [
    "gan_jax.main",
    "--config=experiments/wgan_celeba.py",
    "--config.train.num_steps=1",
    "--config.data.batch_size=4",  # the architecture and objective in full, fewer images
    f"--workdir={tmp_path}",
  ]
  monkeypatch.setattr(sys, "argv", argv)  # config_flags reads overrides from sys.argv
  try:
    flags.FLAGS(argv)
    config = flags.FLAGS.config
    assert (config.data.name, config.data.resolution, config.model.width) == ("celeb_a", 64, 64)
    assert (config.game.n_critic, config.loss.penalty_weight, config.optim.d.b2) == (5, 10.0, 0.9)
    with tfds.testing.mock_data(num_examples=20):  # one epoch: 1 step of 5 critic batches
      main.main(argv[:1])
  finally:
    flags.FLAGS.unparse_flags()
  assert os.path.isdir(tmp_path / "checkpoints" / "1")
  assert os.path.exists(tmp_path / "samples" / "step_0000001.png")
