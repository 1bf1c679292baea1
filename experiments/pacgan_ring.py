"""PacGAN's 2-D experiment on the ring of 8 Gaussians (Lin et al. 2018, Section 5.1).

    python -m gan_jax.main --config=experiments/pacgan_ring.py --workdir=runs/pacgan_ring \\
        --config.model.pack=2 --config.data.batch_size=200   # PacGAN2; pack 1: Table 1's GAN
    python -m gan_jax.sweep --config=experiments/pacgan_ring.py --seeds=10 \\
        --workdir=runs/pacgan2_ring10 --config.model.pack=2 --config.data.batch_size=200

The setting of PacGAN's released code: G an MLP z (2) -> 4 x 400 (BatchNorm, ReLU) -> 2;
D three LinearMaxout layers (200 units, 5 pieces) -> 1; N(0, 0.02) initialisation; Adam
1e-4 with beta1 0.8; batch 100; 400 epochs of 100k samples (400k steps); evaluated on
2,500 samples (modes with >= 1 high-quality sample: `modes_covered_any`, the papers'
count; >= 20: `modes_covered`). D of a pack of m sees the m samples' coordinates
concatenated (2m inputs), with the same layer sizes. The released code draws 100 packs a
step (100 m samples, G run on m batches of 100 codes); ``data.batch_size`` counts samples,
so PacGANm is ``--config.model.pack=m --config.data.batch_size=100m`` (G then runs on
one batch of 100 m codes: its BatchNorm statistics pool what the released code's m
batches keep apart).
"""

from experiments import base


def pacgan_2d(c, data_name: str):
  c.data.name = data_name
  c.data.batch_size = 100
  c.model.name = "mlp"
  c.model.z_dim = 2
  c.model.hidden = (400, 400, 400, 400)
  c.model.g_norm = "batch"
  c.model.d_layer = "maxout"
  c.model.d_hidden = (200, 200, 200)
  c.model.maxout_pieces = 5
  c.model.mlp_init = "N02"
  c.model.conditional = False
  c.loss.name = "non_saturating"
  for net in ("g", "d"):
    c.optim[net] = base.optimizer("adam", 1e-4, 0.8, 0.999)
  c.optim.ema_decay = 0.0  # the released code samples the trained G
  c.train.num_steps = 400_000
  c.train.steps_per_call = 50
  c.train.log_every = 10_000
  c.train.sample_every = 50_000
  c.train.checkpoint_every = 50_000
  c.train.eval_every = 100_000
  c.eval.num_samples = 2500
  return c


def get_config(arg=None):
  c = pacgan_2d(base.get_base_config(), "ring")
  return base.finalize(c, arg)
