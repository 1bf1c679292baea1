"""TensorFlow Datasets input: a prepared TFDS data_dir read with tf.data on the host.

TensorFlow is imported here only, when a TFDS source is built, and is kept off the
accelerators (JAX owns them). Each process reads its own shard
(``tfds.split_for_jax_process``); the stream is a sequence of epochs, each read with
file and example shuffling seeded by (seed, epoch, process), decoded, center-cropped,
resized, scaled to [-1, 1] and batched to the per-process batch with the remainder
dropped. ``Source.batch(step)`` takes the next batches of the stream; a request for any
other step (a resumed run) rebuilds the stream at that position, skipping the consumed
examples before they are decoded, so the batch of a step is a pure function of
(seed, step) and resuming costs reading, not decoding.

Nothing is downloaded unless ``data.download=True``: a dataset that is not prepared fails
at once with the directory searched and the ``tfds build`` command that prepares it.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import logging

from gan_jax.data.embedded import DataSpec, Source


@dataclasses.dataclass(frozen=True)
class TfdsInfo:
  """How to read one TFDS dataset: feature keys and the default center crop."""

  tfds_name: str
  image_key: str = "image"
  label_key: str = "label"  # "" when unlabelled
  crop: int | None = None  # side of the centered square; None: the largest one


# Named datasets; any other TFDS image dataset is ``data.name='tfds'`` with
# ``data.tfds_name`` / ``data.image_key`` / ``data.label_key``.
TFDS_DATASETS: dict[str, TfdsInfo] = {
  "mnist": TfdsInfo("mnist"),
  "fashion_mnist": TfdsInfo("fashion_mnist"),
  "cifar10": TfdsInfo("cifar10"),
  "svhn_cropped": TfdsInfo("svhn_cropped"),
  # 218x178 aligned faces: the 140x140 center crop of the DCGAN / WGAN-GP literature.
  "celeb_a": TfdsInfo("celeb_a", label_key="", crop=140),
}


# Where TFDS downloads from first (its mirror of prepared datasets), probed before
# TensorFlow is even imported. GAN_JAX_DOWNLOAD_HOSTS="host:port,..." replaces the list.
DOWNLOAD_HOSTS = ("storage.googleapis.com:443",)
PROBE_TIMEOUT_S = 4.0


def _probe(host_port: str) -> str | None:
  """None when a TCP connection to ``host:port`` opens, else why it did not."""
  import socket

  host, _, port = host_port.rpartition(":")
  try:
    socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
  except OSError as e:
    return e.strerror or str(e) or type(e).__name__
  return None


def check_download_reachable(name: str) -> None:
  """Fails within seconds, naming what it tried, when ``data.download=True`` but no
  download host can be reached (an offline machine would otherwise retry for minutes).

  Raises:
    ConnectionError: no host answered within ``PROBE_TIMEOUT_S`` seconds.
  """
  import concurrent.futures

  if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
    return  # connections go through a proxy: the probe would say nothing
  env = os.environ.get("GAN_JAX_DOWNLOAD_HOSTS", "")
  hosts = [h for h in env.split(",") if h] if env else list(DOWNLOAD_HOSTS)
  pool = concurrent.futures.ThreadPoolExecutor(len(hosts))
  futures = {h: pool.submit(_probe, h) for h in hosts}
  done, _ = concurrent.futures.wait(futures.values(), timeout=PROBE_TIMEOUT_S + 1)
  pool.shutdown(wait=False, cancel_futures=True)  # a DNS lookup may still hang: leave it
  why = {}
  for h, f in futures.items():
    why[h] = f.result() if f in done else "no answer (DNS or connection timed out)"
    if why[h] is None:
      return
  tried = "; ".join(f"{h}: {w}" for h, w in why.items())
  raise ConnectionError(
    f"data.download=True, but no download host answers from this machine ({tried}). "
    f"Prepare {name} where there is network (tfds build {name} --data_dir=DIR), copy DIR "
    "here and pass --config.data.data_dir=DIR --config.data.download=False."
  )


class DatasetNotPreparedError(FileNotFoundError):
  """A TFDS dataset is not in the data_dir and ``data.download`` is False."""


def not_prepared_error(name: str, builder_dir: str, data_dir: str) -> DatasetNotPreparedError:
  """The error of a dataset with no data in the data_dir: where, and the command."""
  return DatasetNotPreparedError(
    f"TFDS dataset {name!r} is not prepared: no data in {builder_dir} "
    f"(data_dir searched: {data_dir}). Nothing is downloaded at run time unless "
    f"data.download=True. Prepare it once with:\n"
    f"  tfds build {name} --data_dir={data_dir}\n"
    "or run with --config.data.download=True."
  )


def read_split(builder, name: str, data_dir: str, split: str, **kwargs):
  """``builder.as_dataset(split=split, shuffle_files=False, **kwargs)``; a dataset that is
  not prepared raises ``DatasetNotPreparedError`` (with the ``tfds build`` command), an
  unknown split a ValueError naming the splits."""
  prepared = builder.is_prepared()
  try:
    # The builder API (patched by tfds.testing.mock_data) is the test of last resort.
    return builder.as_dataset(split=split, shuffle_files=False, **kwargs)
  except AssertionError:  # TFDS's "could not find data in <data_dir>"
    if prepared:
      raise
    raise not_prepared_error(name, builder.data_dir, data_dir) from None
  except (KeyError, ValueError) as e:
    raise ValueError(
      f"TFDS dataset {name!r} has no split {split!r} (splits: {sorted(builder.info.splits)}): {e}"
    ) from None


def open_builder(tfds_name: str, data_cfg, features: tuple[str, ...] = ()):
  """``tfds.builder(tfds_name)`` in the run's data_dir, the one way every TFDS source opens
  its dataset: with ``data.download`` it first checks (in seconds, before TensorFlow is
  imported) that a download host answers, unless the dataset's directory is there, then
  prepares the dataset; an unknown name, or a dataset without ``features``, is a
  ValueError. Returns ``(builder, data_dir, tfds)``."""
  data_dir = resolve_data_dir(data_cfg.get("data_dir", None))
  download = data_cfg.get("download", False)
  if download and not os.path.isdir(os.path.join(data_dir, tfds_name.split("/")[0].split(":")[0])):
    check_download_reachable(tfds_name)
  _, tfds = _import_tf()
  try:
    builder = tfds.builder(tfds_name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f"Unknown TFDS dataset {tfds_name!r}: {e}") from None
  if download:
    builder.download_and_prepare()
  missing = [f for f in features if f not in builder.info.features]
  if missing:
    raise ValueError(
      f"TFDS dataset {tfds_name!r} needs features {sorted(features)}; it has "
      f"{sorted(builder.info.features)}."
    )
  return builder, data_dir, tfds


def _import_tf():
  """Imports TensorFlow and TFDS, hiding every accelerator from TensorFlow (and its INFO
  log lines about CPU instruction sets)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  import tensorflow as tf
  import tensorflow_datasets as tfds

  try:
    tf.config.set_visible_devices([], "GPU")
    tf.config.set_visible_devices([], "TPU")
  except (RuntimeError, ValueError):  # already initialised, or no such device type
    pass
  return tf, tfds


def resolve_data_dir(data_dir: str | None) -> str:
  """``data.data_dir``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
  d = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
  return os.path.abspath(os.path.expanduser(d))


def dataset_info(name: str, data_cfg) -> TfdsInfo:
  """The ``TfdsInfo`` for ``data.name`` (``'tfds'``: from the generic config fields)."""
  if name == "tfds":
    if not data_cfg.get("tfds_name"):
      raise ValueError("data.name='tfds' needs data.tfds_name (e.g. 'oxford_flowers102').")
    info = TfdsInfo(
      data_cfg.tfds_name, data_cfg.get("image_key", "image"), data_cfg.get("label_key", "")
    )
  else:
    info = TFDS_DATASETS[name]
  crop = data_cfg.get("crop", None)
  return dataclasses.replace(info, crop=crop) if crop is not None else info


def _crop_window(h, w, crop: int | None):
  """``(top, left, side)`` of the centered square: ``crop`` or the largest, clamped."""
  import tensorflow as tf

  side = tf.minimum(h, w) if not crop else tf.minimum(tf.minimum(h, w), crop)
  return (h - side) // 2, (w - side) // 2, side


def _resize(image, resolution: int):
  import tensorflow as tf

  image = tf.image.resize(image, [resolution, resolution], "bilinear", antialias=True)
  return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def center_crop_resize(image, resolution: int, crop: int | None):
  """Center-crops a ``uint8 [h, w, c]`` tensor to a square and resizes it (TensorFlow).

  Args:
    image: the decoded image.
    resolution: output side.
    crop: side of the centered square; ``None`` or 0: the largest one. Clamped to the
      shorter side.

  Returns:
    ``float32 [resolution, resolution, c]`` in [-1, 1].

  References:
    Radford et al. 2015; Gulrajani et al. 2017: CelebA's 218x178 aligned faces
    center-cropped (140x140 in common implementations) and resized to 64x64.
  """
  import tensorflow as tf

  top, left, side = _crop_window(tf.shape(image)[0], tf.shape(image)[1], crop)
  return _resize(tf.image.crop_to_bounding_box(image, top, left, side, side), resolution)


def decode_crop_resize(encoded, image_feature, channels: int, resolution: int, crop: int | None):
  """Decodes an encoded image, center-crops and resizes it: ``center_crop_resize``'s result.

  JPEG bytes are decoded inside the crop window only (``tf.io.decode_and_crop_jpeg``:
  CelebA's 140x140 crop is half of its 218x178 pixels); other formats are decoded whole
  by the TFDS feature, then cropped.
  """
  import tensorflow as tf

  def jpeg():
    shape = tf.io.extract_jpeg_shape(encoded)
    top, left, side = _crop_window(shape[0], shape[1], crop)
    window = tf.stack([top, left, side, side])
    return tf.io.decode_and_crop_jpeg(encoded, window, channels=channels)

  def other():
    image = image_feature.decode_example(encoded)
    top, left, side = _crop_window(tf.shape(image)[0], tf.shape(image)[1], crop)
    return tf.image.crop_to_bounding_box(image, top, left, side, side)

  return _resize(tf.cond(tf.io.is_jpeg(encoded), jpeg, other), resolution)


class TfdsSource(Source):
  """A streaming TFDS source whose batch for step ``s`` depends only on (seed, s)."""

  def __init__(self, name: str, data_cfg, seed: int, process_index: int, process_count: int):
    self.info = dataset_info(name, data_cfg)
    tfds_name = self.info.tfds_name
    self.builder, self.data_dir, tfds = open_builder(tfds_name, data_cfg)
    self._tf, self._tfds = _import_tf()
    self.resolution = data_cfg.resolution
    self.local_batch = data_cfg.batch_size // process_count
    self.seed, self.process_index = seed, process_index
    self.shuffle_buffer = int(data_cfg.get("shuffle_buffer", 10_000))
    self.flip = bool(data_cfg.get("random_flip", False))
    split = data_cfg.get("split", "train")
    if process_count > 1:
      split = tfds.split_for_jax_process(
        split, process_index=process_index, process_count=process_count, drop_remainder=True
      )
    self.split = split

    features = self.builder.info.features
    keys = [k for k in (self.info.image_key, self.info.label_key) if k]
    for k in keys:
      if k not in features:
        raise ValueError(
          f"TFDS dataset {tfds_name!r} has no feature {k!r}; its features: {sorted(features)} "
          "(set data.image_key / data.label_key)."
        )
    self.image_feature = features[self.info.image_key]
    channels = self.image_feature.shape[-1]
    if channels not in (1, 3):
      raise ValueError(f"{tfds_name!r}.{self.info.image_key} has {channels} channels; need 1 or 3.")
    num_classes = 0
    if self.info.label_key:
      num_classes = getattr(features[self.info.label_key], "num_classes", None)
      if not num_classes:
        raise ValueError(
          f"{tfds_name!r}.{self.info.label_key} is not a class label; set data.label_key=''."
        )
    self.spec = DataSpec((self.resolution, self.resolution, channels), num_classes, "image")
    self.decoders = tfds.decode.PartialDecoding(
      {k: True for k in keys}, decoders={self.info.image_key: tfds.decode.SkipDecoding()}
    )

    self.num_examples = self._count_examples()
    self.batches_per_epoch = self.num_examples // self.local_batch
    if self.batches_per_epoch == 0:
      raise ValueError(
        f"Split {split!r} of {tfds_name!r} has {self.num_examples} examples for this process, "
        f"fewer than its batch of {self.local_batch}."
      )
    self._stream = None
    self._next_batch = None  # index of the batch the stream yields next
    logging.info(
      "TFDS %s[%s] in %s: %d examples for process %d, %d batches of %d an epoch.",
      tfds_name,
      split,
      self.data_dir,
      self.num_examples,
      process_index,
      self.batches_per_epoch,
      self.local_batch,
    )

  def _count_examples(self) -> int:
    """This process's examples; a dataset that is not prepared raises here, at once."""
    prepared = self.builder.is_prepared()
    try:
      # The builder API (patched by tfds.testing.mock_data) is the test of last resort.
      probe = self.builder.as_dataset(split=self.split, decoders=self.decoders)
    except AssertionError:  # TFDS's "could not find data in <data_dir>"
      if prepared:
        raise
      raise not_prepared_error(self.info.tfds_name, self.builder.data_dir, self.data_dir) from None
    n = int(probe.cardinality())
    if n < 0:  # unknown: ask the split metadata
      n = self.builder.info.splits[self.split].num_examples
    return n

  def _preprocess(self, example):
    tf = self._tf
    image = decode_crop_resize(
      example[self.info.image_key],
      self.image_feature,
      self.spec.sample_shape[-1],
      self.resolution,
      self.info.crop,
    )
    if self.info.label_key:
      label = tf.cast(example[self.info.label_key], tf.int32)
    else:
      label = tf.constant(0, tf.int32)
    return {"image": image, "label": label}

  def _epoch_seed(self, epoch: int) -> int:
    return int(np.random.default_rng([self.seed, epoch, self.process_index]).integers(2**31 - 1))

  def epoch_dataset(self, epoch: int, skip_batches: int = 0):
    """The ``tf.data.Dataset`` of batches of ``epoch``, from batch ``skip_batches`` on."""
    tf, tfds = self._tf, self._tfds
    seed = self._epoch_seed(epoch)
    options = tf.data.Options()
    options.deterministic = True
    read_config = tfds.ReadConfig(shuffle_seed=seed, options=options, try_autocache=False)
    ds = self.builder.as_dataset(
      split=self.split, shuffle_files=True, read_config=read_config, decoders=self.decoders
    )
    ds = ds.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
    ds = ds.skip(skip_batches * self.local_batch)  # before decoding: resuming is cheap
    ds = ds.map(self._preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(self.local_batch, drop_remainder=True)
    return ds.prefetch(2).with_options(options)

  def _batches_from(self, first: int):
    """Yields numpy batches for batch indices ``first, first + 1, ...`` over epochs."""
    epoch, skip = divmod(first, self.batches_per_epoch)
    while True:
      yield from self.epoch_dataset(epoch, skip).as_numpy_iterator()
      epoch, skip = epoch + 1, 0

  def close(self) -> None:
    if self._stream is not None:
      self._stream.close()  # ends the tf.data iterator and its prefetch threads
      self._stream = None

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    first = step * n_critic
    if self._stream is None or self._next_batch != first:
      if self._stream is not None:
        logging.info("TFDS stream repositioned to step %d.", step)
      self._stream = self._batches_from(first)
    parts = [next(self._stream) for _ in range(n_critic)]
    self._next_batch = first + n_critic
    images = np.stack([p["image"] for p in parts])  # [n_critic, B_local, H, W, C]
    labels = np.stack([p["label"] for p in parts]).astype(np.int32)
    if self.flip:
      rng = np.random.default_rng([self.seed, step, 1, self.process_index])
      mask = rng.random(labels.shape) < 0.5
      images[mask] = images[mask][:, :, ::-1]
    return {"image": images, "label": labels}
