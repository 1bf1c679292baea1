"""Optimizers per network, learning-rate schedules over the run's steps, the EMA decay.

``config.optim`` holds one entry per network or role (``optim.g``, ``optim.d``; a network
named ``g_ab`` uses ``optim.g_ab`` if present, else its role's entry). Schedules are pure
functions of the global step (the run's iteration count, not the optimizer's own update
count), so "decay after step 100k" means the same for a critic updated 5 times a step.
They scale the optimizer's updates, which for Adam, RMSProp and SGD is the same as
scaling the learning rate.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import ml_collections
import optax

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "linear", "multistep")

Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def config_for(optim_cfg: ml_collections.ConfigDict, name: str, role: str):
  """The optimizer config of network ``name``: its own entry, else its role's."""
  if name in optim_cfg and isinstance(optim_cfg[name], ml_collections.ConfigDict):
    return optim_cfg[name]
  if role in optim_cfg:
    return optim_cfg[role]
  raise ValueError(f"No optimizer for network {name!r}: set config.optim.{name} or .{role}")


def make_optimizer(cfg) -> optax.GradientTransformation:
  """Builds the optax optimizer of one network from its ``config.optim`` entry.

  Args:
    cfg: ``name`` (adam | rmsprop | sgd), ``lr``, and ``b1``, ``b2`` for Adam (and an
      optional ``eps_root``, added to the second moment inside the square root: > 0 keeps
      the update differentiable where a gradient is 0, for games that differentiate
      through an optimizer step).

  Returns:
    The transformation at the base learning rate (schedules scale its updates).
  """
  name = cfg.name
  if name == "adam":
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2, eps_root=cfg.get("eps_root", 0.0))
  if name == "rmsprop":
    return optax.rmsprop(cfg.lr)
  if name == "sgd":
    return optax.sgd(cfg.lr)
  raise ValueError(f"Unknown optimizer {name!r}; valid: {list(OPTIMIZERS)}")


def make_schedule(cfg, num_steps: int) -> Schedule:
  """The factor on the base learning rate as a function of the global step.

  ``cfg.schedule``:
    - ``constant``: 1.
    - ``linear``: 1 until ``decay_start``, then linearly to 0 at ``decay_end`` (0: the
      run's ``num_steps``), as pix2pix, CycleGAN (Isola et al. 2017; Zhu et al. 2017)
      and SN-GAN (Miyato et al. 2018) decay their learning rates.
    - ``multistep``: multiplied by ``gamma`` at each step in ``milestones`` (ESRGAN).
  """
  kind = cfg.get("schedule", "constant")
  if kind == "constant":
    return lambda step: jnp.ones((), jnp.float32)
  if kind == "linear":
    start, end = int(cfg.get("decay_start", 0)), int(cfg.get("decay_end", 0))
    if end and end <= start:
      raise ValueError(f"Linear decay must end after it starts: decay_start={start}, end={end}")
    end = end or max(num_steps, start + 1)  # a run shorter than decay_start never decays

    def linear(step):
      frac = (step.astype(jnp.float32) - start) / (end - start)
      return jnp.clip(1.0 - frac, 0.0, 1.0)

    return linear
  if kind == "multistep":
    milestones = jnp.asarray(sorted(cfg.get("milestones", ())), jnp.int32)
    gamma = float(cfg.get("gamma", 0.5))
    return lambda step: gamma ** jnp.sum(step >= milestones).astype(jnp.float32)
  raise ValueError(f"Unknown optimizer schedule {kind!r}; valid: {list(SCHEDULES)}")


def ema_decay_fn(decay: float, start: int = 0) -> Schedule:
  """EMA decay by step: 0 before ``start`` (the average copies the weights), then ``decay``.

  References:
    Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training";
    Brock et al. 2019 (BigGAN) start the average after 20k iterations.
  """
  return lambda step: jnp.where(step < start, 0.0, decay).astype(jnp.float32)


def ema_half_life_fn(kimg: float, batch_size: int, rampup: float = 0.0) -> Schedule:
  """EMA decay by step from a half-life of ``kimg`` thousand images (StyleGAN2).

  The average's weights halve every ``kimg * 1000`` images: ``decay = 0.5 ** (batch /
  nimg)`` with ``nimg = kimg * 1000``, or, with ``rampup`` > 0, ``nimg = min(kimg * 1000,
  rampup * images seen so far)`` (the decay grows with the run; at step 0 it is 0 and the
  average copies the weights).

  References:
    Karras et al. 2020 (StyleGAN2-ADA), ``training_loop.py``: ``ema_kimg`` (10 for the
    StyleGAN2 config, batch 32) and ``ema_rampup`` (0.05 for small data configs).
  """
  nimg = kimg * 1000.0

  def decay(step):
    half = jnp.float32(nimg)
    if rampup:
      half = jnp.minimum(half, jnp.asarray(step, jnp.float32) * batch_size * rampup)
    return jnp.power(0.5, batch_size / jnp.maximum(half, 1e-8)).astype(jnp.float32)

  return decay
