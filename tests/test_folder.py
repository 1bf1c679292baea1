"""Tests for the image-folder source: listing, preprocessing, bad files, order, training."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from experiments import base, dcgan_digits
from gan_jax import data, train
from gan_jax.data import fake, folder

CLASSES = ("cat", "dog", "emu")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(root: str, batch_size: int = 8, resolution: int = 8, **kw):
  c = base.get_base_config().data
  c.name = "folder"
  c.folder = root
  c.batch_size = batch_size
  c.resolution = resolution
  for k, v in kw.items():
    c[k] = v
  return c


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
  """3 class subfolders of 7 PNGs each (20x16), plus one corrupt PNG in ``dog``."""
  root = str(tmp_path_factory.mktemp("images"))
  fake.write_image_folder(root, 21, shape=(20, 16), classes=CLASSES, fmt="png")
  with open(os.path.join(root, "dog", "zz_corrupt.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n this is not a png")
  with open(os.path.join(root, "emu", "notes.txt"), "w") as f:
    f.write("not an image: ignored")
  return root


def test_list_images_labels_follow_sorted_class_folders(class_folder):
  paths, labels, names = folder.list_images(class_folder)
  assert names == list(CLASSES)
  assert len(paths) == 22 and not any(p.endswith(".txt") for p in paths)
  for p, y in zip(paths, labels, strict=True):
    assert os.path.basename(os.path.dirname(p)) == CLASSES[y]
  assert paths == sorted(paths)


def test_list_images_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    folder.list_images(str(tmp_path / "nope"))
  with pytest.raises(FileNotFoundError, match="No images"):
    folder.list_images(str(tmp_path))
  fake.write_image_folder(str(tmp_path), 2, shape=(8, 8), classes=("a",), fmt="png")
  fake.write_image_folder(str(tmp_path), 1, shape=(8, 8), fmt="png")
  with pytest.raises(ValueError, match="both images"):
    folder.list_images(str(tmp_path))


def test_load_image_center_crops_then_resizes(tmp_path):
  # 30 (h) x 50 (w): red centered 30x30 square, blue bands outside it.
  img = np.zeros((30, 50, 3), np.uint8)
  img[:, :, 2] = 255
  img[:, 10:40] = (255, 0, 0)
  path = str(tmp_path / "a.png")
  Image.fromarray(img).save(path)
  out = folder.load_image(path, 6, None, 3)
  assert out.shape == (6, 6, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, np.broadcast_to(np.uint8([255, 0, 0]), (6, 6, 3)))
  # A 10x10 crop of a checkerboard of 5x5 tiles at its own size: exactly the centre.
  board = ((np.arange(30)[:, None] // 5 + np.arange(50)[None] // 5) % 2 * 255).astype(np.uint8)
  Image.fromarray(board).save(path)
  np.testing.assert_array_equal(folder.load_image(path, 10, 10, 1)[..., 0], board[10:20, 20:30])
  np.testing.assert_array_equal(folder.load_image(path, 30, None, 1)[..., 0], board[:, 10:40])


def test_jpeg_draft_decoding_matches_full_decoding(tmp_path):
  path = fake.write_image_folder(str(tmp_path), 1, shape=(218, 178), fmt="jpeg")[0]
  fast = folder.load_image(path, 64, 140, 3).astype(np.float64)
  full = folder.load_image(path, 64, 140, 3, draft=False).astype(np.float64)
  assert np.abs(fast - full).mean() < 3.0  # out of 255: same crop, slightly different filter
  shifted = folder.load_image(path, 64, 100, 3, draft=False).astype(np.float64)
  assert np.abs(shifted - full).mean() > 2 * np.abs(fast - full).mean()


def test_batches_pure_in_seed_and_step_with_bad_file_skipped(class_folder, caplog):
  cfg = _cfg(class_folder, random_flip=True)
  src = data.build_source(cfg, seed=3)
  assert src.spec == data.DataSpec((8, 8, 3), 3, "image")
  with caplog.at_level(logging.WARNING):
    seen = [src.batch(s, 2) for s in range(4)]  # 64 draws: every file is met
  assert list(src.bad_files) == [os.path.join(class_folder, "dog", "zz_corrupt.png")]
  assert "Skipping unreadable image" in caplog.text and "zz_corrupt.png" in caplog.text
  for b in seen:
    assert b["image"].shape == (2, 8, 8, 8, 3) and b["image"].dtype == np.float32
    assert b["label"].shape == (2, 8) and b["label"].dtype == np.int32
    assert -1.0 <= b["image"].min() and b["image"].max() <= 1.0
  # Resumed at step 3 by a fresh source: the same batch.
  again = data.build_source(cfg, seed=3).batch(3, 2)
  np.testing.assert_array_equal(again["image"], seen[3]["image"])
  np.testing.assert_array_equal(again["label"], seen[3]["label"])
  other = data.build_source(cfg, seed=4).batch(3, 2)
  assert not np.array_equal(other["image"], seen[3]["image"])


def test_labels_match_the_images_class(class_folder):
  # Each class has its own image content: map every loaded image back to its file.
  paths, labels, _ = folder.list_images(class_folder)
  src = data.build_source(_cfg(class_folder, batch_size=21), seed=0)
  by_bytes = {}
  for p, y in zip(paths, labels, strict=True):
    if "corrupt" not in p:
      im = folder.load_image(p, 8, None, 3).astype(np.float32) / 127.5 - 1.0
      by_bytes[im.tobytes()] = y
  b = src.batch(0)
  for im, y in zip(b["image"][0], b["label"][0], strict=True):
    assert by_bytes[im.tobytes()] == y


def test_process_shards_compose_the_global_batch(class_folder):
  cfg = _cfg(class_folder, random_flip=True)
  whole = data.build_source(cfg, seed=1).batch(5, 2)
  parts = [data.build_source(cfg, 1, p, 2).batch(5, 2) for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([p["image"] for p in parts], 1), whole["image"])
  np.testing.assert_array_equal(np.concatenate([p["label"] for p in parts], 1), whole["label"])


def test_on_bad_file_fail_names_the_file(class_folder):
  src = data.build_source(_cfg(class_folder, on_bad_file="fail"), seed=3)
  with pytest.raises(folder.BadImageError, match="zz_corrupt.png"):
    for s in range(4):
      src.batch(s, 2)
  with pytest.raises(ValueError, match="valid: \\['skip', 'fail'\\]"):
    data.build_source(_cfg(class_folder, on_bad_file="ignore"), seed=0)


def test_conditional_dcgan_trains_on_a_folder(class_folder, tmp_path):
  cfg = dcgan_digits.get_config("tiny")
  cfg.data = _cfg(class_folder, channels=1)
  cfg.model.conditional = True
  cfg.train.num_steps = 2
  before = set(threading.enumerate())
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == 2 and int(state.nonfinite_count) == 0
  assert os.path.exists(os.path.join(tmp_path, "samples", "step_0000002.png"))
  # The run's decode threads end with it.
  assert not [t.name for t in set(threading.enumerate()) - before if t.name.startswith("folder")]


def test_embedded_and_folder_sources_and_the_writer_do_not_import_tensorflow_or_torch(
  class_folder,
):
  code = (
    "import sys\n"
    "import gan_jax.train\n"
    "from experiments import base\n"
    "from gan_jax import data\n"
    "c = base.get_base_config().data\n"
    "c.batch_size, c.resolution = 8, 8\n"
    "data.build_source(c, 0).batch(0)\n"
    f"c.name, c.folder = 'folder', {class_folder!r}\n"
    "data.build_source(c, 0).batch(0)\n"
    "tf = ('tensorflow', 'tensorflow_datasets')\n"
    "bad = sorted(m for m in sys.modules if m.split('.')[0] in tf)\n"
    "assert not bad, bad[:5]\n"
    # the TensorBoard writer leaves torch (installed here) unloaded, and importable
    "gan_jax.train._summary_writer_class()\n"
    "assert 'tensorboardX' in sys.modules and 'torch' not in sys.modules\n"
    "import torch\n"
    "print('ok')\n"
  )
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  r = subprocess.run(
    [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
  )
  assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
