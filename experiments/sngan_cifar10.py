"""SN-GAN's ResNet on CIFAR-10 at 32x32 (Miyato et al. 2018, the paper's CIFAR setting).

Prepare the data once (nothing is downloaded at run time):

    tfds build cifar10 --data_dir=$HOME/tensorflow_datasets

then train (add --config.model.conditional=True for the projection cGAN of Miyato &
Koyama 2018: categorical conditional BatchNorm in G, projection in D):

    python -m gan_jax.main --config=experiments/sngan_cifar10.py --workdir=runs/sngan_cifar10

Settings of the reference code's CIFAR-10 config: hinge loss, 5 D updates per G update,
Adam 2e-4 with betas (0.0, 0.9) for both players, batch 64, 50k G updates with the
learning rate decayed linearly to 0 from the start, G 256 and D 128 channels, Glorot
initialisation. The reference samples with the trained weights (no average): the EMA
decay is 0. Its G update draws 2 x 64 samples; here it draws one batch of 64.
"""

from experiments import base, presets


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "cifar10"
  c.data.resolution = 32
  c.data.batch_size = 64
  presets.sngan(c)
  c.model.g_width = 256
  c.model.d_width = 128
  c.train.num_steps = 50_000
  c.train.sample_every = 1000
  c.train.checkpoint_every = 5000
  return base.finalize(c, arg)
