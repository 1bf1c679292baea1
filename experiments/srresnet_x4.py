"""SRResNet x4 on the embedded photographs: the MSE-trained generator of SRGAN.

    python -m gan_jax.main --config=experiments/srresnet_x4.py --workdir=runs/srresnet
    python -m gan_jax.main --config=experiments/srresnet_x4.py --workdir=runs/srresnet \\
        --mode=eval   # psnr / ssim on Y of the held-out photographs, and of bicubic

Ledig et al. 2017, Section 3.2 scaled to a CPU, with BasicSR's MSRResNet as the
generator: SRResNet's residual body and pixel-shuffle upsampling without BatchNorm, plus a
global skip from the bilinearly upsampled input, so that the network starts near
interpolation and learns the residual, which trains in minutes on 2 cores. Width 32, 8
blocks, pixel MSE, Adam 2e-4 (0.9, 0.99), EMA 0.99, HR crops of 32 pixels
(``data.name='photos'``: scikit-image's and scikit-learn's bundled photographs, the LR
made by antialiased bicubic x1/4 on the device), batch 16. Held out: astronaut and
coffee, whole. The paper's SRResNet (BatchNorm, PReLU, no global skip):
``--config.model.g_arch=srresnet``; its size: ``--config.model.width=64
--config.model.n_blocks=16 --config.data.resolution=96``, 10^6 steps at 1e-4.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "photos"
  c.data.resolution = 32
  c.data.batch_size = 16
  c.data.random_flip = True
  c.model.name = "sr"
  c.model.g_arch = "msrresnet"
  c.model.d_arch = "none"
  c.model.scale = 4
  c.model.width = 32
  c.model.n_blocks = 8
  c.game.name = "srresnet"
  c.game.pixel_loss = "mse"
  c.game.adv_weight = 0.0
  c.optim.g = base.optimizer(lr=2e-4, b1=0.9, b2=0.99)
  c.optim.ema_decay = 0.99
  c.train.num_steps = 3000
  c.train.sample_every = 500
  c.train.checkpoint_every = 1000
  c.train.eval_every = 1000
  return base.finalize(c, arg)
