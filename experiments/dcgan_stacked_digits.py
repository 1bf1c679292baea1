"""DCGAN on stacked digits (three digits as R, G, B: 1,000 modes), the mode-collapse test.

    python -m gan_jax.main --config=experiments/dcgan_stacked_digits.py --workdir=runs/stacked

Every ``eval_every`` steps, and with ``--mode=eval``, 26,000 samples (PacGAN's protocol) are
classified channel by channel with the digits classifier: ``modes_covered`` (of 1,000) and
``reverse_kl`` (KL of the mode histogram to uniform) go to ``WORKDIR/eval.jsonl``.
Metz et al. 2017 (unrolled GANs), Section 3.3.1; Lin et al. 2018 (PacGAN), Section 5.2.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "stacked_digits"
  c.data.resolution = 32
  c.model.name = "dcgan"
  c.model.width = 32
  c.model.z_dim = 100
  c.train.num_steps = 5000
  c.train.eval_every = 2500
  c.eval.num_samples = 26000
  return base.finalize(c, arg)
