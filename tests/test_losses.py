"""Tests for gan_jax.losses against the papers' formulas.

Every reference below is written independently in float64 numpy from the papers'
equations, in probability space (``np.log`` of sigmoid probabilities, ``min(0, .)``
for the hinge value function, ...), never from the softplus/relu forms used by the
implementation. Probabilities are computed overflow-free, and ``1 - D(a)`` is computed
as ``D(-a)`` (the identity ``1 - sigmoid(a) = sigmoid(-a)``) so the reference keeps
full float64 precision for confident discriminators.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

BATCH = 8
LOSS_NAMES = (
  "minimax",
  "non_saturating",
  "wasserstein",
  "hinge",
  "least_squares",
  "relativistic_average",
)


# --------------------------------------------------------------------------------------
# float64 numpy references from the papers.
# --------------------------------------------------------------------------------------


def _sigmoid(a):
  """D = sigmoid(a) in float64 without overflow in exp."""
  a = np.asarray(a, np.float64)
  out = np.empty_like(a)
  pos = a >= 0
  out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
  e = np.exp(a[~pos])
  out[~pos] = e / (1.0 + e)
  return out


def _d_prob(a):
  """D(x) = sigmoid(logit)."""
  return _sigmoid(a)


def _one_minus_d_prob(a):
  """1 - D(x), computed as sigmoid(-logit) so it does not cancel for large logits."""
  return _sigmoid(-np.asarray(a, np.float64))


def _naive_one_minus_d_prob(a):
  """1 - D(x) computed literally (cancels to 0 for logits >~ 37 in float64)."""
  return 1.0 - _sigmoid(a)


def ref_minimax_value(r, f, one_minus=_one_minus_d_prob):
  """Goodfellow et al. 2014 eq. 1: V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]."""
  with np.errstate(divide="ignore"):
    return np.mean(np.log(_d_prob(r))) + np.mean(np.log(one_minus(f)))


def ref_minimax_d(r, f, one_minus=_one_minus_d_prob):
  """D maximises V, i.e. minimises -V."""
  return -ref_minimax_value(r, f, one_minus)


def ref_minimax_g(r, f, one_minus=_one_minus_d_prob):
  """Saturating G minimises E[log(1 - D(G(z)))]."""
  del r
  with np.errstate(divide="ignore"):
    return np.mean(np.log(one_minus(f)))


def ref_non_saturating_g(r, f, one_minus=_one_minus_d_prob):
  """Goodfellow et al. 2014 Sec. 3: G maximises log D(G(z)), i.e. minimises -E[log D]."""
  del r, one_minus
  with np.errstate(divide="ignore"):
    return -np.mean(np.log(_d_prob(f)))


def ref_wasserstein_d(r, f):
  """Arjovsky et al. 2017 Alg. 1: critic maximises E[f(x)] - E[f(G(z))]."""
  return -(np.mean(r) - np.mean(f))


def ref_wasserstein_g(r, f):
  """Arjovsky et al. 2017 Alg. 1: G minimises -E[f(G(z))]."""
  del r
  return -np.mean(f)


def ref_hinge_d(r, f):
  """Miyato et al. 2018 eq. 16: D maximises E[min(0, -1 + D(x))] + E[min(0, -1 - D(G(z)))]."""
  v_d = np.mean(np.minimum(0.0, -1.0 + r)) + np.mean(np.minimum(0.0, -1.0 - f))
  return -v_d


def ref_hinge_g(r, f):
  """Miyato et al. 2018 eq. 17: G minimises V_G = -E[D(G(z))]."""
  del r
  return -np.mean(f)


LS_A, LS_B, LS_C = 0.0, 1.0, 1.0


def ref_least_squares_d(r, f):
  """Mao et al. 2017 eq. 2: min_D 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]."""
  return 0.5 * np.mean((r - LS_B) ** 2) + 0.5 * np.mean((f - LS_A) ** 2)


def ref_least_squares_g(r, f):
  """Mao et al. 2017 eq. 2: min_G 1/2 E[(D(G(z)) - c)^2]."""
  del r
  return 0.5 * np.mean((f - LS_C) ** 2)


def _ra_probs(r, f):
  """Jolicoeur-Martineau 2018 relativistic logits.

  D~(x_r) = sigma(C(x_r) - E C(x_f)), D~(x_f) = sigma(C(x_f) - E C(x_r)).
  """
  rel_r = r - np.mean(f)
  rel_f = f - np.mean(r)
  return rel_r, rel_f


def ref_relativistic_average_d(r, f):
  """RaSGAN: L_D = -E_r[log D~(x_r)] - E_f[log(1 - D~(x_f))]."""
  rel_r, rel_f = _ra_probs(r, f)
  return -np.mean(np.log(_d_prob(rel_r))) - np.mean(np.log(_one_minus_d_prob(rel_f)))


def ref_relativistic_average_g(r, f):
  """RaSGAN: L_G = -E_f[log D~(x_f)] - E_r[log(1 - D~(x_r))]."""
  rel_r, rel_f = _ra_probs(r, f)
  return -np.mean(np.log(_d_prob(rel_f))) - np.mean(np.log(_one_minus_d_prob(rel_r)))


REFERENCES = {
  "minimax": (ref_minimax_d, ref_minimax_g),
  "non_saturating": (ref_minimax_d, ref_non_saturating_g),
  "wasserstein": (ref_wasserstein_d, ref_wasserstein_g),
  "hinge": (ref_hinge_d, ref_hinge_g),
  "least_squares": (ref_least_squares_d, ref_least_squares_g),
  "relativistic_average": (ref_relativistic_average_d, ref_relativistic_average_g),
}

LOSS_CASES = [(name, player) for name in LOSS_NAMES for player in ("d", "g")]


def _pick(name, player):
  pair = losses.get_loss(name)
  ref = REFERENCES[name]
  return (pair.d_loss, ref[0]) if player == "d" else (pair.g_loss, ref[1])


def _logits(seed, scale, n=BATCH):
  rng = np.random.default_rng(seed)
  return (scale * rng.standard_normal(n)).astype(np.float32)


def _as_f64(x):
  return np.asarray(x, np.float32).astype(np.float64)


# --------------------------------------------------------------------------------------
# Adversarial losses: values.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,player", LOSS_CASES)
@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])
def test_loss_matches_paper_reference(name, player, scale):
  fn, ref = _pick(name, player)
  for seed in range(3):
    r = _logits(2 * seed, scale)
    f = _logits(2 * seed + 1, scale)
    out = fn(jnp.asarray(r), jnp.asarray(f))
    assert out.shape == ()
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(float(out), ref(_as_f64(r), _as_f64(f)), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name,player", LOSS_CASES)
def test_loss_at_magnitude_30_matches_stable_and_naive_reference(name, player):
  # +-30: the naive log(1 - sigmoid) is still finite in float64 but has lost ~3 digits
  # to cancellation; the stable probability-space reference is exact.
  fn, ref = _pick(name, player)
  rng = np.random.default_rng(7)
  r = (30.0 * rng.choice([-1.0, 1.0], BATCH)).astype(np.float32)
  f = (30.0 * rng.choice([-1.0, 1.0], BATCH)).astype(np.float32)
  out = float(fn(jnp.asarray(r), jnp.asarray(f)))
  expected = ref(_as_f64(r), _as_f64(f))
  assert np.isfinite(out)
  np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
  if name in ("minimax", "non_saturating"):
    naive_ref = REFERENCES[name][0 if player == "d" else 1]
    naive = naive_ref(_as_f64(r), _as_f64(f), one_minus=_naive_one_minus_d_prob)
    assert np.isfinite(naive)
    np.testing.assert_allclose(out, naive, atol=1e-2)


@pytest.mark.parametrize("name,player", LOSS_CASES)
@pytest.mark.parametrize("magnitude", [50.0, 300.0, 700.0])
def test_loss_finite_and_exact_for_confident_discriminator(name, player, magnitude):
  fn, ref = _pick(name, player)
  if name == "relativistic_average":
    # Relative logits C(x) - E C(.) span twice the magnitude; keep them inside the range
    # where float64 sigmoid probabilities (the reference) do not underflow (~745).
    magnitude = min(magnitude, 350.0)
  rng = np.random.default_rng(int(magnitude))
  r = magnitude * rng.choice([-1.0, 1.0], BATCH) * rng.uniform(0.5, 1.0, BATCH)
  f = magnitude * rng.choice([-1.0, 1.0], BATCH) * rng.uniform(0.5, 1.0, BATCH)
  r, f = r.astype(np.float32), f.astype(np.float32)
  # Make sure both signs occur on both sides so every log term is saturated somewhere.
  r[:2], f[:2] = [magnitude, -magnitude], [magnitude, -magnitude]
  out = fn(jnp.asarray(r), jnp.asarray(f))
  grads = jax.grad(fn, argnums=(0, 1))(jnp.asarray(r), jnp.asarray(f))
  assert np.isfinite(float(out))
  assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
  expected = ref(_as_f64(r), _as_f64(f))
  assert np.isfinite(expected)
  np.testing.assert_allclose(float(out), expected, rtol=1e-6, atol=1e-5)
  if name == "minimax" or (name == "non_saturating" and player == "d"):
    # The literal formula overflows to -log(0) = inf here; the implementation does not.
    naive_ref = REFERENCES[name][0 if player == "d" else 1]
    assert not np.isfinite(naive_ref(_as_f64(r), _as_f64(f), one_minus=_naive_one_minus_d_prob))


def test_minimax_losses_finite_beyond_float64_sigmoid_range():
  # |logit| = 1e4: even float64 sigmoid probabilities underflow to 0 there, but
  # -log sigmoid(a) -> -a for a -> -inf, so the losses are exactly the wrong-side margins.
  big = jnp.asarray([1e4, -1e4], jnp.float32)
  d = losses.minimax_d_loss(big, big)  # real: -log D = (0 + 1e4)/2; fake: -log(1-D) = (1e4 + 0)/2
  np.testing.assert_allclose(float(d), 1e4, rtol=1e-6)
  np.testing.assert_allclose(float(losses.non_saturating_g_loss(big, big)), 5e3, rtol=1e-6)
  np.testing.assert_allclose(float(losses.minimax_g_loss(big, big)), -5e3, rtol=1e-6)
  ra = losses.relativistic_average_d_loss(big, -big)
  assert np.isfinite(float(ra))


def _bf16_inputs():
  r = jnp.asarray(_logits(11, 3.0), jnp.bfloat16)
  f = jnp.asarray(_logits(12, 3.0), jnp.bfloat16)
  r64 = np.asarray(r.astype(jnp.float32), np.float64)
  f64 = np.asarray(f.astype(jnp.float32), np.float64)
  return r, f, r64, f64


@pytest.mark.parametrize("name,player", LOSS_CASES)
def test_loss_accepts_bfloat16_and_returns_float32(name, player):
  fn, ref = _pick(name, player)
  r, f, r64, f64 = _bf16_inputs()
  out = fn(r, f)
  assert out.shape == () and out.dtype == jnp.float32
  # bfloat16 resolution (2^-8): holds even if elementwise terms are computed in bf16.
  np.testing.assert_allclose(float(out), ref(r64, f64), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("name,player", LOSS_CASES)
def test_loss_of_bfloat16_logits_computed_in_float32(name, player):
  # The bf16 logits are exactly representable in float64, so a loss that upcasts before
  # computing should match the float64 reference to float32 precision.
  fn, ref = _pick(name, player)
  r, f, r64, f64 = _bf16_inputs()
  np.testing.assert_allclose(float(fn(r, f)), ref(r64, f64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,player", LOSS_CASES)
def test_loss_jit_matches_eager(name, player):
  fn, _ = _pick(name, player)
  r, f = jnp.asarray(_logits(3, 2.0)), jnp.asarray(_logits(4, 2.0))
  np.testing.assert_allclose(float(jax.jit(fn)(r, f)), float(fn(r, f)), rtol=1e-6)


def test_minimax_value_at_global_optimum_is_minus_log4():
  # Goodfellow et al. 2014 Thm. 1: at p_g = p_data, D* = 1/2 and C(G) = -log 4.
  zeros = jnp.zeros((BATCH,), jnp.float32)
  np.testing.assert_allclose(float(losses.minimax_d_loss(zeros, zeros)), np.log(4.0), rtol=1e-6)
  np.testing.assert_allclose(float(losses.minimax_g_loss(zeros, zeros)), -np.log(2.0), rtol=1e-6)
  np.testing.assert_allclose(
    float(losses.non_saturating_g_loss(zeros, zeros)), np.log(2.0), rtol=1e-6
  )
  np.testing.assert_allclose(
    float(losses.relativistic_average_d_loss(zeros, zeros)), np.log(4.0), rtol=1e-6
  )


def test_minimax_is_zero_sum_up_to_generator_independent_term():
  # d_loss = -V and g_loss = V - E[log D(x)], so g_loss + d_loss = -E[log D(x)].
  r, f = _logits(5, 3.0), _logits(6, 3.0)
  total = losses.minimax_d_loss(jnp.asarray(r), jnp.asarray(f)) + losses.minimax_g_loss(
    jnp.asarray(r), jnp.asarray(f)
  )
  np.testing.assert_allclose(float(total), -np.mean(np.log(_d_prob(_as_f64(r)))), rtol=1e-5)


def test_hinge_zero_beyond_margin_and_wasserstein_sign():
  r = jnp.asarray([1.0, 2.0, 5.0], jnp.float32)
  f = jnp.asarray([-1.0, -3.0, -7.0], jnp.float32)
  assert float(losses.hinge_d_loss(r, f)) == 0.0
  # The critic loss decreases when real scores rise or fake scores fall.
  base = float(losses.wasserstein_d_loss(r, f))
  assert float(losses.wasserstein_d_loss(r + 1.0, f)) < base
  assert float(losses.wasserstein_d_loss(r, f - 1.0)) < base


def test_least_squares_minimised_at_codes():
  ones = jnp.ones((BATCH,), jnp.float32)
  zeros = jnp.zeros((BATCH,), jnp.float32)
  # D: real -> b = 1, fake -> a = 0; G: fake -> c = 1.
  assert float(losses.least_squares_d_loss(ones, zeros)) == 0.0
  assert float(losses.least_squares_g_loss(zeros, ones)) == 0.0
  np.testing.assert_allclose(float(losses.least_squares_g_loss(zeros, zeros)), 0.5)


# --------------------------------------------------------------------------------------
# Adversarial losses: gradients.
# --------------------------------------------------------------------------------------


def _central_fd(fun, x, h):
  x = np.asarray(x, np.float64)
  g = np.zeros_like(x)
  for idx in np.ndindex(x.shape):
    xp, xm = x.copy(), x.copy()
    xp[idx] += h
    xm[idx] -= h
    g[idx] = (fun(xp) - fun(xm)) / (2.0 * h)
  return g


@pytest.mark.parametrize("name,player", LOSS_CASES)
def test_loss_gradient_matches_finite_differences_of_reference(name, player):
  fn, ref = _pick(name, player)
  # Keep logits away from the hinge kinks at +-1.
  r = _logits(21, 2.5)
  f = _logits(22, 2.5)
  r[np.abs(np.abs(r) - 1.0) < 0.05] += 0.2
  f[np.abs(np.abs(f) - 1.0) < 0.05] += 0.2
  gr, gf = jax.grad(fn, argnums=(0, 1))(jnp.asarray(r), jnp.asarray(f))
  r64, f64 = _as_f64(r), _as_f64(f)
  fd_r = _central_fd(lambda x: ref(x, f64), r64, 1e-6)
  fd_f = _central_fd(lambda x: ref(r64, x), f64, 1e-6)
  np.testing.assert_allclose(np.asarray(gr), fd_r, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(np.asarray(gf), fd_f, rtol=1e-4, atol=1e-6)


def test_saturating_generator_gradient_vanishes_when_discriminator_rejects():
  # Goodfellow et al. 2014 Sec. 3: when D confidently rejects fakes (fake logit << 0),
  # log(1 - D(G(z))) saturates; -log D(G(z)) still gives a strong gradient.
  real = jnp.zeros((BATCH,), jnp.float32)
  fake = jnp.full((BATCH,), -30.0, jnp.float32)
  g_sat = np.asarray(jax.grad(losses.minimax_g_loss, argnums=1)(real, fake))
  g_ns = np.asarray(jax.grad(losses.non_saturating_g_loss, argnums=1)(real, fake))
  # Analytic: d/da log(1 - sigma(a)) = -sigma(a); d/da -log sigma(a) = -(1 - sigma(a)).
  np.testing.assert_allclose(g_sat, -_d_prob(np.full(BATCH, -30.0)) / BATCH, rtol=1e-5)
  np.testing.assert_allclose(g_ns, -_one_minus_d_prob(np.full(BATCH, -30.0)) / BATCH, rtol=1e-6)
  assert np.all(np.abs(g_sat) < 1e-12)
  np.testing.assert_allclose(g_ns, -1.0 / BATCH, rtol=1e-6)
  # Both push the fake logit up (gradient descent increases D(G(z))).
  assert np.all(g_sat < 0) and np.all(g_ns < 0)


def test_generator_gradients_mirror_when_discriminator_is_fooled():
  real = jnp.zeros((BATCH,), jnp.float32)
  fake = jnp.full((BATCH,), 30.0, jnp.float32)
  g_sat = np.asarray(jax.grad(losses.minimax_g_loss, argnums=1)(real, fake))
  g_ns = np.asarray(jax.grad(losses.non_saturating_g_loss, argnums=1)(real, fake))
  np.testing.assert_allclose(g_sat, -1.0 / BATCH, rtol=1e-6)
  assert np.all(np.abs(g_ns) < 1e-12)
  # Ratio of the two gradients is (1 - D) / D = exp(-a) across the range.
  a = np.linspace(-8.0, 8.0, BATCH).astype(np.float32)
  gs = np.asarray(jax.grad(losses.minimax_g_loss, argnums=1)(real, jnp.asarray(a)), np.float64)
  gn = np.asarray(
    jax.grad(losses.non_saturating_g_loss, argnums=1)(real, jnp.asarray(a)), np.float64
  )
  np.testing.assert_allclose(gn / gs, np.exp(-_as_f64(a)), rtol=1e-5)


def test_relativistic_generator_gets_gradient_through_real_logits():
  # In RaSGAN the generator loss depends on real logits via E C(x_f) in D~(x_r).
  r, f = jnp.asarray(_logits(31, 1.0)), jnp.asarray(_logits(32, 1.0))
  gr = np.asarray(jax.grad(losses.relativistic_average_g_loss, argnums=0)(r, f))
  assert np.all(np.isfinite(gr)) and np.any(np.abs(gr) > 1e-3)


# --------------------------------------------------------------------------------------
# Registry.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_get_loss_returns_pair(name):
  pair = losses.get_loss(name)
  assert isinstance(pair, losses.GANLoss)
  d_loss, g_loss = pair
  assert callable(d_loss) and callable(g_loss)
  assert pair is losses.LOSSES[name]


def test_registry_contents():
  assert set(losses.LOSSES) == set(LOSS_NAMES)
  assert losses.get_loss("non_saturating").d_loss is losses.minimax_d_loss
  assert losses.get_loss("minimax").g_loss is losses.minimax_g_loss
  assert losses.get_loss("non_saturating").g_loss is losses.non_saturating_g_loss
  assert set(losses.PENALTIES) == {"none", "gradient_penalty", "dragan", "r1", "r2"}


def test_get_loss_unknown_name_lists_valid_names():
  with pytest.raises(ValueError) as err:
    losses.get_loss("not_a_loss")
  msg = str(err.value)
  assert "not_a_loss" in msg
  for name in LOSS_NAMES:
    assert name in msg


# --------------------------------------------------------------------------------------
# Penalties: a small discriminator with closed-form input gradient.
#   D(x) = sum_h v_h tanh((x_flat @ W)_h)       per sample
#   dD/dx_flat = W @ (v * (1 - tanh^2(x_flat @ W)))
# --------------------------------------------------------------------------------------

IMG_SHAPE = (4, 3, 3, 2)  # [batch, H, W, C]
N_FEAT = 3 * 3 * 2
N_HIDDEN = 5


def _make_params(seed=0):
  rng = np.random.default_rng(seed)
  w = rng.standard_normal((N_FEAT, N_HIDDEN)) / np.sqrt(N_FEAT)
  v = rng.standard_normal(N_HIDDEN)
  return {"W": w.astype(np.float32), "v": v.astype(np.float32)}


def _images(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  return (scale * rng.standard_normal(IMG_SHAPE)).astype(np.float32)


def d_apply(params, x):
  h = jnp.tanh(x.reshape(x.shape[0], -1) @ params["W"])
  return h @ params["v"]


def np_d(w, v, x):
  return np.tanh(x.reshape(x.shape[0], -1) @ w) @ v


def np_input_grad(w, v, x):
  """Analytic per-sample dD/dx_flat, [batch, features]."""
  pre = x.reshape(x.shape[0], -1) @ w
  return (v * (1.0 - np.tanh(pre) ** 2)) @ w.T


def np_input_grad_fd(w, v, x, h=1e-6):
  """Central finite differences of the per-sample D w.r.t. each input feature."""
  flat = x.reshape(x.shape[0], -1)
  g = np.zeros_like(flat)
  for j in range(flat.shape[1]):
    xp, xm = flat.copy(), flat.copy()
    xp[:, j] += h
    xm[:, j] -= h
    g[:, j] = (np_d(w, v, xp) - np_d(w, v, xm)) / (2.0 * h)
  return g


def ref_r1(w, v, x):
  """Mescheder et al. 2018 eq. 9 without gamma/2: E[||grad_x D(x)||^2]."""
  return np.mean(np.sum(np_input_grad(w, v, x) ** 2, axis=1))


def ref_gp(w, v, x_hat):
  """Gulrajani et al. 2017 eq. 3 without lambda: E[(||grad D(x_hat)||_2 - 1)^2]."""
  norms = np.sqrt(np.sum(np_input_grad(w, v, x_hat) ** 2, axis=1))
  return np.mean((norms - 1.0) ** 2)


def _eps_like_impl(key, batch, ndim, dtype=jnp.float32):
  return np.asarray(jax.random.uniform(key, (batch,) + (1,) * (ndim - 1), dtype=dtype), np.float64)


def _p64(params):
  return _as_f64(params["W"]), _as_f64(params["v"])


def test_reference_input_gradient_matches_finite_differences():
  w, v = _p64(_make_params())
  x = _as_f64(_images(1))
  np.testing.assert_allclose(
    np_input_grad(w, v, x), np_input_grad_fd(w, v, x), rtol=1e-6, atol=1e-9
  )


@pytest.mark.parametrize("which", ["r1", "r2"])
def test_r1_r2_match_analytic_and_finite_difference_gradient_norms(which):
  params = _make_params()
  x = _images(2 if which == "r1" else 3, scale=1.5)
  d_fn = lambda imgs: d_apply(params, imgs)
  fn = losses.r1_penalty if which == "r1" else losses.r2_penalty
  out = fn(d_fn, jnp.asarray(x))
  assert out.shape == () and out.dtype == jnp.float32
  w, v = _p64(params)
  x64 = _as_f64(x)
  analytic = ref_r1(w, v, x64)
  fd = np.mean(np.sum(np_input_grad_fd(w, v, x64) ** 2, axis=1))
  np.testing.assert_allclose(analytic, fd, rtol=1e-7)
  np.testing.assert_allclose(float(out), analytic, rtol=1e-5)
  np.testing.assert_allclose(
    float(jax.jit(fn, static_argnums=0)(d_fn, jnp.asarray(x))), analytic, rtol=1e-5
  )


def test_penalties_per_sample_quadratic_discriminator():
  # D(x) = 1/2 x^T A x + b^T x per sample (A symmetric): grad = A x + b.
  rng = np.random.default_rng(4)
  m = rng.standard_normal((N_FEAT, N_FEAT))
  a = ((m + m.T) / (2 * np.sqrt(N_FEAT))).astype(np.float32)
  b = (0.3 * rng.standard_normal(N_FEAT)).astype(np.float32)
  x = _images(5)

  def d_fn(imgs):
    flat = imgs.reshape(imgs.shape[0], -1)
    return 0.5 * jnp.sum((flat @ a) * flat, axis=1) + flat @ b

  flat = _as_f64(x).reshape(x.shape[0], -1)
  g = flat @ _as_f64(a) + _as_f64(b)
  sq = np.sum(g**2, axis=1)
  np.testing.assert_allclose(float(losses.r1_penalty(d_fn, jnp.asarray(x))), np.mean(sq), rtol=1e-5)
  np.testing.assert_allclose(float(losses.r2_penalty(d_fn, jnp.asarray(x))), np.mean(sq), rtol=1e-5)


@pytest.mark.parametrize("w_norm", [0.0, 0.5, 1.0, 3.0])
def test_gradient_penalty_linear_discriminator_independent_of_eps(w_norm):
  # D(x) = <w, x>: grad_x D = w everywhere, so the penalty is (||w|| - 1)^2 for any eps.
  rng = np.random.default_rng(6)
  w = rng.standard_normal(N_FEAT)
  w = (w_norm * w / np.linalg.norm(w)).astype(np.float32)
  d_fn = lambda imgs: imgs.reshape(imgs.shape[0], -1) @ w
  real, fake = jnp.asarray(_images(7)), jnp.asarray(_images(8))
  expected = (np.linalg.norm(_as_f64(w)) - 1.0) ** 2
  for seed in range(3):
    out = losses.gradient_penalty(d_fn, real, fake, jax.random.key(seed))
    assert out.shape == () and np.isfinite(float(out))
    np.testing.assert_allclose(float(out), expected, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_nonlinear_reproduces_interpolation():
  params = _make_params(1)
  real, fake = _images(9, 2.0), _images(10, 2.0)
  key = jax.random.key(123)
  d_fn = lambda imgs: d_apply(params, imgs)
  out = losses.gradient_penalty(d_fn, jnp.asarray(real), jnp.asarray(fake), key)
  eps = _eps_like_impl(key, IMG_SHAPE[0], len(IMG_SHAPE))
  assert np.all((eps >= 0.0) & (eps < 1.0))
  x_hat = eps * _as_f64(real) + (1.0 - eps) * _as_f64(fake)
  w, v = _p64(params)
  analytic = ref_gp(w, v, x_hat)
  fd_norms = np.sqrt(np.sum(np_input_grad_fd(w, v, x_hat) ** 2, axis=1))
  np.testing.assert_allclose(analytic, np.mean((fd_norms - 1.0) ** 2), rtol=1e-6, atol=1e-9)
  np.testing.assert_allclose(float(out), analytic, rtol=1e-4, atol=1e-6)
  # A different key gives a different interpolation (eps really is random per sample).
  other = losses.gradient_penalty(d_fn, jnp.asarray(real), jnp.asarray(fake), jax.random.key(124))
  assert abs(float(other) - float(out)) > 1e-6
  # The same call under jit agrees.
  jitted = jax.jit(lambda r, f, k: losses.gradient_penalty(d_fn, r, f, k))
  np.testing.assert_allclose(
    float(jitted(jnp.asarray(real), jnp.asarray(fake), key)), float(out), rtol=1e-5
  )


def test_gradient_penalty_finite_when_input_gradient_is_zero():
  # ||grad|| = 0 (non-differentiable point of the norm): value (0 - 1)^2 = 1, gradients finite.
  w0 = jnp.zeros((N_FEAT,), jnp.float32)
  real, fake = jnp.asarray(_images(11)), jnp.asarray(_images(12))

  def pen(w):
    return losses.gradient_penalty(
      lambda x: x.reshape(x.shape[0], -1) @ w, real, fake, jax.random.key(0)
    )

  np.testing.assert_allclose(float(pen(w0)), 1.0, rtol=1e-5)
  g = np.asarray(jax.grad(pen)(w0))
  assert np.all(np.isfinite(g))


def test_penalties_treat_fake_as_constant():
  params = _make_params(2)
  d_fn = lambda imgs: d_apply(params, imgs)
  real, fake = jnp.asarray(_images(13)), jnp.asarray(_images(14))
  g_r2 = jax.grad(lambda f: losses.r2_penalty(d_fn, f))(fake)
  g_gp = jax.grad(lambda f: losses.gradient_penalty(d_fn, real, f, jax.random.key(0)))(fake)
  assert np.all(np.asarray(g_r2) == 0.0)
  assert np.all(np.asarray(g_gp) == 0.0)


def _penalty_setup(which):
  """Returns (jax penalty of params, float64 numpy reference penalty of (W, v))."""
  real, fake = _images(15, 1.5), _images(16, 1.5)
  key = jax.random.key(7)
  if which == "gradient_penalty":
    eps = _eps_like_impl(key, IMG_SHAPE[0], len(IMG_SHAPE))
    x_hat = eps * _as_f64(real) + (1.0 - eps) * _as_f64(fake)

    def pen(p):
      return losses.gradient_penalty(
        lambda x: d_apply(p, x), jnp.asarray(real), jnp.asarray(fake), key
      )

    return pen, lambda w, v: ref_gp(w, v, x_hat)
  if which == "r1":
    return (
      lambda p: losses.r1_penalty(lambda x: d_apply(p, x), jnp.asarray(real)),
      lambda w, v: ref_r1(w, v, _as_f64(real)),
    )
  return (
    lambda p: losses.r2_penalty(lambda x: d_apply(p, x), jnp.asarray(fake)),
    lambda w, v: ref_r1(w, v, _as_f64(fake)),
  )


@pytest.mark.parametrize("which", ["gradient_penalty", "r1", "r2"])
def test_penalty_parameter_gradient_matches_finite_differences(which):
  pen, ref = _penalty_setup(which)
  params = _make_params(3)
  grads = jax.grad(pen)({k: jnp.asarray(val) for k, val in params.items()})
  gw, gv = np.asarray(grads["W"]), np.asarray(grads["v"])
  assert np.all(np.isfinite(gw)) and np.all(np.isfinite(gv))
  w, v = _p64(params)
  # Central differences of the float64 paper reference over every parameter.
  fd_w = _central_fd(lambda ww: ref(ww, v), w, 1e-6)
  fd_v = _central_fd(lambda vv: ref(w, vv), v, 1e-6)
  np.testing.assert_allclose(gw, fd_w, rtol=2e-3, atol=2e-5)
  np.testing.assert_allclose(gv, fd_v, rtol=2e-3, atol=2e-5)
  # Central differences of the implementation itself (float32) along the parameter with
  # the largest gradient.
  idx = np.unravel_index(np.argmax(np.abs(gw)), gw.shape)
  h = 1e-2

  def shifted(delta):
    p = {k: np.array(val) for k, val in params.items()}
    p["W"][idx] += delta
    return float(pen({k: jnp.asarray(val) for k, val in p.items()}))

  fd_impl = (shifted(h) - shifted(-h)) / (2 * h)
  np.testing.assert_allclose(gw[idx], fd_impl, rtol=2e-2, atol=1e-3)


# --------------------------------------------------------------------------------------
# Weight clipping.
# --------------------------------------------------------------------------------------


def test_clip_weights_clamps_every_leaf():
  params = {
    "dense": {
      "kernel": jnp.asarray([[-0.5, 0.005], [0.02, -0.01]], jnp.float32),
      "bias": jnp.asarray([0.0, -0.2], jnp.float32),
    },
    "scale": jnp.asarray(0.003, jnp.float32),
    "half": jnp.asarray([0.5, -0.5], jnp.bfloat16),
  }
  clipped = losses.clip_weights(params, 0.01)
  assert jax.tree.structure(clipped) == jax.tree.structure(params)
  for before, after in zip(jax.tree.leaves(params), jax.tree.leaves(clipped), strict=False):
    assert after.shape == before.shape and after.dtype == before.dtype
    b = np.asarray(before.astype(jnp.float32), np.float64)
    a = np.asarray(after.astype(jnp.float32), np.float64)
    c = np.float64(np.asarray(0.01, before.dtype).astype(np.float32))  # 0.01 in the leaf dtype
    np.testing.assert_array_equal(a, np.clip(b, -c, c))
    assert np.all(np.abs(a) <= c)
  # Values already inside [-c, c] are untouched.
  np.testing.assert_array_equal(np.asarray(clipped["dense"]["kernel"])[0, 1], np.float32(0.005))
  np.testing.assert_array_equal(np.asarray(clipped["scale"]), np.float32(0.003))
  jitted = jax.jit(losses.clip_weights, static_argnums=1)(params, 0.01)
  np.testing.assert_array_equal(
    np.asarray(jitted["dense"]["kernel"]), np.asarray(clipped["dense"]["kernel"])
  )


def test_dragan_points_stay_in_the_box_above_the_data():
  """Kodali et al. 2017 (the authors' notebook): x + alpha * c * std(x) * U[0, 1], with
  std over the batch (ddof 0), alpha per sample, c = 0.5."""
  real = _images(11, 2.0)
  x_hat = np.asarray(losses.dragan_points(jnp.asarray(real), jax.random.key(3)), np.float64)
  step = (x_hat - _as_f64(real)) / (0.5 * np.std(_as_f64(real)))
  assert np.all(step >= -1e-5) and np.all(step <= 1 + 1e-5)
  per_sample_max = step.reshape(len(step), -1).max(axis=1)
  assert per_sample_max.std() > 0.05  # alpha differs between samples
  assert step.max() > 0.5  # the box is used, not a point


def test_dragan_penalty_against_numpy_at_its_points():
  """The penalty at DRAGAN's points against a float64 numpy computation, with D's input
  gradients checked by finite differences (eq. 9 of Kodali et al. 2017)."""
  params = _make_params(2)
  real, key = _images(12, 2.0), jax.random.key(5)
  d_fn = lambda imgs: d_apply(params, imgs)
  out = losses.dragan_penalty(d_fn, jnp.asarray(real), key)
  x_hat = np.asarray(losses.dragan_points(jnp.asarray(real), key), np.float64)
  w, v = _p64(params)
  analytic = ref_gp(w, v, x_hat)
  fd_norms = np.sqrt(np.sum(np_input_grad_fd(w, v, x_hat) ** 2, axis=1))
  np.testing.assert_allclose(analytic, np.mean((fd_norms - 1.0) ** 2), rtol=1e-6, atol=1e-9)
  np.testing.assert_allclose(float(out), analytic, rtol=1e-4, atol=1e-6)
