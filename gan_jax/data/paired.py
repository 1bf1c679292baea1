"""Paired image-to-image data for pix2pix: batches ``{"input", "target", "label"}``.

Every source here has ``batch(step, n_critic) -> {"input": [n_critic, B_local, H, W, C_in],
"target": [n_critic, B_local, H, W, C_out], "label": [n_critic, B_local]}`` (float32 in
[-1, 1]; int32 labels, the digit for ``edges2digits`` and zeros elsewhere), a pure function
of (seed, step) whose process shards concatenate to the global batch; ``heldout(n)``, a fixed
evaluation set ``{"input", "target", "label"}`` of ``[N, H, W, C]`` numpy arrays, the same
for every seed and process and never drawn by ``batch``; and ``spec.kind == "paired"`` with
``spec.sample_shape`` the target's shape and ``spec.input_shape`` the input's.

- ``edges2digits``: scikit-learn's digits at ``data.resolution``; input an edge map of the
  digit (``digit_edges``: Canny, edges +1 on a -1 background), target the digit. Training
  reads the digits classifier's training split (``gan_jax.metrics.digits.split``) in
  per-epoch permutations; held out is that classifier's held-out split (297 digits).
- ``gray2color``: photographs that ship inside scikit-image (``GRAY2COLOR_TRAIN``; nothing is
  downloaded), downscaled so their short side is ``data.load_size`` (128); every example is
  a fresh random ``data.resolution`` crop (optionally flipped); input the crop's ITU-R
  BT.601 luma, target its RGB. Held out: a fixed grid of crops of ``GRAY2COLOR_HELDOUT``,
  photographs that training never reads.
- ``paired_folder``: the aligned format of the pix2pix reference: ``data.folder`` holds
  ``train/`` (and ``val/`` or ``test/``) of images that put A and B side by side (A left).
- ``paired_folders``: same-named images in ``data.folder_a`` and ``data.folder_b``.

The folder sources follow the reference's preprocessing: ``data.direction`` "AtoB" (input
A) or "BtoA"; both images resized (bicubic) to ``data.load_size`` square, then the same
random ``data.resolution`` crop and, with ``data.random_flip``, the same horizontal flip;
``data.channels`` 3 (RGB) or 1 (grayscale). Held-out pairs are resized to
``data.resolution`` directly (the reference's test time: no crop, no flip). Files are read
in per-epoch permutations seeded by (seed, epoch) by a small thread pool, as by the
``folder`` source, with its bad-file policy (``data.on_bad_file``): an unreadable file (or
an aligned image of odd width) is replaced by the next readable pair of the epoch's
permutation, counted and logged, or raises under ``'fail'``.

References:
  Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
  Sections 4 and 6.2 (random jitter: resize to 286, random 256 crop, mirroring).
  junyanz/pytorch-CycleGAN-and-pix2pix: data/aligned_dataset.py (A|B split at w // 2),
  data/base_dataset.py (get_params, get_transform: resize_and_crop, flip, normalization).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

import numpy as np
from absl import logging

from gan_jax.data import folder as folder_lib
from gan_jax.data.embedded import DataSpec, ShardedSource

DIRECTIONS = ("AtoB", "BtoA")
LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma weights
EDGE_SIGMA = 1.5  # Canny's Gaussian at 32x32 pixels, scaled with the resolution
GRAY2COLOR_LOAD_SIZE = 128
REFERENCE_LOAD_SIZE, REFERENCE_CROP = 286, 256  # the paper's random jitter
GRAY2COLOR_TRAIN = (
  "astronaut",
  "rocket",
  "immunohistochemistry",
  "hubble_deep_field",
  "retina",
  "motorcycle",  # the left view of skimage.data.stereo_motorcycle()
)
GRAY2COLOR_HELDOUT = ("coffee", "chelsea")
SPLIT_FOLDERS = ("train", "val", "test")


class PairedSource(ShardedSource):
  """Base class: process shards of (seed, step) batches and a fixed held-out set."""

  @functools.lru_cache(maxsize=4)  # noqa: B019 (a handful of epochs, freed with the source)
  def _perm(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(self._num_train())

  def _num_train(self) -> int:
    raise NotImplementedError

  def _indices(self, pos: np.ndarray) -> np.ndarray:
    """Training indices at stream positions ``pos``: per-epoch permutations."""
    n = self._num_train()
    idx = np.empty_like(pos)
    for epoch in np.unique(pos // n):
      sel = pos // n == epoch
      idx[sel] = self._perm(int(epoch))[pos[sel] % n]
    return idx

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    """The fixed held-out pairs, never used in training.

    Args:
      n: how many (the first ``n``); ``None`` for all.

    Returns:
      ``{"input": [N, H, W, C_in], "target": [N, H, W, C_out]}`` float32 in [-1, 1] and
      ``"label": [N]`` int32; the same for every seed and process.
    """
    raise NotImplementedError


def _check_embedded_direction(data_cfg, name: str, what: str) -> None:
  direction = data_cfg.get("direction", "AtoB") or "AtoB"
  if direction != "AtoB":
    raise ValueError(
      f"{name} translates {what} only: set data.direction='AtoB' (got {direction!r})."
    )


# ----------------------------------------------------------------------------- edges2digits


def digit_edges(images: np.ndarray) -> np.ndarray:
  """Canny edge maps of digits: +1 on edge pixels, -1 elsewhere.

  Canny's Gaussian has ``sigma = EDGE_SIGMA * R / 32`` (1.5 pixels at 32x32), which traces
  the outline of each stroke as a closed line about one pixel wide with few stray pixels
  (about 10 % of the pixels are edges); thresholds are scikit-image's defaults (0.1 and 0.2
  of the gradient of an image in [0, 1]).

  Args:
    images: ``[N, R, R, 1]`` digits in [-1, 1].

  Returns:
    ``float32 [N, R, R, 1]`` in {-1, 1}.

  References:
    Canny 1986, "A Computational Approach to Edge Detection" (skimage.feature.canny).
  """
  from skimage.feature import canny

  sigma = EDGE_SIGMA * images.shape[1] / 32
  unit = (np.asarray(images, np.float64)[..., 0] + 1.0) / 2.0
  edges = np.stack([canny(u, sigma=sigma) for u in unit]) if len(unit) else unit.astype(bool)
  return np.where(edges, 1.0, -1.0).astype(np.float32)[..., None]


@functools.lru_cache(maxsize=2)
def _edges2digits_arrays(resolution: int) -> tuple[dict, dict]:
  """Read-only ``(train, held_out)`` arrays, computed once per resolution and process."""
  from gan_jax.metrics import digits

  x_train, y_train, x_held, y_held = digits.split(resolution)
  out = []
  for x, y in ((x_train, y_train), (x_held, y_held)):
    arrays = {
      "input": digit_edges(x),
      "target": np.ascontiguousarray(x, np.float32),
      "label": y.astype(np.int32),
    }
    for v in arrays.values():
      v.setflags(write=False)
    out.append(arrays)
  return out[0], out[1]


class EdgesToDigits(PairedSource):
  """Digits from their edge maps; the digits classifier's train / held-out split.

  Training batches are per-epoch permutations of the 1,500 training digits seeded by
  (seed, epoch), as for the ``digits`` source; ``data.random_flip`` is ignored (a mirrored
  digit is not a digit). ``heldout()`` is the classifier's 297 held-out digits, so the
  classifier never saw a held-out target.
  """

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    _check_embedded_direction(data_cfg, "edges2digits", "edges -> digits")
    r = data_cfg.resolution
    self.train, self.held = _edges2digits_arrays(r)
    self.spec = DataSpec((r, r, 1), 10, "paired", (r, r, 1))

  def _num_train(self) -> int:
    return len(self.train["label"])

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    idx = self._indices(self._positions(step, n_critic))
    return {k: v[idx] for k, v in self.train.items()}

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    return {k: v[:n].copy() for k, v in self.held.items()}


# ------------------------------------------------------------------------------ gray2color


def _skimage_photo(name: str) -> np.ndarray:
  """One of scikit-image's bundled RGB photographs as ``uint8 [h, w, 3]`` (no download);
  ``sklearn:NAME.jpg`` is one of scikit-learn's sample images."""
  if name.startswith("sklearn:"):
    from sklearn.datasets import load_sample_image

    return np.ascontiguousarray(load_sample_image(name.split(":", 1)[1])[..., :3], np.uint8)
  import skimage.data

  if name == "motorcycle":
    image = skimage.data.stereo_motorcycle()[0]
  else:
    image = getattr(skimage.data, name)()
  return np.ascontiguousarray(image[..., :3], np.uint8)


@functools.lru_cache(maxsize=16)
def load_photo(name: str, load_size: int) -> np.ndarray:
  """A bundled photograph downscaled so that its short side is ``load_size`` (cached).

  Args:
    name: a scikit-image photograph (``skimage.data.<name>``) or ``sklearn:NAME.jpg``.
    load_size: the short side after resizing (antialiased bicubic).

  Returns:
    Read-only ``float32 [h, w, 3]`` in [-1, 1], ``min(h, w) == load_size``.
  """
  from PIL import Image

  image = Image.fromarray(_skimage_photo(name))
  w, h = image.size
  scale = load_size / min(w, h)
  size = (max(load_size, round(w * scale)), max(load_size, round(h * scale)))
  out = np.asarray(image.resize(size, Image.Resampling.BICUBIC), np.float32) / 127.5 - 1.0
  out.setflags(write=False)
  return out


def random_crops(source, photos, step: int, n_critic: int, r: int, flip: bool) -> np.ndarray:
  """``[n_critic, B_local, r, r, 3]`` crops for ``source`` (a ShardedSource): each example
  of the global batch draws a photograph, a position and a flip (if ``flip``) from
  ``default_rng([seed, step])``; this process keeps its share."""
  rng = np.random.default_rng([source.seed, step])
  shape = (n_critic, source.global_batch)
  which = source._share(rng.integers(0, len(photos), shape))
  fy, fx = source._share(rng.random(shape)), source._share(rng.random(shape))
  flips = source._share(rng.random(shape) < 0.5) & flip
  out = np.empty((*which.shape, r, r, 3), np.float32)
  for i in np.ndindex(which.shape):
    photo = photos[which[i]]
    y = int(fy[i] * (photo.shape[0] - r + 1))
    x = int(fx[i] * (photo.shape[1] - r + 1))
    crop = photo[y : y + r, x : x + r]
    out[i] = crop[:, ::-1] if flips[i] else crop
  return out


def luma(rgb: np.ndarray) -> np.ndarray:
  """ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of ``[..., 3]`` as ``[..., 1]``."""
  return (np.asarray(rgb, np.float32) @ LUMA)[..., None]


class GrayToColor(PairedSource):
  """Colour from luma on random crops of scikit-image's bundled photographs.

  Each example of the global batch draws a training photograph (uniformly), a crop
  position (uniform over the valid ones) and a flip from ``default_rng([seed, step])``;
  each process takes its share, so shards compose exactly. ``heldout()`` is the grid of
  non-overlapping crops (centred) of ``GRAY2COLOR_HELDOUT``, in photo, row, column order:
  48 crops at the default 32 pixels from photographs of short side 128.
  """

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    _check_embedded_direction(data_cfg, "gray2color", "grayscale -> colour")
    r = self.resolution = data_cfg.resolution
    self.load_size = data_cfg.get("load_size", None) or GRAY2COLOR_LOAD_SIZE
    if self.load_size < r:
      raise ValueError(f"data.load_size={self.load_size} must be >= data.resolution={r}.")
    self.flip = bool(data_cfg.get("random_flip", False))
    self.photos = [load_photo(name, self.load_size) for name in GRAY2COLOR_TRAIN]
    self.spec = DataSpec((r, r, 3), 0, "paired", (r, r, 1))
    self._held = None

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    target = random_crops(self, self.photos, step, n_critic, self.resolution, self.flip)
    label = np.zeros(target.shape[:2], np.int32)
    return {"input": luma(target), "target": target, "label": label}

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    if self._held is None:
      r, crops = self.resolution, []
      for name in GRAY2COLOR_HELDOUT:
        photo = load_photo(name, self.load_size)
        rows, cols = photo.shape[0] // r, photo.shape[1] // r
        top, left = (photo.shape[0] - rows * r) // 2, (photo.shape[1] - cols * r) // 2
        for y in range(top, top + rows * r, r):
          for x in range(left, left + cols * r, r):
            crops.append(photo[y : y + r, x : x + r])
      target = np.stack(crops)
      self._held = {
        "input": luma(target),
        "target": target,
        "label": np.zeros(len(target), np.int32),
      }
    return {k: v[:n].copy() for k, v in self._held.items()}


# --------------------------------------------------------------------------- image folders


def list_pair_images(path: str, field: str) -> list[str]:
  """Sorted image paths under a folder (recursively), with errors naming the config field.

  Args:
    path: the folder.
    field: the config field or description that named it, for error messages.

  Returns:
    Sorted absolute (joined) paths.
  """
  if not path:
    raise ValueError(f"{field} is not set.")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{field}={path!r} does not exist or is not a directory.")
  found = folder_lib.walk_images(path)
  if not found:
    raise FileNotFoundError(
      f"No images ({', '.join(folder_lib.IMAGE_EXTENSIONS)}) found in {field}={path!r}."
    )
  return [os.path.join(path, p) for p in found]


def images_by_name(paths: list[str], root: str, field: str) -> dict[str, str]:
  """Keys images by their path relative to ``root`` without the extension.

  Args:
    paths: image paths under ``root``.
    root: the folder they were listed from.
    field: the config field or flag that named ``root``, for error messages.

  Returns:
    ``{relative path without extension: path}``.

  Raises:
    ValueError: when two files differ only by their extension.
  """
  out: dict[str, str] = {}
  for p in paths:
    key = os.path.splitext(os.path.relpath(p, root))[0]
    if key in out:
      raise ValueError(
        f"{field}={root!r} holds two images named {key!r} ({out[key]!r} and {p!r}): pairs are "
        "matched by name, extension aside; keep one."
      )
    out[key] = p
  return out


def match_pairs(folder_a: str, folder_b: str, field_a: str, field_b: str) -> list[tuple[str, str]]:
  """Pairs same-named images (extension aside) of two folders.

  Args:
    folder_a: the A images.
    folder_b: the B images.
    field_a: the config field naming ``folder_a``, for error messages.
    field_b: likewise for ``folder_b``.

  Returns:
    ``[(path_a, path_b)]`` sorted by name.

  Raises:
    ValueError: when a name is in one folder only (up to 5 listed on each side).
  """
  a = images_by_name(list_pair_images(folder_a, field_a), folder_a, field_a)
  b = images_by_name(list_pair_images(folder_b, field_b), folder_b, field_b)
  only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
  if only_a or only_b:
    raise ValueError(
      f"{field_a}={folder_a!r} ({len(a)} images) and {field_b}={folder_b!r} ({len(b)} "
      "images) must hold the same names (extension aside): "
      f"{len(only_a)} only in A {only_a[:5]}, {len(only_b)} only in B {only_b[:5]}."
    )
  return [(a[k], b[k]) for k in sorted(a)]


def _open(path: str, mode: str):
  from PIL import Image

  with Image.open(path) as im:
    return im.convert(mode)


def read_aligned(path: str, mode: str):
  """Splits an aligned A|B image at ``w // 2`` into the PIL images ``(A, B)``.

  Args:
    path: an image of A (left) and B (right) side by side.
    mode: PIL mode, "RGB" or "L".

  Returns:
    ``(A, B)``, PIL images of equal size.

  Raises:
    ValueError: for an odd width (the halves would differ by a pixel).

  References:
    junyanz/pytorch-CycleGAN-and-pix2pix, data/aligned_dataset.py.
  """
  ab = _open(path, mode)
  w, h = ab.size
  if w % 2:
    raise ValueError(
      f"{path!r} is {w} pixels wide: an aligned A|B image must be two halves of equal width."
    )
  return ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))


class _FolderPairs(PairedSource):
  """Shared by paired_folder and paired_folders: loading, jitter, bad files, held out."""

  name = ""

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    r = self.resolution = data_cfg.resolution
    self.direction = data_cfg.get("direction", "AtoB") or "AtoB"
    if self.direction not in DIRECTIONS:
      raise ValueError(f"Unknown data.direction {self.direction!r}; valid: {list(DIRECTIONS)}")
    self.load_size = data_cfg.get("load_size", None) or round(
      r * REFERENCE_LOAD_SIZE / REFERENCE_CROP
    )
    if self.load_size < r:
      raise ValueError(f"data.load_size={self.load_size} must be >= data.resolution={r}.")
    self.channels = data_cfg.get("channels", 3)
    if self.channels not in (1, 3):
      raise ValueError(f"data.channels must be 1 or 3 for paired images; got {self.channels}")
    self.flip = bool(data_cfg.get("random_flip", False))
    self.spec = DataSpec((r, r, self.channels), 0, "paired", (r, r, self.channels))
    self.items: list = []  # training pairs, set by the subclass
    # item -> error, in the order met
    self.bad_files = folder_lib.BadFiles(data_cfg.get("on_bad_file", "skip"), "image pair")
    self._lock = threading.Lock()
    self._workers = data_cfg.get("num_workers", 0) or min(8, os.cpu_count() or 1)
    self._pool = None  # started on first use, ended by close()
    self._held: list[tuple[np.ndarray, np.ndarray]] = []
    self._held_next = 0  # eval items read so far

  # Subclasses: the pair's two PIL images (A, B) and held-out items.
  def _read(self, item, mode: str):
    raise NotImplementedError

  def _eval_items(self) -> list:
    raise NotImplementedError

  def _num_train(self) -> int:
    return len(self.items)

  def _item_name(self, item) -> str:
    return item if isinstance(item, str) else " + ".join(item)

  def _load(self, item, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input, target)``: ``uint8 [size, size, C]`` each, both resized (bicubic)."""
    from PIL import Image

    mode = "L" if self.channels == 1 else "RGB"
    a, b = self._read(item, mode)
    a, b = (
      np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), np.uint8) for im in (a, b)
    )
    if self.channels == 1:
      a, b = a[..., None], b[..., None]
    return (a, b) if self.direction == "AtoB" else (b, a)

  def _try_load(self, item, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``_load``, or None for a bad item (counted and logged) under ``on_bad_file='skip'``."""
    name = self._item_name(item)
    if name in self.bad_files:
      return None
    try:
      return self._load(item, size)
    except Exception as e:  # noqa: BLE001 (Pillow raises many types for bad files)
      self.bad_files.record(name, e)
      return None

  def _load_position(self, pos: int, y: int, x: int, flip: bool):
    """The jittered pair at stream position ``pos``, or the next readable one after it."""
    n = len(self.items)
    epoch, k = divmod(pos, n)
    perm = self._perm(epoch)
    r = self.resolution
    for j in range(n):
      pair = self._try_load(self.items[int(perm[(k + j) % n])], self.load_size)
      if pair is not None:
        inp, tgt = (a[y : y + r, x : x + r] for a in pair)
        return (inp[:, ::-1], tgt[:, ::-1]) if flip else (inp, tgt)
    raise folder_lib.BadImageError(f"No readable image pair among the {n} of {self.name}.")

  def _map(self, fn, *args) -> list:
    with self._lock:
      if self._pool is None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
          self._workers, thread_name_prefix="paired"
        )
      pool = self._pool
    return list(pool.map(fn, *args))

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    pos = self._positions(step, n_critic)
    # Jitter drawn for the global batch so process shards compose exactly.
    rng = np.random.default_rng([self.seed, step, 2])
    shape, room = (n_critic, self.global_batch), self.load_size - self.resolution + 1
    y, x = self._share(rng.integers(0, room, shape)), self._share(rng.integers(0, room, shape))
    flip = self._share(rng.random(shape) < 0.5) & self.flip
    flat = [a.reshape(-1).tolist() for a in (pos, y, x, flip)]
    pairs = self._map(self._load_position, *flat)
    out_shape = (*pos.shape, *self.spec.sample_shape)
    inp = np.stack([p[0] for p in pairs]).reshape(out_shape).astype(np.float32) / 127.5 - 1.0
    tgt = np.stack([p[1] for p in pairs]).reshape(out_shape).astype(np.float32) / 127.5 - 1.0
    return {"input": inp, "target": tgt, "label": np.zeros(pos.shape, np.int32)}

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    items = self._eval_items()
    while (n is None or len(self._held) < n) and self._held_next < len(items):
      want = len(items) if n is None else n - len(self._held)
      chunk = items[self._held_next : self._held_next + want]
      pairs = self._map(lambda item: self._try_load(item, self.resolution), chunk)
      self._held.extend(p for p in pairs if p is not None)
      self._held_next += len(chunk)
    held = self._held[:n]
    if not held:
      raise folder_lib.BadImageError(f"No readable held-out image pair for {self.name}.")
    inp = np.stack([p[0] for p in held]).astype(np.float32) / 127.5 - 1.0
    tgt = np.stack([p[1] for p in held]).astype(np.float32) / 127.5 - 1.0
    return {"input": inp, "target": tgt, "label": np.zeros(len(held), np.int32)}

  def close(self) -> None:
    with self._lock:
      pool, self._pool = self._pool, None
    if pool is not None:
      pool.shutdown(wait=True)


class PairedFolder(_FolderPairs):
  """The aligned format: ``data.folder/{train,val,test}/`` of A|B images side by side.

  Training reads ``train/``; ``heldout()`` reads ``data.eval_split`` ("val", falling back to
  "test" when there is no ``val/``). See the module docstring for the preprocessing.

  References:
    junyanz/pytorch-CycleGAN-and-pix2pix, data/aligned_dataset.py.
  """

  name = "paired_folder"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    self.folder = data_cfg.get("folder", "")
    if not self.folder:
      raise ValueError("data.name='paired_folder' needs data.folder=/path/with/train/.")
    self.items = list_pair_images(
      os.path.join(self.folder, "train"), "the training split (data.folder + '/train')"
    )
    eval_split = data_cfg.get("eval_split", "val") or "val"
    splits = [eval_split, "test"] if eval_split == "val" else [eval_split]
    self.eval_searched = [os.path.join(self.folder, s) for s in splits]
    self.eval_dir = next((d for d in self.eval_searched if os.path.isdir(d)), None)
    self._eval_list = None
    logging.info(
      "Paired folder %s: %d training pairs; held out: %s.",
      self.folder,
      len(self.items),
      self.eval_dir,
    )

  def _read(self, item, mode):
    return read_aligned(item, mode)

  def _eval_items(self) -> list:
    if self.eval_dir is None:
      raise FileNotFoundError(
        "paired_folder has no held-out split: none of "
        f"{', '.join(repr(d) for d in self.eval_searched)} exists (data.eval_split)."
      )
    if self._eval_list is None:
      self._eval_list = list_pair_images(self.eval_dir, "the held-out split")
    return self._eval_list


class PairedFolders(_FolderPairs):
  """Same-named images in ``data.folder_a`` and ``data.folder_b`` (extension aside).

  ``heldout()`` pairs ``data.eval_folder_a`` with ``data.eval_folder_b`` (matched at
  construction when set). See the module docstring for the preprocessing.
  """

  name = "paired_folders"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    self.items = match_pairs(
      data_cfg.get("folder_a", ""), data_cfg.get("folder_b", ""), "data.folder_a", "data.folder_b"
    )
    eval_a, eval_b = data_cfg.get("eval_folder_a", ""), data_cfg.get("eval_folder_b", "")
    if bool(eval_a) != bool(eval_b):
      raise ValueError("Set both data.eval_folder_a and data.eval_folder_b, or neither.")
    self.eval_pairs = (
      match_pairs(eval_a, eval_b, "data.eval_folder_a", "data.eval_folder_b") if eval_a else None
    )
    logging.info(
      "Paired folders %s | %s: %d training pairs, %s held out.",
      data_cfg.get("folder_a"),
      data_cfg.get("folder_b"),
      len(self.items),
      "no" if self.eval_pairs is None else len(self.eval_pairs),
    )

  def _read(self, item, mode):
    return _open(item[0], mode), _open(item[1], mode)

  def _eval_items(self) -> list:
    if self.eval_pairs is None:
      raise FileNotFoundError(
        "paired_folders has no held-out pairs: set data.eval_folder_a and data.eval_folder_b."
      )
    return self.eval_pairs


PAIRED: dict[str, type[PairedSource]] = {
  "edges2digits": EdgesToDigits,
  "gray2color": GrayToColor,
  "paired_folder": PairedFolder,
  "paired_folders": PairedFolders,
}
