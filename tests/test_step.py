"""The compiled step of the classic game: n_critic D updates, one G update and the EMA."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from experiments import base, gan_ring
from gan_jax import build, data, games, losses, models, optim, sampling, step


def _parts(cfg, sample_shape=(2,), num_classes=0, axis_name=None):
  kind = "points" if len(sample_shape) == 1 else "image"
  spec = data.DataSpec(tuple(sample_shape), num_classes, kind)
  nets = models.build_networks(cfg.model, sample_shape, num_classes, axis_name)
  game = games.build_game(cfg, spec, num_classes)
  txs = {
    n: optim.make_optimizer(optim.config_for(cfg.optim, n, net.role)) for n, net in nets.items()
  }
  state = step.init_state(jax.random.key(cfg.seed), nets, txs, game)
  scfg = dataclasses.replace(build.make_step_config(cfg, nets), axis_name=axis_name)
  return state, game, nets, scfg


def _setup(cfg, sample_shape=(2,), num_classes=0, axis_name=None):
  state, game, nets, scfg = _parts(cfg, sample_shape, num_classes, axis_name)
  return state, step.make_train_step(game, nets, scfg)


def _multi(cfg, k):
  state, game, nets, scfg = _parts(cfg)
  return state, step.make_step(game, nets, scfg, k)


def _batch(n_critic, b, shape=(2,), seed=0):
  x = np.random.default_rng(seed).normal(size=(n_critic, b, *shape)).astype(np.float32)
  return {"image": jnp.asarray(x), "label": jnp.zeros((n_critic, b), jnp.int32)}


def _ring(**changes):
  cfg = gan_ring.get_config("tiny")
  for k, v in changes.items():
    obj = cfg
    *path, last = k.split(".")
    for p in path:
      obj = obj[p]
    obj[last] = v
  return cfg


def test_step_compiles_once_over_many_steps():
  cfg = _ring()
  state, train_step = _setup(cfg)
  traces = []

  def counted(s, b):
    traces.append(1)
    return train_step(s, b)

  jitted = jax.jit(counted, donate_argnums=0)
  for i in range(5):
    state, metrics = jitted(state, _batch(1, 8, seed=i))
  assert len(traces) == 1
  assert jitted._cache_size() == 1
  assert int(state.step) == 5


def test_n_critic_updates_and_one_generator_update():
  cfg = _ring(**{"game.n_critic": 3})
  state, train_step = _setup(cfg)
  state, _ = jax.jit(train_step)(state, _batch(3, 8))
  d_count = optax.tree_utils.tree_get(state.opt_state["d"], "count")
  g_count = optax.tree_utils.tree_get(state.opt_state["g"], "count")
  assert int(d_count) == 3 and int(g_count) == 1


def test_ema_is_the_exponential_average_of_generator_weights():
  cfg = _ring(**{"optim.ema_decay": 0.9})
  state0, train_step = _setup(cfg)
  g0 = jax.tree.map(np.asarray, state0.params["g"])
  state1, _ = jax.jit(train_step)(state0, _batch(1, 8))
  for e, p, p0 in zip(
    jax.tree.leaves(state1.ema["g"]),
    jax.tree.leaves(state1.params["g"]),
    jax.tree.leaves(g0),
    strict=True,
  ):
    np.testing.assert_allclose(e, 0.9 * p0 + 0.1 * np.asarray(p), rtol=1e-6, atol=1e-7)


def test_randomness_comes_from_the_step_counter():
  cfg = _ring()
  state, train_step = _setup(cfg)
  f = jax.jit(train_step)
  batch = _batch(1, 8)
  a, _ = f(state, batch)
  b, _ = f(state, batch)
  c, _ = f(state.replace(step=state.step + 7), batch)
  leaves = lambda s: jax.tree.leaves(s.params["g"])  # noqa: E731
  assert all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b), strict=True))
  assert not all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(c), strict=True))


@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
def test_every_loss_trains_a_step(loss):
  cfg = _ring(**{"loss.name": loss})
  state, train_step = _setup(cfg)
  state, metrics = jax.jit(train_step)(state, _batch(1, 8))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert int(metrics["nonfinite"]) == 0


@pytest.mark.parametrize("penalty", ["gradient_penalty", "r1", "r2"])
def test_penalties_enter_the_discriminator_update(penalty):
  cfg = _ring(**{"loss.penalty": penalty, "loss.penalty_weight": 10.0})
  state, train_step = _setup(cfg)
  with_pen, m = jax.jit(train_step)(state, _batch(1, 8))
  assert float(m["d_penalty"]) > 0
  cfg0 = _ring(**{"loss.penalty": penalty, "loss.penalty_weight": 0.0})
  _, train_step0 = _setup(cfg0)
  without, _ = jax.jit(train_step0)(state, _batch(1, 8))
  diff = [
    np.max(np.abs(a - b))
    for a, b in zip(
      jax.tree.leaves(with_pen.params["d"]), jax.tree.leaves(without.params["d"]), strict=True
    )
  ]
  assert max(diff) > 0


def test_wgan_weight_clipping_bounds_every_critic_weight():
  cfg = _ring(
    **{"loss.name": "wasserstein", "loss.clip": 0.01, "optim.d.name": "rmsprop", "optim.d.lr": 5e-2}
  )
  state, train_step = _setup(cfg)
  state, _ = jax.jit(train_step)(state, _batch(1, 8))
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.params["d"])) <= 0.01


def test_non_finite_update_is_dropped_and_counted():
  cfg = _ring(**{"game.n_critic": 2})
  state, train_step = _setup(cfg)
  batch = _batch(2, 8)
  batch["image"] = batch["image"].at[0, 0, 0].set(jnp.nan)  # poisons the first D update
  new, metrics = jax.jit(train_step)(state, batch)
  assert int(metrics["nonfinite"]) == 1 and int(new.nonfinite_count) == 1
  assert int(metrics["nonfinite_total"]) == 1
  d_count = optax.tree_utils.tree_get(new.opt_state["d"], "count")
  assert int(d_count) == 1  # only the clean second critic update was applied
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new.arrays()))


def test_multi_step_sums_dropped_updates_and_reports_the_running_total():
  state, multi = _multi(_ring(), 3)
  clean, bad = _batch(1, 8, seed=0), _batch(1, 8, seed=1)
  bad["image"] = bad["image"].at[0, 0, 0].set(jnp.nan)
  multi = jax.jit(multi)
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), bad, clean, bad)
  totals = []
  for _ in range(2):
    state, metrics = multi(state, stacked)
    assert int(metrics["nonfinite"]) == 2
    totals.append(int(metrics["nonfinite_total"]))
  assert totals == [2, 4] and int(state.nonfinite_count) == 4


def test_steps_per_call_scan_matches_separate_calls():
  state, single = _multi(_ring(), 1)
  _, triple = _multi(_ring(), 3)
  batches = [_batch(1, 8, seed=i) for i in range(3)]
  single = jax.jit(single)
  s1 = state
  for b in batches:
    s1, _ = single(s1, jax.tree.map(lambda x: x[None], b))
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batches)
  s3, m3 = jax.jit(triple)(state, stacked)
  assert int(s3.step) == 3
  for a, b in zip(jax.tree.leaves(s1.params["g"]), jax.tree.leaves(s3.params["g"]), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_pmap_with_axis_name_matches_jit_on_one_device():
  cfg = _ring()
  state, train_step = _setup(cfg)
  _, p_train_step = _setup(cfg, axis_name="batch")
  batch = _batch(1, 8)
  ref, _ = jax.jit(train_step)(state, batch)
  rep = jax.tree.map(lambda x: x[None], state)
  out, _ = jax.pmap(p_train_step, axis_name="batch")(rep, jax.tree.map(lambda x: x[None], batch))
  for a, b in zip(jax.tree.leaves(ref.params["g"]), jax.tree.leaves(out.params["g"]), strict=True):
    np.testing.assert_allclose(a, b[0], rtol=1e-5, atol=1e-6)


def test_dcgan_conditional_step_with_batchnorm_updates_statistics():
  cfg = base.tiny(base.get_base_config())
  cfg.model.conditional = True
  state, train_step = _setup(cfg, (8, 8, 1), num_classes=10)
  batch = _batch(1, 8, (8, 8, 1))
  batch["label"] = jnp.arange(8)[None] % 10
  new, metrics = jax.jit(train_step)(state, batch)
  assert int(metrics["nonfinite"]) == 0
  changed = [
    not np.array_equal(a, b)
    for a, b in zip(
      jax.tree.leaves(state.collections["g"]), jax.tree.leaves(new.collections["g"]), strict=True
    )
  ]
  assert any(changed)


def test_sample_z_distributions():
  z = sampling.sample_z(jax.random.key(0), 4000, 3, "uniform")
  assert float(z.min()) >= -1 and float(z.max()) <= 1
  z = sampling.sample_z(jax.random.key(0), 4000, 3, "normal")
  assert abs(float(z.std()) - 1) < 0.05
  with pytest.raises(ValueError, match="normal"):
    sampling.sample_z(jax.random.key(0), 2, 2, "cauchy")


def test_bfloat16_computes_in_bf16_and_keeps_float32_state():
  """model.dtype='bfloat16': activations in bf16; parameters, EMA and Adam moments float32."""
  cfg = base.tiny(base.get_base_config())
  cfg.model.dtype = "bfloat16"
  shape = (8, 8, 1)
  state, train_step = _setup(cfg, shape)
  g = models.build_networks(cfg.model, shape, 0)["g"].module
  z = jnp.zeros((2, cfg.model.z_dim))
  jaxpr = jax.make_jaxpr(
    lambda p: g.apply({"params": p, **state.collections["g"]}, z, train=False)
  )(state.params["g"])
  eqns = [
    e for e in jaxpr.jaxpr.eqns if e.primitive.name in ("dot_general", "conv_general_dilated")
  ]
  eqns += [e for e in jaxpr.jaxpr.eqns for j in e.params.values() if hasattr(j, "jaxpr")]
  dtypes = {str(v.aval.dtype) for e in eqns for v in e.outvars}
  assert dtypes == {"bfloat16"}, dtypes
  state, metrics = jax.jit(train_step)(state, _batch(1, 8, shape))
  floats = [x for x in jax.tree.leaves(state.arrays()) if jnp.issubdtype(x.dtype, jnp.floating)]
  assert floats and all(x.dtype == jnp.float32 for x in floats)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert int(state.nonfinite_count) == 0


def test_diffaugment_is_what_the_discriminator_sees():
  """augment.name='diffaugment': D's real logits are those of the augmented batch."""
  from gan_jax import augment
  from gan_jax.games import gan
  from gan_jax.games.base import PhaseContext

  cfg = base.tiny(base.get_base_config())
  cfg.model.d_norm = "none"
  cfg.augment.name, cfg.augment.policy = "diffaugment", "color,translation"
  state, game, nets, _ = _parts(cfg, (8, 8, 1))
  real = _batch(1, 8, (8, 8, 1))["image"][0]
  ctx = PhaseContext(
    nets, state.params, state.collections, {}, {}, {"image": real}, jax.random.key(3), 0, None
  )
  _, metrics = game.phases[0].loss(ctx)
  seen = augment.diff_augment(real, ctx.fold("augr"), "color,translation")
  d = nets["d"].module
  expected = jnp.mean(d.apply({"params": state.params["d"]}, seen, None, train=True))
  np.testing.assert_allclose(float(metrics["d_real"]), float(expected), rtol=1e-5)
  plain = jnp.mean(d.apply({"params": state.params["d"]}, real, None, train=True))
  assert abs(float(metrics["d_real"]) - float(plain)) > 1e-6
  state, metrics = jax.jit(step.make_train_step(game, nets, _parts(cfg, (8, 8, 1))[3]))(
    state, _batch(1, 8, (8, 8, 1))
  )
  assert all(np.isfinite(float(v)) for v in metrics.values())
  cfg.augment.policy = "color,flip"
  with pytest.raises(ValueError, match="flip"):
    gan.check_config(cfg)
  cfg.augment.name = "ada"
  with pytest.raises(ValueError, match=r"valid: \['none', 'diffaugment'\]"):
    gan.check_config(cfg)


def test_pacgan_packs_consecutive_samples_on_the_last_axis():
  from gan_jax.games import gan

  x = jnp.arange(6 * 2 * 2 * 3, dtype=jnp.float32).reshape(6, 2, 2, 3)
  p = gan.pack_samples(x, 3)
  assert p.shape == (2, 2, 2, 9)
  for i in range(2):
    for j in range(3):  # sample i*m + j in channels j*C .. (j+1)*C - 1 of pack i
      np.testing.assert_array_equal(p[i, ..., 3 * j : 3 * j + 3], x[3 * i + j])
  pts = jnp.arange(8, dtype=jnp.float32).reshape(4, 2)
  np.testing.assert_array_equal(gan.pack_samples(pts, 2), [[0, 1, 2, 3], [4, 5, 6, 7]])
  assert gan.pack_samples(x, 1) is x


def test_pacgan_discriminator_judges_packs():
  """model.pack=2 on the ring: D's real logits are those of pairs of real samples."""
  from gan_jax.games import gan
  from gan_jax.games.base import PhaseContext

  cfg = _ring(**{"model.pack": 2})
  state, game, nets, scfg = _parts(cfg)
  real = _batch(1, 8)["image"][0]
  ctx = PhaseContext(nets, state.params, {}, {}, {}, {"image": real}, jax.random.key(0), 0, None)
  _, metrics = game.phases[0].loss(ctx)
  d = nets["d"].module
  logits = d.apply({"params": state.params["d"]}, real.reshape(4, 4), None, train=True)
  np.testing.assert_allclose(float(metrics["d_real"]), float(jnp.mean(logits)), rtol=1e-5)
  assert state.params["d"]["Dense_0"]["kernel"].shape[0] == 4  # 2 packed 2-D points
  state, metrics = jax.jit(step.make_train_step(game, nets, scfg))(state, _batch(1, 8))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  with pytest.raises(ValueError, match="divide data.batch_size"):
    gan.check_config(_ring(**{"model.pack": 3}))


def _same_d_other_g(a, b):
  """D's update comes first, the same in both states; G's updates differ."""
  np.testing.assert_array_equal(ravel_pytree(a.params["d"])[0], ravel_pytree(b.params["d"])[0])
  assert not np.allclose(ravel_pytree(a.params["g"])[0], ravel_pytree(b.params["g"])[0])


def test_g_steps_update_the_generator_again_on_the_same_slices():
  """``game.g_steps``: G updates after D's, reading D's slices (no extra data)."""
  state, game, nets, scfg = _parts(_ring(**{"game.g_steps": 3}))
  assert game.batches_per_step == 1
  assert (
    games.build_game(
      _ring(**{"game.g_steps": 3, "game.n_critic": 2}), data.DataSpec((2,), 0, "points"), 0
    ).batches_per_step
    == 2
  )
  three, _ = jax.jit(step.make_train_step(game, nets, scfg))(state, _batch(1, 8))
  one_state, one_step = _setup(_ring())
  one, _ = jax.jit(one_step)(one_state, _batch(1, 8))
  assert int(optax.tree_utils.tree_get(three.opt_state["g"], "count")) == 3
  assert int(optax.tree_utils.tree_get(three.opt_state["d"], "count")) == 1
  _same_d_other_g(three, one)


@pytest.mark.parametrize("unroll", [True, False])
@pytest.mark.parametrize("same_draws", [True, False])
def test_same_draws_repeats_see_the_first_repeats_key(same_draws, unroll):
  """A phase's repeats with ``same_draws`` draw what the first draws (the scan and the
  written-out repeats alike). The loss is linear in G's weights along a direction drawn
  from the phase's key, so Adam's two updates are equal exactly when the draws are."""
  from gan_jax.games.base import Phase

  state, game, nets, scfg = _parts(_ring())

  def loss(ctx):
    leaves = jax.tree.leaves(ctx.params["g"])
    keys = jax.random.split(ctx.fold("dir"), len(leaves))
    value = sum(
      jnp.sum(w * jax.random.normal(k, w.shape)) for w, k in zip(leaves, keys, strict=True)
    )
    return value, {}

  phase = Phase("g", ("g",), loss, repeat=2, shares_slices=True, same_draws=same_draws)
  one_game = dataclasses.replace(game, phases=(dataclasses.replace(phase, repeat=1),))
  two_game = dataclasses.replace(game, phases=(phase,))
  scfg = dataclasses.replace(scfg, unroll_repeats=unroll)
  one, _ = jax.jit(step.make_train_step(one_game, nets, scfg))(state, _batch(1, 8))
  two, _ = jax.jit(step.make_train_step(two_game, nets, scfg))(state, _batch(1, 8))
  p0, p1, p2 = (ravel_pytree(s.params["g"])[0] for s in (state, one, two))
  # Each Adam update moves every weight by about lr (5e-4); float32 rounding is ~1e-8.
  assert np.allclose(p2 - p0, 2 * (p1 - p0), atol=1e-6) == same_draws


def test_g_same_codes_feeds_the_generators_updates_the_first_ones_codes():
  state, game, nets, scfg = _parts(_ring(**{"game.g_steps": 2, "game.g_same_codes": True}))
  assert game.phases[1].same_draws and game.phases[1].repeat == 2
  same, _ = jax.jit(step.make_train_step(game, nets, scfg))(state, _batch(1, 8))
  fresh_state, fresh_step = _setup(_ring(**{"game.g_steps": 2}))
  fresh, _ = jax.jit(fresh_step)(fresh_state, _batch(1, 8))
  assert int(optax.tree_utils.tree_get(same.opt_state["g"], "count")) == 2
  _same_d_other_g(same, fresh)


def test_g_steps_is_the_classic_games_only():
  cfg = _ring(**{"game.g_steps": 2, "game.name": "unrolled"})
  with pytest.raises(ValueError, match="g_steps applies to game.name='gan' only"):
    build.validate_config(cfg)
  cfg = _ring(**{"game.g_same_codes": True, "game.name": "unrolled"})
  with pytest.raises(ValueError, match="g_same_codes applies to game.name='gan' only"):
    build.validate_config(cfg)
