"""Tests for the paired (image-to-image) sources and the combine_ab command."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from experiments import base
from gan_jax import data
from gan_jax.data import combine_ab, folder, paired

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HALF = 20  # side of each half of the generated aligned images


def _cfg(name: str, batch_size: int = 8, resolution: int = 32, **kw):
  c = base.get_base_config().data
  c.name = name
  c.batch_size = batch_size
  c.resolution = resolution
  c.load_size = 0  # the source's default
  for k, v in kw.items():
    c[k] = v
  return c


def _with(cfg, **kw):
  c = cfg.copy_and_resolve_references()
  for k, v in kw.items():
    c[k] = v
  return c


def _shards_compose(cfg, seed: int, step: int, n: int = 2, count: int = 2) -> None:
  whole = data.build_source(cfg, seed).batch(step, n)
  parts = [data.build_source(cfg, seed, i, count).batch(step, n) for i in range(count)]
  for key in ("input", "target", "label"):
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts], axis=1), whole[key])


def _assert_deterministic(cfg) -> None:
  a, b = data.build_source(cfg, 0), data.build_source(cfg, 0)
  for key in ("input", "target", "label"):
    np.testing.assert_array_equal(a.batch(5, 2)[key], b.batch(5, 2)[key])
  assert not np.array_equal(a.batch(5)["target"], a.batch(6)["target"])
  assert not np.array_equal(a.batch(5)["target"], data.build_source(cfg, 1).batch(5)["target"])


def _to_u8(x: np.ndarray) -> np.ndarray:
  return np.round((np.asarray(x) + 1.0) * 127.5).astype(np.int64)


# ------------------------------------------------------------------------------ embedded


def test_registry_names_paired_sources():
  for name in ("edges2digits", "gray2color", "paired_folder", "paired_folders"):
    assert name in data.DATASETS


@pytest.fixture(scope="module")
def edges_cfg():
  return _cfg("edges2digits")


def test_edges2digits_batches_and_edges(edges_cfg):
  src = data.build_source(edges_cfg, 0)
  assert src.spec == data.DataSpec((32, 32, 1), 10, "paired", (32, 32, 1))
  b = src.batch(3, 2)
  assert b["input"].shape == b["target"].shape == (2, 8, 32, 32, 1)
  assert b["input"].dtype == b["target"].dtype == np.float32 and b["label"].dtype == np.int32
  edges = src.train["input"]
  assert set(np.unique(edges).tolist()) == {-1.0, 1.0}
  frac = (edges > 0).mean(axis=(1, 2, 3))
  assert 0.03 < frac.mean() < 0.25 and frac.min() > 0  # mostly background, never empty
  # A batch's pairs are (edges, digit, label) triples of the training pool.
  pool = {t.tobytes(): i for i, t in enumerate(src.train["target"])}
  for x, y, lab in zip(b["input"][0], b["target"][0], b["label"][0], strict=True):
    i = pool[y.tobytes()]
    np.testing.assert_array_equal(x, src.train["input"][i])
    assert lab == src.train["label"][i]
  _assert_deterministic(edges_cfg)
  _shards_compose(edges_cfg, seed=3, step=7)


def test_edges2digits_heldout_is_the_classifier_heldout(edges_cfg):
  from gan_jax.metrics import digits

  src = data.build_source(edges_cfg, 0)
  held = src.heldout()
  _, train_labels, held_images, held_labels = digits.split(32)
  np.testing.assert_array_equal(held["label"], held_labels)
  np.testing.assert_array_equal(held["target"], held_images)
  assert held["input"].shape == (297, 32, 32, 1)
  np.testing.assert_array_equal(src.heldout(5)["target"], held["target"][:5])
  assert len(src.train["target"]) == len(train_labels) == 1500
  train = {t.tobytes() for t in src.train["target"]}
  assert not any(t.tobytes() in train for t in held["target"])
  # Independent of the seed and process.
  other = data.build_source(edges_cfg, 9, 1, 2).heldout()
  np.testing.assert_array_equal(other["input"], held["input"])


def test_embedded_sources_refuse_btoa(edges_cfg):
  for name in ("edges2digits", "gray2color"):
    with pytest.raises(ValueError, match="direction"):
      data.build_source(_cfg(name, direction="BtoA"), 0)


def _find(crop: np.ndarray, photo: np.ndarray) -> bool:
  """Whether ``crop`` (or its mirror) is a window of ``photo``."""
  r = crop.shape[0]
  for c in (crop, crop[:, ::-1]):
    ys, xs = np.nonzero(np.all(photo[: -r + 1 or None, : -r + 1 or None] == c[0, 0], axis=-1))
    for y, x in zip(ys, xs, strict=True):
      if np.array_equal(photo[y : y + r, x : x + r], c):
        return True
  return False


def test_gray2color_crops_luma_and_heldout():
  cfg = _cfg("gray2color", random_flip=True)
  src = data.build_source(cfg, 0)
  assert src.spec == data.DataSpec((32, 32, 3), 0, "paired", (32, 32, 1))
  b = src.batch(2, 2)
  assert b["input"].shape == (2, 8, 32, 32, 1) and b["target"].shape == (2, 8, 32, 32, 3)
  t = b["target"]
  expected = 0.299 * t[..., 0] + 0.587 * t[..., 1] + 0.114 * t[..., 2]
  np.testing.assert_allclose(b["input"][..., 0], expected, atol=1e-6)
  assert np.all(b["label"] == 0) and -1 <= t.min() and t.max() <= 1
  # Training crops come from the training photographs only.
  assert not set(paired.GRAY2COLOR_TRAIN) & set(paired.GRAY2COLOR_HELDOUT)
  train = [paired.load_photo(n, 128) for n in paired.GRAY2COLOR_TRAIN]
  held_photos = [paired.load_photo(n, 128) for n in paired.GRAY2COLOR_HELDOUT]
  for crop in t.reshape(-1, 32, 32, 3):
    assert any(_find(crop, p) for p in train)
    assert not any(_find(crop, p) for p in held_photos)
  # The held-out grid: 4 x 6 crops of each 128 x 192 photograph.
  held = src.heldout()
  assert held["target"].shape == (48, 32, 32, 3) and held["input"].shape == (48, 32, 32, 1)
  np.testing.assert_array_equal(held["target"][0], held_photos[0][:32, :32])
  np.testing.assert_array_equal(src.heldout(3)["input"], held["input"][:3])
  _assert_deterministic(cfg)
  _shards_compose(cfg, seed=4, step=1, count=4)


def test_gray2color_flips_mirror_the_same_crops():
  on = data.build_source(_cfg("gray2color", random_flip=True), 0).batch(1, 4)["target"]
  off = data.build_source(_cfg("gray2color", random_flip=False), 0).batch(1, 4)["target"]
  same = np.all(on == off, axis=(2, 3, 4))
  mirrored = np.all(on == off[:, :, :, ::-1], axis=(2, 3, 4))
  assert np.all(same | mirrored) and mirrored.any() and (same & ~mirrored).any()


# --------------------------------------------------------------------------- image folders


def _noise(rng, h=HALF, w=HALF, c=3) -> np.ndarray:
  return rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)


def _write_aligned(split_dir: str, count: int, seed: int) -> list[np.ndarray]:
  """Aligned images ``A | 255 - A`` of random noise; returns the A halves."""
  os.makedirs(split_dir, exist_ok=True)
  rng = np.random.default_rng(seed)
  halves = []
  for i in range(count):
    a = _noise(rng)
    Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(f"{split_dir}/{i:03d}.png")
    halves.append(a)
  return halves


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("aligned"))
  train = _write_aligned(os.path.join(root, "train"), 6, seed=0)
  val = _write_aligned(os.path.join(root, "val"), 3, seed=1)
  return root, train, val


def test_paired_folder_same_jitter_on_both_halves(aligned):
  root, train_a, _ = aligned
  # load_size == the halves' size: no resampling, so the crop and flip are exact.
  cfg = _cfg("paired_folder", resolution=12, folder=root, load_size=HALF, random_flip=True)
  src = data.build_source(cfg, 0)
  assert src.spec == data.DataSpec((12, 12, 3), 0, "paired", (12, 12, 3))
  b = src.batch(0, 4)
  x, y = _to_u8(b["input"]), _to_u8(b["target"])
  assert b["input"].shape == (4, 8, 12, 12, 3)
  np.testing.assert_array_equal(x + y, 255)  # B = 255 - A after the same crop and flip
  jitter = set()
  for crop in x.reshape(-1, 12, 12, 3):
    found = [
      (i, yy, xx, f)
      for i, a in enumerate(train_a)
      for yy in range(HALF - 11)
      for xx in range(HALF - 11)
      for f in (False, True)
      if np.array_equal((a[:, ::-1] if f else a)[yy : yy + 12, xx : xx + 12], crop)
    ]
    assert found
    jitter.add(found[0][1:])
  assert len(jitter) > 5 and any(f for _, _, f in jitter)
  src.close()


def test_paired_folder_resized_direction_shards_and_heldout(aligned):
  root, _, val_a = aligned
  cfg = _cfg("paired_folder", resolution=16, folder=root, random_flip=True)
  src = data.build_source(cfg, 0)
  assert src.load_size == 18  # round(16 * 286 / 256), the reference's jitter ratio
  b = src.batch(1, 2)
  # Bicubic resampling rounds A and 255 - A separately: off by at most one level.
  assert np.abs(_to_u8(b["input"]) + _to_u8(b["target"]) - 255).max() <= 1
  swapped = data.build_source(_with(cfg, direction="BtoA"), 0)
  np.testing.assert_array_equal(swapped.batch(1, 2)["input"], b["target"])
  np.testing.assert_array_equal(swapped.batch(1, 2)["target"], b["input"])
  _assert_deterministic(cfg)
  _shards_compose(cfg, seed=2, step=3)
  held = src.heldout()
  assert held["input"].shape == (3, 16, 16, 3) and held["label"].tolist() == [0, 0, 0]
  want = np.asarray(Image.fromarray(val_a[1]).resize((16, 16), Image.Resampling.BICUBIC))
  np.testing.assert_array_equal(_to_u8(held["input"][1]), want)
  np.testing.assert_array_equal(src.heldout(2)["target"], held["target"][:2])
  gray = data.build_source(_cfg("paired_folder", resolution=16, folder=root, channels=1), 0)
  assert gray.batch(0)["input"].shape == (1, 8, 16, 16, 1) and gray.spec.input_shape[-1] == 1
  for s in (src, swapped, gray):
    s.close()


def test_paired_folder_heldout_split_fallback(tmp_path):
  _write_aligned(str(tmp_path / "train"), 2, seed=0)
  cfg = _cfg("paired_folder", resolution=8, batch_size=2, folder=str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"val'.*test'"):
    data.build_source(cfg, 0).heldout()
  _write_aligned(str(tmp_path / "test"), 2, seed=5)
  assert data.build_source(cfg, 0).heldout()["input"].shape == (2, 8, 8, 3)
  with pytest.raises(FileNotFoundError, match="train"):
    data.build_source(_cfg("paired_folder", folder=str(tmp_path / "test")), 0)


def test_paired_folder_bad_files(tmp_path, caplog):
  _write_aligned(str(tmp_path / "train"), 3, seed=0)
  Image.fromarray(np.zeros((HALF, 2 * HALF + 1, 3), np.uint8)).save(tmp_path / "train/odd.png")
  (tmp_path / "train/bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
  cfg = _cfg("paired_folder", resolution=8, batch_size=5, folder=str(tmp_path))
  src = data.build_source(cfg, 0)
  b = src.batch(0, 2)
  assert b["input"].shape == (2, 5, 8, 8, 3)  # full batches of readable pairs
  assert sorted(os.path.basename(p) for p in src.bad_files) == ["bad.png", "odd.png"]
  assert "41 pixels wide" in src.bad_files[str(tmp_path / "train/odd.png")]
  assert "2 bad image pair(s) so far" in caplog.text
  src.close()
  strict = data.build_source(_with(cfg, on_bad_file="fail"), 0)
  with pytest.raises(folder.BadImageError, match="odd.png|bad.png"):
    strict.batch(0, 2)
  strict.close()


def _write_pair_folders(root: str, names_a, names_b, seed: int = 0):
  rng = np.random.default_rng(seed)
  out = {}
  for side, names in (("A", names_a), ("B", names_b)):
    os.makedirs(os.path.join(root, side), exist_ok=True)
    for name in names:
      stem = os.path.splitext(name)[0]
      img = out.setdefault(stem, _noise(rng))
      Image.fromarray(img if side == "A" else 255 - img).save(os.path.join(root, side, name))
  return out


def test_paired_folders(tmp_path):
  names = [f"{i}.png" for i in range(4)]
  _write_pair_folders(str(tmp_path / "tr"), names, [n.replace(".png", ".bmp") for n in names])
  _write_pair_folders(str(tmp_path / "ev"), ["x.png", "y.png"], ["x.png", "y.png"], seed=1)
  kw = dict(folder_a=str(tmp_path / "tr/A"), folder_b=str(tmp_path / "tr/B"))
  cfg = _cfg("paired_folders", resolution=12, load_size=HALF, random_flip=True, **kw)
  src = data.build_source(cfg, 0)
  assert len(src.items) == 4
  b = src.batch(0, 2)
  np.testing.assert_array_equal(_to_u8(b["input"]) + _to_u8(b["target"]), 255)
  swapped = data.build_source(_with(cfg, direction="BtoA"), 0)
  np.testing.assert_array_equal(swapped.batch(0, 2)["input"], b["target"])
  _shards_compose(cfg, seed=1, step=2)
  with pytest.raises(FileNotFoundError, match="eval_folder_a"):
    src.heldout()
  ev = dict(eval_folder_a=str(tmp_path / "ev/A"), eval_folder_b=str(tmp_path / "ev/B"))
  held = data.build_source(_with(cfg, **ev), 0).heldout()
  assert held["target"].shape == (2, 12, 12, 3)
  with pytest.raises(ValueError, match="both"):
    data.build_source(_with(cfg, eval_folder_a=ev["eval_folder_a"]), 0)
  src.close()


def test_paired_folders_mismatched_names(tmp_path):
  names_a = [f"{i}.png" for i in range(9)]
  names_b = [f"{i}.png" for i in range(2, 9)] + ["extra.png"]
  _write_pair_folders(str(tmp_path), names_a, names_b)
  cfg = _cfg("paired_folders", folder_a=str(tmp_path / "A"), folder_b=str(tmp_path / "B"))
  with pytest.raises(ValueError, match=r"2 only in A \['0', '1'\], 1 only in B \['extra'\]"):
    data.build_source(cfg, 0)


def test_combine_ab_round_trip(tmp_path):
  fold_a, fold_b, out = (str(tmp_path / d) for d in ("A", "B", "AB"))
  originals = {}
  for split, seed in (("train", 0), ("val", 1)):
    originals[split] = _write_pair_folders(
      str(tmp_path / split), ["p.png", "q.png", "r.png"], ["p.png", "q.png", "r.png"], seed
    )
    for side, d in (("A", fold_a), ("B", fold_b)):
      os.renames(str(tmp_path / split / side), os.path.join(d, split))
  Image.fromarray(_noise(np.random.default_rng(2))).save(f"{fold_a}/train/only_a.png")
  Image.fromarray(_noise(np.random.default_rng(3), w=HALF + 2)).save(f"{fold_a}/val/z.png")
  Image.fromarray(_noise(np.random.default_rng(4))).save(f"{fold_b}/val/z.png")
  reports = {r.split: r for r in combine_ab.combine_folders(fold_a, fold_b, out)}
  assert reports["train"].written == 3 and reports["train"].only_a == ["only_a"]
  assert reports["val"].written == 3 and "same size" in reports["val"].refused[0]
  assert sorted(os.listdir(f"{out}/train")) == ["p.png", "q.png", "r.png"]
  cfg = _cfg("paired_folder", resolution=HALF, folder=out, load_size=HALF, batch_size=3)
  src = data.build_source(cfg, 0)
  held = src.heldout()
  for i, name in enumerate("pqr"):  # the val split, sorted by name
    np.testing.assert_array_equal(_to_u8(held["input"][i]), originals["val"][name])
    np.testing.assert_array_equal(_to_u8(held["target"][i]), 255 - originals["val"][name])
  got = sorted(_to_u8(x).tobytes() for x in src.batch(0)["input"][0])
  assert got == sorted(a.astype(np.int64).tobytes() for a in originals["train"].values())
  src.close()
  # The command: same result, a report, and exit status 1 for the refused pair.
  proc = subprocess.run(
    [sys.executable, "-m", "gan_jax.data.combine_ab", f"--fold_A={fold_a}", f"--fold_B={fold_b}"]
    + [f"--fold_AB={tmp_path / 'AB2'}"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 1, proc.stderr
  assert "1 name(s) only in A, skipped: only_a" in proc.stdout and "wrote 6" in proc.stdout
  assert open(f"{tmp_path}/AB2/val/q.png", "rb").read() == open(f"{out}/val/q.png", "rb").read()


def test_combine_ab_flat_folders(tmp_path):
  _write_pair_folders(str(tmp_path), ["a.png", "b.png"], ["a.png", "b.png"])
  (report,) = combine_ab.combine_folders(
    str(tmp_path / "A"), str(tmp_path / "B"), str(tmp_path / "o")
  )
  assert report.written == 2 and sorted(os.listdir(tmp_path / "o")) == ["a.png", "b.png"]
  assert Image.open(tmp_path / "o/a.png").size == (2 * HALF, HALF)
