"""SRGAN x4 on the embedded photographs, its G started from an SRResNet run.

    python -m gan_jax.main --config=experiments/srresnet_x4.py --workdir=runs/srresnet
    python -m gan_jax.main --config=experiments/srgan_x4.py --workdir=runs/srgan \\
        --config.train.init_from=runs/srresnet

Ledig et al. 2017, eq. 3-5 and Section 3.2 scaled to a CPU: the (MSR)ResNet G of
``srresnet_x4.py`` (started from that run's newest checkpoint: ``train.init_from``,
``train.init_networks=('g',)``) against the SRGAN discriminator (eight conv-BN-LeakyReLU
layers, 64 -> 512 channels, strided every other layer, a dense head; width 32 here),
content loss + 1e-3 x the non-saturating adversarial loss, Adam 1e-4 (0.9, 0.999).

The content loss here is the pixel MSE (the paper's "SRGAN-MSE"): the paper's VGG54
(``--config.model.vgg_layer=relu5_4 --config.game.perceptual_weight=0.006
--config.game.pixel_weight=0``, VGG19 features scaled by 1/12.75 as a weight of
1/12.75^2) needs the converted VGG19 weights (``python -m gan_jax.models.convert_vgg``).
"""

from experiments import base, srresnet_x4


def get_config(arg=None):
  c = srresnet_x4.get_config()  # the same data and G (init_from needs the same shapes)
  c.model.d_arch = "srgan"
  c.game.name = "srgan"
  c.game.adv_weight = 1e-3
  c.loss.name = "non_saturating"
  c.optim.g = base.optimizer(lr=1e-4, b1=0.9, b2=0.999)
  c.optim.d = base.optimizer(lr=1e-4, b1=0.9, b2=0.999)
  c.train.init_networks = ("g",)
  c.train.num_steps = 1000  # D makes a step ~9x dearer than SRResNet's on a CPU
  c.train.sample_every = 250
  c.train.checkpoint_every = 500
  c.train.eval_every = 500
  return base.finalize(c, arg)
