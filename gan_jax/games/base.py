"""Games: named networks trained by an ordered tuple of phases.

A ``Game`` says what one training iteration does, as data the generic step
(``gan_jax/step.py``) runs:

- ``phases``: each ``Phase(name, trains, loss, every, repeat)`` differentiates its ``loss``
  with respect to the networks it ``trains`` and updates each with its own optimizer.
  ``repeat`` runs it that many times in a row (n_critic), each on its own slice of the
  batch (with ``shares_slices``, cycling through the slices the other phases ask for:
  a phase that reads the batch only for its size, labels or a real reference); ``every``
  runs it only when ``step % every == 0`` (lazy regularisers), inside the same compiled
  call.
- ``batch_keys``: what it reads from a batch (``image,label`` | ``input,target`` | ``a,b``).
- ``ema``: networks of which an exponential moving average is kept (and sampled from).
- ``init_extra``: state the game owns (running means, image pools, ADA p), checkpointed.
- ``predict``: named pure functions of the trained networks (``generate``, ``translate``),
  with ``draw_inputs`` that draw their random inputs, and the host-side ``preview`` (the
  grid written during training) and ``write_samples`` (``--mode=sample``).

A loss is a function ``loss(ctx) -> (value, metrics)``: ``value`` is one scalar, or a dict
with one scalar per trained network for a simultaneous update (each network descends its
own scalar, all from one forward pass; a key ``"g_ab+g_ba"`` gives both networks the
gradient of one scalar); ``ctx`` (a ``PhaseContext``) applies networks,
draws keys and reads and writes the game's extra state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
Metrics = dict[str, Array]


@dataclasses.dataclass(frozen=True)
class Network:
  """A Flax module under a name.

  Attributes:
    module: the Flax module; called as ``module.apply(variables, *inputs, train=...)``.
    example_inputs: positional inputs for ``init`` (a batch of 2 is enough).
    role: the optimizer config it uses when ``config.optim`` has no entry of its name
      (``g`` or ``d``).
    trained: False for a frozen network (a feature extractor): its variables come from
      ``load`` and live in ``GANState.consts``, never in a checkpoint.
    load: for a frozen network, returns its variables from a local file.
  """

  module: nn.Module
  example_inputs: tuple[Any, ...]
  role: str = "g"
  trained: bool = True
  load: Callable[[], dict[str, Any]] | None = None


LossFn = Callable[["PhaseContext"], tuple[Array | dict[str, Array], Metrics]]


@dataclasses.dataclass(frozen=True)
class Phase:
  """One optimisation phase of a game.

  Attributes:
    name: unique within the game; metrics ``{name}_grad_norm`` come from it.
    trains: names of the networks this phase updates.
    loss: ``loss(ctx) -> (value, metrics)``; see the module docstring.
    every: run only at steps that are multiples of this (lazy regularisation).
    repeat: consecutive updates per step (n_critic), each on its own batch slice.
    shares_slices: the repeats reuse the slices of the other phases (repeat ``i`` reads
      slice ``i % batches_per_step``) instead of adding to them.
    same_draws: every repeat gets the first repeat's key, so it draws the same random
      inputs (codes, augmentations) rather than fresh ones.
    post_update: applied to each updated network's parameters, ``(name, params) ->
      params`` (e.g. WGAN weight clipping).
  """

  name: str
  trains: tuple[str, ...]
  loss: LossFn
  every: int = 1
  repeat: int = 1
  shares_slices: bool = False
  same_draws: bool = False
  post_update: Callable[[str, Any], Any] | None = None


@dataclasses.dataclass(frozen=True)
class Game:
  """An objective over named networks; see the module docstring."""

  phases: tuple[Phase, ...]
  batch_keys: tuple[str, ...]
  ema: tuple[str, ...] = ()
  init_extra: Callable[[], dict[str, Any]] = dict
  predict: Mapping[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
  draw_inputs: Mapping[str, Callable[[Array, int], tuple[Any, ...]]] = dataclasses.field(
    default_factory=dict
  )
  preview: Callable[..., Any] = dataclasses.field(default=lambda *a: default_preview(*a))
  write_samples: Callable[..., dict[str, str]] | None = None

  @property
  def batches_per_step(self) -> int:
    """Batch slices one iteration reads: the largest ``repeat`` of its phases (1 when
    every phase shares slices)."""
    return max([p.repeat for p in self.phases if not p.shares_slices], default=1)

  def check(self, networks: Mapping[str, Network]) -> None:
    """Raises ValueError when a phase or EMA names an unknown or frozen network."""
    names = [p.name for p in self.phases]
    if len(set(names)) != len(names):
      raise ValueError(f"Phase names must be unique; got {names}")
    trained = {n for n, net in networks.items() if net.trained}
    for p in self.phases:
      bad = [n for n in p.trains if n not in trained]
      if bad or not p.trains:
        raise ValueError(
          f"Phase {p.name!r} trains {list(p.trains)}; trained networks: {sorted(trained)}"
        )
      if p.every < 1 or p.repeat < 1:
        raise ValueError(f"Phase {p.name!r}: every and repeat must be >= 1")
    bad = [n for n in self.ema if n not in trained]
    if bad:
      raise ValueError(f"EMA of {bad}: not trained networks ({sorted(trained)})")


def heldout(config, n: int | None = None) -> dict[str, Any]:
  """The first ``n`` (all: None) items of the dataset's fixed held-out split.

  Paired and unpaired sources keep a held-out split that training never reads; it is the
  same for every seed and process.
  """
  from gan_jax import data  # games are imported by data's users; data does not import games

  source = data.build_source(config.data, 0)
  try:
    if not hasattr(source, "heldout"):
      raise ValueError(f"Dataset {config.data.name!r} has no held-out split.")
    return source.heldout(n)
  finally:
    source.close()


def preview_examples(config, n: int, keys: tuple[str, ...]) -> dict[str, Any]:
  """``n`` held-out items for previews; the first training batch when there is no
  held-out split (a folder without val/ or test/), so that a run never stops for it."""
  try:
    return heldout(config, n)
  except FileNotFoundError as e:
    from absl import logging

    from gan_jax import data

    logging.warning("Previews show training examples: %s", e)
    source = data.build_source(config.data, 0)
    try:
      batch = source.batch(0, 1)
    finally:
      source.close()
    return {k: batch[k][0][:n] for k in keys}


def default_preview(sample, key, config):
  """The preview of a game that generates: a grid of ``train.num_samples`` images
  (a scatter plot of ``eval.num_samples`` points for 2-D data).

  Args:
    sample: ``sample(predict_name, key, n) -> np.ndarray`` (``build.Run.sampler()``).
    key: the fixed key of previews.
    config: the experiment config.

  Returns:
    ``(uint8 image [H, W, C], integer upscale for the PNG)``.
  """
  from gan_jax import sampling

  points = sample("generate", key, 2)
  if points.ndim == 2:
    return sampling.scatter_plot(sample("generate", key, config.eval.num_samples)), 1
  grid = sampling.make_grid(sample("generate", key, config.train.num_samples))
  return grid, max(1, 256 // grid.shape[0])


class PhaseContext:
  """What a loss sees: the networks, this repeat's batch, keys, the game's extra state.

  Collections that a network updates in training mode (BatchNorm statistics, spectral
  norm vectors) chain through successive ``apply`` calls of the phase and are kept when
  the update is; ``update=False`` applies with the current values and discards changes.
  """

  def __init__(
    self,
    networks: Mapping[str, Network],
    params: Mapping[str, Any],
    collections: Mapping[str, Any],
    consts: Mapping[str, Any],
    extra: Mapping[str, Any],
    batch: Mapping[str, Array],
    key: Array,
    step: Array,
    axis_name: str | None,
    step_key: Array | None = None,
    opt_state: Mapping[str, Any] | None = None,
    optimizer_step: Callable[..., tuple[Any, Any]] | None = None,
  ):
    self.networks = networks
    self.params = params
    self.opt_state = dict(opt_state or {})
    self._optimizer_step = optimizer_step
    self.consts = consts
    self.extra = dict(extra)
    self.batch = batch
    self.key = key
    self.step_key = key if step_key is None else step_key  # the same in every phase
    self.step = step
    self.axis_name = axis_name
    self.collections = dict(collections)
    self.updated_collections: dict[str, Any] = {}
    self.updated_extra: dict[str, Any] = {}
    self._calls = 0

  def apply(
    self,
    name: str,
    *inputs,
    train: bool = True,
    update: bool = True,
    params: Any = None,
    method: str | None = None,
    key: Array | None = None,
  ):
    """Applies network ``name`` (its current parameters unless ``params`` is given).

    Frozen networks always run in inference mode. In training mode every call gets its
    own ``dropout`` key, unless ``key`` is given (e.g. from ``step_key``, so that two
    phases see the same dropout masks).
    """
    net = self.networks[name]
    if not net.trained:
      return net.module.apply(self.consts[name], *inputs, train=False, method=method)
    p = self.params[name] if params is None else params
    cols = self.collections.get(name, {})
    self._calls += 1
    if key is None:
      key = self.device_key(jax.random.fold_in(self.key, 0x5EED + self._calls))
    rngs = {"dropout": key} if train else None
    kw = {"train": train, "rngs": rngs, "method": method}
    if train and cols:
      out, new = net.module.apply({"params": p, **cols}, *inputs, mutable=list(cols), **kw)
      if update:
        self.collections[name] = dict(new)
        self.updated_collections[name] = dict(new)
      return out
    return net.module.apply({"params": p, **cols}, *inputs, **kw)

  def optimizer_step(self, name: str, grads: Any, params: Any, opt_state: Any):
    """``(params, opt_state)`` after one update of network ``name``'s optimizer (with its
    learning-rate schedule at this step) from ``params`` / ``opt_state`` by ``grads``: the
    update the step applies, as a differentiable function (e.g. to unroll an opponent's
    updates). The phase's ``post_update`` is not applied."""
    if self._optimizer_step is None:
      raise ValueError("This context has no optimizers (a loss outside the train step).")
    return self._optimizer_step(name, grads, params, opt_state)

  def set_extra(self, name: str, value: Any) -> None:
    """Replaces the game's extra state ``name`` (kept when the update is)."""
    self.extra[name] = value
    self.updated_extra[name] = value

  def fold(self, tag: str | int) -> Array:
    """A key of this phase and repeat for one use: ``tag`` a small int or up to 4 letters."""
    if isinstance(tag, str):
      if not 0 < len(tag.encode()) <= 4:
        raise ValueError(f"Key tags are 1 to 4 bytes (distinct tags, distinct keys); got {tag!r}")
      tag = int.from_bytes(tag.encode().ljust(4), "little")  # padded with spaces
    return jax.random.fold_in(self.key, tag)

  def device_key(self, key: Array) -> Array:
    """``key`` made distinct per device under pmap (per-sample noise of a local batch)."""
    if self.axis_name is None:
      return key
    return jax.random.fold_in(key, jax.lax.axis_index(self.axis_name))

  def global_draw(self, draw: Callable[[Array, int], Array], key: Array, n_local: int) -> Array:
    """This device's rows of a draw over the global batch.

    Drawing ``n_local * devices`` rows and slicing makes a pmap run over N devices see
    the same random inputs (latent codes) as a jit run over the whole batch.
    """
    if self.axis_name is None:
      return draw(key, n_local)
    n_dev = jax.lax.axis_size(self.axis_name)
    full = draw(key, n_local * n_dev)
    start = jax.lax.axis_index(self.axis_name) * n_local
    return jax.lax.dynamic_slice_in_dim(full, start, n_local)


class Predictor:
  """Applies networks for inference: EMA parameters where the game keeps them."""

  def __init__(
    self,
    networks: Mapping[str, Network],
    state,
    ema_names: tuple[str, ...],
    collections: Mapping[str, Any] | None = None,
  ):
    self.networks, self.state, self.ema_names = networks, state, ema_names
    self._collections = dict(collections or {})

  def collections(self, name: str) -> dict[str, Any]:
    """Network ``name``'s collections (BatchNorm statistics, spectral-norm vectors)."""
    if name in self._collections:
      return self._collections[name]
    return self.state.collections.get(name, {})

  def with_collections(self, name: str, collections: Mapping[str, Any]) -> Predictor:
    """This predictor with network ``name``'s collections replaced (e.g. standing stats)."""
    return Predictor(
      self.networks, self.state, self.ema_names, {**self._collections, name: collections}
    )

  def apply_train(self, name: str, *inputs, collections: Mapping[str, Any], key=None):
    """``(outputs, new collections)`` of a training-mode application from ``collections``."""
    net = self.networks[name]
    params = self.state.ema[name] if name in self.ema_names else self.state.params[name]
    rngs = {"dropout": key} if key is not None else None
    return net.module.apply(
      {"params": params, **collections}, *inputs, train=True, rngs=rngs, mutable=list(collections)
    )

  def __call__(
    self,
    name: str,
    *inputs,
    train: bool = False,
    key: Array | None = None,
    method: str | None = None,
    **kwargs,
  ):
    """Network ``name`` applied to ``inputs`` (``method``: another method of its module;
    ``kwargs``: its keyword arguments, e.g. a truncation)."""
    net = self.networks[name]
    if not net.trained:
      return net.module.apply(self.state.consts[name], *inputs, train=False, method=method)
    params = self.state.ema[name] if name in self.ema_names else self.state.params[name]
    cols = self.collections(name)
    rngs = {"dropout": key} if key is not None else None
    if train and cols:  # batch statistics; the stored ones are left as they are
      if method is not None or kwargs:
        raise ValueError("Training-mode prediction takes the module's __call__ inputs only.")
      return self.apply_train(name, *inputs, collections=cols, key=key)[0]
    return net.module.apply(
      {"params": params, **cols}, *inputs, train=train, rngs=rngs, method=method, **kwargs
    )


_RUNNING_STATS = ("mean", "var")


def _is_running_stat(path) -> bool:
  return str(getattr(path[-1], "key", path[-1])) in _RUNNING_STATS


def standing_statistics(
  nets: Predictor, name: str, batches: Sequence[tuple[Any, ...]]
) -> dict[str, Any]:
  """BatchNorm running statistics replaced by their average over ``batches`` of inputs.

  BigGAN's "standing statistics": before sampling, the generator (the weights sampling
  uses, EMA ones included) runs in training mode on fresh batches and every BatchNorm's
  ``mean`` / ``var`` becomes the average of its batch statistics over them, in place of
  the running averages the online weights accumulated. Other state (spectral-norm
  vectors) is kept. The batch statistics are read from one training application from
  running statistics 0 (``(1 - m) * stat``) and, for the first batch, one from 1
  (``m + (1 - m) * stat``), which gives each layer's momentum ``m``. The variances are the
  biased batch variances flax keeps (PyTorch's reference averages the unbiased ones).

  Args:
    nets: the predictor.
    name: the network (e.g. ``"g"``).
    batches: K input tuples, each one batch for ``name``.

  Returns:
    The network's collections with the standing statistics.

  References:
    Brock et al. 2019 (BigGAN; sampling with standing statistics) and BigGAN-PyTorch's
    ``utils.accumulate_standing_stats``.
  """
  cols = nets.collections(name)

  def filled(value):
    return jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.full_like(x, value) if _is_running_stat(p) else x, cols
    )

  def run(inputs, start):
    return nets.apply_train(name, *inputs, collections=start)[1]

  zeros = filled(0.0)
  first = run(batches[0], zeros)
  momentum = jax.tree.map(lambda c, a: c - a, run(batches[0], filled(1.0)), first)
  total = first
  for inputs in batches[1:]:
    total = jax.tree.map(jnp.add, total, run(inputs, zeros))
  k = len(batches)
  return jax.tree_util.tree_map_with_path(
    lambda p, old, t, m: t / (k * (1.0 - m)) if _is_running_stat(p) else old,
    cols,
    total,
    momentum,
  )
