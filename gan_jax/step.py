"""GANState and the pure train_step: both players' updates in one compiled call.

One call of ``train_step(state, batch)`` performs ``n_critic`` discriminator updates
(a ``lax.scan`` over the leading axis of the batch), one generator update and the EMA of
the generator weights, and returns the metrics. Randomness comes from
``fold_in(key(seed), step)`` so no key is stored. An update whose loss or gradient is
not finite is dropped (the state keeps its previous values) and counted in
``state.nonfinite_count`` and ``metrics["nonfinite"]``; the host decides whether to stop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax import losses

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class GANState(struct.PyTreeNode):
  """Everything a run needs to continue: both players, their optimizers, the EMA."""

  step: jax.Array  # int32 scalar: number of completed iterations.
  g_params: Any
  d_params: Any
  g_ema_params: Any
  g_opt_state: Any
  d_opt_state: Any
  g_vars: Any  # G's mutable collections, e.g. {"batch_stats": ...}; {} when none.
  d_vars: Any
  nonfinite_count: jax.Array  # int32 scalar: updates dropped for non-finite values.
  g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = struct.field(pytree_node=False)

  def arrays(self) -> dict[str, Any]:
    """The state's arrays as a plain dict (what a checkpoint holds)."""
    return {
      f.name: getattr(self, f.name)
      for f in dataclasses.fields(self)
      if f.metadata.get("pytree_node", True)
    }


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Static settings of the step, read from the ml_collections config."""

  seed: int
  z_dim: int
  loss: str = "non_saturating"
  penalty: str = "none"
  penalty_weight: float = 10.0
  clip: float = 0.0
  ema_decay: float = 0.999
  z_dist: str = "normal"
  num_classes: int = 0
  axis_name: str | None = None
  # Critic loop: None picks a Python unroll on CPU, where convolutions inside an XLA while
  # loop run ~8x slower than the same ops outside one, and lax.scan elsewhere.
  unroll_critic: bool | None = None

  @classmethod
  def from_config(cls, config, num_classes: int = 0, axis_name: str | None = None):
    return cls(
      seed=config.seed,
      z_dim=config.model.z_dim,
      loss=config.loss.name,
      penalty=config.loss.penalty,
      penalty_weight=config.loss.penalty_weight,
      clip=config.loss.clip,
      ema_decay=config.optim.ema_decay,
      z_dist=config.model.z_dist,
      num_classes=num_classes,
      axis_name=axis_name,
    )


Z_DISTS = ("normal", "uniform")


def _unroll_critic(cfg: StepConfig) -> bool:
  if cfg.unroll_critic is None:
    return jax.default_backend() == "cpu"
  return cfg.unroll_critic


def sample_z(key: jax.Array, n: int, z_dim: int, dist: str = "normal") -> jax.Array:
  """Draws latent codes ``[n, z_dim]`` from N(0, I) or U[-1, 1]."""
  if dist == "normal":
    return jax.random.normal(key, (n, z_dim))
  if dist == "uniform":
    return jax.random.uniform(key, (n, z_dim), minval=-1.0, maxval=1.0)
  raise ValueError(f"Unknown model.z_dist {dist!r}; valid: {list(Z_DISTS)}")


def apply_model(model: nn.Module, params, variables, *args, train: bool):
  """Applies ``model`` and returns ``(output, updated mutable collections)``."""
  if train and variables:
    return model.apply({"params": params, **variables}, *args, train=True, mutable=list(variables))
  return model.apply({"params": params, **variables}, *args, train=train), variables


def make_optimizer(cfg) -> optax.GradientTransformation:
  """Builds an optax optimizer from ``config.optim.g`` or ``config.optim.d``."""
  name = cfg.name
  if name == "adam":
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2)
  if name == "rmsprop":
    return optax.rmsprop(cfg.lr)
  if name == "sgd":
    return optax.sgd(cfg.lr)
  raise ValueError(f"Unknown optimizer {name!r}; valid: ['adam', 'rmsprop', 'sgd']")


def init_state(
  key: jax.Array,
  generator: nn.Module,
  discriminator: nn.Module,
  g_tx: optax.GradientTransformation,
  d_tx: optax.GradientTransformation,
  sample_shape: tuple[int, ...],
  z_dim: int,
  num_classes: int = 0,
) -> GANState:
  """Initialises both players and their optimizers (pure; jit it with out_shardings)."""
  key_g, key_d = jax.random.split(key)
  z = jnp.zeros((2, z_dim), jnp.float32)
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  g_vars = dict(generator.init(key_g, z, labels, train=False))
  d_vars = dict(discriminator.init(key_d, jnp.zeros((2, *sample_shape)), labels, train=False))
  g_params, d_params = g_vars.pop("params"), d_vars.pop("params")
  return GANState(
    step=jnp.zeros((), jnp.int32),
    g_params=g_params,
    d_params=d_params,
    g_ema_params=jax.tree.map(jnp.copy, g_params),  # its own buffers (donation)
    g_opt_state=g_tx.init(g_params),
    d_opt_state=d_tx.init(d_params),
    g_vars=g_vars,
    d_vars=d_vars,
    nonfinite_count=jnp.zeros((), jnp.int32),
    g_tx=g_tx,
    d_tx=d_tx,
  )


def _all_finite(*trees) -> jax.Array:
  leaves = jax.tree.leaves(trees)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _select(ok: jax.Array, new, old):
  return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def make_train_step(
  generator: nn.Module, discriminator: nn.Module, cfg: StepConfig
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Returns the pure ``train_step(state, batch) -> (state, metrics)``.

  Args:
    generator: ``(z, labels, train) -> samples``.
    discriminator: ``(samples, labels, train) -> logits [batch]``.
    cfg: static step settings.

  Returns:
    A function of ``state`` and ``batch = {"image": [n_critic, B, ...], "label":
    [n_critic, B]}``. Jit it (donating the state) or pmap it with ``cfg.axis_name``.
  """
  gan_loss = losses.get_loss(cfg.loss)
  if cfg.penalty not in losses.PENALTIES:
    raise ValueError(f"Unknown penalty {cfg.penalty!r}; valid: {list(losses.PENALTIES)}")
  # R1/R2 weights are gamma / 2 (Mescheder et al. 2018, eq. 9-10).
  pen_weight = cfg.penalty_weight * (0.5 if cfg.penalty in ("r1", "r2") else 1.0)
  g_needs_real = cfg.loss == "relativistic_average"

  def pmean(tree):
    return jax.lax.pmean(tree, cfg.axis_name) if cfg.axis_name else tree

  def local_z(key, n_local):
    """This device's rows of the global batch's latent codes.

    Drawing the global ``z`` and slicing it makes a pmap run over N devices see the same
    codes as a jit run over the whole batch.
    """
    if not cfg.axis_name:
      return sample_z(key, n_local, cfg.z_dim, cfg.z_dist)
    n_dev = jax.lax.axis_size(cfg.axis_name)
    z = sample_z(key, n_local * n_dev, cfg.z_dim, cfg.z_dist)
    start = jax.lax.axis_index(cfg.axis_name) * n_local
    return jax.lax.dynamic_slice_in_dim(z, start, n_local)

  def d_update(state: GANState, real, labels, key):
    key_z, key_pen = jax.random.split(key)
    z = local_z(key_z, real.shape[0])
    if cfg.axis_name:  # Each device draws its own interpolation / penalty noise.
      key_pen = jax.random.fold_in(key_pen, jax.lax.axis_index(cfg.axis_name))
    fake, g_vars = apply_model(generator, state.g_params, state.g_vars, z, labels, train=True)
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(d_params):
      # Real and fake go through D as separate batches (separate BatchNorm statistics),
      # as in the DCGAN reference implementation.
      real_logits, d_vars = apply_model(
        discriminator, d_params, state.d_vars, real, labels, train=True
      )
      fake_logits, d_vars = apply_model(discriminator, d_params, d_vars, fake, labels, train=True)
      adv = gan_loss.d_loss(real_logits, fake_logits)

      def d_fn(x):
        return apply_model(discriminator, d_params, state.d_vars, x, labels, train=True)[0]

      if cfg.penalty == "gradient_penalty":
        pen = losses.gradient_penalty(d_fn, real, fake, key_pen)
      elif cfg.penalty == "r1":
        pen = losses.r1_penalty(d_fn, real)
      elif cfg.penalty == "r2":
        pen = losses.r2_penalty(d_fn, fake)
      else:
        pen = jnp.zeros((), jnp.float32)
      aux = {
        "d_loss": adv,
        "d_penalty": pen,
        "d_real": jnp.mean(real_logits),
        "d_fake": jnp.mean(fake_logits),
      }
      return adv + pen_weight * pen, (aux, d_vars)

    grads, (metrics, d_vars) = jax.grad(loss_fn, has_aux=True)(state.d_params)
    grads, metrics, d_vars = pmean((grads, metrics, d_vars))
    updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    if cfg.clip > 0:
      d_params = losses.clip_weights(d_params, cfg.clip)
    metrics["d_grad_norm"] = optax.tree.norm(grads)
    ok = _all_finite(metrics, d_params)
    g_vars = pmean(g_vars)
    new = state.replace(d_params=d_params, d_opt_state=d_opt_state, d_vars=d_vars, g_vars=g_vars)
    return _select(ok, new, state), metrics, ok

  def g_update(state: GANState, real, labels, key):
    z = local_z(key, real.shape[0])
    if g_needs_real:
      real_logits, _ = apply_model(
        discriminator, state.d_params, state.d_vars, real, labels, train=True
      )
      real_logits = jax.lax.stop_gradient(real_logits)

    def loss_fn(g_params):
      fake, g_vars = apply_model(generator, g_params, state.g_vars, z, labels, train=True)
      # D's statistics are not updated by the generator's step.
      fake_logits, _ = apply_model(
        discriminator, state.d_params, state.d_vars, fake, labels, train=True
      )
      rl = real_logits if g_needs_real else jnp.zeros_like(fake_logits)
      return gan_loss.g_loss(rl, fake_logits), g_vars

    (loss, g_vars), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    grads, loss, g_vars = pmean((grads, loss, g_vars))
    updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    g_ema = optax.incremental_update(g_params, state.g_ema_params, 1.0 - cfg.ema_decay)
    metrics = {"g_loss": loss, "g_grad_norm": optax.tree.norm(grads)}
    ok = _all_finite(metrics, g_params)
    new = state.replace(
      g_params=g_params, g_opt_state=g_opt_state, g_vars=g_vars, g_ema_params=g_ema
    )
    return _select(ok, new, state), metrics, ok

  def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    images = batch["image"]  # [n_critic, B, ...]
    labels = batch.get("label") if cfg.num_classes else None  # [n_critic, B] or None
    n_critic = images.shape[0]
    key = jax.random.fold_in(jax.random.key(cfg.seed), state.step)
    key_d, key_g = jax.random.split(key)

    def critic_body(st, xs):
      real, y, i = xs
      st, m, ok = d_update(st, real, y, jax.random.fold_in(key_d, i))
      return st, (m, ok)

    xs = (images, labels, jnp.arange(n_critic))
    if _unroll_critic(cfg):
      outs = []
      for i in range(n_critic):
        state, out = critic_body(state, jax.tree.map(lambda x, i=i: x[i], xs))
        outs.append(out)
      d_metrics, d_ok = jax.tree.map(lambda *x: jnp.stack(x), *outs)
    else:
      state, (d_metrics, d_ok) = jax.lax.scan(critic_body, state, xs)
    g_labels = labels[-1] if labels is not None else None
    state, g_metrics, g_ok = g_update(state, images[-1], g_labels, key_g)
    skipped = jnp.sum(~d_ok) + (~g_ok).astype(jnp.int32)
    metrics = {k: jnp.mean(v) for k, v in d_metrics.items()}
    metrics.update(g_metrics)
    metrics["nonfinite"] = skipped
    state = state.replace(step=state.step + 1, nonfinite_count=state.nonfinite_count + skipped)
    metrics["nonfinite_total"] = state.nonfinite_count
    return state, metrics

  return train_step


def make_multi_step(train_step, steps_per_call: int):
  """Runs ``steps_per_call`` iterations in one call over batches ``[k, n_critic, B, ...]``.

  Small models are otherwise bound by Python dispatch; metrics are averaged over the k
  steps except ``nonfinite``, which is summed, and ``nonfinite_total`` (the run's count
  after the last step).
  """
  if steps_per_call == 1:
    return lambda state, batch: train_step(state, jax.tree.map(lambda x: x[0], batch))

  def multi_step(state, batches):
    state, metrics = jax.lax.scan(train_step, state, batches)
    out = {k: jnp.mean(v) for k, v in metrics.items()}
    out["nonfinite"] = jnp.sum(metrics["nonfinite"])
    out["nonfinite_total"] = metrics["nonfinite_total"][-1]
    return state, out

  return multi_step


def generate(generator: nn.Module, params, variables, z, labels=None) -> jax.Array:
  """Samples from the generator in inference mode (running BatchNorm statistics)."""
  return apply_model(generator, params, variables, z, labels, train=False)[0]
