"""PacGAN's 2-D players (Lin et al. 2018, Section 5.1): the LinearMaxout discriminator and
the BatchNorm MLP generator, against numpy, at the paper's sizes, and a tiny packed run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import pacgan_grid, pacgan_ring
from gan_jax import models, train
from gan_jax.models.mlp import MaxoutDiscriminator, MLPGenerator


def test_maxout_discriminator_against_numpy():
  """Each LinearMaxout layer is the max over ``pieces`` of an affine map (Goodfellow et al.
  2013, eq. 1), consecutive outputs forming one unit; then a dense logit."""
  d = MaxoutDiscriminator((6, 4), pieces=3)
  x = jax.random.normal(jax.random.key(0), (5, 2, 2))
  params = d.init(jax.random.key(1), x)["params"]
  h = np.asarray(x, np.float64).reshape(5, -1)
  for i, units in enumerate((6, 4)):
    p = params[f"Dense_{i}"]
    a = h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)
    h = a.reshape(5, units, 3).max(axis=-1)
  p = params["Dense_2"]
  want = (h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"]))[:, 0]
  np.testing.assert_allclose(d.apply({"params": params}, x), want, rtol=1e-5, atol=1e-6)


def test_batchnorm_generator_normalises_with_batch_statistics_in_training():
  g = MLPGenerator((2,), (8,), output_activation="linear", batch_norm=True)
  z = jax.random.normal(jax.random.key(0), (16, 2)) * 3 + 1
  variables = g.init(jax.random.key(1), z, train=False)
  out, new = g.apply(variables, z, train=True, mutable=["batch_stats"])
  p = variables["params"]
  a = np.asarray(z, np.float64) @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(
    p["Dense_0"]["bias"]
  )
  h = np.maximum((a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5), 0)  # BN gain 1, bias 0 at init
  want = h @ np.asarray(p["Dense_1"]["kernel"]) + np.asarray(p["Dense_1"]["bias"])
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(new["batch_stats"]["BatchNorm_0"]["mean"], 0.1 * a.mean(0), rtol=1e-4)
  assert g.apply(variables, z, train=False).shape == (16, 2)


def _counts(cfg):
  nets = models.build_networks(cfg.model, (2,), 0)
  out = {}
  for name, net in nets.items():
    shapes = jax.eval_shape(lambda n=net: n.module.init(jax.random.key(0), *n.example_inputs))
    out[name] = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["params"]))
  return out


def test_pacgan_players_have_the_papers_sizes():
  """G: 2 -> 4 x 400 (BN) -> 2; D: 3 LinearMaxout (200 units x 5 pieces) -> 1, with
  2m inputs for packs of m."""
  g = 2 * 400 + 400 + 800 + 3 * (400 * 400 + 400 + 800) + 400 * 2 + 2
  d = lambda m: 2 * m * 1000 + 1000 + 2 * (200 * 1000 + 1000) + 200 + 1  # noqa: E731
  cfg = pacgan_ring.get_config()
  assert _counts(cfg) == {"g": g, "d": d(1)}
  cfg.model.pack = 4
  assert _counts(cfg) == {"g": g, "d": d(4)}
  assert pacgan_grid.get_config().data.name == "grid"
  init = cfg.model.mlp_init
  assert init == "N02" and cfg.optim.d.b1 == 0.8 and cfg.train.num_steps == 400_000


def test_tiny_pacgan2_ring_run_reports_both_mode_counts(tmp_path):
  cfg = pacgan_ring.get_config("tiny")
  cfg.model.pack = 2
  cfg.train.eval_every = cfg.train.num_steps
  cfg.eval.num_samples = 200
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert "BatchNorm_0" in state.collections["g"]["batch_stats"]
  line = open(tmp_path / "eval.jsonl").readlines()[-1]
  assert '"modes_covered_any"' in line and '"modes_covered"' in line
  assert jnp.isfinite(state.params["d"]["Dense_0"]["kernel"]).all()


@pytest.mark.parametrize(
  "family, shape, layer",
  [("dcgan", (8, 8, 1), "stddev"), ("dcgan", (8, 8, 1), "discrimination"),
   ("mlp", (2,), "stddev"), ("mlp", (2,), "discrimination")],
)  # fmt: skip
def test_minibatch_layers_make_each_logit_depend_on_the_batch(family, shape, layer):
  """With a minibatch layer (Salimans et al. 2016, Section 3.2; Karras et al. 2018, Section
  3) D's logit of sample 0 changes when sample 2 changes; without one it does not."""
  base_cfg = pacgan_ring.get_config("tiny").model if family == "mlp" else None
  if base_cfg is None:
    from experiments import dcgan_digits

    base_cfg = dcgan_digits.get_config("tiny").model
    base_cfg.d_norm = "none"
  x = jax.random.normal(jax.random.key(0), (8, *shape))
  y = x.at[2].multiply(3.0)  # sample 2 shares a stddev group with sample 0 (k mod 2)
  for name in ("none", layer):
    base_cfg.d_minibatch = name
    d = models.build_networks(base_cfg, shape, 0)["d"].module
    v = d.init(jax.random.key(1), x, train=False)
    out_x, out_y = d.apply(v, x, train=False), d.apply(v, y, train=False)
    moved = abs(float(out_x[0] - out_y[0]))
    assert (moved > 1e-6) == (name != "none"), (name, moved)


def test_unknown_minibatch_layer_is_refused():
  cfg = pacgan_ring.get_config("tiny").model
  cfg.d_minibatch = "batchstats"
  with pytest.raises(ValueError, match="Unknown minibatch layer"):
    models.build_networks(cfg, (2,), 0)
