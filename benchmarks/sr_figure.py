"""The README's super-resolution picture: bicubic | SRResNet | SRGAN | HR on held-out crops.

    python benchmarks/sr_figure.py --srresnet=runs/srresnet --srgan=runs/srgan \\
        --out=docs/sr_photos.png

Each row is a crop of a held-out photograph (astronaut, coffee), x4: the LR input made by
``games.sr.degrade``, upscaled by bicubic interpolation and by the two runs' EMA
generators, beside the HR crop.
"""

import argparse

import jax.numpy as jnp
import numpy as np

import gan_jax
from gan_jax import sampling
from gan_jax.data import sr as sr_data
from gan_jax.games import sr


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--srresnet", required=True)
  p.add_argument("--srgan", required=True)
  p.add_argument("--out", required=True)
  p.add_argument("--crop", type=int, default=64)
  a = p.parse_args()
  models = [gan_jax.load(a.srresnet), gan_jax.load(a.srgan)]
  scale = models[0].config.model.scale
  rows = []
  for photo, (fy, fx) in zip(
    sr_data.heldout_images(sr_data.LOAD_SIZE, scale), ((0.25, 0.45), (0.45, 0.5)), strict=True
  ):
    c = a.crop
    y, x = int(fy * (photo.shape[0] - c)), int(fx * (photo.shape[1] - c))
    hr = photo[None, y : y + c, x : x + c]
    lr = np.asarray(sr.degrade(jnp.asarray(hr), scale))
    cols = [np.asarray(sr.upsample_bicubic(jnp.asarray(lr), scale))]
    cols += [m.predict("upscale", lr) for m in models]
    rows.append(np.concatenate([np.clip(x_, -1, 1) for x_ in (*cols, hr)]))
  grid = sampling.make_grid(np.concatenate(rows), ncol=4, pad=2)
  sampling.save_image(a.out, grid, 3)


if __name__ == "__main__":
  main()
