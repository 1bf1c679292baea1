"""``photos``: high-resolution crops of the photographs that ship with scikit-image and
scikit-learn (nothing is downloaded), for super-resolution.

Training photographs: ``TRAIN_PHOTOS`` (scikit-image's chelsea, rocket, hubble_deep_field,
immunohistochemistry, retina, colorwheel and scikit-learn's china.jpg and flower.jpg),
each downscaled once (antialiased bicubic) so that its short side is ``data.load_size``
(0: ``LOAD_SIZE``). A batch is ``{"image": [B, r, r, 3]}`` of HR crops of side
``data.resolution``: each example draws a photograph, a position and, with
``data.random_flip``, a horizontal flip from ``default_rng([seed, step])``; processes take
their share of the global batch, so shards compose exactly. The game makes the
low-resolution inputs from these crops on the device (``games/sr.py``).

Held out, never cropped for training: ``HELDOUT_PHOTOS`` (astronaut and coffee), evaluated
as whole images (``heldout_images``: short side ``load_size``, sides cut to a multiple of
the scale), the SR literature's protocol.
"""

from __future__ import annotations

import numpy as np

from gan_jax.data.embedded import DataSpec, ShardedSource
from gan_jax.data.paired import load_photo, random_crops

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


def heldout_images(load_size: int = LOAD_SIZE, multiple: int = 1) -> list[np.ndarray]:
  """The held-out photographs, whole: short side ``load_size``, each side cut (centred) to
  a multiple of ``multiple`` (the SR scale, so that HR = scale x LR exactly)."""
  out = []
  for name in HELDOUT_PHOTOS:
    photo = load_photo(name, load_size)
    h, w = (photo.shape[0] // multiple) * multiple, (photo.shape[1] // multiple) * multiple
    top, left = (photo.shape[0] - h) // 2, (photo.shape[1] - w) // 2
    out.append(np.array(photo[top : top + h, left : left + w]))
  return out


class PhotoCrops(ShardedSource):
  """Random HR crops of the training photographs (see the module docstring)."""

  def __init__(self, data_cfg, seed: int, process_index: int, process_count: int):
    super().__init__(data_cfg, seed, process_index, process_count)
    r = self.resolution = data_cfg.resolution
    self.load_size = data_cfg.get("load_size", 0) or LOAD_SIZE
    if self.load_size < r:
      raise ValueError(f"data.load_size={self.load_size} must be >= data.resolution={r}.")
    self.flip = bool(data_cfg.get("random_flip", False))
    self.photos = [load_photo(name, self.load_size) for name in TRAIN_PHOTOS]
    self.spec = DataSpec((r, r, 3), 0, "image")

  def batch(self, step: int, n_critic: int = 1) -> dict[str, np.ndarray]:
    image = random_crops(self, self.photos, step, n_critic, self.resolution, self.flip)
    return {"image": image, "label": np.zeros(image.shape[:2], np.int32)}


SR_DATASETS = {"photos": PhotoCrops}
