"""BigGAN on CIFAR-10 at 32x32, class-conditional (the reference code's CIFAR script).

Prepare the data once (nothing is downloaded at run time):

    tfds build cifar10 --data_dir=$HOME/tensorflow_datasets

then train:

    python -m gan_jax.main --config=experiments/biggan_cifar10.py --workdir=runs/biggan_cifar10

Settings of BigGAN-PyTorch's ``launch_cifar_ema.sh`` (Brock et al. 2019 report IS 9.22,
FID 14.73 for CIFAR-10): G and D width 64 (three up-blocks of 256 channels; D blocks of
256), no self-attention, per-block class tables in G's BatchNorm (no shared embedding,
no hierarchical latents), N(0, 0.02) initialisation, spectral norm in both players,
hinge loss, 4 D updates per G update, Adam 2e-4 for both with betas (0.0, 0.999), batch
50, 500 epochs (each D update reads its own batch: 125k G updates), EMA of G with decay
0.9999 from step 1000, no orthogonal regularisation.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "cifar10"
  c.data.resolution = 32
  c.data.batch_size = 50
  c.model.name = "biggan"
  c.model.conditional = True
  c.model.width = 64
  c.model.z_dim = 128
  c.model.cond = "onehot"
  c.model.hier = False
  c.model.init = "N02"
  c.model.attention = 0
  c.loss.name = "hinge"
  c.game.n_critic = 4
  for net in ("g", "d"):
    c.optim[net] = base.optimizer("adam", 2e-4, 0.0, 0.999)
  c.optim.ema_decay = 0.9999
  c.optim.ema_start = 1000
  c.train.num_steps = 125_000
  c.train.sample_every = 2000
  c.train.checkpoint_every = 5000
  return base.finalize(c, arg)
