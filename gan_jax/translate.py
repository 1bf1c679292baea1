"""``--mode=translate``: apply a trained run's translator to a folder of the user's images.

    python -m gan_jax.main --config=experiments/pix2pix_facades.py --workdir=runs/p2p \
        --mode=translate --input=photos/ --output=out/

Every image is read at its own size (converted to the input channels the run was trained
on), translated by the game's predict function (``--predict``, default ``translate``) and
written as PNG under the same relative name. A size the network cannot take (a U-Net needs
sides divisible by 2**num_downs) is refused with the sizes it accepts, naming the file.
"""

from __future__ import annotations

import os

import numpy as np
from absl import logging
from PIL import Image

from gan_jax import progress, sampling, train
from gan_jax.data import folder


def load_native(path: str, channels: int) -> np.ndarray:
  """One image at its own size, ``float32 [H, W, channels]`` in [-1, 1]."""
  with Image.open(path) as im:
    arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), np.float32)
  arr = arr[..., None] if arr.ndim == 2 else arr
  return arr / 127.5 - 1.0


def translate_folder(
  config, workdir: str, input_dir: str, output_dir: str, which: str = "newest", predict: str = ""
) -> list[str]:
  """Translates every image under ``input_dir`` into ``output_dir``; returns the paths.

  Args:
    config: the run's experiment config.
    workdir: the run (its checkpoint is restored).
    input_dir: a folder of JPEG/PNG images (searched recursively).
    output_dir: where the PNG outputs go, under the same relative names.
    which: the checkpoint: ``newest``, ``best`` or a step number.
    predict: the game's predict function; default its first (``translate``;
      ``translate_ab`` for two domains, ``translate_ba`` the other way).
  """
  if not os.path.isdir(input_dir):
    raise FileNotFoundError(f"--input={input_dir!r} is not a folder of images.")
  run = train.restored_run(config, workdir, which)
  names = [p for p in run.game.predict if p.startswith("translate")]
  if not names:
    raise ValueError(
      f"Game {config.game.name!r} does not translate images (its predict functions: "
      f"{sorted(run.game.predict)}); --mode=translate needs a translation game."
    )
  predict = predict or names[0]
  if predict not in names:
    raise ValueError(f"--predict={predict!r}: this game translates with {names}")
  input_shape = getattr(run.spec, "input_shape", None) or run.spec.sample_shape
  paths = folder.walk_images(input_dir)
  if not paths:
    raise FileNotFoundError(f"No images in --input={input_dir!r}.")
  sample = run.sampler()
  written = []
  for rel in progress.bar(paths, desc=f"Translating {input_dir}", unit="img"):
    path = os.path.join(input_dir, rel)
    x = load_native(path, input_shape[-1])
    try:
      out = sample(predict, None, 1, inputs=(x[None],))[0]
    except ValueError as e:
      raise ValueError(f"{path}: {e}") from e
    dest = os.path.join(output_dir, os.path.splitext(rel)[0] + ".png")
    sampling.save_image(dest, sampling.to_uint8(out))
    written.append(dest)
  logging.info("Translated %d images from %s into %s", len(written), input_dir, output_dir)
  return written
