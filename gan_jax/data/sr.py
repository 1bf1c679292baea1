"""Super-resolution data: HR crops, and the dataset's own LR crops where it has them.

Three sources, each a ``ShardedSource`` of random crops whose batch is a pure function of
(seed, step): each example of the global batch draws an image, a position and, with
``data.random_flip``, a horizontal flip from ``default_rng([seed, step])``; processes take
their share of the global batch, so shards compose exactly. ``data.random_rotate`` adds a
vertical flip and a transposition, each with probability 1/2 (with the horizontal flip,
the eight rotations and reflections of the square: ESRGAN's training augmentation).

A batch is ``{"image": [B, r, r, 3]}`` of HR crops of side ``r = data.resolution`` in
[-1, 1], plus ``"lr": [B, r / s, r / s, 3]`` when the dataset has its own LR images
(``spec.input_shape`` then gives their shape); otherwise the game makes the LR inputs
from the HR crops on the device (``games/sr.py``). Held out, never cropped for training,
are whole images (``heldout_sr``), evaluated whole (the SR literature's protocol).

- ``photos``: the photographs that ship with scikit-image and scikit-learn (nothing is
  downloaded). Training: ``TRAIN_PHOTOS``, each downscaled once (antialiased bicubic) so
  that its short side is ``data.load_size`` (0: ``LOAD_SIZE``). Held out: ``HELDOUT_PHOTOS``
  (astronaut and coffee) at the same size.
- ``sr_folder``: a folder of the user's HR images, ``data.folder/train/`` (or the folder
  itself when it has no ``train/``), held out ``data.folder/val/`` (``data.eval_split``; else
  ``test/``). Every training image is decoded once, at the first batch, and kept in memory
  as uint8 (DIV2K's 800 HR images: about 6.6 GB); ``data.load_size`` > 0 downscales each so
  that its short side is at most that. The LR inputs are made on the device.
- ``div2k``: TFDS ``div2k/bicubic_x4`` (``data.tfds_name``; ``bicubic_x2`` / ``_x3`` too)
  from a prepared data_dir: its ``hr`` and ``lr`` images (the challenge's MATLAB-bicubic
  LR), aligned crops of both (the LR crop at ``(y, x)``, the HR one at ``(s y, s x)``).
  Training reads ``train`` (800 images), held out is ``validation`` (100). A dataset that
  is not prepared fails at once with the ``tfds build`` command that prepares it.

References:
  Agustsson & Timofte 2017 (DIV2K); Ledig et al. 2017 and Wang et al. 2018 (random HR
  crops of 96 and 128 pixels with flips, whole-image evaluation).
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
from absl import logging

from gan_jax import progress
from gan_jax.data import folder as folder_lib
from gan_jax.data.embedded import DataSpec, ShardedSource
from gan_jax.data.paired import load_photo

TRAIN_PHOTOS = (
  "chelsea",
  "rocket",
  "hubble_deep_field",
  "immunohistochemistry",
  "retina",
  "colorwheel",
  "sklearn:china.jpg",
  "sklearn:flower.jpg",
)
HELDOUT_PHOTOS = ("astronaut", "coffee")
LOAD_SIZE = 192
DEFAULT_DIV2K = "div2k/bicubic_x4"


def _float(image: np.ndarray) -> np.ndarray:
  """uint8 levels or float32 in [-1, 1] -> float32 in [-1, 1]."""
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 127.5 - 1.0
  return np.asarray(image, np.float32)


def cut_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
  """``image`` with each side cut (centred) to a multiple of ``multiple``."""
  h, w = (image.shape[0] // multiple) * multiple, (image.shape[1] // multiple) * multiple
  top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
  return image[top : top + h, left : left + w]


def heldout_images(load_size: int = LOAD_SIZE, multiple: int = 1) -> list[np.ndarray]:
  """The held-out photographs, whole: short side ``load_size``, each side cut (centred) to
  a multiple of ``multiple`` (the SR scale, so that HR = scale x LR exactly)."""
  return [np.array(cut_to_multiple(load_photo(n, load_size), multiple)) for n in HELDOUT_PHOTOS]


class SRSource(ShardedSource):
  """Random crops of in-memory HR images (``self._hr()``), with the aligned crops of their
  own LR images when ``self._lr()`` is not None (see the module docstring)."""

  name = "sr"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    self.resolution = data_cfg.resolution
    self.flip = bool(data_cfg.get("random_flip", False))
    self.rotate = bool(data_cfg.get("random_rotate", False))
    self.lr_scale = 0  # the dataset's own HR / LR ratio; 0: no LR images
    self.spec = DataSpec((self.resolution, self.resolution, 3), 0, "image")

  def _set_lr_scale(self, scale: int) -> None:
    r = self.resolution
    if r % scale:
      raise ValueError(
        f"data.resolution={r} (the HR crop) must be a multiple of the dataset's scale {scale}."
      )
    self.lr_scale = scale
    self.spec = DataSpec((r, r, 3), 0, "image", input_shape=(r // scale, r // scale, 3))

  def _hr(self) -> list[np.ndarray]:
    raise NotImplementedError

  def _lr(self) -> list[np.ndarray] | None:
    return None

  def heldout_sr(self, n: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """The first ``n`` (all: None) held-out images, whole: ``(name, hr, lr or None)``,
    float32 in [-1, 1]; ``lr`` is the dataset's own (then HR = scale x LR exactly)."""
    raise NotImplementedError

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    hr_images, lr_images = self._hr(), self._lr()
    r, s = self.resolution, self.lr_scale or 1
    rng = np.random.default_rng([self.seed, step])
    shape = (n_critic, self.global_batch)
    which = self._share(rng.integers(0, len(hr_images), shape))
    fy, fx = self._share(rng.random(shape)), self._share(rng.random(shape))
    flips = self._share(rng.random(shape) < 0.5) & self.flip
    vflips = self._share(rng.random(shape) < 0.5) & self.rotate
    transposes = self._share(rng.random(shape) < 0.5) & self.rotate

    def augment(i, crop):
      crop = crop[:, ::-1] if flips[i] else crop
      crop = crop[::-1] if vflips[i] else crop
      return crop.transpose(1, 0, 2) if transposes[i] else crop

    hr = np.empty((*which.shape, r, r, 3), np.float32)
    lr = np.empty((*which.shape, r // s, r // s, 3), np.float32) if lr_images else None
    for i in np.ndindex(which.shape):
      image = hr_images[which[i]]
      if lr_images is None:
        y = int(fy[i] * (image.shape[0] - r + 1))
        x = int(fx[i] * (image.shape[1] - r + 1))
      else:
        small, q = lr_images[which[i]], r // s
        ly, lx = int(fy[i] * (small.shape[0] - q + 1)), int(fx[i] * (small.shape[1] - q + 1))
        lr[i] = augment(i, _float(small[ly : ly + q, lx : lx + q]))
        y, x = ly * s, lx * s
      hr[i] = augment(i, _float(image[y : y + r, x : x + r]))
    out = {"image": hr, "label": np.zeros(which.shape, np.int32)}
    if lr is not None:
      out["lr"] = lr
    return out


class PhotoCrops(SRSource):
  """Random HR crops of the embedded training photographs (see the module docstring)."""

  name = "photos"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    self.load_size = data_cfg.get("load_size", 0) or LOAD_SIZE
    if self.load_size < self.resolution:
      raise ValueError(
        f"data.load_size={self.load_size} must be >= data.resolution={self.resolution}."
      )
    self.photos = [load_photo(name, self.load_size) for name in TRAIN_PHOTOS]

  def _hr(self) -> list[np.ndarray]:
    return self.photos

  def heldout_sr(self, n: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    names = HELDOUT_PHOTOS[:n]
    return [(name, np.array(load_photo(name, self.load_size)), None) for name in names]


def _downscale_to(image: np.ndarray, short_side: int) -> np.ndarray:
  """uint8 ``image`` downscaled (antialiased bicubic) so its short side is at most
  ``short_side`` (0: unchanged)."""
  if not short_side or min(image.shape[:2]) <= short_side:
    return image
  from PIL import Image

  h, w = image.shape[:2]
  f = short_side / min(h, w)
  size = (max(short_side, round(w * f)), max(short_side, round(h * f)))
  return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC), np.uint8)


def _read_rgb(path: str) -> np.ndarray:
  from PIL import Image

  with Image.open(path) as im:
    return np.asarray(im.convert("RGB"), np.uint8)


class SRFolder(SRSource):
  """HR images of a folder: ``train/`` (or the folder), held out ``val/`` or ``test/``."""

  name = "sr_folder"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    root = data_cfg.get("folder", "")
    if not root:
      raise ValueError("data.name='sr_folder' needs data.folder=/path/to/hr_images.")
    if not os.path.isdir(root):
      raise FileNotFoundError(f"SR image folder {root!r} does not exist or is not a directory.")
    self.root = root
    train = os.path.join(root, "train")
    self.train_dir = train if os.path.isdir(train) else root
    eval_split = data_cfg.get("eval_split", "val") or "val"
    splits = [eval_split, "test"] if eval_split == "val" else [eval_split]
    self.eval_searched = [os.path.join(root, s) for s in splits]
    self.eval_dir = next((d for d in self.eval_searched if os.path.isdir(d)), None)
    skip = {os.path.basename(d) for d in self.eval_searched} if self.train_dir == root else set()
    self.paths = [
      os.path.join(self.train_dir, p)
      for p in folder_lib.walk_images(self.train_dir)
      if p.split(os.sep)[0] not in skip
    ]
    if not self.paths:
      raise FileNotFoundError(f"No images ({', '.join(folder_lib.IMAGE_EXTENSIONS)}) in {root!r}.")
    self.load_size = data_cfg.get("load_size", 0)
    self.bad_files = folder_lib.BadFiles(data_cfg.get("on_bad_file", "skip"))
    self.workers = data_cfg.get("num_workers", 0) or min(8, os.cpu_count() or 1)
    self._images: list[np.ndarray] | None = None
    logging.info(
      "SR folder %s: %d training images; held out: %s.",
      self.train_dir,
      len(self.paths),
      self.eval_dir or "none",
    )

  def _load(self, path: str) -> np.ndarray | None:
    try:
      return _downscale_to(_read_rgb(path), self.load_size)
    except (OSError, ValueError) as e:
      self.bad_files.record(path, e)
      return None

  def _hr(self) -> list[np.ndarray]:
    if self._images is None:
      with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
        loaded = list(
          progress.bar(
            pool.map(self._load, self.paths),
            total=len(self.paths),
            desc=f"Decoding {self.train_dir}",
            unit="img",
          )
        )
      r = self.resolution
      kept = [(p, im) for p, im in zip(self.paths, loaded, strict=True) if im is not None]
      small = [p for p, im in kept if min(im.shape[:2]) < r]
      if small:
        raise ValueError(
          f"{len(small)} training image(s) are smaller than data.resolution={r} "
          f"(e.g. {small[0]!r}); remove them or lower data.resolution."
        )
      self._images = [im for _, im in kept]
      if not self._images:
        raise FileNotFoundError(f"No readable images in {self.train_dir!r}.")
    return self._images

  def heldout_sr(self, n: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    if self.eval_dir is None:
      raise FileNotFoundError(
        f"The SR folder {self.root!r} has no held-out images: none of "
        f"{', '.join(repr(d) for d in self.eval_searched)} exists (data.eval_split). Add "
        "one, or set eval.metrics=() to train without evaluation."
      )
    names = folder_lib.walk_images(self.eval_dir)[:n]
    if not names:
      raise FileNotFoundError(f"No images in the held-out folder {self.eval_dir!r}.")
    return [
      (name, _float(_downscale_to(_read_rgb(os.path.join(self.eval_dir, name)), self.load_size)),
       None)
      for name in names
    ]  # fmt: skip


class Div2k(SRSource):
  """TFDS ``div2k/bicubic_xS``: aligned crops of its HR and LR images (module docstring)."""

  name = "div2k"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    from gan_jax.data import tfds_source

    self.tfds_name = data_cfg.get("tfds_name", "") or DEFAULT_DIV2K
    self.builder, self.data_dir, _ = tfds_source.open_builder(
      self.tfds_name, data_cfg, features=("hr", "lr")
    )
    self.split = data_cfg.get("split", "train") or "train"
    self._train: tuple[list[np.ndarray], list[np.ndarray]] | None = None
    self._read(self.split, 1)  # a dataset that is not prepared fails here, at once
    self._set_lr_scale(self._scale_of_name())

  def _scale_of_name(self) -> int:
    tail = self.tfds_name.rsplit("_x", 1)
    if len(tail) == 2 and tail[1].isdigit():
      return int(tail[1])
    hr, lr = self._read(self.split, 1)
    return hr[0].shape[0] // lr[0].shape[0]

  def _read(self, split: str, n: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``n`` (all: None) ``(hr, lr)`` uint8 images of ``split``, in file order."""
    from gan_jax.data import tfds_source

    ds = tfds_source.read_split(self.builder, self.tfds_name, self.data_dir, split)
    if n is not None:
      ds = ds.take(n)
    hr, lr = [], []
    for i, ex in enumerate(ds.as_numpy_iterator()):
      h, low = np.asarray(ex["hr"], np.uint8), np.asarray(ex["lr"], np.uint8)
      s = self.lr_scale or h.shape[0] // max(1, low.shape[0])
      if h.shape[:2] != (low.shape[0] * s, low.shape[1] * s):
        raise ValueError(
          f"{self.tfds_name}[{split}][{i}]: HR {h.shape[:2]} is not {s} x LR {low.shape[:2]}."
        )
      hr.append(h)
      lr.append(low)
    if not hr:
      raise ValueError(f"Split {split!r} of TFDS dataset {self.tfds_name!r} is empty.")
    return hr, lr

  def _load_train(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if self._train is None:
      hr, lr = self._read(self.split)
      r = self.resolution
      if min(min(im.shape[:2]) for im in hr) < r:
        raise ValueError(f"{self.tfds_name}[{self.split}] has images smaller than {r} pixels.")
      self._train = hr, lr
      logging.info("TFDS %s[%s]: %d HR/LR pairs in memory.", self.tfds_name, self.split, len(hr))
    return self._train

  def _hr(self) -> list[np.ndarray]:
    return self._load_train()[0]

  def _lr(self) -> list[np.ndarray]:
    return self._load_train()[1]

  def heldout_sr(self, n: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    hr, lr = self._read("validation", n)
    return [
      (f"{self.tfds_name}[validation][{i}]", _float(h), _float(low))
      for i, (h, low) in enumerate(zip(hr, lr, strict=True))
    ]


def heldout_pairs(
  data_cfg, scale: int, n: int | None = None
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
  """The dataset's held-out ``(name, hr, lr or None)``, HR cut to a multiple of ``scale``
  (and so matching its LR when the dataset has one)."""
  from gan_jax import data

  source = data.build_source(data_cfg, 0)
  try:
    out = []
    for name, hr, lr in source.heldout_sr(n):
      if lr is not None:
        if hr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale):
          raise ValueError(f"{name}: HR {hr.shape[:2]} is not {scale} x LR {lr.shape[:2]}.")
        out.append((name, hr, lr))
      else:
        out.append((name, np.array(cut_to_multiple(hr, scale)), None))
    return out
  finally:
    source.close()


SR_DATASETS = {"photos": PhotoCrops, "sr_folder": SRFolder, "div2k": Div2k}
