"""config -> Run: the input source, mesh, named networks, game and initial state.

Nothing here loops or writes: ``train.py`` drives a Run, ``benchmark.py`` times its step,
``api.load`` samples from it. Every check that can fail on a config runs before anything
is built (``validate_config``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import ml_collections
import numpy as np

from gan_jax import data, games, models, optim, parallel, progress, step, validate
from gan_jax.errors import ConfigError
from gan_jax.games.base import Game, Network, Predictor

NAN_POLICIES = ("stop", "skip")
PREDICT_CHUNK = 500  # inputs per compiled predict call when sampling many


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the bad field and its valid values, before any compute."""
  validate.check(config)
  for field, default in (("g_steps", 1), ("g_same_codes", False)):
    if config.game.get(field, default) != default and config.game.name != "gan":
      raise ValueError(f"game.{field} applies to game.name='gan' only; got {config.game.name!r}")
  games.get(config.game.name).check(config)
  models.get_family(config.model.name)
  if config.data.name not in data.DATASETS:
    raise ValueError(
      f"Unknown dataset {config.data.name!r}; valid datasets: {sorted(data.DATASETS)}"
    )
  models.compute_dtype(config.model.dtype)
  for entry in config.optim.values():
    if isinstance(entry, ml_collections.ConfigDict):
      optim.make_optimizer(entry)
      optim.make_schedule(entry, config.train.num_steps)
  if config.train.nan_policy not in NAN_POLICIES:
    raise ValueError(
      f"Unknown train.nan_policy {config.train.nan_policy!r}; valid: {list(NAN_POLICIES)}"
    )
  k = config.train.steps_per_call
  if k < 1 or config.train.num_steps % k:
    raise ValueError(
      f"train.num_steps={config.train.num_steps} must be a multiple of "
      f"train.steps_per_call={k} (>= 1)."
    )
  if config.data.batch_size < 1:
    raise ValueError(f"data.batch_size must be positive; got {config.data.batch_size}")
  if config.train.get("best_mode", "min") not in ("min", "max"):
    raise ValueError(f"train.best_mode must be 'min' or 'max'; got {config.train.best_mode!r}")
  strategy = strategy_of(config)
  if strategy not in parallel.STRATEGIES:
    raise ValueError(f"Unknown parallel.strategy {strategy!r}; valid: {list(parallel.STRATEGIES)}")


def strategy_of(config: ml_collections.ConfigDict) -> str:
  return config.get("parallel", {}).get("strategy", "jit")


@dataclasses.dataclass
class Run:
  """What every mode builds; ``state`` is the host's (replicated) state."""

  config: ml_collections.ConfigDict
  source: data.Source
  num_classes: int
  layout: parallel.Layout
  networks: Mapping[str, Network]
  game: Game
  state: step.GANState
  step_cfg: step.StepConfig
  _predict_fns: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def spec(self) -> data.DataSpec:
    return self.source.spec

  def networks_for(self, axis_name: str | None) -> Mapping[str, Network]:
    """The networks with cross-device statistics over ``axis_name`` (pmap), or as built."""
    if axis_name is None:
      return self.networks
    return build_networks(self.config, self.spec, self.num_classes, axis_name)

  def pure_step(self, steps_per_call: int, axis_name: str | None = None, key=None):
    """The pure step over ``[steps_per_call, slices, B, ...]`` batches (one schedule key)."""
    cfg = dataclasses.replace(self.step_cfg, axis_name=axis_name)
    return step.make_step(self.game, self.networks_for(axis_name), cfg, steps_per_call, key)

  def schedule_key(self, start: int, steps_per_call: int):
    return step.schedule_key(self.game, self.step_cfg, start, steps_per_call)

  def compiled_step(self, steps_per_call: int):
    """``(run_state, batch, step) -> (run_state, metrics)``, compiled for the strategy."""
    return self.layout.compile(
      lambda axis, key: self.pure_step(steps_per_call, axis, key),
      lambda s: self.schedule_key(s, steps_per_call),
    )

  def local_batches(self, s: int, steps_per_call: int) -> dict[str, np.ndarray]:
    """This process's batches of steps ``s .. s + k - 1``: ``[k, slices, B_local, ...]``."""
    n = self.game.batches_per_step
    parts = [self.source.batch(s + i, n) for i in range(steps_per_call)]
    return {key: np.stack([p[key] for p in parts]) for key in parts[0]}

  def sampler(self):
    """``sample(predict_name, key, n, inputs=None) -> np.ndarray`` from ``self.state``.

    Inputs are drawn by the game (``draw_inputs``) unless given; outputs are computed
    in chunks, replicated, so every process of a multi-host run takes part and holds
    the whole result. The compiled predict functions are kept for the Run's life.
    """
    fns = self._predict_fns
    rep = self.layout.rep

    def sample(name: str, key, n: int, inputs=None) -> np.ndarray:
      if name not in self.game.predict:
        raise ValueError(f"This game predicts {sorted(self.game.predict)}; not {name!r}")
      if name not in fns:
        predict = self.game.predict[name]
        fns[name] = jax.jit(
          lambda state, *xs: predict(Predictor(self.networks, state, self.game.ema), *xs),
          out_shardings=rep,
        )
      inputs = self.game.draw_inputs[name](key, n) if inputs is None else inputs
      out = []
      chunks = range(0, n, PREDICT_CHUNK)
      for i in (
        progress.bar(chunks, desc=f"{name}: {n} samples", unit="chunk")
        if n > 4 * PREDICT_CHUNK
        else chunks
      ):
        chunk = tuple(
          None if x is None else jax.device_put(np.asarray(x)[i : i + PREDICT_CHUNK], rep)
          for x in inputs
        )
        out.append(np.asarray(fns[name](self.state, *chunk).addressable_data(0)))
      return np.concatenate(out)

    return sample

  def state_bytes(self) -> int:
    """The size of the state's arrays: about what one checkpoint takes on disk."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(self.state.arrays()))


def build_networks(config, spec: data.DataSpec, num_classes: int, axis_name=None):
  input_shape = getattr(spec, "input_shape", None)
  return models.build_networks(config.model, spec.sample_shape, num_classes, axis_name, input_shape)


def make_step_config(config: ml_collections.ConfigDict, networks) -> step.StepConfig:
  """The step's static settings: seed, EMA decay and each network's schedule."""
  lr_factor = {
    name: optim.make_schedule(
      optim.config_for(config.optim, name, net.role), config.train.num_steps
    )
    for name, net in networks.items()
    if net.trained
  }
  return step.StepConfig(
    seed=config.seed,
    ema_decay=optim.ema_half_life_fn(
      config.optim.ema_kimg, config.data.batch_size, config.optim.get("ema_rampup", 0.0)
    )
    if config.optim.get("ema_kimg", 0)
    else optim.ema_decay_fn(config.optim.ema_decay, config.optim.get("ema_start", 0)),
    lr_factor=lr_factor,
  )


def _check_no_empty_arrays(params: Mapping[str, Any]) -> None:
  """A size of 0 in the model config gives parameters with no elements, which train but
  cannot be checkpointed: refused before the first step."""
  for name, tree in params.items():
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
      if leaf.size == 0:
        where = "/".join(str(getattr(p, "key", p)) for p in path)
        raise ConfigError(
          f"Network {name!r} has an empty parameter {where} of shape {tuple(leaf.shape)}: "
          "a size in config.model (z_dim, width, hidden, ...) is 0."
        )


def _frozen_variables(net: Network, seed: int, random: bool) -> dict:
  if not random:
    return net.load()
  key = jax.random.key(seed)
  return dict(net.module.init({"params": key}, *net.example_inputs, train=False))


def build(config: ml_collections.ConfigDict, random_frozen: bool = False) -> Run:
  """Validates ``config`` and builds its Run, state initialised (already replicated).

  Args:
    config: the experiment config (see experiments/base.py).
    random_frozen: frozen networks (VGG19 features) get random weights instead of their
      local file's: for timing a step where the weights are not at hand (the benchmark).

  Returns:
    The Run; its ``state`` is fresh (restoring is the caller's: ``checkpoint.Checkpoints``).
  """
  validate_config(config)
  source = data.build_source(config.data, config.seed, jax.process_index(), jax.process_count())
  try:
    spec = source.spec
    num_classes = spec.num_classes if config.model.get("conditional", False) else 0
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.data.batch_size, mesh)
    layout = parallel.Layout(strategy_of(config), mesh)
    networks = build_networks(config, spec, num_classes)
    game = games.build_game(config, spec, num_classes)
    game.check(networks)
    txs = {
      name: optim.make_optimizer(optim.config_for(config.optim, name, net.role))
      for name, net in networks.items()
      if net.trained
    }
    # Frozen weights first: a missing weights file fails before anything compiles.
    consts = {
      name: jax.device_put(_frozen_variables(net, config.seed, random_frozen), layout.rep)
      for name, net in networks.items()
      if not net.trained
    }
    init = lambda key: step.init_state(key, networks, txs, game)  # noqa: E731
    # Created already replicated on every device, never assembled on the host.
    state = jax.jit(init, out_shardings=layout.rep)(jax.random.key(config.seed))
    state = state.replace(consts=consts)
    _check_no_empty_arrays(state.params)
  except BaseException:
    source.close()
    raise
  return Run(
    config, source, num_classes, layout, networks, game, state, make_step_config(config, networks)
  )
