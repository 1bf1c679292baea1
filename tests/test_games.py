"""The generic core: games of named networks, phases, lazy phases, extra state, frozen
networks, schedules, checkpoint format conversion, init_from and ``gan_jax.load``."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import toy_game

from experiments import base, dcgan_digits, gan_ring
from gan_jax import build, checkpoint, optim, train
from gan_jax.games.base import PhaseContext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="module")
def _toy_registered():
  """The toy game, model and dataset exist for this file's tests only."""
  toy_game.register()
  yield
  toy_game.unregister()


def _toy(**changes):
  run = build.build(toy_game.config(**changes))
  run.source.close()
  return run


def _batch(run, s=0):
  return jax.tree.map(jnp.asarray, run.local_batches(s, 1))


def _count(opt_state):
  return int(optax.tree_utils.tree_get(opt_state, "count"))


def test_simultaneous_update_gives_each_network_the_gradient_of_its_own_loss():
  sgd = {"optim.g.name": "sgd", "optim.d.name": "sgd", "optim.g.lr": 0.1, "optim.d.lr": 0.1}
  run = _toy(**sgd)
  state = run.state.replace(step=jnp.int32(1))  # step 1: the lazy phase does not run
  batch = _batch(run)
  new, metrics = jax.jit(run.pure_step(1, key=run.schedule_key(1, 1)))(state, batch)

  def loss(name, p, of):
    params = {**state.params, name: p}
    ctx = PhaseContext(
      run.networks, params, {}, {}, state.extra, {"image": batch["image"][0, 0]},
      jax.random.key(0), state.step, None,
    )  # fmt: skip
    return toy_game.losses(ctx)[0][of]

  for name in ("a", "b"):  # SGD with lr 0.1: new = old - 0.1 * d(own loss)/d(own params)
    grad = jax.grad(lambda p, n=name: loss(n, p, n))(state.params[name])
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, state.params[name], grad)
    for x, y in zip(jax.tree.leaves(new.params[name]), jax.tree.leaves(expected), strict=True):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  # The gradient of the summed losses differs: the cross terms matter.
  own = jax.grad(lambda p: loss("a", p, "a"))(state.params["a"])
  total = jax.grad(lambda p: loss("a", p, "a") + loss("a", p, "b"))(state.params["a"])
  assert not all(
    np.allclose(x, y) for x, y in zip(jax.tree.leaves(total), jax.tree.leaves(own), strict=True)
  )
  assert {"main_grad_norm_a", "main_grad_norm_b", "lazy_loss", "nonfinite"} <= set(metrics)


@pytest.mark.parametrize("lazy", ["static", "cond"])
def test_lazy_phase_runs_every_k_steps_and_updates_extra(lazy):
  run = _toy()
  run.step_cfg = dataclasses.replace(run.step_cfg, lazy=lazy)
  compiled = run.compiled_step(1)
  state = run.state
  lazy_losses = []
  for s in range(7):  # the lazy phase runs at steps 0, 3, 6
    state, metrics = compiled(state, run.layout.device_batch(run.local_batches(s, 1)), s)
    lazy_losses.append(float(metrics["lazy_loss"]))
  assert _count(state.opt_state["a"]) == 7
  assert _count(state.opt_state["b"]) == 7 + 3
  assert int(state.extra["count"]) == 3 and float(state.extra["running"]) != 0
  assert [v != 0 for v in lazy_losses] == [True, False, False, True, False, False, True]
  if lazy == "static":
    assert len(compiled.programs) == 2  # {lazy} and {}: one program each, picked by step
    assert set(compiled.programs) == {(frozenset({"lazy"}),), (frozenset(),)}


def test_static_and_cond_schedules_agree_and_steps_per_call_unrolls_them():
  finals = []
  for lazy, k in (("static", 1), ("cond", 1), ("static", 3), ("cond", 3)):
    run = _toy()
    run.step_cfg = dataclasses.replace(run.step_cfg, lazy=lazy)
    compiled = run.compiled_step(k)
    state = run.state
    for s in range(0, 6, k):
      state, _ = compiled(state, run.layout.device_batch(run.local_batches(s, k)), s)
    finals.append(state)
  for other in finals[1:]:
    assert int(other.extra["count"]) == int(finals[0].extra["count"]) == 2
    for x, y in zip(jax.tree.leaves(finals[0].params), jax.tree.leaves(other.params), strict=True):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_a_phase_naming_an_unknown_or_frozen_network_is_refused():
  run = _toy()
  bad = dataclasses.replace(run.game, phases=(*run.game.phases, run.game.phases[0]))
  with pytest.raises(ValueError, match="unique"):
    bad.check(run.networks)
  from gan_jax.games.base import Phase

  bad = dataclasses.replace(run.game, phases=(Phase("x", ("zz",), toy_game.losses),))
  with pytest.raises(ValueError, match=r"trains \['zz'\]"):
    bad.check(run.networks)


def test_frozen_network_comes_from_its_file_and_is_never_checkpointed(tmp_path, monkeypatch):
  weights = {"Dense_0/kernel": np.ones((2, 8)), "Dense_0/bias": np.zeros(8)}
  weights |= {"Dense_1/kernel": np.full((8, 2), 0.1), "Dense_1/bias": np.zeros(2)}
  path = tmp_path / "frozen.npz"
  np.savez(path, **{k: v.astype(np.float32) for k, v in weights.items()})
  monkeypatch.setenv(toy_game.FROZEN_FILE, str(path))
  cfg = toy_game.config(**{"train.num_steps": 2})
  state = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  assert "f" in state.consts and "f" not in state.params
  np.testing.assert_array_equal(state.consts["f"]["params"]["Dense_0"]["kernel"], 1.0)
  assert "consts" not in state.arrays()
  meta = json.load(open(tmp_path / "run" / "checkpoints" / "2" / "meta" / "metadata"))
  assert not any("consts" in k or "'f'" in k for k in meta["checksums"])
  monkeypatch.setenv(toy_game.FROZEN_FILE, str(tmp_path / "missing.npz"))
  with pytest.raises(FileNotFoundError, match="missing.npz"):
    build.build(cfg)


def test_schedules_and_ema_start():
  lin = optim.make_schedule(base.optimizer(schedule="linear", decay_start=10, decay_end=20), 100)
  assert [float(lin(jnp.int32(s))) for s in (0, 10, 15, 20, 30)] == [1, 1, 0.5, 0, 0]
  until_end = optim.make_schedule(base.optimizer(schedule="linear", decay_start=50), 100)
  assert float(until_end(jnp.int32(75))) == 0.5
  ms = optim.make_schedule(base.optimizer(schedule="multistep", milestones=(5, 8), gamma=0.1), 100)
  np.testing.assert_allclose([float(ms(jnp.int32(s))) for s in (4, 5, 8)], [1, 0.1, 0.01], 1e-6)
  with pytest.raises(ValueError, match="schedule 'cosine'"):
    optim.make_schedule(base.optimizer(schedule="cosine"), 100)
  ema = optim.ema_decay_fn(0.99, start=3)
  assert [float(ema(jnp.int32(s))) for s in (0, 2, 3)] == [0, 0, pytest.approx(0.99)]


def test_linear_decay_reaches_the_updates_and_ema_copies_before_its_start():
  run = _toy(**{"optim.d.schedule": "linear", "optim.d.decay_start": 0, "optim.d.decay_end": 1})
  run.step_cfg = dataclasses.replace(run.step_cfg, ema_decay=optim.ema_decay_fn(0.5, start=2))
  leaves = jax.tree.leaves
  s1 = run.state.replace(step=jnp.int32(1))  # no lazy phase at steps 1 and 2
  s2, _ = jax.jit(run.pure_step(1, key=run.schedule_key(1, 1)))(s1, _batch(run, 1))
  # "b" (role d) has learning-rate factor 0 at step 1; "a" moved.
  same = lambda a, b: all(  # noqa: E731
    np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b), strict=True)
  )
  assert same(s1.params["b"], s2.params["b"]) and not same(s1.params["a"], s2.params["a"])
  # Before ema_start (step 2) the average copies the weights; from it, decay 0.5.
  for x, y in zip(leaves(s2.ema["a"]), leaves(s2.params["a"]), strict=True):
    np.testing.assert_array_equal(x, y)
  s3, _ = jax.jit(run.pure_step(1, key=run.schedule_key(2, 1)))(s2, _batch(run, 2))
  for e, p, p0 in zip(
    leaves(s3.ema["a"]), leaves(s3.params["a"]), leaves(s2.params["a"]), strict=True
  ):
    np.testing.assert_allclose(e, 0.5 * p0 + 0.5 * p, rtol=1e-6, atol=1e-7)


# ---- Checkpoints: format versions, init_from, gan_jax.load -----------------------------


def test_a_format_1_checkpoint_is_converted_on_restore(tmp_path):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  ref = train.train_and_evaluate(cfg, str(tmp_path / "new"))
  # The same state written in the layout of gan_jax before named networks.
  arrays = ref.arrays()
  old = checkpoint._v1_target(arrays, "test")
  manager = checkpoint.make_manager(str(tmp_path / "old"), async_save=False)
  meta = {"step": 2, "checksums": checkpoint.checksums(old)}
  manager.save(
    2,
    args=checkpoint.ocp.args.Composite(
      state=checkpoint.ocp.args.StandardSave(old), meta=checkpoint.ocp.args.JsonSave(meta)
    ),
  )
  manager.wait_until_finished()
  manager.close()
  restored = train.restored_run(cfg, str(tmp_path / "old")).state
  for x, y in zip(jax.tree.leaves(ref.arrays()), jax.tree.leaves(restored.arrays()), strict=True):
    np.testing.assert_array_equal(x, y)
  # A game with other networks cannot take it: a clear refusal, nothing moved.
  with pytest.raises(checkpoint.FormatError, match="before named networks"):
    train.restored_run(toy_game.config(), str(tmp_path / "old"))
  assert os.path.isdir(tmp_path / "old" / "checkpoints" / "2")


def test_init_from_starts_named_networks_from_another_run(tmp_path):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  first = train.train_and_evaluate(cfg, str(tmp_path / "pre"))
  cfg.train.init_from = str(tmp_path / "pre")
  cfg.train.init_networks = ("g",)
  wd = str(tmp_path / "fine")  # the state it starts from (num_steps >= 1 would train it)
  run = build.build(cfg)
  ckpt = checkpoint.Checkpoints(wd, cfg.train)
  try:
    assert train._restore_for_training(run, ckpt, wd) == 0
  finally:
    train._close(run, ckpt)
  started = run.state
  same = lambda a, b: all(  # noqa: E731
    np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
  )
  assert same(started.params["g"], first.params["g"]) and same(started.ema["g"], first.ema["g"])
  assert not same(started.params["d"], first.params["d"])
  assert int(started.step) == 0 and _count(started.opt_state["g"]) == 0
  cfg.train.init_networks = ("a",)
  with pytest.raises(ValueError, match="not in both"):
    train.train_and_evaluate(cfg, str(tmp_path / "bad"))


def test_load_samples_from_a_workdir_alone(tmp_path):
  import gan_jax

  cfg = dcgan_digits.get_config("tiny")
  cfg.train.num_steps = 2
  wd = str(tmp_path / "run")
  state = train.train_and_evaluate(cfg, wd)
  model = gan_jax.load(wd)
  assert model.step == 2 and model.predict_names == ("generate",)
  images = model.generate(5, seed=1)
  assert images.shape == (5, 8, 8, 1) and np.all(np.abs(images) <= 1)
  np.testing.assert_array_equal(images, model.generate(5, seed=1))
  z = np.zeros((3, cfg.model.z_dim), np.float32)
  out = model.predict("generate", z, None)
  g = model.run.networks["g"].module
  ref = g.apply({"params": state.ema["g"], **state.collections["g"]}, z, train=False)
  np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
  assert gan_jax.load(wd, checkpoint=2).step == 2
  with pytest.raises(FileNotFoundError, match="config.json"):
    gan_jax.load(str(tmp_path))


# ---- Resume after SIGKILL: a lazy phase and extra state ---------------------------------

TOY_CLI = [
  "--config=experiments/gan_ring.py:tiny",
  "--config.game.name=toy",
  "--config.model.name=toy",
  "--config.data.name=slow_ring",
  "--config.train.num_steps=30",
  "--config.train.checkpoint_every=5",
  "--config.train.sample_every=0",
  "--config.train.log_every=10",
]


def _toy_cli(workdir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop(toy_game.FROZEN_FILE, None)
  return subprocess.Popen(
    [sys.executable, os.path.join(ROOT, "tests", "toy_game.py"), f"--workdir={workdir}", *TOY_CLI],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )


def _toy_finish(workdir):
  p = _toy_cli(workdir)
  out, _ = p.communicate(timeout=300)
  assert p.returncode == 0, out[-3000:]
  return out


def _meta(workdir, s):
  return json.load(open(os.path.join(workdir, "checkpoints", str(s), "meta", "metadata")))


def test_sigkill_resume_of_a_game_with_a_lazy_phase_and_extra_state_is_bitwise(tmp_path):
  ref = str(tmp_path / "ref")
  _toy_finish(ref)
  wd = str(tmp_path / "killed")
  p = _toy_cli(wd)
  t0 = time.time()
  while not os.path.isdir(os.path.join(wd, "checkpoints", "10")):  # 10: not a multiple of 3
    assert p.poll() is None and time.time() - t0 < 120, "kill point never reached"
    time.sleep(0.01)
  p.send_signal(signal.SIGKILL)
  p.wait()
  assert not os.path.exists(os.path.join(wd, "checkpoints", "30"))
  out = _toy_finish(wd)
  assert "Restored checkpoint at step" in out
  assert _meta(wd, 30)["checksums"] == _meta(ref, 30)["checksums"]
  assert any("extra" in k and "count" in k for k in _meta(ref, 30)["checksums"])
  m = train.restored_run(toy_game.config(**{"data.name": "slow_ring"}), ref).state
  assert int(m.extra["count"]) == 10  # steps 0, 3, ..., 27
