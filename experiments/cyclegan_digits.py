"""CycleGAN between plain digits (A) and styled digits (B: inverted, thickened, tinted).

    python -m gan_jax.main --config=experiments/cyclegan_digits.py --workdir=runs/cycle
    python -m gan_jax.main --config=experiments/cyclegan_digits.py --workdir=runs/cycle \\
        --mode=eval
    # without the identity term:
    python -m gan_jax.main --config=experiments/cyclegan_digits.py --workdir=runs/cycle_noid \\
        --config.game.identity_weight=0

The two domains come from disjoint halves of scikit-learn's digits, so no pair is ever
seen. Zhu et al. 2017 settings scaled to 32x32 on a CPU: ResNet generators (width 16, 3
residual blocks, instance norm), PatchGANs with 2 layers and instance norm, the
least-squares loss, cycle weight 10, identity weight 0.5, pools of 50 fakes, Adam 2e-4
(0.5, 0.999) with a linear decay to 0 over the second half. The eval line has
label_accuracy_ab, label_accuracy_ba (the digits classifier reads the translation) and
cycle_l1 on the held-out digits.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "digits2styled"
  c.data.resolution = 32
  c.data.batch_size = 8
  c.model.name = "cyclegan"
  c.model.norm = "instance"
  c.model.width = 16
  c.model.n_blocks = 3
  c.model.n_layers = 2
  c.game.name = "cyclegan"
  c.loss.name = "least_squares"
  c.train.num_steps = 2000
  for p in (c.optim.g, c.optim.d):
    p.schedule, p.decay_start = "linear", c.train.num_steps // 2
    p.decay_end = c.train.num_steps  # fixed: a longer resumed run keeps the slope
  c.train.sample_every = 500
  c.train.checkpoint_every = 1000
  c.train.eval_every = 1000
  return base.finalize(c, arg)
