"""SN-GAN / BigGAN: sizes at the references' configurations, the pieces the family adds
to the classic game (orthogonal regularisation, standing statistics, truncation, class
metrics), and a tiny class-conditional BigGAN run that evaluates, samples and resumes
bitwise with its spectral-norm vectors. (Forward passes against PyTorch references:
``test_resnet_gan_torch.py``.)
"""

import json
import os
import shutil
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from experiments import (
  biggan_cifar10,
  biggan_digits,
  sngan_cifar10,
  sngan_digits,
  sngan_stl10,
)
from gan_jax import build, models, sampling, train
from gan_jax.games import base as games_base
from gan_jax.games import gan as gan_game
from gan_jax.metrics import digits
from gan_jax.models import resnet_gan


def _counts(cfg, shape, num_classes):
  nets = models.build_networks(cfg, shape, num_classes)
  return {n: resnet_gan.param_count(net.module, *net.example_inputs) for n, net in nets.items()}


def test_biggan_128_has_the_reference_parameter_counts():
  """BigGAN at 128 px, width 96, shared embedding (128), hierarchical z (120), attention at
  64, 1,000 classes: BigGAN-PyTorch prints 70,433,988 parameters for G and 87,982,370
  for D (Brock et al. 2019, Table 1: 158.3 M together)."""
  cfg = biggan_cifar10.get_config().model
  cfg.update(
    dict(width=96, g_width=96, d_width=96, z_dim=120, shared_dim=128, hier=True, cond="shared")
  )
  cfg.attention, cfg.init = 64, "ortho"
  counts = _counts(cfg, (128, 128, 3), 1000)
  assert counts == {"g": 70_433_988, "d": 87_982_370}


@pytest.mark.parametrize(
  "side, g_blocks, d_blocks", [(32, 3, 4), (64, 4, 5), (128, 5, 6)]
)  # fmt: skip
def test_biggan_tables_and_shapes(side, g_blocks, d_blocks):
  """G_arch / D_arch (Brock et al. 2019, Appendix B): the block counts and widths, and
  the output shapes of G and D, by shape inference (nothing is allocated)."""
  g_arch, d_arch = resnet_gan.biggan_arch(side, 8, 8, attention=side // 2)
  assert len(g_arch.out_ch) == g_blocks and len(d_arch.out_ch) == d_blocks
  assert g_arch.resolution(len(g_arch.out_ch) - 1) == side
  assert d_arch.attention_after == (0,)  # the first block's output is side / 2
  g = resnet_gan.ResNetGenerator(g_arch, 3, 10, "shared", 16, True)
  d = resnet_gan.ResNetDiscriminator(d_arch, 10)
  (z, y), (x, _) = resnet_gan.inputs_of(side, 3, 8 * (g_blocks + 1), 10)
  out_g = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), z, y, train=False)[0])
  out_d = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x, y, train=False)[0])
  assert out_g.shape == (2, side, side, 3) and out_d.shape == (2,)


def test_sngan_cifar_sizes():
  """SN-GAN's CIFAR-10 ResNets (Miyato et al. 2018, Appendix B): G 4,276,739 parameters
  unconditional (z 128 -> 4x4x256, three up-blocks of 256), D 1,053,825 (blocks of 128,
  linear head with bias); the projection cGAN adds 10 x 2 x 256 x 3 gains and biases to G
  and a 10 x 128 embedding to D."""
  cfg = sngan_cifar10.get_config().model
  assert _counts(cfg, (32, 32, 3), 0) == {"g": 4_276_739, "d": 1_053_825}
  assert _counts(cfg, (32, 32, 3), 10) == {"g": 4_276_739 + 10 * 2 * 256 * 2 * 3 - 2 * 256 * 2 * 3,
                                           "d": 1_053_825 + 10 * 128}  # fmt: skip


@pytest.mark.parametrize(
  "exp", [sngan_cifar10, sngan_stl10, biggan_cifar10, biggan_digits, sngan_digits]
)
def test_family_configs_validate_and_build(exp):
  """Every config of the family passes validation, and its networks build at its data's
  shape (RGB for the TFDS sets, one channel for the digits) with and without labels."""
  cfg = exp.get_config()
  build.validate_config(cfg)
  channels = 1 if cfg.data.name == "digits" else 3
  shape = (cfg.data.resolution, cfg.data.resolution, channels)
  classes = 10 if cfg.model.conditional else 0
  counts = _counts(cfg.model, shape, classes)
  assert counts["g"] > 0 and counts["d"] > 0
  if exp is sngan_stl10:  # the paper's STL-10 ResNets at 48 px
    assert counts == {"g": 4_878_083, "d": 10_141_441}


def test_hier_z_must_split_evenly_and_needs_the_shared_embedding():
  g_arch, _ = resnet_gan.biggan_arch(32, 4, 4)
  z, y = jnp.zeros((2, 10)), jnp.zeros((2,), jnp.int32)
  with pytest.raises(ValueError, match="equal chunks"):
    resnet_gan.ResNetGenerator(g_arch, 3, 10, "shared", hier=True).init(jax.random.key(0), z, y)
  with pytest.raises(ValueError, match="shared embedding"):
    g = resnet_gan.ResNetGenerator(g_arch, 3, 10, "onehot", hier=True)
    g.init(jax.random.key(0), jnp.zeros((2, 8)), y)


def test_ortho_penalty_skips_only_the_shared_embedding():
  """BigGAN-PyTorch's ``utils.ortho`` leaves out G's shared class embedding and nothing
  else with 2+ dimensions (Brock et al. 2019, eq. 3)."""
  rng = np.random.default_rng(0)
  w, e, v = rng.normal(size=(3, 3, 2, 4)), rng.normal(size=(10, 4)), rng.normal(size=(5, 3))
  params = {"block0": {"kernel": w, "bias": np.ones(4)}, "shared": {"embedding": e},
            "embed": {"embedding": v}}  # fmt: skip

  def ref(m):
    m = m.reshape(-1, m.shape[-1])
    g = m.T @ m
    return np.sum((g * (1 - np.eye(len(g)))) ** 2)

  got = gan_game.ortho_penalty(params, 0.5)
  np.testing.assert_allclose(float(got), 0.5 * (ref(w) + ref(v)), rtol=1e-5)
  assert float(gan_game.ortho_penalty(params, 0.0)) == 0.0


def test_truncate_resample_keeps_entries_inside_and_redraws_the_rest():
  z = jax.random.normal(jax.random.key(0), (4000, 8)) * 2
  t = 0.7
  out = np.asarray(sampling.truncate_resample(jax.random.key(1), z, t))
  inside = np.abs(np.asarray(z)) <= t
  np.testing.assert_array_equal(out[inside], np.asarray(z)[inside])
  assert np.all(np.abs(out) <= t)
  # The redrawn entries follow N(0, 1) conditioned on |x| <= t (no pile-up at the edges).
  redrawn = out[~inside]
  assert np.mean(np.abs(redrawn) > 0.99 * t) < 0.01
  assert abs(np.std(redrawn) - 0.3894) < 0.02  # sd of N(0, 1) truncated at 0.7


def test_standing_statistics_are_the_mean_batch_statistics():
  """BigGAN's standing statistics: each BatchNorm's mean / var become the average of the
  batch statistics over K batches, computed here by hand from the layer inputs."""

  import flax.linen as nn

  class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, labels=None, train=True):
      h = nn.Dense(3, name="dense")(x)
      h = nn.BatchNorm(use_running_average=not train, momentum=0.8, name="bn")(h)
      return h

  net = games_base.Network(Tiny(), (jnp.zeros((2, 2)),), role="g")
  variables = Tiny().init(jax.random.key(0), jnp.zeros((2, 2)), train=False)
  state = types.SimpleNamespace(  # what the predictor reads of a GANState
    params={"g": variables["params"]},
    collections={"g": {"batch_stats": variables["batch_stats"]}},
    ema={},
  )
  nets = games_base.Predictor({"g": net}, state, ())
  xs = [jax.random.normal(jax.random.key(i), (16, 2)) for i in range(3)]
  cols = games_base.standing_statistics(nets, "g", [(x,) for x in xs])
  p = variables["params"]["dense"]
  hs = [np.asarray(x) @ np.asarray(p["kernel"]) + np.asarray(p["bias"]) for x in xs]
  stats = cols["batch_stats"]["bn"]
  np.testing.assert_allclose(stats["mean"], np.mean([h.mean(0) for h in hs], 0), atol=1e-5)
  np.testing.assert_allclose(stats["var"], np.mean([h.var(0) for h in hs], 0), rtol=1e-4)
  out = nets.with_collections("g", cols)("g", xs[0])
  want = (hs[0] - stats["mean"]) / np.sqrt(stats["var"] + 1e-5)
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_class_metrics_reward_the_right_classes():
  """Real digits with their labels: the class accuracy of the classifier, a small intra-class
  FD; the same digits under shifted labels: accuracy near 0, a large intra-class FD."""
  from gan_jax.data.embedded import load_digits

  images, labels = load_digits(32)
  right = digits.class_conditional_metrics(images, labels)
  wrong = digits.class_conditional_metrics(images, (labels + 1) % 10)
  assert right["class_accuracy"] > 0.97 and wrong["class_accuracy"] < 0.03
  assert right["intra_digits_fd"] < 0.05 * wrong["intra_digits_fd"]
  with pytest.raises(ValueError, match="every class"):
    digits.class_conditional_metrics(images[:5], labels[:5])


# ---- a whole tiny run ---------------------------------------------------------------------


def _cfg(steps, standing_stats=2):
  cfg = biggan_digits.get_config("tiny")
  cfg.train.num_steps = steps
  cfg.train.checkpoint_every = 2
  cfg.train.sample_every = 0  # the final preview only
  cfg.game.n_critic = 1
  cfg.game.standing_stats = standing_stats  # used by previews, eval and sampling only
  cfg.loss.g_ortho = 1e-4
  cfg.eval.num_samples = 100
  cfg.eval.truncation = (1.0,)
  return cfg


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_tiny_biggan_trains_evaluates_samples_and_resumes_bitwise(tmp_path):
  """Conditional BigGAN with attention, hierarchical z and G ortho regularisation: 4 steps
  straight equal 2 + 2 resumed, spectral-norm vectors included; with standing statistics,
  the eval line has class accuracy and the truncation sweep, and --mode=sample gives a grid
  with one row per class. (About a minute: four builds of a BigGAN, each compiling.)"""
  straight = train.train_and_evaluate(_cfg(4, standing_stats=0), str(tmp_path / "a"))
  u = straight.collections["d"]["batch_stats"]["block0"]["conv1"]["u"]
  assert u.shape == (1, 16) and not np.allclose(u, 0)
  # The same run stopped after its step-2 checkpoint: the copy without the step-4 one.
  shutil.copytree(tmp_path / "a", tmp_path / "b")
  shutil.rmtree(tmp_path / "b" / "checkpoints" / "4")
  resumed = train.train_and_evaluate(_cfg(4, standing_stats=0), str(tmp_path / "b"))
  assert _leaves_equal(straight.arrays(), resumed.arrays())
  result = train.evaluate_checkpoint(_cfg(4), str(tmp_path / "b"))
  want = {"digits_fd", "class_accuracy", "intra_digits_fd", "trunc1_class_accuracy",
          "truncnone_digits_fd"}  # fmt: skip
  assert want <= set(result), sorted(result)
  assert 0 <= result["class_accuracy"] <= 1
  line = json.loads(open(os.path.join(tmp_path / "b", "eval.jsonl")).readlines()[-1])
  assert "class_accuracy" in line
  paths = train.sample(_cfg(4), str(tmp_path / "b"))
  grid = np.asarray(Image.open(paths["grid"]))
  rows = (grid.shape[0] - 1) / (grid.shape[1] - 1) * 8  # 8 columns of 32 px tiles
  assert round(rows) == 10
  assert os.path.exists(paths["truncation"])
