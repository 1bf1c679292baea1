"""Adversarial losses and penalties: pure functions of discriminator outputs.

Every adversarial loss is a pair ``(d_loss, g_loss)`` of functions
``f(real_logits, fake_logits) -> scalar`` over logits of shape ``[batch]``; the
generator loss takes the real logits too because relativistic losses need them.
Penalties take a function ``d_fn: images -> logits [batch]`` (the discriminator
closed over its parameters and labels) so they can differentiate through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
DFn = Callable[[Array], Array]


class GANLoss(NamedTuple):
  """The two players' objectives, each ``f(real_logits, fake_logits) -> scalar``."""

  d_loss: Callable[[Array, Array], Array]
  g_loss: Callable[[Array, Array], Array]


def _f32(*xs: Array) -> tuple[Array, ...]:
  # Losses are computed in float32 whatever the compute dtype of the logits.
  return tuple(x.astype(jnp.float32) for x in xs)


def _mean(x: Array) -> Array:
  return jnp.mean(x.astype(jnp.float32))


# --------------------------------------------------------------------------------------
# Adversarial losses.
# --------------------------------------------------------------------------------------


def minimax_d_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Discriminator loss of the original minimax game.

  ``-E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(logits)``, computed with
  ``-log sigmoid(a) = softplus(-a)`` and ``-log(1 - sigmoid(a)) = softplus(a)``.

  Args:
    real_logits: ``[batch]`` discriminator logits on real samples.
    fake_logits: ``[batch]`` discriminator logits on generated samples.

  Returns:
    Scalar loss to minimise.

  References:
    Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1.
  """
  real_logits, fake_logits = _f32(real_logits, fake_logits)
  return _mean(jax.nn.softplus(-real_logits)) + _mean(jax.nn.softplus(fake_logits))


def minimax_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Saturating generator loss: minimise ``E[log(1 - D(G(z)))]``.

  Args:
    real_logits: unused; present for a uniform signature.
    fake_logits: ``[batch]`` discriminator logits on generated samples.

  Returns:
    Scalar loss to minimise (``-E[softplus(fake_logits)]``).

  References:
    Goodfellow et al. 2014, eq. 1 (the generator side of the value function).
  """
  del real_logits
  fake_logits = fake_logits.astype(jnp.float32)
  return -_mean(jax.nn.softplus(fake_logits))


def non_saturating_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Non-saturating generator loss: minimise ``-E[log D(G(z))]``.

  Args:
    real_logits: unused; present for a uniform signature.
    fake_logits: ``[batch]`` discriminator logits on generated samples.

  Returns:
    Scalar loss to minimise.

  References:
    Goodfellow et al. 2014, Section 3 (the "modified" generator objective that gives
    strong gradients early in training).
  """
  del real_logits
  fake_logits = fake_logits.astype(jnp.float32)
  return _mean(jax.nn.softplus(-fake_logits))


def wasserstein_d_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Critic loss of the Wasserstein GAN: ``E[f(G(z))] - E[f(x)]``.

  References:
    Arjovsky et al. 2017, "Wasserstein GAN", Algorithm 1; Gulrajani et al. 2017,
    "Improved Training of Wasserstein GANs", eq. 3 (without the penalty term).
  """
  real_logits, fake_logits = _f32(real_logits, fake_logits)
  return _mean(fake_logits) - _mean(real_logits)


def wasserstein_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Generator loss of the Wasserstein GAN: ``-E[f(G(z))]``.

  References:
    Arjovsky et al. 2017, Algorithm 1.
  """
  del real_logits
  fake_logits = fake_logits.astype(jnp.float32)
  return -_mean(fake_logits)


def hinge_d_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Hinge discriminator loss: ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``.

  References:
    Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral Normalization for
    Generative Adversarial Networks", eq. 16.
  """
  real_logits, fake_logits = _f32(real_logits, fake_logits)
  return _mean(jax.nn.relu(1.0 - real_logits)) + _mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Hinge generator loss: ``-E[D(G(z))]``.

  References:
    Miyato et al. 2018, eq. 17.
  """
  del real_logits
  fake_logits = fake_logits.astype(jnp.float32)
  return -_mean(fake_logits)


def least_squares_d_loss(real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN discriminator loss with the 0-1 coding (a=0, b=1).

  ``1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]``.

  References:
    Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2 and 9.
  """
  real_logits, fake_logits = _f32(real_logits, fake_logits)
  return 0.5 * _mean(jnp.square(real_logits - 1.0)) + 0.5 * _mean(jnp.square(fake_logits))


def least_squares_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN generator loss with c=1: ``1/2 E[(D(G(z)) - 1)^2]``.

  References:
    Mao et al. 2017, eq. 2 and 9.
  """
  del real_logits
  fake_logits = fake_logits.astype(jnp.float32)
  return 0.5 * _mean(jnp.square(fake_logits - 1.0))


def relativistic_average_d_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average discriminator loss (RaSGAN).

  ``-E_x[log sigmoid(C(x) - E C(G(z)))] - E_z[log(1 - sigmoid(C(G(z)) - E C(x)))]``.

  References:
    Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing
    from standard GAN", eq. 7 / Algorithm 2.
  """
  r, f = _f32(real_logits, fake_logits)
  return _mean(jax.nn.softplus(-(r - jnp.mean(f)))) + _mean(jax.nn.softplus(f - jnp.mean(r)))


def relativistic_average_g_loss(real_logits: Array, fake_logits: Array) -> Array:
  """Relativistic average generator loss (RaSGAN): the discriminator loss, roles swapped.

  ``-E_z[log sigmoid(C(G(z)) - E C(x))] - E_x[log(1 - sigmoid(C(x) - E C(G(z))))]``.

  References:
    Jolicoeur-Martineau 2018, eq. 8 / Algorithm 2.
  """
  return relativistic_average_d_loss(fake_logits, real_logits)


LOSSES: dict[str, GANLoss] = {
  "minimax": GANLoss(minimax_d_loss, minimax_g_loss),
  "non_saturating": GANLoss(minimax_d_loss, non_saturating_g_loss),
  "wasserstein": GANLoss(wasserstein_d_loss, wasserstein_g_loss),
  "hinge": GANLoss(hinge_d_loss, hinge_g_loss),
  "least_squares": GANLoss(least_squares_d_loss, least_squares_g_loss),
  "relativistic_average": GANLoss(relativistic_average_d_loss, relativistic_average_g_loss),
}


def translation_scales(name: str) -> tuple[float, float]:
  """``(d_scale, g_scale)`` that turn ``LOSSES[name]`` into the translation references' terms.

  The pix2pix / CycleGAN reference code halves D's loss (the sum of its real and fake
  terms) and writes the least-squares terms as plain squared errors, without Mao et al.'s
  1/2: so least squares keeps D's loss as it is here and doubles G's.

  References:
    Isola et al. 2017, Section 3.3 ("we divide the objective by 2 while optimizing D");
    Zhu et al. 2017, Section 4 (least-squares loss).
  """
  get_loss(name)
  return (1.0, 2.0) if name == "least_squares" else (0.5, 1.0)


def get_loss(name: str) -> GANLoss:
  """Returns the loss pair registered under ``name``; raises with the valid names."""
  if name not in LOSSES:
    raise ValueError(f"Unknown loss {name!r}; valid losses: {sorted(LOSSES)}")
  return LOSSES[name]


# --------------------------------------------------------------------------------------
# Penalties and constraints.
# --------------------------------------------------------------------------------------


def _input_grad_sq_norm(d_fn: DFn, images: Array) -> Array:
  """Per-sample squared L2 norm of dD(x)/dx, ``[batch]``.

  Differentiating the sum over the batch gives each sample's own gradient because a
  discriminator without batch statistics treats samples independently.
  """
  grads = jax.grad(lambda x: jnp.sum(d_fn(x).astype(jnp.float32)))(images)
  grads = grads.astype(jnp.float32).reshape(grads.shape[0], -1)  # [batch, features]
  return jnp.sum(jnp.square(grads), axis=-1)


def gradient_penalty(d_fn: DFn, real: Array, fake: Array, key: Array) -> Array:
  """WGAN-GP two-sided penalty ``E[(||grad D(x_hat)||_2 - 1)^2]``.

  ``x_hat = eps * x + (1 - eps) * G(z)`` with ``eps ~ U[0, 1]`` drawn per sample.
  Multiply by lambda (10 in the paper) in the caller.

  Args:
    d_fn: discriminator closed over its parameters, ``images -> logits [batch]``.
    real: ``[batch, ...]`` real samples.
    fake: ``[batch, ...]`` generated samples (treated as constants).
    key: PRNG key for the interpolation weights.

  Returns:
    Scalar penalty.

  References:
    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3, Algorithm 1.
  """
  fake = jax.lax.stop_gradient(fake)
  eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  eps = jax.random.uniform(key, eps_shape, dtype=real.dtype)
  return _two_sided(d_fn, eps * real + (1.0 - eps) * fake)


def _two_sided(d_fn: DFn, x_hat: Array) -> Array:
  """``E[(||grad D(x_hat)||_2 - 1)^2]`` (WGAN-GP's and DRAGAN's penalty at ``x_hat``)."""
  # sqrt of a tiny positive floor keeps the gradient finite when dD/dx is exactly 0.
  norms = jnp.sqrt(_input_grad_sq_norm(d_fn, x_hat) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


DRAGAN_SCALE = 0.5  # c: perturbations up to c * std(x), as in the authors' code


def dragan_points(real: Array, key: Array, scale: float = DRAGAN_SCALE) -> Array:
  """DRAGAN's points: ``x + alpha * delta`` with ``delta = scale * std(x) * U[0, 1]`` per
  entry (``std`` over the whole batch, numpy's ``ddof=0`` as the authors' notebook) and
  ``alpha ~ U[0, 1]`` per sample: random points in a box near the real data.

  References:
    Kodali et al. 2017, "On Convergence and Stability of GANs", Section 4 and the authors'
    DRAGAN notebook (``X_p = X + 0.5 * X.std() * np.random.random(X.shape)``, then the
    interpolates ``X + alpha * (X_p - X)``).
  """
  real = jax.lax.stop_gradient(real)
  k_delta, k_alpha = jax.random.split(key)
  delta = scale * jnp.std(real) * jax.random.uniform(k_delta, real.shape, real.dtype)
  alpha_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  alpha = jax.random.uniform(k_alpha, alpha_shape, real.dtype)
  return real + alpha * delta


def dragan_penalty(d_fn: DFn, real: Array, key: Array, scale: float = DRAGAN_SCALE) -> Array:
  """DRAGAN's penalty ``E[(||grad D(x_hat)||_2 - 1)^2]`` at ``dragan_points`` around the
  real data (no fake samples involved). Multiply by lambda (10 in the paper) in the caller.

  References:
    Kodali et al. 2017, "On Convergence and Stability of GANs", Section 4, eq. 9.
  """
  return _two_sided(d_fn, dragan_points(real, key, scale))


def r1_penalty(d_fn: DFn, real: Array) -> Array:
  """R1 penalty ``E_x[||grad D(x)||^2]`` on real data.

  The paper's regulariser is ``gamma / 2`` times this; the caller applies that weight.

  References:
    Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
    eq. 9.
  """
  return jnp.mean(_input_grad_sq_norm(d_fn, real))


def r2_penalty(d_fn: DFn, fake: Array) -> Array:
  """R2 penalty ``E_z[||grad D(G(z))||^2]`` on generated data.

  The paper's regulariser is ``gamma / 2`` times this; the caller applies that weight.

  References:
    Mescheder et al. 2018, eq. 10.
  """
  return jnp.mean(_input_grad_sq_norm(d_fn, jax.lax.stop_gradient(fake)))


PENALTIES = ("none", "gradient_penalty", "dragan", "r1", "r2")


def clip_weights(params, clip: float):
  """Clamps every discriminator parameter to ``[-clip, clip]``.

  References:
    Arjovsky et al. 2017, Algorithm 1 (c = 0.01).
  """
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)
