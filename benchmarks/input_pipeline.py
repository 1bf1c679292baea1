"""Images/s of the input pipeline alone on CelebA-shaped data (218x178 RGB JPEG -> 64x64).

Generates the data locally (nothing is downloaded): a folder of smooth random 218x178
JPEGs for the ``folder`` source, and the same number of images as a real prepared TFDS
dataset for the TFDS source (the celeb_a code path: SkipDecoding, shuffle, decode, 140x140
center crop, resize, batch). Then times ``Source.batch`` as train.py calls it, after a
warm-up. Needs the ``tfds`` extra for the TFDS part:

    python benchmarks/input_pipeline.py --num_images 4000 --batch_size 64 --steps 50

Compare the numbers with the images/s a training step consumes (``python -m
gan_jax.benchmark ...``): the pipeline must be the faster of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from experiments import base
from gan_jax import data
from gan_jax.data import fake


def _time_source(source, steps: int, warmup: int, batch_size: int, start: int = 0) -> float:
  """Images/s of ``source.batch`` over ``steps`` consecutive steps after ``warmup``."""
  for s in range(start, start + warmup):
    source.batch(s)
  t0 = time.perf_counter()
  for s in range(start + warmup, start + warmup + steps):
    source.batch(s)
  return steps * batch_size / (time.perf_counter() - t0)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--num_images", type=int, default=4000)
  p.add_argument("--batch_size", type=int, default=64)
  p.add_argument("--resolution", type=int, default=64)
  p.add_argument("--steps", type=int, default=50)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--workers", type=int, default=0, help="folder decode threads (0: auto)")
  p.add_argument("--skip_tfds", action="store_true")
  args = p.parse_args()

  results = {"cpu_count": os.cpu_count(), "batch_size": args.batch_size}
  with tempfile.TemporaryDirectory() as tmp:
    cfg = base.get_base_config().data
    cfg.batch_size, cfg.resolution, cfg.crop = args.batch_size, args.resolution, 140
    cfg.random_flip = True

    folder = os.path.join(tmp, "img_align")
    fake.write_image_folder(folder, args.num_images, shape=(218, 178), fmt="jpeg")
    cfg.name, cfg.folder, cfg.num_workers = "folder", folder, args.workers
    src = data.build_source(cfg, seed=0)
    results["folder_images_per_s"] = round(
      _time_source(src, args.steps, args.warmup, args.batch_size), 1
    )
    print(json.dumps(results), flush=True)

    if not args.skip_tfds:
      data_dir = os.path.join(tmp, "tfds")
      cfg.name, cfg.data_dir, cfg.label_key = "tfds", data_dir, ""
      cfg.tfds_name = fake.prepare_fake_tfds(data_dir, args.num_images, (218, 178))
      src = data.build_source(cfg, seed=0)
      t0 = time.perf_counter()
      src.batch(0)
      # Each epoch starts by filling the shuffle buffer with undecoded examples.
      results["tfds_epoch_start_s"] = round(time.perf_counter() - t0, 2)
      steps = min(args.steps, src.batches_per_epoch - args.warmup - 2)  # within one epoch
      results["tfds_images_per_s"] = round(
        _time_source(src, steps, args.warmup, args.batch_size, start=1), 1
      )
      # A resume in the middle of an epoch: the cost of skipping to the position.
      t0 = time.perf_counter()
      data.build_source(cfg, seed=0).batch(src.batches_per_epoch // 2)
      results["tfds_resume_mid_epoch_s"] = round(time.perf_counter() - t0, 2)
  print(json.dumps(results))


if __name__ == "__main__":
  main()
