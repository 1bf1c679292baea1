"""Super-resolution data: a folder of HR images and TFDS DIV2K (under ``tfds.testing.mock_data``,
its HR images made from its LR ones so that alignment can be checked), then an ESRGAN run of
the paper's config at test size on the mocked DIV2K, evaluated on whole images in tiles."""

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from gan_jax.data import sr as sr_data
from gan_jax.data import tfds_source


def _cfg(**kw):
  c = {"batch_size": 6, "resolution": 16, "random_flip": True, "random_rotate": False}
  c.update(kw)
  return ml_collections.ConfigDict(c)


def _write(path, h, w, seed):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def hr_folder(tmp_path):
  root = tmp_path / "hr"
  for i, (h, w) in enumerate([(40, 52), (33, 24), (64, 64)]):
    _write(str(root / "train" / f"{i}.png"), h, w, i)
  _write(str(root / "val" / "a.png"), 30, 41, 10)
  _write(str(root / "val" / "sub" / "b.png"), 24, 24, 11)
  return str(root)


def _windows(images, r):
  """Every ``r x r`` window of every image, as bytes, for membership tests."""
  out = set()
  for im in images:
    for y in range(im.shape[0] - r + 1):
      for x in range(im.shape[1] - r + 1):
        out.add(np.ascontiguousarray(im[y : y + r, x : x + r]).tobytes())
  return out


def _dihedral(crop):
  """The eight rotations and reflections of a square crop."""
  out = []
  for c in (crop, crop.transpose(1, 0, 2)):
    for f in (c, c[::-1], c[:, ::-1], c[::-1, ::-1]):
      out.append(np.ascontiguousarray(f))
  return out


def test_sr_folder_crops_windows_of_its_images_and_holds_out_whole_images(hr_folder):
  cfg = _cfg(name="sr_folder", folder=hr_folder)
  src = sr_data.SRFolder(cfg, 3, 0, 1)
  assert src.spec.input_shape is None  # the game makes the LR inputs
  b = src.batch(5, 2)
  assert set(b) == {"image", "label"} and b["image"].shape == (2, 6, 16, 16, 3)
  images = [(im.astype(np.float32) / 127.5 - 1.0) for im in src._hr()]
  windows = _windows(images + [im[:, ::-1] for im in images], 16)
  assert all(
    np.ascontiguousarray(c).tobytes() in windows for c in b["image"].reshape(-1, 16, 16, 3)
  )
  # A pure function of (seed, step); the shards of two processes compose; rotations on top.
  np.testing.assert_array_equal(sr_data.SRFolder(cfg, 3, 0, 1).batch(5, 2)["image"], b["image"])
  halves = [sr_data.SRFolder(cfg, 3, i, 2).batch(5, 2)["image"] for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), b["image"])
  rotated = sr_data.SRFolder(_cfg(name="sr_folder", folder=hr_folder, random_rotate=True), 3, 0, 1)
  rb = rotated.batch(5, 2)["image"].reshape(-1, 16, 16, 3)
  flat = b["image"].reshape(-1, 16, 16, 3)
  assert all(any(np.array_equal(r, d) for d in _dihedral(c)) for r, c in zip(rb, flat, strict=True))
  assert not np.array_equal(rb, flat)
  held = src.heldout_sr()
  assert [(n, h.shape, lr) for n, h, lr in held] == [
    ("a.png", (30, 41, 3), None),
    (os.path.join("sub", "b.png"), (24, 24, 3), None),
  ]
  # Cut to the scale for evaluation.
  pairs = sr_data.heldout_pairs(cfg, 4)
  assert [h.shape for _, h, _ in pairs] == [(28, 40, 3), (24, 24, 3)]


def test_sr_folder_refuses_what_it_cannot_use(tmp_path, hr_folder):
  with pytest.raises(ValueError, match="needs data.folder"):
    sr_data.SRFolder(_cfg(name="sr_folder", folder=""), 0, 0, 1)
  with pytest.raises(FileNotFoundError, match="does not exist"):
    sr_data.SRFolder(_cfg(name="sr_folder", folder=str(tmp_path / "none")), 0, 0, 1)
  with pytest.raises(ValueError, match="smaller than data.resolution=34"):
    sr_data.SRFolder(_cfg(name="sr_folder", folder=hr_folder, resolution=34), 0, 0, 1).batch(0)
  flat = tmp_path / "flat"
  _write(str(flat / "x.png"), 20, 20, 0)
  src = sr_data.SRFolder(_cfg(name="sr_folder", folder=str(flat)), 0, 0, 1)
  assert src.batch(0)["image"].shape == (1, 6, 16, 16, 3)  # the folder itself is train/
  with pytest.raises(FileNotFoundError, match="no held-out images"):
    src.heldout_sr()


# ---- DIV2K under tfds.testing.mock_data ---------------------------------------------------
LR_SIZES = {"train": [(10, 12), (8, 8), (9, 14)], "validation": [(12, 10), (20, 17)]}


def _div2k_examples(split):
  """HR = LR repeated 4x (nearest), so the alignment of HR and LR crops is checkable."""
  for i, (h, w) in enumerate(LR_SIZES[split]):
    rng = np.random.default_rng([len(split), i])
    lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yield {"lr": lr, "hr": np.repeat(np.repeat(lr, 4, 0), 4, 1)}


@pytest.fixture
def mock_div2k():
  import tensorflow as tf
  import tensorflow_datasets as tfds

  def as_dataset(self, split, *args, **kwargs):
    del args, kwargs
    name = str(split)
    spec = {k: tf.TensorSpec((None, None, 3), tf.uint8) for k in ("hr", "lr")}
    return tf.data.Dataset.from_generator(lambda: _div2k_examples(name), output_signature=spec)

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    yield


def test_div2k_crops_hr_and_its_own_lr_in_alignment(mock_div2k, tmp_path):
  cfg = _cfg(name="div2k", data_dir=str(tmp_path), random_rotate=True)
  src = sr_data.Div2k(cfg, 1, 0, 1)
  assert src.lr_scale == 4 and src.spec.input_shape == (4, 4, 3)
  b = src.batch(3, 2)
  assert b["image"].shape == (2, 6, 16, 16, 3) and b["lr"].shape == (2, 6, 4, 4, 3)
  # Flips and rotations commute with nearest upsampling: aligned crops stay aligned.
  np.testing.assert_array_equal(np.repeat(np.repeat(b["lr"], 4, 2), 4, 3), b["image"])
  lrs = [(im.astype(np.float32) / 127.5 - 1.0) for im in src._lr()]
  windows = set().union(*(_windows([lr], 4) for lr in lrs))
  assert all(
    any(d.tobytes() in windows for d in _dihedral(c)) for c in b["lr"].reshape(-1, 4, 4, 3)
  )
  halves = [sr_data.Div2k(cfg, 1, i, 2).batch(3, 2) for i in range(2)]
  for k in ("image", "lr"):
    np.testing.assert_array_equal(np.concatenate([h[k] for h in halves], axis=1), b[k])
  held = src.heldout_sr(1)
  assert len(held) == 1 and held[0][1].shape == (48, 40, 3) and held[0][2].shape == (12, 10, 3)


def test_div2k_not_prepared_fails_at_once_with_the_command(tmp_path):
  with pytest.raises(tfds_source.DatasetNotPreparedError, match="tfds build div2k/bicubic_x4"):
    sr_data.Div2k(_cfg(name="div2k", data_dir=str(tmp_path / "empty")), 0, 0, 1)


def test_esrgan_paper_config_trains_on_div2k_and_evaluates_whole_images_in_tiles(
  mock_div2k, tmp_path, monkeypatch
):
  """The paper's ESRGAN config at test size (RRDBNet, relativistic loss, VGG19 conv5_4
  features with random weights from a local file): two compiled steps on DIV2K's own LR
  crops, then the evaluation, which upscales the whole validation images in overlapping
  tiles. (In process, without checkpoints: Orbax's background writes and TFDS's mocked
  file system do not mix.)"""
  import jax

  from experiments import esrgan_div2k
  from gan_jax import build, evaluation
  from gan_jax.models import vgg

  weights = str(tmp_path / "vgg19.npz")
  vgg.save_variables(vgg.random_variables(0), weights)
  monkeypatch.setenv(vgg.ENV_WEIGHTS, weights)
  c = esrgan_div2k.get_config("tiny")
  assert (c.model.g_arch, c.game.name, c.model.vgg_layer) == ("rrdbnet", "esrgan", "conv5_4")
  c.data.data_dir = str(tmp_path)
  c.data.batch_size = 2
  c.eval.sr_tile = 8  # the 12x10 and 20x17 validation images go in 8x8 tiles
  run = build.build(c)
  assert run.game.batch_keys == ("image", "lr")  # G reads the dataset's LR crops
  compiled = run.compiled_step(1)
  state = run.state
  for s in range(2):
    state, metrics = compiled(state, run.layout.device_batch(run.local_batches(s, 1)), s)
    assert all(np.isfinite(float(metrics[k])) for k in ("g_loss", "g_perceptual", "d_loss"))
  run.state = state
  run.source.close()
  result = evaluation.evaluate(run.sampler(), jax.random.key(0), c, tuple(run.game.predict))
  assert {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "psnr_rgb"} <= set(result)
  assert result["protocol"]["lr"] == "the dataset's own LR images"
  assert len(result["protocol"]["images"]) == 2
  assert all(np.isfinite(v) for k, v in result.items() if k != "protocol")
