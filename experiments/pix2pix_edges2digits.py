"""pix2pix on edges2digits: scikit-learn digits drawn from their edge maps, 32x32.

    python -m gan_jax.main --config=experiments/pix2pix_edges2digits.py --workdir=runs/p2p
    python -m gan_jax.main --config=experiments/pix2pix_edges2digits.py --workdir=runs/p2p \\
        --mode=eval
    # the L1-only U-Net baseline (the paper's "L1" row):
    python -m gan_jax.main --config=experiments/pix2pix_edges2digits.py --workdir=runs/l1 \\
        --config.game.adv_weight=0

Isola et al. 2017 settings scaled to 32x32 on a CPU: a 5-level U-Net (width 32,
BatchNorm; the reference's dropout sits in num_downs - 5 = 0 blocks at this size), a
PatchGAN with 2 layers (34x34 receptive field: the whole digit), the logistic loss with
L1 weight 100, D's loss halved, Adam 2e-4 (0.5, 0.999) with a linear decay to 0 over the
second half. Held-out: the digits classifier's held-out split; the eval line has l1,
psnr, ssim and label_accuracy.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "edges2digits"
  c.data.resolution = 32
  c.data.batch_size = 16
  c.model.name = "pix2pix"
  c.model.width = 32
  c.model.n_layers = 2
  c.game.name = "pix2pix"
  c.loss.name = "non_saturating"
  c.train.num_steps = 3000
  for p in (c.optim.g, c.optim.d):
    p.schedule, p.decay_start = "linear", c.train.num_steps // 2
    p.decay_end = c.train.num_steps  # fixed: a longer resumed run keeps the slope
  c.train.sample_every = 500
  c.train.checkpoint_every = 1000
  c.train.eval_every = 1000
  return base.finalize(c, arg)
