"""The unrolled GAN: G descends its loss against D after K look-ahead updates of D.

One phase updates both players from the same state (a simultaneous update, as the
reference notebook's two train ops): D takes its ordinary step on the batch, and G's loss
is its adversarial loss against ``D_K``, where ``D_0`` is the current D and ``D_{k+1}`` is
one step of D's own optimizer (its moments and learning-rate schedule included) on D's
loss at ``D_k``, with the same real batch and the same samples of G. G's gradient flows
through all K updates (``game.unroll_steps``), the optimizer's moments included; with
``game.unroll_first_order`` it treats ``D_K`` as a constant (the cheap variant: G's
gradient at the look-ahead D). D's real update is the first of the K, so with K = 1 and
the first-order variant the game is the classic simultaneous-update GAN.

Any of the project's adversarial losses plays. With ``loss.name=minimax`` (the notebook's)
G maximises D's whole loss at ``D_K``, the real data's term included, since ``D_K``
depends on G; other losses give G its own loss on ``D_K``'s logits. No penalties,
packing or augmentation here. Sampling, evaluation,
previews and EMA are the classic game's.

References:
  Metz et al. 2017, "Unrolled Generative Adversarial Networks", Section 2 (eqs. 4-7:
  the surrogate loss f_K and its gradient through the unrolled optimisation, D's update
  being the first unrolling step) and Appendix (the 2-D mixture setting).

D's optimizer, when Adam, needs ``optim.d.eps_root > 0`` (unless first-order): the
derivative of ``sqrt(v)`` at ``v = 0`` is infinite, and a parameter whose gradient and
second moment are both 0 would give NaN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import losses, optim, sampling
from gan_jax.games import gan
from gan_jax.games.base import Game, Phase, PhaseContext


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the unrolled game's config."""
  losses.get_loss(config.loss.name)
  if config.game.get("unroll_steps", 5) < 1:
    raise ValueError(f"game.unroll_steps must be >= 1; got {config.game.unroll_steps}")
  if config.loss.penalty != "none" or config.model.get("pack", 1) != 1:
    raise ValueError("The unrolled game has no penalties or packing: loss.penalty=none, pack 1.")
  if config.get("augment", {}).get("name", "none") != "none":
    raise ValueError("The unrolled game does not augment: augment.name=none.")
  if config.model.z_dist not in sampling.Z_DISTS:
    raise ValueError(f"Unknown model.z_dist {config.model.z_dist!r}")
  ignored = {
    "loss.clip": config.loss.clip,
    "loss.g_ortho": config.loss.get("g_ortho", 0.0),
    "loss.d_ortho": config.loss.get("d_ortho", 0.0),
    "game.n_critic - 1": config.game.n_critic - 1,
  }
  set_ = [k for k, v in ignored.items() if v]
  if set_:
    raise ValueError(f"The unrolled game has no clipping, orthogonal terms or n_critic: {set_}")
  d_opt = optim.config_for(config.optim, "d", "d")
  first_order = config.game.get("unroll_first_order", False)
  if d_opt.name == "adam" and not first_order and not d_opt.get("eps_root", 0.0) > 0:
    raise ValueError(
      "Differentiating through Adam's sqrt(second moment) is infinite where a gradient and "
      "its moment are 0 (dead units, unused maxout pieces): set optim.d.eps_root > 0 "
      "(e.g. 1e-16) for the unrolled game."
    )


def unrolled_generator_loss(
  d_loss: Callable[[Any, Any], jax.Array],
  g_loss: Callable[[Any, Any], jax.Array],
  d_params: Any,
  d_opt_state: Any,
  fake: Any,
  steps: int,
  optimizer_step: Callable[[Any, Any, Any], tuple[Any, Any]],
  first_order: bool = False,
) -> jax.Array:
  """G's surrogate loss ``g_loss(D_K, fake)`` after ``steps`` unrolled updates of D.

  Args:
    d_loss: ``(d_params, fake) -> D's loss`` (the real batch closed over).
    g_loss: ``(d_params, fake) -> G's loss``.
    d_params: ``D_0``.
    d_opt_state: D's optimizer state at ``D_0`` (a constant).
    fake: G's samples, differentiable with respect to G's parameters.
    steps: K >= 1.
    optimizer_step: ``(grads, params, opt_state) -> (params, opt_state)``, D's update.
    first_order: hold ``D_K`` constant in the gradient.

  Returns:
    The scalar loss; its gradient with respect to ``fake`` (and so G) goes through the K
    updates unless ``first_order``.

  References:
    Metz et al. 2017, eqs. 4-7.
  """
  params, opt_state = d_params, d_opt_state
  for _ in range(steps):
    grads = jax.grad(d_loss)(params, fake)
    params, opt_state = optimizer_step(grads, params, opt_state)
  if first_order:
    params = jax.lax.stop_gradient(params)
  return g_loss(params, fake)


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The unrolled game over ``g`` and ``d`` (``game.unroll_steps``, ``_first_order``)."""
  check_config(config)
  classic = gan.make_game(config, spec, num_classes)
  adversarial = losses.get_loss(config.loss.name)
  steps = config.game.get("unroll_steps", 5)
  first_order = config.game.get("unroll_first_order", False)
  z_dim, z_dist = config.model.z_dim, config.model.z_dist
  minimax = config.loss.name == "minimax"

  def loss(ctx: PhaseContext):
    real = ctx.batch["image"]
    labels = ctx.batch["label"] if num_classes else None
    draw = lambda key, n: sampling.sample_z(key, n, z_dim, z_dist)  # noqa: E731
    z = ctx.global_draw(draw, ctx.fold("z"), real.shape[0])
    fake = ctx.apply("g", z, labels)

    def logits(d_params, x):
      return ctx.apply("d", x, labels, params=d_params, update=False)

    def d_loss(d_params, fake_):
      return adversarial.d_loss(logits(d_params, real), logits(d_params, fake_))

    def g_loss(d_params, fake_):
      # D_K depends on G, so the real data's term moves with G too: the minimax surrogate
      # is the whole value function, -D's loss (the notebook's -unrolled_loss); other
      # losses read D_K's logits on both.
      if minimax:
        return -d_loss(d_params, fake_)
      return adversarial.g_loss(logits(d_params, real), logits(d_params, fake_))

    def d_step(grads, params, opt_state):
      if ctx.axis_name:  # the real update's gradients are averaged over devices too
        grads = jax.lax.pmean(grads, ctx.axis_name)
      return ctx.optimizer_step("d", grads, params, opt_state)

    # G's surrogate first, from D's state at the start of the step.
    loss_g = unrolled_generator_loss(
      d_loss, g_loss, ctx.params["d"], ctx.opt_state["d"], fake, steps, d_step, first_order
    )
    # D's real update: its loss at D_0 on detached samples, D's statistics updated.
    real_logits = ctx.apply("d", real, labels)
    fake_logits = ctx.apply("d", jax.lax.stop_gradient(fake), labels)
    loss_d = adversarial.d_loss(real_logits, fake_logits)
    metrics = {
      "d_loss": loss_d,
      "g_loss": loss_g,
      "d_real": jnp.mean(real_logits),
      "d_fake": jnp.mean(fake_logits),
    }
    return {"g": loss_g, "d": loss_d}, metrics

  return dataclasses.replace(classic, phases=(Phase("gd", ("g", "d"), loss),))


def tiny(c: ml_collections.ConfigDict) -> None:
  c.game.unroll_steps = 2
