"""RRDBNet x4 on DIV2K, PSNR-oriented: the generator ESRGAN starts from.

    tfds build div2k/bicubic_x4 --data_dir=~/tensorflow_datasets   # once, ~4 GB
    python -m gan_jax.main --config=experiments/rrdbnet_div2k.py --workdir=runs/rrdbnet

Wang et al. 2018, Section 4.1 (the PSNR-oriented model): RRDBNet (64 features, 23 RRDB
blocks, growth 32, nearest-neighbour upsampling), L1 loss, Adam 2e-4 (0.9, 0.99) halved
every 2 x 10^5 steps, 10^6 steps, batch 16 of 128-pixel HR crops with flips and
rotations. The data is TFDS ``div2k/bicubic_x4`` (800 training images; its own
MATLAB-bicubic LR images, cropped in alignment with the HR crops), evaluated on the 100
validation images whole (PSNR / SSIM on Y, 4 border pixels cropped; the large ones in
tiles). Then ``experiments/esrgan_div2k.py`` with ``--config.train.init_from`` this run.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "div2k"
  c.data.tfds_name = "div2k/bicubic_x4"
  c.data.resolution = 128
  c.data.batch_size = 16
  c.data.random_flip = True
  c.data.random_rotate = True
  c.model.name = "sr"
  c.model.g_arch = "rrdbnet"
  c.model.d_arch = "none"
  c.model.scale = 4
  c.model.width = 64
  c.model.n_blocks = 23
  c.model.num_grow_ch = 32
  c.game.name = "srresnet"
  c.game.pixel_loss = "l1"
  c.game.adv_weight = 0.0
  c.optim.g = base.optimizer(
    lr=2e-4, b1=0.9, b2=0.99, schedule="multistep", milestones=(200_000, 400_000, 600_000, 800_000)
  )
  c.optim.ema_decay = 0.999
  c.train.num_steps = 1_000_000
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.eval_every = 5000
  c.eval.metrics = ("super_resolution",)
  return base.finalize(c, arg)
