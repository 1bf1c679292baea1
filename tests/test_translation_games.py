"""The pix2pix and CycleGAN games: their objectives against numpy float64, the image pool.

The networks here are one-parameter maps, so every term of the objectives can be written
out in numpy; the real networks are checked against PyTorch in test_translation_models.py
and whole runs in test_translation_runs.py.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import base
from gan_jax import step
from gan_jax.data import DataSpec
from gan_jax.games import cyclegan, pix2pix
from gan_jax.games.base import Network, PhaseContext


class Affine(nn.Module):
  """``x * w + c`` with scalar parameters (a per-pixel logit map when ``reduce``)."""

  w: float
  c: float = 0.0
  reduce: bool = False

  @nn.compact
  def __call__(self, x, train=True):
    w = self.param("w", lambda k: jnp.float32(self.w))
    c = self.param("c", lambda k: jnp.float32(self.c))
    y = x * w + c
    return jnp.mean(y, axis=-1, keepdims=True) if self.reduce else y


def softplus(x):
  return np.logaddexp(0.0, x)


def _config(game, **changes):
  c = base.get_base_config()
  c.game.name = game
  for k, v in changes.items():
    node = c
    *path, last = k.split(".")
    for p in path:
      node = node[p]
    node[last] = v
  return c


def _ctx(nets, batch, extra=None):
  params = {
    n: net.module.init(jax.random.key(0), *net.example_inputs)["params"] for n, net in nets.items()
  }
  return PhaseContext(nets, params, {}, {}, extra or {}, batch, jax.random.key(1), 0, None)


RNG = np.random.default_rng(0)


def test_pix2pix_objective_matches_the_paper_and_the_reference():
  x = RNG.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
  y = RNG.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
  nets = {
    "g": Network(Affine(0.7, 0.1), (x,)),
    "d": Network(Affine(1.3, -0.2, reduce=True), (np.concatenate([x, y], -1),), role="d"),
  }
  spec = DataSpec((4, 4, 1), 0, "paired", input_shape=(4, 4, 1))
  game = pix2pix.make_game(_config("pix2pix"), spec, 0)
  d_phase, g_phase = game.phases
  ctx = _ctx(nets, {"input": jnp.asarray(x), "target": jnp.asarray(y)})
  d_val, _ = d_phase.loss(ctx)
  g_val, metrics = g_phase.loss(ctx)

  fake = 0.7 * x.astype(np.float64) + 0.1
  d = lambda a, b: np.mean(1.3 * np.concatenate([a, b], -1) - 0.2, axis=-1)  # noqa: E731
  d_ref = 0.5 * (np.mean(softplus(-d(x, y))) + np.mean(softplus(d(x, fake))))  # halved
  l1 = np.mean(np.abs(fake - y))
  g_ref = np.mean(softplus(-d(x, fake))) + 100.0 * l1  # non-saturating + lambda L1
  np.testing.assert_allclose(float(d_val), d_ref, rtol=1e-5)
  np.testing.assert_allclose(float(g_val), g_ref, rtol=1e-5)
  np.testing.assert_allclose(float(metrics["g_l1"]), l1, rtol=1e-5)

  ls = pix2pix.make_game(_config("pix2pix", **{"loss.name": "least_squares"}), spec, 0)
  d_val, _ = ls.phases[0].loss(ctx)
  g_val, _ = ls.phases[1].loss(ctx)
  d_ref = 0.5 * (np.mean((d(x, y) - 1) ** 2) + np.mean(d(x, fake) ** 2))  # the reference's lsgan
  np.testing.assert_allclose(float(d_val), d_ref, rtol=1e-5)
  np.testing.assert_allclose(float(g_val), np.mean((d(x, fake) - 1) ** 2) + 100 * l1, rtol=1e-5)

  l1_only = pix2pix.make_game(_config("pix2pix", **{"game.adv_weight": 0.0}), spec, 0)
  assert [p.name for p in l1_only.phases] == ["g"]  # no D: the paper's "L1" baseline
  val, _ = l1_only.phases[0].loss(ctx)
  np.testing.assert_allclose(float(val), 100.0 * l1, rtol=1e-5)
  with pytest.raises(ValueError, match="paired data"):
    pix2pix.make_game(_config("pix2pix"), DataSpec((4, 4, 1), 0, "image"), 0)


def test_pix2pix_test_time_translation_treats_each_image_alone():
  """``translate`` uses batch statistics of one image: a batch-mate cannot change it."""
  from gan_jax.games.base import Predictor
  from gan_jax.models import translation

  g = translation.UnetGenerator(1, 5, 4, "batch", True)
  x = RNG.uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
  init = jax.jit(
    lambda x: g.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, False)
  )
  variables = init(x)  # compiled once: eager initialisation of the U-Net costs seconds
  nets = {"g": Network(g, (x,))}
  state = step.GANState(
    step=jnp.int32(0), params={"g": variables["params"]}, opt_state={},
    collections={"g": {"batch_stats": variables["batch_stats"]}}, ema={}, extra={},
    nonfinite_count=jnp.int32(0), consts={}, tx={},
  )  # fmt: skip
  game = pix2pix.make_game(_config("pix2pix"), DataSpec((32, 32, 1), 0, "paired", (32, 32, 1)), 0)
  translate = jax.jit(lambda st, x: game.predict["translate"](Predictor(nets, st, ()), x))
  out = translate(state, jnp.asarray(x))
  other = translate(state, jnp.asarray(np.stack([x[0], -x[1], x[2] * 0.5])))
  np.testing.assert_allclose(out[0], other[0], atol=1e-6)
  assert not np.allclose(out[1], other[1])
  # Evaluation mode: running statistics, no dropout; differs from the paper's test time.
  evald = jax.jit(lambda st, x: game.predict["translate_eval"](Predictor(nets, st, ()), x))(
    state, jnp.asarray(x)
  )
  assert evald.shape == out.shape and not np.allclose(evald, out)


def test_cyclegan_objective_cycle_and_identity_terms_match_numpy():
  a = RNG.uniform(-1, 1, (4, 4, 4, 3)).astype(np.float32)
  b = RNG.uniform(-1, 1, (4, 4, 4, 3)).astype(np.float32)
  nets = {
    "g_ab": Network(Affine(0.8, 0.1), (a,)),
    "g_ba": Network(Affine(1.1, -0.05), (a,)),
    "d_a": Network(Affine(0.5, 0.2, reduce=True), (a,), role="d"),
    "d_b": Network(Affine(-0.4, 0.3, reduce=True), (a,), role="d"),
  }
  cfg = _config("cyclegan", **{"loss.name": "least_squares", "game.pool_size": 0})
  game = cyclegan.make_game(cfg, DataSpec((4, 4, 3), 0, "unpaired"), 0)
  ctx = _ctx(nets, {"a": jnp.asarray(a), "b": jnp.asarray(b)}, game.init_extra())
  values, metrics = game.phases[0].loss(ctx)

  f64 = lambda v: v.astype(np.float64)  # noqa: E731
  a, b = f64(a), f64(b)
  g = lambda x: 0.8 * x + 0.1  # noqa: E731
  f = lambda x: 1.1 * x - 0.05  # noqa: E731
  da = lambda x: np.mean(0.5 * x + 0.2, axis=-1)  # noqa: E731
  db = lambda x: np.mean(-0.4 * x + 0.3, axis=-1)  # noqa: E731
  adv = np.mean((db(g(a)) - 1) ** 2) + np.mean((da(f(b)) - 1) ** 2)  # MSE to 1, as the reference
  cycle = np.mean(np.abs(f(g(a)) - a)) + np.mean(np.abs(g(f(b)) - b))
  idt = np.mean(np.abs(g(b) - b)) + np.mean(np.abs(f(a) - a))
  loss_g = adv + 10 * cycle + 0.5 * 10 * idt
  loss_da = 0.5 * (np.mean((da(a) - 1) ** 2) + np.mean(da(f(b)) ** 2))
  loss_db = 0.5 * (np.mean((db(b) - 1) ** 2) + np.mean(db(g(a)) ** 2))
  np.testing.assert_allclose(float(metrics["g_cycle"]), cycle, rtol=1e-5)
  np.testing.assert_allclose(float(metrics["g_identity"]), idt, rtol=1e-5)
  np.testing.assert_allclose(float(values["g_ab+g_ba"]), loss_g, rtol=1e-5)
  np.testing.assert_allclose(float(values["d_a"]), loss_da, rtol=1e-5)
  np.testing.assert_allclose(float(values["d_b"]), loss_db, rtol=1e-5)

  no_idt = cyclegan.make_game(
    _config("cyclegan", **{"loss.name": "least_squares", "game.pool_size": 0,
                           "game.identity_weight": 0.0}),
    DataSpec((4, 4, 3), 0, "unpaired"), 0,
  )  # fmt: skip
  values, metrics = no_idt.phases[0].loss(ctx)
  assert "g_identity" not in metrics
  np.testing.assert_allclose(float(values["g_ab+g_ba"]), adv + 10 * cycle, rtol=1e-5)


def test_image_pool_fills_then_returns_history_half_the_time():
  size = 50
  pool = cyclegan.pool_init(size, (1,))
  query = jax.jit(cyclegan.pool_query)
  first = jnp.arange(1, size + 1, dtype=jnp.float32)[:, None]
  out, pool = query(pool, first, jax.random.key(0))
  np.testing.assert_array_equal(out, first)  # filling: every image is returned as it is
  np.testing.assert_array_equal(pool["images"], first)
  assert int(pool["count"]) == size
  from_history, seen = 0, set(range(1, size + 1))
  for i in range(40):  # 40 batches of 10 new images
    new = jnp.arange(1000 + 10 * i, 1010 + 10 * i, dtype=jnp.float32)[:, None]
    out, pool = query(pool, new, jax.random.key(i + 1))
    out = np.asarray(out)[:, 0]
    from_history += int(np.sum(out < 1000 + 10 * i))
    assert all(v in seen or 1000 + 10 * i <= v < 1010 + 10 * i for v in out)
    stored = set(np.asarray(pool["images"])[:, 0].tolist())
    assert len(stored) == size  # a swap replaces, never duplicates
    seen |= set(new[:, 0].tolist())
  fraction = from_history / 400
  assert 0.43 < fraction < 0.57, fraction  # 1/2 in expectation; 400 draws: sd 0.025
  empty = cyclegan.pool_init(0, (1,))
  out, same = cyclegan.pool_query(empty, first, jax.random.key(0))
  assert out is first and same is empty


def test_cyclegan_refuses_a_pool_under_pmap():
  cfg = _config("cyclegan", **{"parallel.strategy": "pmap"})
  with pytest.raises(ValueError, match="pmap"):
    cyclegan.check_config(cfg)
  cfg.game.pool_size = 0
  cyclegan.check_config(cfg)


def test_a_loss_key_can_give_several_networks_one_gradient():
  from gan_jax.games.base import Phase

  params = {"x": jnp.float32(2.0), "y": jnp.float32(3.0)}

  def value_fn(p):
    return {"x+y": p["x"] * p["y"]}, None

  grads, _ = step._grads(Phase("p", ("x", "y"), None), value_fn, params)
  assert float(grads["x"]) == 3.0 and float(grads["y"]) == 2.0
  with pytest.raises(ValueError, match="exactly once"):
    step._grads(Phase("p", ("x", "y"), None), lambda p: ({"x": p["x"]}, None), params)
