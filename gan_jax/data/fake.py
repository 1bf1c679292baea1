"""Generated image data on disk, for tests and the input benchmark: nothing is downloaded.

- ``smooth_image``: a smooth random RGB image, so that JPEG sizes and decode times are
  close to those of photographs (noise images compress far worse).
- ``write_image_folder``: a folder of such images, optionally one subfolder per class.
- ``prepare_fake_tfds``: a real prepared TFDS dataset (``gan_jax_fake_images``, JPEG
  images and a 3-class label) in a data_dir, read by the same code path as celeb_a.
"""

from __future__ import annotations

import os

import numpy as np

FAKE_TFDS_NAME = "gan_jax_fake_images"
FAKE_NUM_CLASSES = 3


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """A smooth random ``uint8 [height, width, 3]`` image (low-frequency colour field)."""
  coarse = rng.uniform(0, 255, size=(4, 4, 3))
  ys = np.linspace(0, 3, height)
  xs = np.linspace(0, 3, width)
  y0, x0 = np.minimum(ys.astype(int), 2), np.minimum(xs.astype(int), 2)
  fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
  c00 = coarse[y0][:, x0]
  c01 = coarse[y0][:, x0 + 1]
  c10 = coarse[y0 + 1][:, x0]
  c11 = coarse[y0 + 1][:, x0 + 1]
  img = (1 - fy) * ((1 - fx) * c00 + fx * c01) + fy * ((1 - fx) * c10 + fx * c11)
  img = img + rng.normal(0, 6, size=img.shape)  # some texture
  return np.clip(img, 0, 255).astype(np.uint8)


def write_image_folder(
  root: str,
  num_images: int,
  shape: tuple[int, int] = (218, 178),
  classes: tuple[str, ...] = (),
  fmt: str = "jpeg",
  seed: int = 0,
) -> list[str]:
  """Writes ``num_images`` smooth images under ``root`` (round-robin over ``classes``).

  Args:
    root: output directory (created).
    num_images: how many images in all.
    shape: ``(height, width)`` of every image.
    classes: subfolder names; empty writes every image in ``root``.
    fmt: "jpeg" or "png".
    seed: seed of the image content.

  Returns:
    The written paths.
  """
  from PIL import Image

  rng = np.random.default_rng(seed)
  ext = "jpg" if fmt == "jpeg" else fmt
  paths = []
  for i in range(num_images):
    folder = os.path.join(root, classes[i % len(classes)]) if classes else root
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{i:06d}.{ext}")
    Image.fromarray(smooth_image(rng, *shape)).save(path, quality=90)
    paths.append(path)
  return paths


_builder_cls = None
_EXAMPLES: dict[str, object] = {}


def _fake_builder_class():
  """Defines (once: TFDS registers builders by class name) the fake TFDS builder."""
  global _builder_cls
  if _builder_cls is not None:
    return _builder_cls
  import tensorflow_datasets as tfds

  class GanJaxFakeImages(tfds.core.GeneratorBasedBuilder):
    """Smooth random JPEG images with a 3-class label, generated locally."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict(
          {
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
            "label": tfds.features.ClassLabel(num_classes=FAKE_NUM_CLASSES),
          }
        ),
      )

    def _split_generators(self, dl_manager):
      del dl_manager
      return {"train": self._generate_examples()}

    def _generate_examples(self):
      n, (h, w) = _EXAMPLES["num_examples"], _EXAMPLES["shape"]
      rng = np.random.default_rng(0)
      for i in range(n):
        yield i, {"image": smooth_image(rng, h, w), "label": i % FAKE_NUM_CLASSES}

  _builder_cls = GanJaxFakeImages
  return _builder_cls


def prepare_fake_tfds(data_dir: str, num_examples: int, shape: tuple[int, int] = (218, 178)):
  """Prepares ``gan_jax_fake_images`` in ``data_dir`` (no network); returns its name.

  Args:
    data_dir: the TFDS data_dir to write.
    num_examples: examples in the "train" split.
    shape: ``(height, width)`` of every image.

  Returns:
    The TFDS name, for ``data.name='tfds'`` with ``data.tfds_name``.
  """
  import tensorflow_datasets as tfds

  cls = _fake_builder_class()
  _EXAMPLES.update(num_examples=num_examples, shape=shape)
  builder = cls(data_dir=data_dir)
  builder.download_and_prepare(
    download_config=tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
  )
  return FAKE_TFDS_NAME
