"""pix2pix on CMP Facades, labels -> photo, 256x256 (Isola et al. 2017, Section 4).

The facades folder of the reference's aligned format (each file A|B side by side: A the
photo, B the label map), prepared once on a machine with network access:

    DATA/facades/{train,val,test}/*.jpg

then (direction BtoA: labels are the input)

    python -m gan_jax.main --config=experiments/pix2pix_facades.py --workdir=runs/facades \\
        --config.data.folder=DATA/facades
    python -m gan_jax.main --config=experiments/pix2pix_facades.py --workdir=runs/facades \\
        --config.data.folder=DATA/facades --mode=translate --input=labels/ --output=out/

Two folders of same-named A and B images combine into that format with
``python -m gan_jax.data.combine_ab --fold_A=A --fold_B=B --fold_AB=DATA/facades``.

The reference's defaults: U-Net 256 (8 levels, width 64, dropout, BatchNorm), 70x70
PatchGAN, logistic loss, L1 weight 100, Adam 2e-4 (0.5, 0.999), batch 1, resize to 286
then a random 256 crop and flips, 200 epochs of the 400 training pairs: 100 at the base
rate, then a linear decay to 0 over 100.
"""

from experiments import base

TRAIN_PAIRS = 400  # facades/train


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "paired_folder"
  c.data.folder = "data/facades"
  c.data.direction = "BtoA"
  c.data.resolution = 256
  c.data.load_size = 286
  c.data.random_flip = True
  c.data.batch_size = 1
  c.model.name = "pix2pix"
  c.model.width = 64
  c.model.n_layers = 3
  c.game.name = "pix2pix"
  c.loss.name = "non_saturating"
  c.train.num_steps = 200 * TRAIN_PAIRS
  for p in (c.optim.g, c.optim.d):
    p.schedule, p.decay_start = "linear", 100 * TRAIN_PAIRS
    p.decay_end = c.train.num_steps  # fixed: a longer resumed run keeps the slope
  c.train.sample_every = 2000
  c.train.checkpoint_every = 10_000
  c.train.eval_every = 10_000
  return base.finalize(c, arg)
