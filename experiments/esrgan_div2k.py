"""ESRGAN x4 on DIV2K: the paper's setting, from a PSNR-oriented RRDBNet run.

    tfds build div2k/bicubic_x4 --data_dir=~/tensorflow_datasets   # once
    python -m gan_jax.models.convert_vgg --src=vgg19-dcbb9e9d.pth   # once
    python -m gan_jax.main --config=experiments/rrdbnet_div2k.py --workdir=runs/rrdbnet
    python -m gan_jax.main --config=experiments/esrgan_div2k.py --workdir=runs/esrgan \\
        --config.train.init_from=runs/rrdbnet

Wang et al. 2018, Section 3-4.1, with BasicSR's ``train_ESRGAN_x4`` options: G is the
RRDBNet of ``rrdbnet_div2k.py`` (started from that run: ``train.init_from``,
``train.init_networks=('g',)``); D is the VGG-style discriminator for 128-pixel inputs;
G's loss is 1e-2 x L1 + 1 x the L1 distance of VGG19 ``conv5_4`` features (before the
activation, ImageNet input normalisation) + 5e-3 x the relativistic average GAN loss;
Adam 1e-4 (0.9, 0.99) for both, halved at 50k, 100k, 200k and 300k steps; 400k steps;
batch 16 of 128-pixel HR crops with flips and rotations; DIV2K's own bicubic LR images.

The VGG19 weights come from a local file (``GAN_JAX_VGG19``, written by
``gan_jax.models.convert_vgg`` from torchvision's weights file); without it the run
stops at start-up naming that command. ``:tiny`` is a test size (the SRGAN D at 16 px:
the VGG-style D takes 128 or 256 px only).
"""

from experiments import base, rrdbnet_div2k


def get_config(arg=None):
  c = rrdbnet_div2k.get_config()  # the same data and G (init_from needs the same shapes)
  c.model.d_arch = "vgg_style"
  c.model.d_width = 64
  c.model.vgg_layer = "conv5_4"
  c.game.name = "esrgan"
  c.game.pixel_loss = "l1"
  c.game.pixel_weight = 1e-2
  c.game.perceptual_loss = "l1"
  c.game.perceptual_weight = 1.0
  c.game.adv_weight = 5e-3
  milestones = (50_000, 100_000, 200_000, 300_000)
  for net in ("g", "d"):
    c.optim[net] = base.optimizer(
      lr=1e-4, b1=0.9, b2=0.99, schedule="multistep", milestones=milestones, gamma=0.5
    )
  c.train.init_networks = ("g",)
  c.train.num_steps = 400_000
  c = base.finalize(c, arg)
  if arg == "tiny":
    c.model.d_arch = "srgan"
  return c
