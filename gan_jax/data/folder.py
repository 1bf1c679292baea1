"""A folder of the user's own JPEG / PNG images, optionally one subfolder per class.

``data.folder`` names the directory. When it holds subfolders with images, each subfolder
(searched recursively) is a class, labelled by the sorted order of the folder names;
otherwise every image under it is read, unlabelled. Each image is center-cropped to a
square (``data.crop`` pixels, or its shorter side when unset) and resized to
``data.resolution`` with an antialiased bilinear filter.

The file list is sorted, so the order is a pure function of (seed, step): a per-epoch
permutation seeded by (seed, epoch), as for the embedded datasets. A batch's files are
decoded by a small thread pool (Pillow releases the GIL while decoding); no TensorFlow.

An unreadable file is replaced by the next readable file of the same epoch's permutation
(so batches stay full and still depend only on (seed, step)), counted, and logged once;
``data.on_bad_file='fail'`` raises instead.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import os
import threading

import numpy as np
from absl import logging

from gan_jax.data.embedded import DataSpec, Source

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
BAD_FILE_POLICIES = ("skip", "fail")


class BadImageError(ValueError):
  """An image file could not be decoded under ``data.on_bad_file='fail'``."""


class BadFiles(dict):
  """The bad-file policy (``data.on_bad_file``) and the files it skipped: name -> error.

  Shared by the image sources: under ``skip`` a file that cannot be read is recorded and
  logged once (thread-safe) and the caller moves on; under ``fail`` it raises.
  """

  def __init__(self, policy: str, what: str = "image"):
    super().__init__()
    if policy not in BAD_FILE_POLICIES:
      raise ValueError(f"Unknown data.on_bad_file {policy!r}; valid: {list(BAD_FILE_POLICIES)}")
    self.policy, self.what = policy, what
    self._lock = threading.Lock()

  def record(self, name: str, exc: Exception) -> None:
    """Raises ``BadImageError`` under ``fail``; records and logs ``name`` under ``skip``."""
    reason = f"{type(exc).__name__}: {exc}"
    if self.policy == "fail":
      raise BadImageError(
        f"Cannot read {self.what} {name!r} ({reason}). Remove it, or set "
        "data.on_bad_file='skip' to skip unreadable files."
      ) from exc
    with self._lock:
      if name not in self:
        self[name] = reason
        logging.warning(
          "Skipping unreadable %s %s (%s); %d bad %s(s) so far.",
          self.what,
          name,
          reason,
          len(self),
          self.what,
        )


def _is_image(name: str) -> bool:
  return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def walk_images(root: str) -> list[str]:
  """All image files under ``root`` (recursively), as sorted paths relative to ``root``."""
  found = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    rel = os.path.relpath(dirpath, root)
    found.extend(os.path.normpath(os.path.join(rel, f)) for f in filenames if _is_image(f))
  return sorted(found)


def list_images(folder: str) -> tuple[list[str], np.ndarray, list[str]]:
  """Lists a folder's images and their class labels.

  Args:
    folder: a directory of images, or of one subfolder of images per class.

  Returns:
    ``(paths, labels, class_names)``: sorted absolute paths, int32 labels (all zero when
    there are no class subfolders) and the sorted class names (empty when unlabelled).
  """
  if not folder:
    raise ValueError("data.name='folder' needs data.folder=/path/to/images.")
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"Image folder {folder!r} does not exist or is not a directory.")
  entries = sorted(os.scandir(folder), key=lambda e: e.name)
  top_files = [e.name for e in entries if e.is_file() and _is_image(e.name)]
  classes = []
  for e in entries:
    if e.is_dir() and not e.name.startswith("."):
      files = walk_images(e.path)
      if files:
        classes.append((e.name, files))
  if classes and top_files:
    raise ValueError(
      f"Image folder {folder!r} holds both images ({top_files[0]!r}, ...) and class "
      f"subfolders ({classes[0][0]!r}, ...): put every image in a class subfolder, or "
      "none of them."
    )
  if not classes and not top_files:
    raise FileNotFoundError(
      f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {folder!r} or its subfolders."
    )
  if not classes:
    paths = [os.path.join(folder, f) for f in top_files]
    return paths, np.zeros(len(paths), np.int32), []
  paths, labels = [], []
  for label, (name, files) in enumerate(classes):
    paths.extend(os.path.join(folder, name, f) for f in files)
    labels.extend([label] * len(files))
  return paths, np.asarray(labels, np.int32), [name for name, _ in classes]


def load_image(
  path: str, resolution: int, crop: int | None, channels: int, draft: bool = True
) -> np.ndarray:
  """Decodes, center-crops and resizes one image file.

  Args:
    path: a JPEG / PNG / ... file.
    resolution: output side.
    crop: side of the centered square cropped before resizing; ``None`` or 0 crops the
      largest centered square. Clamped to the image's shorter side.
    channels: 1 (grayscale) or 3 (RGB).
    draft: let the JPEG decoder downscale by 1/2, 1/4 or 1/8 while decoding when the
      crop stays at least ``resolution`` pixels wide (several times faster).

  Returns:
    ``uint8 [resolution, resolution, channels]``.

  References:
    Radford et al. 2015 / Gulrajani et al. 2017 CelebA preprocessing: a centered crop of
    the 218x178 aligned faces (140x140 in common implementations), resized to 64x64.
  """
  from PIL import Image

  mode = "L" if channels == 1 else "RGB"
  with Image.open(path) as im:
    w, h = im.size
    side = min(w, h) if not crop else min(crop, w, h)
    top, left = (h - side) // 2, (w - side) // 2  # the same offsets as the TFDS path
    if draft and im.format == "JPEG":
      im.draft(mode, (math.ceil(w * resolution / side), math.ceil(h * resolution / side)))
    s = im.size[0] / w  # the decoder's scale: 1, 1/2, 1/4 or 1/8
    left, top, side_s = round(left * s), round(top * s), max(1, round(side * s))
    im = im.convert(mode).crop((left, top, left + side_s, top + side_s))
    out = im.resize((resolution, resolution), Image.Resampling.BILINEAR)
    arr = np.asarray(out, np.uint8)
  return arr[..., None] if arr.ndim == 2 else arr


class FolderSource(Source):
  """Images read from disk in per-epoch permutations seeded by (seed, epoch)."""

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    self.paths, self.labels, self.class_names = list_images(data_cfg.get("folder", ""))
    self.resolution = data_cfg.resolution
    self.crop = data_cfg.get("crop", None)
    self.channels = data_cfg.get("channels", 3)
    if self.channels not in (1, 3):
      raise ValueError(f"data.channels must be 1 or 3 for image folders; got {self.channels}")
    self.bad_files = BadFiles(data_cfg.get("on_bad_file", "skip"))  # path -> error
    self.global_batch = data_cfg.batch_size
    self.local_batch = data_cfg.batch_size // process_count
    self.offset = process_index * self.local_batch
    self.seed = seed
    self.flip = bool(data_cfg.get("random_flip", False))
    num_classes = len(self.class_names) if len(self.class_names) > 1 else 0
    self.spec = DataSpec((self.resolution, self.resolution, self.channels), num_classes, "image")
    self._lock = threading.Lock()
    self._workers = data_cfg.get("num_workers", 0) or min(8, os.cpu_count() or 1)
    self._pool = None  # started by the first batch(), ended by close()
    logging.info(
      "Image folder %s: %d images, %d classes.",
      data_cfg.folder,
      len(self.paths),
      len(self.class_names),
    )

  @functools.lru_cache(maxsize=4)  # noqa: B019 (a handful of epochs, freed with the source)
  def _perm(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))

  def _load_position(self, pos: int) -> tuple[np.ndarray, int]:
    """The image at global stream position ``pos``, or the next readable one after it."""
    n = len(self.paths)
    epoch, k = divmod(pos, n)
    perm = self._perm(epoch)
    for j in range(n):
      i = int(perm[(k + j) % n])
      path = self.paths[i]
      if path in self.bad_files:
        continue
      try:
        return load_image(path, self.resolution, self.crop, self.channels), int(self.labels[i])
      except Exception as e:  # noqa: BLE001 (Pillow raises many types for bad files)
        self.bad_files.record(path, e)
    raise BadImageError(f"No readable image among the {n} files of the folder.")

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    start = step * n_critic * self.global_batch
    pos = start + np.arange(n_critic * self.global_batch).reshape(n_critic, -1)
    pos = pos[:, self.offset : self.offset + self.local_batch]  # this process's share
    with self._lock:
      if self._pool is None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
          self._workers, thread_name_prefix="folder"
        )
      pool = self._pool
    loaded = list(pool.map(self._load_position, pos.reshape(-1).tolist()))
    images = np.stack([im for im, _ in loaded]).reshape(*pos.shape, *self.spec.sample_shape)
    labels = np.asarray([lab for _, lab in loaded], np.int32).reshape(pos.shape)
    images = images.astype(np.float32) / 127.5 - 1.0
    if self.flip:  # Drawn for the global batch so process shards compose exactly.
      rng = np.random.default_rng([self.seed, step, 1])
      mask = rng.random((n_critic, self.global_batch)) < 0.5
      mask = mask[:, self.offset : self.offset + self.local_batch]
      images[mask] = images[mask][:, :, ::-1]
    return {"image": images, "label": labels}

  def close(self) -> None:
    with self._lock:
      pool, self._pool = self._pool, None
    if pool is not None:
      pool.shutdown(wait=True)
