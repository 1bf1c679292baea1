"""Tests for the unpaired two-domain sources: digits2styled, unpaired_folders, cycle_gan."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from gan_jax.data import fake, folder, unpaired
from gan_jax.metrics import digits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("a", "b", "label_a", "label_b")


def _cfg(**kw) -> ml_collections.ConfigDict:
  c = {"batch_size": 8, "resolution": 32}
  c.update(kw)
  return ml_collections.ConfigDict(c)


def _build(name: str, cfg, seed: int = 0, process_index: int = 0, process_count: int = 1):
  return unpaired.UNPAIRED[name](cfg, seed, process_index, process_count)


def _keys(images: np.ndarray) -> list[bytes]:
  """One hashable key per image of ``[..., H, W, C]``."""
  h, w, c = images.shape[-3:]
  return [x.tobytes() for x in np.ascontiguousarray(images).reshape(-1, h * w * c)]


def _assert_batches_equal(x: dict, y: dict) -> None:
  assert sorted(x) == sorted(y) == sorted(KEYS)
  for k in KEYS:
    np.testing.assert_array_equal(x[k], y[k])


def _assert_shards_compose(name: str, cfg, step: int, n_critic: int) -> None:
  whole = _build(name, cfg).batch(step, n_critic)
  shards = [_build(name, cfg, 0, p, 2).batch(step, n_critic) for p in range(2)]
  for k in KEYS:
    np.testing.assert_array_equal(np.concatenate([s[k] for s in shards], axis=1), whole[k])


# ---------------------------------------------------------------------------- digits2styled


@pytest.fixture(scope="module")
def styled():
  return _build("digits2styled", _cfg())


def test_digits2styled_batches_are_pure_functions_of_seed_and_step(styled):
  assert styled.spec == unpaired.DataSpec((32, 32, 3), 10, "unpaired")
  b = styled.batch(3, 2)
  for d in ("a", "b"):
    assert b[d].shape == (2, 8, 32, 32, 3) and b[d].dtype == np.float32
    assert b[d].min() >= -1.0 and b[d].max() <= 1.0
    assert b[f"label_{d}"].shape == (2, 8) and b[f"label_{d}"].dtype == np.int32
  _assert_batches_equal(b, _build("digits2styled", _cfg()).batch(3, 2))
  assert not np.array_equal(styled.batch(4, 2)["a"], b["a"])
  assert not np.array_equal(_build("digits2styled", _cfg(), seed=1).batch(3, 2)["b"], b["b"])
  # Plain A digits are grey: their three channels are equal.
  np.testing.assert_array_equal(b["a"][..., 0], b["a"][..., 2])
  _assert_shards_compose("digits2styled", _cfg(), 5, 2)


def test_digits2styled_halves_are_disjoint_and_heldout_never_trains(styled):
  x_train, y_train, x_held, y_held = digits.split(32)
  for index, n in ((styled.train_index, 1500), (styled.heldout_index, 297)):
    assert not set(index["a"]) & set(index["b"])
    assert sorted([*index["a"], *index["b"]]) == list(range(n))
  assert [len(styled.train[d]) for d in "ab"] == [750, 750]
  held = styled.heldout()
  assert [len(held[d]) for d in "ab"] == [148, 149]
  assert held["a"].shape[1:] == held["b"].shape[1:] == (32, 32, 3)
  np.testing.assert_array_equal(held["label_b"], y_held[styled.heldout_index["b"]])
  # One epoch of each domain reads its own half, every digit once.
  epoch = _build("digits2styled", _cfg(batch_size=50)).batch(0, 15)  # 750 positions
  a_keys = _keys(np.repeat(x_train[styled.train_index["a"]], 3, axis=-1))
  assert sorted(_keys(epoch["a"])) == sorted(a_keys)
  assert sorted(_keys(epoch["b"])) == sorted(_keys(styled.train["b"]))
  b_train = unpaired.style_b(x_train[styled.train_index["b"]])
  np.testing.assert_array_equal(styled.train["b"], b_train)
  # No digit (plain or styled) of either training half is held out, in either style.
  train_digits = set(_keys(x_train))
  assert not train_digits & set(_keys(x_held))
  assert not set(_keys(b_train)) & set(_keys(unpaired.style_b(x_held)))
  assert len(train_digits) == 1500  # no two training digits alike: the checks above bite
  np.testing.assert_array_equal(styled.heldout(5)["a"], held["a"][:5])


def test_digits2styled_domains_read_independent_orders(styled):
  assert not np.array_equal(styled._perm("a", 0), styled._perm("b", 0))
  assert not np.array_equal(styled._perm("a", 0), styled._perm("a", 1))
  # The labels of A and B at the same positions are not tied to each other.
  b = styled.batch(0, 10)
  assert np.mean(b["label_a"] == b["label_b"]) < 0.3


def test_style_b_is_deterministic_and_visibly_different():
  x = digits.split(32)[2]
  b = unpaired.style_b(x)
  assert b.shape == (297, 32, 32, 3) and b.dtype == np.float32
  np.testing.assert_array_equal(b, unpaired.style_b(x))
  a = np.repeat(x, 3, axis=-1)
  # Orange cast: red far above blue (equal in grey A); brighter red on the whole.
  assert b[..., 0].mean() - b[..., 2].mean() > 0.8
  assert b[..., 0].mean() - a[..., 0].mean() > 0.5
  # Inverted: B's brightness falls where A's ink is (a strongly negative correlation).
  paper = ((b + 1.0) / 2.0) @ unpaired.LUMA / (unpaired.TINT @ unpaired.LUMA)
  assert np.corrcoef(x.reshape(-1), paper.reshape(-1))[0, 1] < -0.9
  # Thickened: at least the ink of A everywhere, and more of it in all.
  ink_a, ink_b = (x[..., 0] + 1.0) / 2.0, 1.0 - paper
  assert np.all(ink_b >= ink_a - 1e-5) and 1.1 < ink_b.mean() / ink_a.mean() < 2.0
  # unstyle_b undoes it up to a closing (>= the digit, nearly equal).
  back = unpaired.unstyle_b(b)
  assert np.all(back >= x - 1e-5) and np.abs(back - x).mean() < 0.02
  with pytest.raises(ValueError, match="N, R, R, 1"):
    unpaired.style_b(a)
  with pytest.raises(ValueError, match="Unknown domain"):
    unpaired.to_classifier_input(b, "c")


def test_digits_classifier_reads_both_domains(styled):
  clf = digits.load_classifier(32)
  held = styled.heldout()

  def accuracy(images, domain, labels):
    logits, _ = clf(unpaired.to_classifier_input(images, domain))
    return float(np.mean(np.argmax(logits, axis=1) == labels))

  assert accuracy(held["a"], "a", held["label_a"]) > 0.85
  assert accuracy(held["b"], "b", held["label_b"]) > 0.85
  _, _, x_held, y_held = digits.split(32)
  assert accuracy(unpaired.style_b(x_held), "b", y_held) > 0.85
  # The classifier does not read B unless it is mapped back: the style is a real change.
  assert accuracy(held["b"], "a", held["label_b"]) < 0.5


# --------------------------------------------------------------------------- image folders


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory):
  """trainA: 5 PNGs 30x40; trainB: 7 PNGs 40x30; testA: 3; testB: 2."""
  root = str(tmp_path_factory.mktemp("dataroot"))
  for sub, n, shape, seed in (
    ("trainA", 5, (30, 40), 0),
    ("trainB", 7, (40, 30), 1),
    ("testA", 3, (30, 40), 2),
    ("testB", 2, (40, 30), 3),
  ):
    fake.write_image_folder(os.path.join(root, sub), n, shape=shape, fmt="png", seed=seed)
  return root


def _folder_cfg(root: str, **kw):
  return _cfg(**{"folder": root, "resolution": 8, "load_size": 10, "batch_size": 4, **kw})


def _resized(path: str, size: int) -> np.ndarray:
  return unpaired.load_resized(path, size, 3).astype(np.float32) / 127.5 - 1.0


def test_unpaired_folders_layout_jitter_and_determinism(dataroot):
  cfg = _folder_cfg(dataroot, random_flip=True)
  src = _build("unpaired_folders", cfg)
  assert src.spec == unpaired.DataSpec((8, 8, 3), 0, "unpaired")
  assert [len(src.items[d]) for d in "ab"] == [5, 7]
  b = src.batch(2, 3)
  assert b["a"].shape == b["b"].shape == (3, 4, 8, 8, 3)
  assert not b["label_a"].any() and b["label_b"].shape == (3, 4)
  _assert_batches_equal(b, _build("unpaired_folders", cfg).batch(2, 3))
  assert not np.array_equal(src.batch(3, 3)["a"], b["a"])
  assert not np.array_equal(_build("unpaired_folders", cfg, seed=1).batch(2, 3)["b"], b["b"])
  _assert_shards_compose("unpaired_folders", cfg, 1, 2)
  # Every image is an 8x8 window of a training image resized to 10x10, maybe mirrored.
  windows = set()
  for p, _ in src.items["b"]:
    full = _resized(p, 10)
    for y in range(3):
      for x in range(3):
        crop = full[y : y + 8, x : x + 8]
        windows.update(_keys(np.stack([crop, crop[:, ::-1]])))
  assert set(_keys(b["b"])) <= windows
  # The same layout named by folder_a / folder_b gives the same batches.
  explicit = _cfg(
    folder_a=os.path.join(dataroot, "trainA"),
    folder_b=os.path.join(dataroot, "trainB"),
    resolution=8,
    load_size=10,
    batch_size=4,
    random_flip=True,
  )
  _assert_batches_equal(_build("unpaired_folders", explicit).batch(2, 3), b)
  src.close()
  _assert_batches_equal(src.batch(2, 3), b)  # close() frees the threads; batch() restarts them


def test_unpaired_folders_domains_have_their_own_epochs(dataroot):
  src = _build("unpaired_folders", _folder_cfg(dataroot, load_size=8))  # whole images
  stream = {d: np.concatenate([src.batch(s)[d][0] for s in range(7)]) for d in "ab"}  # 28 each
  for d, n in (("a", 5), ("b", 7)):
    ref = sorted(_keys(np.stack([_resized(p, 8) for p, _ in src.items[d]])))
    keys = _keys(stream[d])
    for e in range(28 // n):  # each epoch of the domain holds each of its images once
      assert sorted(keys[e * n : (e + 1) * n]) == ref
    assert keys[:n] != keys[n : 2 * n]  # reshuffled


def test_unpaired_folders_heldout(dataroot):
  src = _build("unpaired_folders", _folder_cfg(dataroot, random_flip=True))
  held = src.heldout()
  assert held["a"].shape == (3, 8, 8, 3) and held["b"].shape == (2, 8, 8, 3)
  assert held["label_a"].shape == (3,) and held["label_b"].dtype == np.int32
  test_a = sorted(os.listdir(os.path.join(dataroot, "testA")))
  np.testing.assert_array_equal(
    held["a"][0], _resized(os.path.join(dataroot, "testA", test_a[0]), 8)
  )
  again = _build(
    "unpaired_folders", _folder_cfg(dataroot), seed=5, process_index=1, process_count=2
  )
  for k in KEYS:
    np.testing.assert_array_equal(again.heldout()[k], held[k])
  small = _build("unpaired_folders", _folder_cfg(dataroot)).heldout(2)
  assert len(small["a"]) == len(small["b"]) == 2
  # The test* sibling of a train* folder is found without data.folder.
  sib = _cfg(
    folder_a=os.path.join(dataroot, "trainA"),
    folder_b=os.path.join(dataroot, "trainB"),
    resolution=8,
    batch_size=4,
  )
  np.testing.assert_array_equal(_build("unpaired_folders", sib).heldout()["b"], held["b"])


def test_unpaired_folders_errors(tmp_path, dataroot):
  with pytest.raises(ValueError, match="needs data.folder_a and data.folder_b"):
    _build("unpaired_folders", _cfg())
  with pytest.raises(FileNotFoundError, match="trainA.*does not exist"):
    _build("unpaired_folders", _folder_cfg(str(tmp_path)))
  os.makedirs(tmp_path / "trainA")
  os.makedirs(tmp_path / "trainB")
  with pytest.raises(FileNotFoundError, match="No images"):
    _build("unpaired_folders", _folder_cfg(str(tmp_path)))
  fake.write_image_folder(str(tmp_path / "trainA"), 2, shape=(12, 12), fmt="png")
  fake.write_image_folder(str(tmp_path / "trainB"), 3, shape=(12, 12), fmt="png")
  src = _build("unpaired_folders", _folder_cfg(str(tmp_path)))
  assert src.batch(0)["a"].shape == (1, 4, 8, 8, 3)
  with pytest.raises(FileNotFoundError, match="no held-out images of domain A.*testA"):
    src.heldout()
  with pytest.raises(ValueError, match="load_size=6 must be >= data.resolution=8"):
    _build("unpaired_folders", _folder_cfg(dataroot, load_size=6))
  with pytest.raises(ValueError, match="channels must be 1 or 3"):
    _build("unpaired_folders", _folder_cfg(dataroot, channels=4))
  gray = _build("unpaired_folders", _folder_cfg(dataroot, channels=1)).batch(0)
  assert gray["a"].shape == (1, 4, 8, 8, 1)


def test_unpaired_folders_bad_files(tmp_path):
  for sub, n in (("trainA", 3), ("trainB", 4)):
    fake.write_image_folder(str(tmp_path / sub), n, shape=(12, 12), fmt="png")
  with open(tmp_path / "trainB" / "zz_corrupt.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n not a png")
  skip = _build("unpaired_folders", _folder_cfg(str(tmp_path), batch_size=5))
  for s in range(2):  # 10 positions: all 5 B files met
    assert skip.batch(s)["b"].shape == (1, 5, 8, 8, 3)
  assert list(skip.bad_files) == [str(tmp_path / "trainB" / "zz_corrupt.png")]
  fail = _build("unpaired_folders", _folder_cfg(str(tmp_path), batch_size=5, on_bad_file="fail"))
  with pytest.raises(folder.BadImageError, match="zz_corrupt.png"):
    for s in range(2):
      fail.batch(s)


# ---------------------------------------------------------------------------------- TFDS


def test_module_import_leaves_tensorflow_unloaded(dataroot):
  code = (
    "import sys, ml_collections\n"
    "from gan_jax.data import unpaired\n"
    f"c = ml_collections.ConfigDict(dict(folder={dataroot!r}, resolution=8, batch_size=2))\n"
    "unpaired.UNPAIRED['unpaired_folders'](c, 0, 0, 1).batch(0)\n"
    "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
  )
  subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def tfds():
  return pytest.importorskip("tensorflow_datasets")


def test_cycle_gan_not_prepared_fails_fast(tmp_path, tfds):
  from gan_jax.data import tfds_source

  empty = str(tmp_path / "no_data_here")
  cfg = _cfg(data_dir=empty, resolution=8)
  with pytest.raises(tfds_source.DatasetNotPreparedError):  # imports TensorFlow: not timed
    _build("cycle_gan", cfg)
  t0 = time.perf_counter()
  with pytest.raises(tfds_source.DatasetNotPreparedError) as e:
    _build("cycle_gan", cfg)
  assert time.perf_counter() - t0 < 2.0  # no attempt to reach the network
  msg = str(e.value)
  assert f"tfds build cycle_gan/horse2zebra --data_dir={empty}" in msg
  assert f"data_dir searched: {empty}" in msg and "data.download=True" in msg
  assert not os.path.exists(empty)  # nothing was created or downloaded
  with pytest.raises(ValueError, match="Unknown TFDS dataset"):
    _build("cycle_gan", _cfg(data_dir=empty, tfds_name="no_such_dataset_xyz"))


def test_cycle_gan_under_mock_data(tmp_path, tfds):
  cfg = _cfg(data_dir=str(tmp_path), resolution=8, load_size=10, batch_size=4, random_flip=True)
  with tfds.testing.mock_data(num_examples=6):
    src = _build("cycle_gan", cfg)
    assert src.spec == unpaired.DataSpec((8, 8, 3), 0, "unpaired")
    assert [len(src.items[d]) for d in "ab"] == [6, 6]
    assert all(isinstance(src_bytes, bytes) for _, src_bytes in src.items["a"])
    b = src.batch(4, 2)
    assert b["a"].shape == b["b"].shape == (2, 4, 8, 8, 3)
    assert b["a"].min() >= -1.0 and b["a"].max() <= 1.0 and not b["label_b"].any()
    _assert_batches_equal(b, _build("cycle_gan", cfg).batch(4, 2))
    assert not np.array_equal(_build("cycle_gan", cfg, seed=1).batch(4, 2)["a"], b["a"])
    _assert_shards_compose("cycle_gan", cfg, 3, 2)
    held = src.heldout()
    assert held["a"].shape == held["b"].shape == (6, 8, 8, 3)
    # Held-out images are the test splits resized to the resolution directly.
    first = unpaired.load_resized(src._eval_items("a")[0][1], 8, 3) / 127.5 - 1.0
    np.testing.assert_allclose(held["a"][0], first, atol=1e-6)
  src.close()
