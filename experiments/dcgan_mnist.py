"""DCGAN on MNIST, resized from 28x28 to 32x32 (Radford et al. 2015 settings).

Prepare the data once, on a machine with network access (nothing is downloaded at run
time unless --config.data.download=True):

    tfds build mnist --data_dir=$HOME/tensorflow_datasets

then train (add --config.model.conditional=True for a class-conditional GAN):

    python -m gan_jax.main --config=experiments/dcgan_mnist.py --workdir=runs/dcgan_mnist

z 100, width 64, batch 128, Adam 2e-4 with beta1 0.5, BatchNorm, non-saturating loss.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "mnist"
  c.data.resolution = 32
  c.data.batch_size = 128
  c.model.name = "dcgan"
  c.model.width = 64
  c.model.z_dim = 100
  c.train.num_steps = 10_000
  c.train.sample_every = 1000
  c.train.checkpoint_every = 2000
  return base.finalize(c, arg)
