"""The unrolled GAN (Metz et al. 2017): G's surrogate loss through K updates of D's Adam,
against an explicit unrolled computation with a hand-written Adam and against finite
differences in float64; the first-order variant; a tiny run of the game."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import unrolled_ring
from gan_jax import train
from gan_jax.games import unrolled

LR, B1, B2, EPS = 0.05, 0.5, 0.999, 1e-8
H = 1e-5  # finite-difference step


def _mlp(params, x):
  h = jnp.tanh(x @ params["w1"] + params["b1"])
  return (h @ params["w2"] + params["b2"])[:, 0]


def _init(key, n_in, n_hidden):
  k1, k2 = jax.random.split(key)
  return {
    "w1": jax.random.normal(k1, (n_in, n_hidden)) * 0.8,
    "b1": jnp.zeros((n_hidden,)),
    "w2": jax.random.normal(k2, (n_hidden, 1)) * 0.8,
    "b2": jnp.zeros((1,)),
  }


def _problem(dtype=jnp.float32):
  kg, kd, kz, kx = jax.random.split(jax.random.key(0), 4)
  cast = lambda t: jax.tree.map(lambda a: a.astype(dtype), t)  # noqa: E731
  g = cast({"w": jax.random.normal(kg, (3, 2)), "b": jnp.zeros((2,))})
  d = cast(_init(kd, 2, 5))
  z = jax.random.normal(kz, (6, 3)).astype(dtype)
  real = (jax.random.normal(kx, (6, 2)) * 0.3 + 1.0).astype(dtype)
  return g, d, z, real


def _gen(g, z):
  return z @ g["w"] + g["b"]


def _d_loss(real):
  """The minimax D loss (Goodfellow et al. 2014, eq. 1) in the inputs' precision (the
  project's loss computes in float32, too coarse for float64 finite differences)."""

  def loss(d, fake):
    return jnp.mean(jax.nn.softplus(-_mlp(d, real))) + jnp.mean(jax.nn.softplus(_mlp(d, fake)))

  return loss


def _adam_by_hand(grads, params, state, eps=EPS):
  """Kingma & Ba 2015, Algorithm 1 (bias-corrected moments, eps outside the root)."""
  m, v, t = state
  t = t + 1
  m = jax.tree.map(lambda a, g: B1 * a + (1 - B1) * g, m, grads)
  v = jax.tree.map(lambda a, g: B2 * a + (1 - B2) * g * g, v, grads)
  new = jax.tree.map(
    lambda p, a, b: p - LR * (a / (1 - B1**t)) / (jnp.sqrt(b / (1 - B2**t)) + eps), params, m, v
  )
  return new, (m, v, t)


def _explicit_surrogate(g, d, z, real, k, eps=EPS):
  """-V(G, D_K): D unrolled K hand-written Adam steps from fresh moments, then the
  minimax value function at D_K, all as one function of G."""
  d_loss = _d_loss(real)
  fake = _gen(g, z)
  zeros = jax.tree.map(jnp.zeros_like, d)
  p, state = d, (zeros, zeros, 0)
  for _ in range(k):
    p, state = _adam_by_hand(jax.grad(d_loss)(p, fake), p, state, eps)
  return -d_loss(p, fake)


def _ours(g, d, z, real, k, first_order=False, eps=EPS):
  tx = optax.adam(LR, B1, B2, eps)

  def step(grads, params, opt_state):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  d_loss = _d_loss(real)
  return unrolled.unrolled_generator_loss(
    d_loss, lambda p, f: -d_loss(p, f), d, tx.init(d), _gen(g, z), k, step, first_order
  )


_grad_ours = jax.jit(jax.grad(_ours), static_argnums=(4, 5, 6))
_grad_explicit = jax.jit(jax.grad(_explicit_surrogate), static_argnums=(4, 5))
_surrogate = jax.jit(_explicit_surrogate, static_argnums=(4, 5))


@pytest.mark.parametrize("k", [1, 3])
def test_unrolled_gradient_matches_an_explicit_unrolled_adam(k):
  g, d, z, real = _problem()
  ours = _grad_ours(g, d, z, real, k, False, EPS)
  want = _grad_explicit(g, d, z, real, k, EPS)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(want), strict=True):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_unrolled_gradient_against_finite_differences_in_float64():
  """The derivative of the surrogate along random directions of G's parameters, by
  central differences of the explicit computation, against autodiff through ours. Adam's
  eps is 1e-3 here, so that its update is smooth at small gradients (with 1e-8 the first
  step is nearly sign(g))."""
  with jax.enable_x64(True):
    g, d, z, real = _problem(jnp.float64)
    grad = _grad_ours(g, d, z, real, 3, False, 1e-3)
    for seed in range(3):
      keys = jax.random.split(jax.random.key(seed), 2)
      direction = {k: jax.random.normal(kk, v.shape, jnp.float64) for (k, v), kk in
                   zip(sorted(g.items()), keys, strict=True)}  # fmt: skip
      plus = jax.tree.map(lambda a, u: a + H * u, g, direction)
      minus = jax.tree.map(lambda a, u: a - H * u, g, direction)
      fd = _surrogate(plus, d, z, real, 3, 1e-3) - _surrogate(minus, d, z, real, 3, 1e-3)
      fd = float(fd) / (2 * H)
      ad = sum(float(jnp.sum(grad[k] * direction[k])) for k in g)
      np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=1e-9)


def test_first_order_variant_is_the_gradient_at_the_lookahead_discriminator():
  g, d, z, real = _problem()
  k = 3
  ours = _grad_ours(g, d, z, real, k, True, EPS)
  full = _grad_ours(g, d, z, real, k, False, EPS)
  # The look-ahead D_K, then the plain gradient of -V(G, D_K) with D_K held fixed.
  tx = optax.adam(LR, B1, B2, EPS)

  @jax.jit  # one compile, not op by op
  def lookahead_grad(g, d):
    p, o, fake = d, tx.init(d), _gen(g, z)
    for _ in range(k):
      upd, o = tx.update(jax.grad(_d_loss(real))(p, fake), o, p)
      p = optax.apply_updates(p, upd)
    return jax.grad(lambda gg: -_d_loss(real)(p, _gen(gg, z)))(g)

  want = lookahead_grad(g, d)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(want), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert any(
    not np.allclose(a, b, atol=1e-6)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(full), strict=True)
  )  # unrolling through D's updates changes G's gradient


def test_tiny_unrolled_ring_run_trains_and_evaluates(tmp_path):
  cfg = unrolled_ring.get_config("tiny")
  cfg.train.eval_every = cfg.train.num_steps
  cfg.eval.num_samples = 200
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == cfg.train.num_steps and int(state.nonfinite_count) == 0
  line = open(tmp_path / "eval.jsonl").readlines()[-1]
  assert '"modes_covered"' in line


def test_eps_root_keeps_the_unrolled_gradient_finite_where_a_gradient_is_zero():
  """A dead ReLU unit of D (its bias far below zero): its weights' gradients are exactly 0
  yet depend on G's samples, so with eps_root 0 the derivative through Adam's sqrt(v) at
  v = 0 is 0 x inf, NaN; with eps_root > 0 it is finite. The unrolled game refuses Adam
  without it."""
  g, d, z, real = _problem()
  d = {**d, "b1": d["b1"].at[0].set(-100.0)}  # unit 0 never fires

  def relu_d(params, x):
    return (jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"])[:, 0]

  def loss(params, fake):
    return jnp.mean(jax.nn.softplus(-relu_d(params, real))) + jnp.mean(
      jax.nn.softplus(relu_d(params, fake))
    )

  def surrogate(gg, eps_root):
    tx = optax.adam(LR, B1, B2, EPS, eps_root=eps_root)

    def step(grads, params, opt_state):
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), opt_state

    return unrolled.unrolled_generator_loss(
      loss, lambda p, f: -loss(p, f), d, tx.init(d), _gen(gg, z), 2, step
    )

  grad = jax.jit(jax.grad(surrogate), static_argnums=1)  # one compile, not op by op
  bad, good = grad(g, 0.0), grad(g, 1e-16)
  assert not all(np.all(np.isfinite(x)) for x in jax.tree.leaves(bad))
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(good))
  cfg = unrolled_ring.get_config()
  cfg.optim.d.eps_root = 0.0
  with pytest.raises(ValueError, match="eps_root"):
    unrolled.check_config(cfg)
  cfg.optim.d.eps_root, cfg.loss.clip = 1e-16, 0.01
  with pytest.raises(ValueError, match="loss.clip"):
    unrolled.check_config(cfg)
