"""CycleGAN on horse2zebra, 256x256 (Zhu et al. 2017, Section 4 and Appendix 7.1).

Prepare the data once, on a machine with network access:

    tfds build cycle_gan/horse2zebra --data_dir=$HOME/tensorflow_datasets

then

    python -m gan_jax.main --config=experiments/cyclegan_horse2zebra.py --workdir=runs/h2z
    python -m gan_jax.main --config=experiments/cyclegan_horse2zebra.py --workdir=runs/h2z \\
        --mode=translate --direction=AtoB --input=horses/ --output=zebras/

(or, with the reference's folder layout DATA/trainA, trainB, testA, testB:
``--config.data.name=unpaired_folders --config.data.folder=DATA``).

The reference's defaults: ResNet generators with 9 blocks (width 64, instance norm, no
dropout), 70x70 PatchGANs with instance norm, least-squares loss, cycle weight 10,
identity weight 0.5, pools of 50, Adam 2e-4 (0.5, 0.999), batch 1, resize to 286 then a
random 256 crop and flips, 200 epochs over the larger domain (1,334 zebras): 100 at the
base rate, then a linear decay to 0 over 100.
"""

from experiments import base

EPOCH = 1334  # steps per epoch at batch 1: the larger training domain


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "cycle_gan"
  c.data.tfds_name = "cycle_gan/horse2zebra"
  c.data.resolution = 256
  c.data.load_size = 286
  c.data.random_flip = True
  c.data.batch_size = 1
  c.model.name = "cyclegan"
  c.model.norm = "instance"
  c.model.width = 64
  c.model.n_blocks = 9
  c.model.n_layers = 3
  c.game.name = "cyclegan"
  c.loss.name = "least_squares"
  c.train.num_steps = 200 * EPOCH
  for p in (c.optim.g, c.optim.d):
    p.schedule, p.decay_start = "linear", 100 * EPOCH
    p.decay_end = c.train.num_steps  # fixed: a longer resumed run keeps the slope
  c.train.sample_every = 5000
  c.train.checkpoint_every = 20_000
  c.train.eval_every = 20_000
  return base.finalize(c, arg)
