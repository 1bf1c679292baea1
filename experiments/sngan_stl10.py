"""SN-GAN's ResNet on STL-10 at 48x48 (Miyato et al. 2018, the paper's STL-10 setting).

Prepare the data once (nothing is downloaded at run time):

    tfds build stl10 --data_dir=$HOME/tensorflow_datasets

then train on the 100k unlabelled images, resized from 96x96 to 48x48:

    python -m gan_jax.main --config=experiments/sngan_stl10.py --workdir=runs/sngan_stl10

The paper's 48 px ResNets (G z 128 -> 6x6x512, up-blocks to 256, 128, 64; D blocks of
64 (the optimised one), 128, 256, 512 with downsampling and 1024 without), hinge loss,
5 D updates per G update, Adam 2e-4 with betas (0.0, 0.9), batch 64, linear decay to 0;
100k G updates as the Mimicry reproduction. No EMA (decay 0), as the paper.
"""

from experiments import base, presets


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "tfds"
  c.data.tfds_name = "stl10"
  c.data.split = "unlabelled"
  c.data.image_key = "image"
  c.data.resolution = 48
  c.data.batch_size = 64
  presets.sngan(c)
  c.model.g_width = 512
  c.model.d_width = 1024
  c.train.num_steps = 100_000
  c.train.sample_every = 1000
  c.train.checkpoint_every = 5000
  return base.finalize(c, arg)
