"""README figures of the translation demos, from trained runs' workdirs.

    python benchmarks/translation_figures.py --p2p=runs/p2p --l1=runs/p2p_l1 \
        --cycle=runs/cycle --out=docs

Writes ``pix2pix_edges2digits.png`` (rows of held-out digits: edges | L1-only U-Net |
pix2pix | target) and ``cyclegan_digits.png`` (held-out A | G(A) | F(G(A)), then
B | F(B) | G(F(B))), both with the paper's test-time translation (``translate``), and
prints the sharpness of the pix2pix outputs over all held-out digits: the mean gradient
magnitude of the outputs over that of the targets (1: as sharp as the targets).
"""

import os

import numpy as np
from absl import app, flags

import gan_jax
from gan_jax import sampling
from gan_jax.games.base import heldout

flags.DEFINE_string("p2p", "runs/p2p", "pix2pix run on edges2digits.")
flags.DEFINE_string("l1", "runs/p2p_l1", "The same with game.adv_weight=0.")
flags.DEFINE_string("cycle", "runs/cycle", "CycleGAN run on digits2styled.")
flags.DEFINE_string("out", "docs", "Output folder.")
flags.DEFINE_string("cycle_png", "cyclegan_digits.png", "File name of the CycleGAN figure.")
flags.DEFINE_integer("rows", 8, "Held-out examples shown.")
FLAGS = flags.FLAGS


def distinct(labels: np.ndarray, n: int) -> np.ndarray:
  """Indices of the first ``n`` held-out items with different labels, in order."""
  first = {}
  for i, label in enumerate(np.asarray(labels).tolist()):
    first.setdefault(label, i)
  return np.sort(np.asarray(list(first.values())[:n]))


def sharpness(images: np.ndarray) -> float:
  """Mean magnitude of the images' finite-difference gradients."""
  dy, dx = np.diff(images, axis=1), np.diff(images, axis=2)
  return float(np.mean(np.abs(dy)) + np.mean(np.abs(dx)))


def main(argv):
  del argv
  os.makedirs(FLAGS.out, exist_ok=True)
  if FLAGS.p2p:
    pix2pix_figure()
  if FLAGS.cycle:
    cyclegan_figure()


def pix2pix_figure():
  p2p, l1 = gan_jax.load(FLAGS.p2p), gan_jax.load(FLAGS.l1)
  every = heldout(p2p.config)
  pick = distinct(every["label"], FLAGS.rows)
  x, target = every["input"][pick], every["target"][pick]
  cols = [x, l1.predict("translate", x), p2p.predict("translate", x), target]
  for name, model in (("L1 only", l1), ("pix2pix", p2p)):
    ratio = sharpness(model.predict("translate", every["input"])) / sharpness(every["target"])
    print(f"{name}: sharpness {ratio:.3f} of the targets'")
  grid = sampling.make_grid(np.stack(cols, axis=1).reshape(-1, *x.shape[1:]), ncol=4)
  sampling.save_image(os.path.join(FLAGS.out, "pix2pix_edges2digits.png"), grid, 4)


def cyclegan_figure():
  cycle = gan_jax.load(FLAGS.cycle)
  held = heldout(cycle.config)
  rows = []
  for dom, there, back in (
    ("a", "translate_ab", "translate_ba"),
    ("b", "translate_ba", "translate_ab"),
  ):
    x = held[dom][distinct(held[f"label_{dom}"], FLAGS.rows // 2)]
    y = cycle.predict(there, x)
    rows.append(np.stack([x, y, cycle.predict(back, y)], axis=1))
  images = np.concatenate(rows).reshape(-1, *held["a"].shape[1:])
  sampling.save_image(
    os.path.join(FLAGS.out, FLAGS.cycle_png), sampling.make_grid(images, ncol=3), 4
  )


if __name__ == "__main__":
  app.run(main)
