"""The StyleGAN2 game: path lengths against numpy and finite differences, lazy phases and
their optimizer counts, the lazy learning-rate and beta correction, the EMA half-life, a
run with ADA resumed from a mid-run checkpoint bitwise (pl_mean, ada_p and its
accumulators included), and the sample grids."""

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import base, stylegan2_lfw
from gan_jax import build, optim, train
from gan_jax.games import stylegan2 as game_sg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(resolution=8, **changes):
  c = stylegan2_lfw.get_config("tiny")
  c.data.resolution = resolution
  for k, v in changes.items():
    section, name = k.split(".")
    c[section][name] = v
  return c


def test_path_lengths_of_a_linear_synthesis_equal_numpy():
  rng = np.random.default_rng(0)
  n, num_ws, w_dim, pixels = 3, 4, 5, 6 * 6 * 2
  a = rng.normal(size=(num_ws, w_dim, pixels))
  ws, y = rng.normal(size=(n, num_ws, w_dim)), rng.normal(size=(n, pixels))

  def synthesis(w):
    return jnp.einsum("nkd,kdp->np", w, jnp.asarray(a, jnp.float32)).reshape(n, 6, 6, 2)

  got = game_sg2.path_lengths(
    synthesis, jnp.asarray(ws, jnp.float32), jnp.asarray(y.reshape(n, 6, 6, 2), jnp.float32)
  )
  jt_y = np.einsum("kdp,np->nkd", a, y)  # J^T y of the linear map, per sample
  want = np.sqrt(np.mean(np.sum(jt_y**2, axis=2), axis=1))
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_path_lengths_of_the_synthesis_network_match_finite_differences():
  """``J^T y`` of the tiny synthesis network, projected on random directions of the ws,
  equals central finite differences of ``sum(G(ws) * y)``."""
  run = build.build(_tiny())
  run.source.close()
  g, params = run.networks["g"].module, run.state.params["g"]
  cols = run.state.collections["g"]
  ws = jax.random.normal(jax.random.key(1), (2, g.num_ws, g.w_dim))
  y = jax.random.normal(jax.random.key(2), (2, 8, 8, 1)) / 8.0

  def synthesis(w):
    return g.apply({"params": params, **cols}, w, train=False, method="synthesis")

  @jax.jit
  def f(w):
    return jnp.sum(synthesis(w) * y, axis=(1, 2, 3))  # per sample

  jt_y = jax.jit(jax.grad(lambda w: jnp.sum(f(w))))(ws)
  want = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(jt_y), axis=2), axis=1))
  lengths = jax.jit(lambda w: game_sg2.path_lengths(synthesis, w, y))(ws)
  np.testing.assert_allclose(lengths, want, rtol=1e-6)
  for k in range(3):
    v = jax.random.normal(jax.random.key(10 + k), ws.shape)
    # A small step: the leaky ReLUs make the function piecewise smooth, with kinks
    # within 1e-3 of these ws (float32 rounding adds ~3e-4 at this step).
    h = 2e-4
    fd = (f(ws + h * v) - f(ws - h * v)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(jt_y * v, axis=(1, 2)), fd, rtol=3e-3, atol=3e-3)


def test_lazy_optimizer_corrects_learning_rate_and_betas():
  c = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=16)
  ratio = 16 / 17
  assert c.lr == pytest.approx(0.0025 * ratio) and c.b1 == 0.0
  assert c.b2 == pytest.approx(0.99**ratio)


def test_ema_half_life_in_images_with_ramp_up():
  decay = optim.ema_half_life_fn(kimg=10.0, batch_size=32)
  assert float(decay(0)) == pytest.approx(0.5 ** (32 / 10_000))
  ramped = optim.ema_half_life_fn(kimg=10.0, batch_size=32, rampup=0.05)
  assert float(ramped(0)) == 0.0  # the average starts as a copy
  assert float(ramped(100)) == pytest.approx(0.5 ** (32 / (100 * 32 * 0.05)), rel=1e-6)
  assert float(ramped(10**6)) == pytest.approx(0.5 ** (32 / 10_000))


def _count(opt_state):
  return int(optax.tree_utils.tree_get(opt_state, "count"))


def test_after_8_steps_d_took_8_main_and_2_r1_updates_and_g_8_and_4():
  """One compiled program ("cond" lazy phases) over 8 steps, R1 every 4 and PL every 2."""
  run = build.build(_tiny(**{"game.r1_interval": 4, "game.pl_interval": 2}))
  run.step_cfg = dataclasses.replace(run.step_cfg, lazy="cond")
  compiled = run.compiled_step(1)
  state, seen = run.state, []
  for s in range(8):
    state, metrics = compiled(state, run.layout.device_batch(run.local_batches(s, 1)), s)
    seen.append((float(metrics["d_r1_penalty"]) != 0, float(metrics["g_pl_penalty"]) != 0))
  run.source.close()
  assert _count(state.opt_state["d"]) == 8 + 2
  assert _count(state.opt_state["g"]) == 8 + 4
  assert [s for s, (r1, _) in enumerate(seen) if r1] == [0, 4]
  assert [s for s, (_, pl) in enumerate(seen) if pl] == [0, 2, 4, 6]
  # pl_mean moved by decay 0.01 toward the mean length four times, from 0.
  assert 0 < float(state.extra["pl_mean"]) < 0.05
  # w_avg (the mapping's running mean of w) moved from zeros.
  assert np.abs(np.asarray(jax.tree.leaves(state.collections["g"])[0])).sum() > 0


def test_w_avg_moves_once_per_phase_from_the_first_code_not_the_mixing_one():
  """Style mixing maps a second code; as in the reference, its w leaves ``w_avg`` alone."""
  from gan_jax.games.base import PhaseContext
  from gan_jax.models.stylegan2 import W_AVG_COLLECTION

  run = build.build(_tiny(**{"game.style_mixing": 1.0}))
  batch = {k: jnp.asarray(v[0, 0]) for k, v in run.local_batches(0, 1).items()}
  run.source.close()
  st, g_main = run.state, run.game.phases[0]
  assert g_main.name == "g"

  @jax.jit
  def phase(key):
    ctx = PhaseContext(
      run.networks, st.params, st.collections, st.consts, st.extra, batch, key, st.step, None
    )
    g_main.loss(ctx)
    z = jax.random.normal(ctx.fold("gz"), (batch["image"].shape[0], run.config.model.z_dim))
    ws = ctx.apply("g", z, None, method="mapping", update=False)  # the phase's first code
    return ctx.updated_collections["g"][W_AVG_COLLECTION]["mapping_network"]["w_avg"], ws[:, 0]

  new, w = phase(jax.random.key(3))
  old = np.asarray(st.collections["g"][W_AVG_COLLECTION]["mapping_network"]["w_avg"], np.float64)
  want = old + 0.005 * (np.asarray(w, np.float64).mean(axis=0) - old)
  np.testing.assert_allclose(new, want, rtol=1e-5, atol=1e-7)


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


ADA_FLAGS = {
  "data.resolution": 8,
  "augment.name": "ada",
  "augment.ada_interval": 2,
  "augment.ada_kimg": 0.004,
  "augment.ada_resample": "bilinear",  # the sym6 filters are checked in test_ada.py
  "game.r1_interval": 1,  # every phase at every step: one program
  "game.pl_interval": 1,
  "train.num_steps": 8,
  "train.checkpoint_every": 2,
  "train.sample_every": 0,
  "train.eval_every": 0,  # the faces metric is not what this checks
}


def _ada_config():
  c = stylegan2_lfw.get_config("tiny")
  for k, v in ADA_FLAGS.items():
    section, name = k.split(".")
    c[section][name] = v
  return c


@pytest.fixture(scope="module")
def ada_runs(tmp_path_factory):
  """A tiny ADA run of 8 steps, and a copy of its workdir cut back to the checkpoint at
  step 4 (what a run killed between steps 4 and 6 leaves) run again to the end.

  Both in this process: the second run reuses the first one's compiled programs. How a
  run killed with SIGKILL, or in the middle of writing a checkpoint, comes back is
  tests/test_resume.py's; this checks that the StyleGAN2 game's own state (pl_mean, ada_p
  and its sign accumulators, the lazy optimizers) is all in the checkpoint."""
  root = tmp_path_factory.mktemp("sg2")
  straight = train.train_and_evaluate(_ada_config(), str(root / "a"))
  wd = str(root / "cut")
  shutil.copytree(root / "a", wd)
  for later in ("6", "8"):
    shutil.rmtree(os.path.join(wd, "checkpoints", later))
  assert os.path.isdir(os.path.join(wd, "checkpoints", "4"))
  os.remove(os.path.join(wd, "metrics.jsonl"))
  train.train_and_evaluate(_ada_config(), wd)
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    logged = [json.loads(line)["step"] for line in f]
  assert logged and min(logged) > 4, logged  # it went on from step 4, not from 0
  resumed = train.restored_run(_ada_config(), wd).state
  return root, straight, resumed


def test_ada_run_moves_p_and_resumes_bitwise_from_step_4(ada_runs):
  _, straight, resumed = ada_runs
  assert set(straight.extra) == {"pl_mean", "ada_p", "ada_sign_sum", "ada_sign_count"}
  # Every 2 steps p moved by batch * interval / (ada_kimg * 1000) = 4 * 2 / 4 = 2 (or to 0).
  assert float(straight.extra["ada_p"]) in (0.0, 2.0, 4.0, 6.0, 8.0)
  assert float(straight.extra["pl_mean"]) > 0
  assert int(resumed.step) == 8
  assert _leaves_equal(straight.arrays(), resumed.arrays())


def test_sample_mode_writes_truncation_mixing_and_w_interpolation(ada_runs):
  root, _, _ = ada_runs
  paths = train.sample(_ada_config(), str(root / "a"))
  assert set(paths) == {"grid", "truncation", "style_mixing", "interpolation"}
  assert all(os.path.getsize(p) > 0 for p in paths.values())
