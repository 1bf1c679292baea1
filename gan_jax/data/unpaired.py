"""Unpaired two-domain data for CycleGAN: batches ``{"a", "b", "label_a", "label_b"}``.

Every source here has ``batch(step, n_critic) -> {"a": [n_critic, B_local, H, W, C],
"b": [n_critic, B_local, H, W, C], "label_a": [n_critic, B_local], "label_b": [n_critic,
B_local]}`` (float32 in [-1, 1]; int32 labels, the digit for ``digits2styled`` and zeros
elsewhere), a pure function of (seed, step) whose process shards concatenate to the global
batch; ``heldout(n)``, a fixed evaluation set per domain ``{"a": [Na, H, W, C], "b": [Nb, H,
W, C], "label_a": [Na], "label_b": [Nb]}``, the same for every seed and process and never
drawn by ``batch``; and ``spec.kind == "unpaired"``.

The domains are unpaired: each reads its own examples in per-epoch permutations of its own
length, seeded by ``(seed, DOMAIN_KEYS[domain], epoch)``, so the epochs of domains of
different sizes do not line up and no example of A is tied to one of B. Random crops and
flips are drawn per domain from ``(seed, step, DOMAIN_KEYS[domain], 1)`` for the global
batch, and each process takes its share.

- ``digits2styled``: scikit-learn's digits at ``data.resolution`` (default 32). The digits
  classifier's training split (``gan_jax.metrics.digits.split``, 1,500 digits) is divided by
  a fixed permutation into two disjoint halves of 750: domain A the plain digits (grey
  replicated to 3 channels), domain B the other half in another style (``style_b``:
  thickened, inverted, tinted orange). Held out: the classifier's held-out split (297
  digits), likewise halved (A 148, B 149). Labels are the digits; ``data.random_flip`` is
  ignored (a mirrored digit is not a digit). ``to_classifier_input`` maps an image of
  either domain to the digits classifier's input, which is how the label accuracy of
  translated images is read.
- ``unpaired_folders``: the reference layout: ``data.folder`` = dataroot holding
  ``trainA/``, ``trainB/`` (held out: ``testA/``, ``testB/``), or ``data.folder_a`` and
  ``data.folder_b`` (held out: ``data.eval_folder_a`` / ``data.eval_folder_b``, else the
  ``test*`` sibling of a ``train*`` folder, e.g. ``dataroot/testA`` beside
  ``dataroot/trainA``).
- ``cycle_gan``: a prepared TFDS ``data.tfds_name`` (default "cycle_gan/horse2zebra"; splits
  trainA, trainB, testA, testB; feature ``image``) in ``data.data_dir``. Nothing is
  downloaded unless ``data.download=True``: a dataset that is not prepared fails at once
  with the ``tfds build`` command that prepares it. The training splits are read once, as
  their encoded image bytes (horse2zebra: 1,067 + 1,334 JPEGs of 256x256, tens of MB,
  against 589 MB decoded at 286x286x3), and decoded per batch like files; every process
  holds the whole (small) splits and takes its share of each batch. TensorFlow is imported
  only when this source is built.

The image sources follow the reference's preprocessing, independently per domain: each
image resized (bicubic, aspect ratio not kept) to ``data.load_size`` square (default
``round(286 * resolution / 256)``: 286 at 256), then a random ``data.resolution`` crop and,
with ``data.random_flip``, a horizontal flip; ``data.channels`` 3 (RGB) or 1 (grayscale).
Held-out images are resized to ``data.resolution`` directly (no crop, no flip). Images are
decoded by a small thread pool (Pillow releases the GIL), with the bad-file policy of the
``folder`` source (``data.on_bad_file``): an unreadable image is replaced by the next
readable one of its domain's epoch permutation, counted and logged, or raises under
``'fail'``.

References:
  Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
  Networks", Section 4 and Appendix 7.1 (resize to 286, random 256 crop, flips; batch 1).
  junyanz/pytorch-CycleGAN-and-pix2pix: data/unaligned_dataset.py (trainA / trainB, an
  independent B index), data/base_dataset.py (get_transform: resize_and_crop, flip).
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import os
import threading
from collections.abc import Callable

import numpy as np
from absl import logging

from gan_jax.data import folder as folder_lib
from gan_jax.data.embedded import DataSpec, ShardedSource

DOMAINS = ("a", "b")
DOMAIN_KEYS = {"a": 1, "b": 2}  # the domains' seed keys: independent orders and jitter
SPLIT_SEED = 2017  # the fixed permutation that halves the digits into domains A and B
LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma weights
TINT = np.asarray([1.0, 0.55, 0.1], np.float32)  # domain B's paper colour (orange)
REFERENCE_LOAD_SIZE, REFERENCE_CROP = 286, 256  # the paper's resize and crop
DEFAULT_TFDS_NAME = "cycle_gan/horse2zebra"


class UnpairedSource(ShardedSource):
  """Base class: per-domain orders, process shards and a fixed held-out set per domain."""

  def _num_train(self, domain: str) -> int:
    raise NotImplementedError

  @functools.lru_cache(maxsize=8)  # noqa: B019 (a handful of epochs, freed with the source)
  def _perm(self, domain: str, epoch: int) -> np.ndarray:
    rng = np.random.default_rng([self.seed, DOMAIN_KEYS[domain], epoch])
    return rng.permutation(self._num_train(domain))

  def _indices(self, domain: str, pos: np.ndarray) -> np.ndarray:
    """Training indices of ``domain`` at stream positions ``pos``: per-epoch permutations."""
    n = self._num_train(domain)
    idx = np.empty_like(pos)
    for epoch in np.unique(pos // n):
      sel = pos // n == epoch
      idx[sel] = self._perm(domain, int(epoch))[pos[sel] % n]
    return idx

  def _jitter_rng(self, domain: str, step: int) -> np.random.Generator:
    return np.random.default_rng([self.seed, step, DOMAIN_KEYS[domain], 1])

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    """The fixed held-out images of both domains, never used in training.

    Args:
      n: how many per domain (the first ``n``, fewer where a domain has fewer); ``None``
        for all.

    Returns:
      ``{"a": [Na, H, W, C], "b": [Nb, H, W, C]}`` float32 in [-1, 1] and ``"label_a":
      [Na]``, ``"label_b": [Nb]`` int32; the same for every seed and process.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------- digits2styled


def _footprint(resolution: int) -> np.ndarray:
  """``disk(max(1, round(R / 32)))`` of scikit-image: a 3x3 cross at 32x32 pixels."""
  from skimage.morphology import disk

  return disk(max(1, round(resolution / 32)))


def style_b(images: np.ndarray) -> np.ndarray:
  """Domain B's style of digits: thickened, inverted (dark ink on light paper), tinted orange.

  With ``u = (x + 1) / 2`` the ink in [0, 1] of a digit ``x``: ``t = dilation(u, F)``, the
  grey dilation (``skimage.morphology.dilation``) of each image with the footprint
  ``F = disk(max(1, round(R / 32)))`` (a 3x3 cross at the default 32x32); then
  ``rgb = (1 - t) * TINT`` with ``TINT = (1.0, 0.55, 0.1)``: orange paper, black ink; the
  result is ``2 rgb - 1``. A pure, deterministic function.

  Args:
    images: ``[N, R, R, 1]`` digits in [-1, 1] (light ink on a dark background).

  Returns:
    ``float32 [N, R, R, 3]`` in [-1, 1].

  References:
    Serra 1982, "Image Analysis and Mathematical Morphology" (grey dilation).
  """
  from skimage.morphology import dilation

  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] != 1:
    raise ValueError(f"style_b needs [N, R, R, 1] digits, got shape {images.shape}.")
  ink = np.clip((images[..., 0] + 1.0) / 2.0, 0.0, 1.0)
  thick = dilation(ink, _footprint(images.shape[1])[None])  # per image: a [1, k, k] footprint
  rgb = (1.0 - thick)[..., None] * TINT
  return (2.0 * rgb - 1.0).astype(np.float32)


def unstyle_b(images: np.ndarray) -> np.ndarray:
  """Undoes ``style_b``: luma over the tint's luma, inverted, eroded with the same footprint.

  The tint and the inversion are undone exactly (the luma of ``(1 - t) * TINT`` is
  ``(1 - t) * luma(TINT)``); the erosion after the dilation is a morphological closing, so
  ``unstyle_b(style_b(x)) >= x``, equal to ``x`` except in gaps narrower than the footprint.

  Args:
    images: ``[N, R, R, 3]`` images in [-1, 1] in domain B's style.

  Returns:
    ``float32 [N, R, R, 1]`` digits in [-1, 1] (light ink on a dark background).

  References:
    Serra 1982, "Image Analysis and Mathematical Morphology" (closing).
  """
  from skimage.morphology import erosion

  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"unstyle_b needs [N, R, R, 3] images, got shape {images.shape}.")
  paper = np.clip(((images + 1.0) / 2.0) @ LUMA / float(TINT @ LUMA), 0.0, 1.0)
  ink = erosion(1.0 - paper, _footprint(images.shape[1])[None])
  return (2.0 * ink - 1.0).astype(np.float32)[..., None]


def to_classifier_input(images: np.ndarray, domain: str) -> np.ndarray:
  """Maps images of a domain to the digits classifier's input ``[N, R, R, 1]`` in [-1, 1].

  This is how the label accuracy of translated digits is read: an image in domain A's style
  (e.g. a B digit translated to A) is the mean of its channels; an image in domain B's
  style (e.g. an A digit translated to B) is ``unstyle_b`` of it (luma over the tint's luma,
  inverted, eroded). ``gan_jax.metrics.digits.load_classifier(R)`` then reads the result.

  Args:
    images: ``[N, R, R, C]`` images in [-1, 1] (C = 3; C = 1 accepted for domain "a").
    domain: "a" or "b", the style the images are in.

  Returns:
    ``float32 [N, R, R, 1]`` in [-1, 1].

  References:
    Zhu et al. 2017, Section 5.1.1 (FCN score: an off-the-shelf classifier reads translated
    images), here with the digits classifier.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f"images must have shape [N, R, R, C], got {images.shape}.")
  if domain == "a":
    return np.clip(images.mean(axis=-1, keepdims=True), -1.0, 1.0)
  if domain == "b":
    return unstyle_b(images)
  raise ValueError(f"Unknown domain {domain!r}; valid: {list(DOMAINS)}")


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
  """The fixed split of ``n`` examples into domains A (``n // 2``) and B (the rest).

  Args:
    n: how many examples.

  Returns:
    ``(index_a, index_b)``: disjoint sorted indices covering ``range(n)``, drawn by the
    permutation ``np.random.default_rng(SPLIT_SEED).permutation(n)``.
  """
  perm = np.random.default_rng(SPLIT_SEED).permutation(n)
  return np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])


class DigitsToStyled(UnpairedSource):
  """Plain digits (A) and thickened, inverted, orange-tinted digits (B), from disjoint halves.

  ``train_index`` and ``heldout_index`` hold each domain's indices into the digits
  classifier's training and held-out splits (``gan_jax.metrics.digits.split``): 750 / 750
  training and 148 / 149 held-out digits, so the classifier that scores translations never
  saw a held-out digit of either domain.
  """

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    from gan_jax.metrics import digits

    r = data_cfg.get("resolution", None) or 32
    x_train, y_train, x_held, y_held = digits.split(r)
    self.train_index = dict(zip(DOMAINS, halves(len(x_train)), strict=True))
    self.heldout_index = dict(zip(DOMAINS, halves(len(x_held)), strict=True))
    self.train = self._domains(x_train, y_train, self.train_index)
    self.held = self._domains(x_held, y_held, self.heldout_index)
    self.spec = DataSpec((r, r, 3), 10, "unpaired")

  @staticmethod
  def _domains(x, y, index) -> dict[str, np.ndarray]:
    ia, ib = index["a"], index["b"]
    return {
      "a": np.ascontiguousarray(np.repeat(x[ia], 3, axis=-1), np.float32),
      "b": np.ascontiguousarray(style_b(x[ib]), np.float32),
      "label_a": y[ia].astype(np.int32),
      "label_b": y[ib].astype(np.int32),
    }

  def _num_train(self, domain: str) -> int:
    return len(self.train[domain])

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    pos = self._positions(step, n_critic)
    out = {}
    for d in DOMAINS:
      idx = self._indices(d, pos)
      out[d], out[f"label_{d}"] = self.train[d][idx], self.train[f"label_{d}"][idx]
    return out

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    return {k: v[:n].copy() for k, v in self.held.items()}


# ------------------------------------------------------------------- images (files, TFDS)


def load_resized(src: str | bytes, size: int, channels: int) -> np.ndarray:
  """Decodes an image file or encoded bytes and resizes it (bicubic) to ``size`` square.

  Args:
    src: a path, or the encoded bytes of a JPEG / PNG / ... image.
    size: output side; the aspect ratio is not kept (the reference's ``resize``).
    channels: 1 (grayscale) or 3 (RGB).

  Returns:
    ``uint8 [size, size, channels]``.

  References:
    junyanz/pytorch-CycleGAN-and-pix2pix, data/base_dataset.py (Resize, BICUBIC).
  """
  from PIL import Image

  with Image.open(src if isinstance(src, str) else io.BytesIO(src)) as im:
    im = im.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), np.uint8)
  return arr[..., None] if arr.ndim == 2 else arr


class _ImageDomains(UnpairedSource):
  """Shared by unpaired_folders and cycle_gan: decoding, jitter, bad files, held out.

  Subclasses fill ``items[domain]`` with training items ``(name, src)`` (``src`` a path or
  encoded bytes) and implement ``_eval_items(domain)``.
  """

  name = ""

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    r = self.resolution = data_cfg.resolution
    self.load_size = data_cfg.get("load_size", None) or round(
      r * REFERENCE_LOAD_SIZE / REFERENCE_CROP
    )
    if self.load_size < r:
      raise ValueError(f"data.load_size={self.load_size} must be >= data.resolution={r}.")
    self.channels = data_cfg.get("channels", 3)
    if self.channels not in (1, 3):
      raise ValueError(f"data.channels must be 1 or 3 for images; got {self.channels}")
    self.flip = bool(data_cfg.get("random_flip", False))
    self.spec = DataSpec((r, r, self.channels), 0, "unpaired")
    self.items: dict[str, list[tuple[str, str | bytes]]] = {d: [] for d in DOMAINS}
    # item name -> error, in the order met
    self.bad_files = folder_lib.BadFiles(data_cfg.get("on_bad_file", "skip"))
    self._lock = threading.Lock()
    self._workers = data_cfg.get("num_workers", 0) or min(8, os.cpu_count() or 1)
    self._pool = None  # started on first use, ended by close()
    self._held: dict[str, list[np.ndarray]] = {d: [] for d in DOMAINS}
    self._held_next = dict.fromkeys(DOMAINS, 0)  # eval items read so far

  def _num_train(self, domain: str) -> int:
    return len(self.items[domain])

  def _eval_items(self, domain: str) -> list[tuple[str, str | bytes]]:
    raise NotImplementedError

  def _try_load(self, item: tuple[str, str | bytes], size: int) -> np.ndarray | None:
    """``load_resized``, or None for a bad image (counted and logged) under 'skip'."""
    name, src = item
    if name in self.bad_files:
      return None
    try:
      return load_resized(src, size, self.channels)
    except Exception as e:  # noqa: BLE001 (Pillow raises many types for bad files)
      self.bad_files.record(name, e)
      return None

  def _load_position(self, job: tuple[str, int, int, int, bool]) -> np.ndarray:
    """The jittered image of a domain at stream position ``pos``, or the next readable one."""
    domain, pos, y, x, flip = job
    n = len(self.items[domain])
    epoch, k = divmod(pos, n)
    perm = self._perm(domain, epoch)
    r = self.resolution
    for j in range(n):
      image = self._try_load(self.items[domain][int(perm[(k + j) % n])], self.load_size)
      if image is not None:
        crop = image[y : y + r, x : x + r]
        return crop[:, ::-1] if flip else crop
    raise folder_lib.BadImageError(
      f"No readable image among the {n} of domain {domain.upper()} of {self.name}."
    )

  def _map(self, fn, items) -> list:
    with self._lock:
      if self._pool is None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
          self._workers, thread_name_prefix="unpaired"
        )
      pool = self._pool
    return list(pool.map(fn, items))

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    pos = self._positions(step, n_critic)
    shape, room = (n_critic, self.global_batch), self.load_size - self.resolution + 1
    jobs = []
    for d in DOMAINS:  # jitter drawn for the global batch so process shards compose exactly
      rng = self._jitter_rng(d, step)
      y, x = self._share(rng.integers(0, room, shape)), self._share(rng.integers(0, room, shape))
      flip = self._share(rng.random(shape) < 0.5) & self.flip
      flat = [a.reshape(-1).tolist() for a in (pos, y, x, flip)]
      jobs.extend((d, *job) for job in zip(*flat, strict=True))
    images = np.stack(self._map(self._load_position, jobs)).astype(np.float32) / 127.5 - 1.0
    images = images.reshape(2, *pos.shape, *self.spec.sample_shape)
    labels = np.zeros(pos.shape, np.int32)
    return {"a": images[0], "b": images[1], "label_a": labels, "label_b": labels.copy()}

  def heldout(self, n: int | None = None) -> dict[str, np.ndarray]:
    out = {}
    for d in DOMAINS:
      items, held = self._eval_items(d), self._held[d]
      while (n is None or len(held) < n) and self._held_next[d] < len(items):
        want = len(items) if n is None else n - len(held)
        chunk = items[self._held_next[d] : self._held_next[d] + want]
        loaded = self._map(lambda item: self._try_load(item, self.resolution), chunk)
        held.extend(im for im in loaded if im is not None)
        self._held_next[d] += len(chunk)
      if not held:
        raise folder_lib.BadImageError(
          f"No readable held-out image of domain {d.upper()} for {self.name}."
        )
      out[d] = np.stack(held[:n]).astype(np.float32) / 127.5 - 1.0
      out[f"label_{d}"] = np.zeros(len(out[d]), np.int32)
    return out

  def close(self) -> None:
    with self._lock:
      pool, self._pool = self._pool, None
    if pool is not None:
      pool.shutdown(wait=True)


def list_domain_images(path: str, field: str) -> list[tuple[str, str]]:
  """Sorted images under a folder (recursively), with errors naming the config field.

  Args:
    path: the folder.
    field: the config field or description that named it, for error messages.

  Returns:
    ``[(path, path)]`` items, sorted by path.
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
  return [(p, p) for p in (os.path.join(path, f) for f in found)]


def _test_sibling(train_folder: str) -> str:
  """``.../testA`` for ``.../trainA`` (any ``train*`` name); "" otherwise."""
  head, tail = os.path.split(os.path.normpath(train_folder))
  return os.path.join(head, "test" + tail[len("train") :]) if tail.startswith("train") else ""


class UnpairedFolders(_ImageDomains):
  """Two folders of images of any size, one per domain; see the module docstring.

  ``data.folder_a`` / ``data.folder_b`` name the domains' training folders, else
  ``data.folder/trainA`` / ``data.folder/trainB``. Held out: ``data.eval_folder_a`` /
  ``data.eval_folder_b``, else ``data.folder/testA`` / ``testB``, else the ``test*`` sibling
  of a ``train*`` training folder; ``heldout()`` raises when that folder is missing.

  References:
    junyanz/pytorch-CycleGAN-and-pix2pix, data/unaligned_dataset.py.
  """

  name = "unpaired_folders"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    root = data_cfg.get("folder", "") or ""
    train, self.eval_folders = {}, {}
    for d in DOMAINS:
      sub = f"train{d.upper()}"
      field, train[d] = f"data.folder_{d}", data_cfg.get(f"folder_{d}", "") or ""
      if not train[d] and root:
        field, train[d] = f"data.folder + '/{sub}'", os.path.join(root, sub)
      if not train[d]:
        raise ValueError(
          "data.name='unpaired_folders' needs data.folder_a and data.folder_b (e.g. "
          "dataroot/trainA and dataroot/trainB), or data.folder=dataroot holding trainA/ and "
          "trainB/."
        )
      self.items[d] = list_domain_images(train[d], field)
      self.eval_folders[d] = (
        data_cfg.get(f"eval_folder_{d}", "")
        or (os.path.join(root, f"test{d.upper()}") if root else "")
        or _test_sibling(train[d])
      )
    self.train_folders = train
    self._eval_lists: dict[str, list] = {}
    logging.info(
      "Unpaired folders %s (%d images) | %s (%d images); held out: %s | %s.",
      train["a"],
      len(self.items["a"]),
      train["b"],
      len(self.items["b"]),
      self.eval_folders["a"],
      self.eval_folders["b"],
    )

  def _eval_items(self, domain: str) -> list[tuple[str, str]]:
    if domain not in self._eval_lists:
      path, field = self.eval_folders[domain], f"data.eval_folder_{domain}"
      if not path or not os.path.isdir(path):
        raise FileNotFoundError(
          f"unpaired_folders has no held-out images of domain {domain.upper()}: "
          f"{path or 'no folder'!r} does not exist. Set {field}, or put test{domain.upper()}/ "
          f"beside {self.train_folders[domain]!r}."
        )
      self._eval_lists[domain] = list_domain_images(path, field)
    return self._eval_lists[domain]


class CycleGanTfds(_ImageDomains):
  """A prepared TFDS CycleGAN dataset (trainA / trainB, held out testA / testB).

  The training splits are read once as encoded image bytes (``tfds.decode.SkipDecoding``)
  and decoded per batch; the held-out splits are read on the first ``heldout()``. See the
  module docstring for memory and preprocessing.

  References:
    Zhu et al. 2017, Section 5.2 and Appendix 7.1; TFDS ``cycle_gan``.
  """

  name = "cycle_gan"

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    from gan_jax.data import tfds_source

    self.tfds_name = data_cfg.get("tfds_name", "") or DEFAULT_TFDS_NAME
    self.builder, self.data_dir, tfds = tfds_source.open_builder(
      self.tfds_name, data_cfg, features=("image",)
    )
    self._tfds = tfds
    self._decoders = tfds.decode.PartialDecoding(
      {"image": True}, decoders={"image": tfds.decode.SkipDecoding()}
    )
    for d in DOMAINS:
      self.items[d] = self._read_split(f"train{d.upper()}")
    self._eval_lists: dict[str, list] = {}
    logging.info(
      "TFDS %s in %s: %d (A) and %d (B) training images.",
      self.tfds_name,
      self.data_dir,
      len(self.items["a"]),
      len(self.items["b"]),
    )

  def _read_split(self, split: str) -> list[tuple[str, bytes]]:
    """The encoded images of a split, in file order; a dataset not prepared raises here."""
    from gan_jax.data import tfds_source

    ds = tfds_source.read_split(
      self.builder, self.tfds_name, self.data_dir, split, decoders=self._decoders
    )
    items = [
      (f"{self.tfds_name}[{split}][{i}]", bytes(ex["image"]))
      for i, ex in enumerate(ds.as_numpy_iterator())
    ]
    if not items:
      raise ValueError(f"Split {split!r} of TFDS dataset {self.tfds_name!r} is empty.")
    return items

  def _eval_items(self, domain: str) -> list[tuple[str, bytes]]:
    if domain not in self._eval_lists:
      self._eval_lists[domain] = self._read_split(f"test{domain.upper()}")
    return self._eval_lists[domain]


UNPAIRED: dict[str, Callable[..., UnpairedSource]] = {
  "digits2styled": DigitsToStyled,
  "unpaired_folders": UnpairedFolders,
  "cycle_gan": CycleGanTfds,
}
