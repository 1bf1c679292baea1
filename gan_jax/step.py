"""GANState and the generic pure train_step: one call runs a game's phases.

One call of ``train_step(state, batch)`` runs every phase of the game in order: a phase
with ``repeat=r`` makes r updates of the networks it trains (each on its own slice of the
batch), a phase with ``every=k`` runs only when ``step % k == 0`` (``lax.cond``, or both
branches traced statically where that is faster), then the EMA copies are updated.
Randomness comes from ``fold_in(key(seed), step)``, then per phase and repeat, so no key
is stored. An update whose loss, gradient or new parameters are not finite is dropped
(the state keeps its previous values) and counted in ``state.nonfinite_count`` and
``metrics["nonfinite"]``; the host decides whether to stop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax.games.base import Game, Network, PhaseContext

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class GANState(struct.PyTreeNode):
  """Everything a run needs to continue, as dicts keyed by network name.

  ``consts`` holds the frozen networks' variables: passed into the compiled step like the
  rest of the state, never checkpointed (``arrays()`` leaves it out).
  """

  step: jax.Array  # int32 scalar: number of completed iterations.
  params: dict[str, Any]
  opt_state: dict[str, Any]  # one optax state per trained network
  collections: dict[str, Any]  # mutable collections: batch_stats, spectral-norm vectors
  ema: dict[str, Any]  # EMA parameters of the networks the game names
  extra: dict[str, Any]  # state the game owns: running means, image pools, ADA p
  nonfinite_count: jax.Array  # int32 scalar: updates dropped for non-finite values.
  consts: dict[str, Any]
  tx: dict[str, optax.GradientTransformation] = struct.field(pytree_node=False)

  def arrays(self) -> dict[str, Any]:
    """The state's arrays as a plain dict (what a checkpoint holds)."""
    return {
      f.name: getattr(self, f.name)
      for f in dataclasses.fields(self)
      if f.metadata.get("pytree_node", True) and f.name != "consts"
    }


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Static settings of the step that do not belong to a game."""

  seed: int
  ema_decay: Callable[[jax.Array], jax.Array]
  lr_factor: Mapping[str, Callable[[jax.Array], jax.Array]]  # network -> schedule
  axis_name: str | None = None
  # Repeats and lazy phases: None picks what is fast on the backend. On CPU, convolutions
  # inside an XLA while loop run ~8x slower than outside one, so repeats are written out in
  # Python there; see README's design notes for the lazy phases' measurement.
  unroll_repeats: bool | None = None
  # Lazy phases (every > 1): "cond" decides inside the program (lax.cond on the step);
  # "static" compiles one program per set of active phases and the host picks by step.
  # On XLA CPU a phase of convolutions under lax.cond runs 14-16x slower than outside one
  # (README, design notes), so None picks "static" on CPU and "cond" elsewhere.
  lazy: str | None = None


def _on_cpu() -> bool:
  return jax.default_backend() == "cpu"


def init_state(
  key: jax.Array,
  networks: Mapping[str, Network],
  txs: Mapping[str, optax.GradientTransformation],
  game: Game,
) -> GANState:
  """Initialises every trained network, its optimizer, EMA copies and the game's extra.

  Pure except for the frozen networks' ``load`` (jit it with out_shardings; frozen
  variables are loaded outside).
  """
  params, collections = {}, {}
  trained = [n for n, net in networks.items() if net.trained]
  for i, name in enumerate(trained):
    k = jax.random.fold_in(key, i)
    variables = dict(
      networks[name].module.init(
        {"params": k, "dropout": k}, *networks[name].example_inputs, train=False
      )
    )
    params[name] = variables.pop("params")
    collections[name] = variables
  return GANState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    opt_state={n: txs[n].init(params[n]) for n in trained},
    collections=collections,
    ema={n: jax.tree.map(jnp.copy, params[n]) for n in game.ema},  # own buffers (donation)
    extra=game.init_extra(),
    nonfinite_count=jnp.zeros((), jnp.int32),
    consts={},
    tx=dict(txs),
  )


def _all_finite(*trees) -> jax.Array:
  leaves = jax.tree.leaves(trees)
  if not leaves:
    return jnp.asarray(True)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _select(ok: jax.Array, new, old):
  """``new`` if ``ok`` else ``old``, whole trees at once.

  A ``lax.cond`` that only passes its operands through, not a ``jnp.where`` per leaf:
  the per-leaf selects tie every output to one reduction over all of them, and XLA's CPU
  compiler then took 75 s instead of 9 s on a small step of ~40 spectrally normalised
  layers.
  """
  return jax.lax.cond(ok, lambda n, o: n, lambda n, o: o, new, old)


def _grads(phase, value_fn, trainable):
  """Each trained network's gradient of its own loss, from one forward pass.

  Returns ``(grads, (value, aux))``. A scalar value is differentiated once. A dict is a
  simultaneous update: each key (a network name, or names joined by ``+`` that descend
  the same loss, e.g. ``"g_ab+g_ba"``) is pulled back once through the same ``jax.vjp``.
  """
  value, vjp, aux = jax.vjp(value_fn, trainable, has_aux=True)
  if not isinstance(value, dict):
    return vjp(jnp.ones_like(value))[0], (value, aux)
  owners = {k: tuple(k.split("+")) for k in value}
  covered = sorted(n for names in owners.values() for n in names)
  if covered != sorted(phase.trains):
    raise ValueError(
      f"Phase {phase.name!r}: the loss's keys {list(value)} must name each trained network "
      f"{list(phase.trains)} exactly once"
    )
  grads = {}
  for key, names in owners.items():
    ct = {k: jnp.asarray(k == key, v.dtype) for k, v in value.items()}
    pulled = vjp(ct)[0]
    grads.update({n: pulled[n] for n in names})
  return grads, (value, aux)


def make_train_step(
  game: Game,
  networks: Mapping[str, Network],
  cfg: StepConfig,
  active: frozenset[str] | None = None,
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Returns the pure ``train_step(state, batch) -> (state, metrics)`` of a game.

  Args:
    game: the phases and what they read.
    networks: the named networks (their modules built with ``cfg.axis_name`` under pmap).
    cfg: static step settings.
    active: the lazy phases (``every > 1``) to run, fixed at trace time (the host picks
      the program by step, see ``schedule_key``); None decides inside the program with
      ``lax.cond`` on ``state.step``.

  Returns:
    A function of ``state`` and ``batch = {key: [batches_per_step, B, ...]}``. Jit it
    (donating the state) or pmap it with ``cfg.axis_name``.
  """
  game.check(networks)
  unroll = _on_cpu() if cfg.unroll_repeats is None else cfg.unroll_repeats

  def pmean(tree):
    return jax.lax.pmean(tree, cfg.axis_name) if cfg.axis_name else tree

  def update(phase, state: GANState, batch, key, step_key):
    """One update of the phase's networks; returns (state, metrics, ok)."""
    trainable = {n: state.params[n] for n in phase.trains}

    def optimizer_step(n, grads_n, params_n, opt_state_n):
      updates, new_opt_state = state.tx[n].update(grads_n, opt_state_n, params_n)
      factor = cfg.lr_factor[n](state.step)
      updates = jax.tree.map(lambda u, f=factor: u * f.astype(u.dtype), updates)
      return optax.apply_updates(params_n, updates), new_opt_state

    def value_fn(tp):
      ctx = PhaseContext(
        networks,
        {**state.params, **tp},
        state.collections,
        state.consts,
        state.extra,
        batch,
        key,
        state.step,
        cfg.axis_name,
        step_key,
        state.opt_state,
        optimizer_step,
      )
      value, metrics = phase.loss(ctx)
      return value, (metrics, ctx.updated_collections, ctx.updated_extra)

    grads, (value, (metrics, new_cols, new_extra)) = _grads(phase, value_fn, trainable)
    grads, metrics, new_cols = pmean((grads, metrics, new_cols))
    metrics = dict(metrics)
    params, opt_state = dict(state.params), dict(state.opt_state)
    for n in phase.trains:
      params[n], opt_state[n] = optimizer_step(n, grads[n], state.params[n], state.opt_state[n])
      if phase.post_update is not None:
        params[n] = phase.post_update(n, params[n])
      suffix = "" if len(phase.trains) == 1 else f"_{n}"
      metrics[f"{phase.name}_grad_norm{suffix}"] = optax.tree.norm(grads[n])
    ok = _all_finite(
      value, metrics, {n: (params[n], opt_state[n]) for n in phase.trains}, new_cols, new_extra
    )
    if cfg.axis_name:  # one decision for every replica (values that are not averaged)
      ok = jax.lax.pmin(ok.astype(jnp.int32), cfg.axis_name) > 0
    changed = (
      {n: (params[n], opt_state[n]) for n in phase.trains},
      new_cols,
      new_extra,
    )
    kept = (
      {n: (state.params[n], state.opt_state[n]) for n in phase.trains},
      {n: state.collections[n] for n in new_cols},
      {n: state.extra[n] for n in new_extra},
    )
    changed, cols, extra = _select(ok, changed, kept)
    new = state.replace(
      params={**state.params, **{n: p for n, (p, _) in changed.items()}},
      opt_state={**state.opt_state, **{n: o for n, (_, o) in changed.items()}},
      collections={**state.collections, **cols},
      extra={**state.extra, **extra},
    )
    return new, metrics, ok

  def run_phase(idx, phase, state: GANState, batch, key):
    """The phase's ``repeat`` updates; metrics averaged over them, failures counted."""
    n_slices = game.batches_per_step
    phase_key = jax.random.fold_in(key, idx)

    def body(st, i):
      sl = jax.tree.map(lambda x: x[i % n_slices], batch)
      rep_key = jax.random.fold_in(phase_key, 0 if phase.same_draws else i)
      st, m, ok = update(phase, st, sl, rep_key, key)
      return st, (m, ok)

    if phase.repeat == 1 or unroll:
      outs = []
      for i in range(phase.repeat):
        state, out = body(state, i)
        outs.append(out)
      metrics, oks = jax.tree.map(lambda *x: jnp.stack(x), *outs)
    else:
      state, (metrics, oks) = jax.lax.scan(body, state, jnp.arange(phase.repeat))
    metrics = {k: jnp.mean(v) for k, v in metrics.items()}
    return state, metrics, jnp.sum(~oks).astype(jnp.int32)

  def skip_phase(idx, phase, state, batch, key):
    """A phase not run at this step: the state as it is, its metrics' structure in zeros."""
    shapes = jax.eval_shape(lambda st: run_phase(idx, phase, st, batch, key), state)[1]
    return state, {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}, jnp.int32(0)

  def lazy_phase(idx, phase, state, batch, key):
    """A phase run only when ``step % every == 0``; its metrics are 0 at other steps."""
    return jax.lax.cond(
      state.step % phase.every == 0,
      lambda st: run_phase(idx, phase, st, batch, key),
      lambda st: skip_phase(idx, phase, st, batch, key),
      state,
    )

  def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    batch = {k: batch[k] for k in game.batch_keys if k in batch}  # [slices, B, ...]
    key = jax.random.fold_in(jax.random.key(cfg.seed), state.step)
    metrics: Metrics = {}
    skipped = jnp.zeros((), jnp.int32)
    for idx, phase in enumerate(game.phases):
      if phase.every == 1 or (active is not None and phase.name in active):
        fn = run_phase
      else:
        fn = lazy_phase if active is None else skip_phase
      state, m, s = fn(idx, phase, state, batch, key)
      metrics.update(m)
      skipped = skipped + s
    decay = cfg.ema_decay(state.step)
    ema = {
      n: optax.incremental_update(state.params[n], state.ema[n], 1.0 - decay) for n in state.ema
    }
    state = state.replace(
      step=state.step + 1, ema=ema, nonfinite_count=state.nonfinite_count + skipped
    )
    metrics["nonfinite"] = skipped
    metrics["nonfinite_total"] = state.nonfinite_count
    return state, metrics

  return train_step


LAZY_MODES = ("cond", "static")


def lazy_mode(cfg: StepConfig) -> str:
  mode = cfg.lazy or ("static" if _on_cpu() else "cond")
  if mode not in LAZY_MODES:
    raise ValueError(f"Unknown lazy-phase mode {mode!r}; valid: {list(LAZY_MODES)}")
  return mode


def schedule_key(game: Game, cfg: StepConfig, step: int, k: int) -> tuple | None:
  """Which lazy phases run in each of the ``k`` steps from ``step``, for "static" mode.

  None when one program serves every step (no lazy phase, or "cond" mode).
  """
  lazy = [p for p in game.phases if p.every > 1]
  if not lazy or lazy_mode(cfg) == "cond":
    return None
  return tuple(frozenset(p.name for p in lazy if (step + i) % p.every == 0) for i in range(k))


def make_step(
  game: Game,
  networks: Mapping[str, Network],
  cfg: StepConfig,
  steps_per_call: int,
  key: tuple | None = None,
):
  """The pure step over ``steps_per_call`` iterations for one ``schedule_key``.

  Batches are ``[k, slices, B, ...]``. Small models are otherwise bound by Python
  dispatch; metrics are averaged over the k steps except ``nonfinite``, which is summed,
  and ``nonfinite_total`` (the run's count after the last step).
  """
  if key is not None:  # static schedule: each step's program traced with its own phases
    steps = [make_train_step(game, networks, cfg, active) for active in key]
  else:
    steps = [make_train_step(game, networks, cfg)]
  if steps_per_call == 1:
    return lambda state, batch: steps[0](state, jax.tree.map(lambda x: x[0], batch))

  def reduce(metrics):
    out = {k: jnp.mean(v) for k, v in metrics.items()}
    out["nonfinite"] = jnp.sum(metrics["nonfinite"])
    out["nonfinite_total"] = metrics["nonfinite_total"][-1]
    return out

  if len(steps) == 1:

    def multi_step(state, batches):
      state, metrics = jax.lax.scan(steps[0], state, batches)
      return state, reduce(metrics)

    return multi_step

  def step_by_step(state, batches):
    outs = []
    for i, fn in enumerate(steps):
      state, m = fn(state, jax.tree.map(lambda x, i=i: x[i], batches))
      outs.append(m)
    return state, reduce(jax.tree.map(lambda *x: jnp.stack(x), *outs))

  return step_by_step
