"""Tests for FID, IS, KID, precision/recall and density/coverage against independent float64
references (scipy's sqrtm, explicit loops over samples and pairs) and closed forms."""

import math

import numpy as np
import pytest
import scipy.linalg

from gan_jax.metrics import fid, image_metrics, inception_score, kid, prdc


def _rng(seed=0):
  return np.random.default_rng(seed)


def _random_cov(rng, d, n=None):
  a = rng.standard_normal((n or 2 * d, d))
  return a.T @ a / a.shape[0]


# ---------------------------------------------------------------------------- FID


def _fid_sqrtm(mu1, s1, mu2, s2):
  """Reference FID through scipy's general (Schur) matrix square root of s1 @ s2."""
  covmean = scipy.linalg.sqrtm(s1 @ s2)
  covmean = np.real(covmean)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_statistics_match_loops():
  x = _rng().standard_normal((7, 3))
  mu, sigma = fid.statistics(x)
  mu_ref = [sum(x[i, a] for i in range(7)) / 7 for a in range(3)]
  sigma_ref = [
    [sum((x[i, a] - mu_ref[a]) * (x[i, b] - mu_ref[b]) for i in range(7)) / 6 for b in range(3)]
    for a in range(3)
  ]
  np.testing.assert_allclose(mu, mu_ref, rtol=1e-13)
  np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-12)
  assert fid.statistics(x[:, :1])[1].shape == (1, 1)
  with pytest.raises(ValueError):
    fid.statistics(x[:1])


@pytest.mark.parametrize("d", [1, 5, 40])
def test_fid_matches_scipy_sqrtm(d):
  rng = _rng(d)
  mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
  s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
  got = fid.frechet_distance(mu1, s1, mu2, s2)
  assert isinstance(got, float)
  assert got == pytest.approx(_fid_sqrtm(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)
  # Symmetric in its two Gaussians.
  assert got == pytest.approx(fid.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_fid_closed_forms():
  rng = _rng(1)
  d = 6
  m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
  s = _random_cov(rng, d)
  assert fid.frechet_distance(m1, s, m1, s) == pytest.approx(0.0, abs=1e-9)
  # N(m1, I) vs N(m2, I): |m1 - m2|^2.
  eye = np.eye(d)
  assert fid.frechet_distance(m1, eye, m2, eye) == pytest.approx(np.sum((m1 - m2) ** 2), rel=1e-12)
  # Diagonal covariances: |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2.
  a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
  expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = fid.frechet_distance(m1, np.diag(a), m2, np.diag(b))
  assert got == pytest.approx(expected, rel=1e-12)
  # Scalar variances: one-dimensional Gaussians.
  assert fid.frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(1.0 + 1.0)


def test_fid_from_features_near_singular():
  """Fewer samples than dimensions: singular covariances, as with small n_fake."""
  rng = _rng(2)
  x, y = rng.standard_normal((12, 30)), rng.standard_normal((15, 30)) + 0.5
  mu1, s1 = fid.statistics(x)
  mu2, s2 = fid.statistics(y)
  assert np.linalg.matrix_rank(s1) == 11
  got = fid.frechet_distance_from_features(x, y)
  assert got == pytest.approx(fid.frechet_distance(mu1, s1, mu2, s2), rel=1e-14)
  # Reference: with s1 = A^T A and s2 = B^T B, the eigenvalues of s1 s2 are the squared
  # singular values of A B^T, so tr((s1 s2)^(1/2)) is the nuclear norm of A B^T.
  a = (x - x.mean(0)) / math.sqrt(len(x) - 1)
  b = (y - y.mean(0)) / math.sqrt(len(y) - 1)
  nuclear = np.sum(np.linalg.svd(a @ b.T, compute_uv=False))
  ref = np.sum((mu1 - mu2) ** 2) + np.sum(a * a) + np.sum(b * b) - 2 * nuclear
  assert got == pytest.approx(ref, rel=1e-10)
  # A rank-one covariance against itself is distance 0, not a NaN.
  v = rng.standard_normal((30, 1))
  assert fid.frechet_distance(mu1, v @ v.T, mu1, v @ v.T) == pytest.approx(0.0, abs=1e-8)


def test_fid_falls_back_to_an_eps_offset(monkeypatch):
  """When the eigendecomposition fails, both covariances get eps * I and it is retried."""
  rng = _rng(3)
  d, eps = 4, 1e-3
  mu1, mu2, s1, s2 = rng.standard_normal(d), rng.standard_normal(d), np.eye(d), _random_cov(rng, d)
  calls = []
  psd_sqrt = fid._psd_sqrt

  def flaky(s, tol):
    calls.append(s.copy())
    if len(calls) == 1:
      raise np.linalg.LinAlgError("Eigenvalues did not converge")
    return psd_sqrt(s, tol)

  monkeypatch.setattr(fid, "_psd_sqrt", flaky)
  got = fid.frechet_distance(mu1, s1, mu2, s2, eps=eps)
  np.testing.assert_allclose(calls[1], s1 + eps * np.eye(d), rtol=1e-15)
  # tr((s1 + eps)(s2 + eps))^(1/2) replaces the trace term; the traces stay unshifted.
  ref = _fid_sqrtm(mu1, s1 + eps * np.eye(d), mu2, s2 + eps * np.eye(d)) - 2 * d * eps
  assert got == pytest.approx(ref, rel=1e-10)


def test_fid_rejects_bad_input():
  eye = np.eye(2)
  with pytest.raises(ValueError, match="not positive semi-definite|imaginary"):
    fid.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), eye)
  with pytest.raises(ValueError, match="shape"):
    fid.frechet_distance(np.zeros(2), eye, np.zeros(3), np.eye(3))
  with pytest.raises(ValueError, match="NaN"):
    fid.frechet_distance(np.array([0.0, np.nan]), eye, np.zeros(2), eye)


# ----------------------------------------------------------------------------- IS


def _is_loops(probs, splits):
  n = len(probs)
  scores = []
  for s in range(splits):
    part = probs[s * n // splits : (s + 1) * n // splits]
    k = len(part[0])
    marginal = [sum(row[c] for row in part) / len(part) for c in range(k)]
    kl = [
      sum(p * math.log(p / q) for p, q in zip(row, marginal, strict=True) if p > 0) for row in part
    ]
    scores.append(math.exp(sum(kl) / len(kl)))
  mean = sum(scores) / splits
  return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


@pytest.mark.parametrize("n,splits", [(30, 1), (31, 4), (50, 10)])
def test_inception_score_matches_loops(n, splits):
  logits = 2.0 * _rng(n).standard_normal((n, 7))
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  ref = _is_loops(probs.tolist(), splits)
  np.testing.assert_allclose(inception_score.inception_score(logits, splits), ref, rtol=1e-10)
  np.testing.assert_allclose(
    inception_score.inception_score(probs, splits, from_logits=False), ref, rtol=1e-10
  )


def test_inception_score_closed_forms():
  # Uniform predictions: p(y|x) = p(y), KL = 0, IS = 1.
  assert inception_score.inception_score(np.zeros((40, 10)), 4) == pytest.approx((1.0, 0.0))
  # Confident predictions spread evenly over K classes: IS = K.
  probs = np.eye(8)[np.arange(80) % 8]
  mean, std = inception_score.inception_score(probs, 5, from_logits=False)
  assert mean == pytest.approx(8.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
  # All confident on one class: IS = 1.
  one = np.eye(8)[np.zeros(20, int)]
  assert inception_score.inception_score(one, 2, from_logits=False)[0] == pytest.approx(1.0)
  # Very large logits stay finite.
  assert inception_score.inception_score(1e4 * np.eye(8)[np.arange(16) % 8], 2)[0] == pytest.approx(
    8.0
  )


def test_inception_score_rejects_bad_input():
  with pytest.raises(ValueError, match="splits"):
    inception_score.inception_score(np.zeros((3, 2)), 4)
  with pytest.raises(ValueError, match="sum"):
    inception_score.inception_score(np.full((3, 2), 0.7), 1, from_logits=False)


# ---------------------------------------------------------------------------- KID


def _mmd2_loops(x, y):
  m, d = len(x), len(x[0])
  k = lambda a, b: (sum(ai * bi for ai, bi in zip(a, b, strict=True)) / d + 1.0) ** 3
  kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  return kxx + kyy - 2 * kxy


def test_mmd2_matches_pair_loops():
  rng = _rng(3)
  x, y = rng.standard_normal((9, 4)), rng.standard_normal((9, 4)) + 0.3
  ref = _mmd2_loops(x.tolist(), y.tolist())
  assert kid.mmd2_unbiased(x, y) == pytest.approx(ref, rel=1e-12)
  # With every row in each subset, all subsets are permutations: mean = full MMD^2, std = 0.
  mean, std = kid.kernel_distance(x, y, num_subsets=3, subset_size=100)
  assert mean == pytest.approx(ref, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_seeded_and_unbiased():
  rng = _rng(4)
  x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 3)) + 0.5
  a = kid.kernel_distance(x, y, num_subsets=200, subset_size=10, seed=1)
  assert a == kid.kernel_distance(x, y, num_subsets=200, subset_size=10, seed=1)
  assert a != kid.kernel_distance(x, y, num_subsets=200, subset_size=10, seed=2)
  assert a[1] > 0
  # The subset U-statistic is unbiased for the full-set one.
  full = _mmd2_loops(x.tolist(), y.tolist())
  assert abs(a[0] - full) < 4 * a[1] / math.sqrt(200)


def test_kid_same_vs_shifted_distribution():
  rng = _rng(5)
  x, y = rng.standard_normal((300, 5)), rng.standard_normal((300, 5))
  same, same_std = kid.kernel_distance(x, y, num_subsets=20, subset_size=100)
  shifted, _ = kid.kernel_distance(x, y + 1.0, num_subsets=20, subset_size=100)
  assert abs(same) < 3 * same_std + 1e-3
  assert shifted > 0.1 and shifted > 20 * abs(same)


# ------------------------------------------------------- precision, recall, density, coverage


def _dist(a, b):
  return math.sqrt(sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True)))


def _radii_loops(x, k):
  return [sorted(_dist(x[i], x[j]) for j in range(len(x)) if j != i)[k - 1] for i in range(len(x))]


def _prdc_loops(real, fake, k_pr, k_dc):
  rr, rf = _radii_loops(real, k_pr), _radii_loops(fake, k_pr)
  precision = sum(any(_dist(f, r) <= rad for r, rad in zip(real, rr, strict=True)) for f in fake)
  recall = sum(any(_dist(r, f) <= rad for f, rad in zip(fake, rf, strict=True)) for r in real)
  rd = _radii_loops(real, k_dc)
  density = sum(_dist(f, r) <= rad for f in fake for r, rad in zip(real, rd, strict=True))
  coverage = sum(any(_dist(r, f) <= rad for f in fake) for r, rad in zip(real, rd, strict=True))
  return {
    "precision": precision / len(fake),
    "recall": recall / len(real),
    "density": density / (k_dc * len(fake)),
    "coverage": coverage / len(real),
  }


@pytest.mark.parametrize("k_pr,k_dc", [(3, 5), (1, 2)])
def test_prdc_matches_brute_force(k_pr, k_dc, monkeypatch):
  monkeypatch.setattr(prdc, "_BLOCK", 7)  # several row blocks, one partial
  rng = _rng(6)
  real = rng.standard_normal((30, 4))
  fake = 1.3 * rng.standard_normal((25, 4)) + 0.4
  ref = _prdc_loops(real.tolist(), fake.tolist(), k_pr, k_dc)
  got = {**prdc.precision_recall(real, fake, k_pr), **prdc.density_coverage(real, fake, k_dc)}
  assert got == pytest.approx(ref, abs=1e-12)
  assert 0 < ref["precision"] < 1 and 0 < ref["recall"] < 1 and 0 < ref["coverage"] < 1


def test_knn_radii_match_loops():
  x = _rng(7).standard_normal((12, 3))
  np.testing.assert_allclose(prdc.knn_radii(x, 3), _radii_loops(x.tolist(), 3), rtol=1e-10)
  with pytest.raises(ValueError):
    prdc.knn_radii(x, 12)


def test_prdc_closed_cases():
  rng = _rng(8)
  real = rng.standard_normal((50, 3))
  same = {**prdc.precision_recall(real, real), **prdc.density_coverage(real, real, k=5)}
  # Each real point lies in its own ball and in the balls of the k points it is a neighbour of.
  assert same == pytest.approx({"precision": 1, "recall": 1, "density": 1 + 1 / 5, "coverage": 1})
  far = real + 100.0
  assert prdc.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
  assert prdc.density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}
  # A collapsed generator: all fakes on one real point. Precision 1, recall and coverage low.
  collapsed = np.repeat(real[:1], 20, axis=0)
  pr = prdc.precision_recall(real, collapsed + 1e-9 * rng.standard_normal((20, 3)))
  assert pr["precision"] == 1.0 and pr["recall"] < 0.1
  assert prdc.density_coverage(real, collapsed)["coverage"] < 0.2


# ----------------------------------------------------------------- all metrics in one call


def test_image_metrics_combines_the_metrics():
  rng = _rng(9)
  real, fake = rng.standard_normal((60, 4)), rng.standard_normal((50, 4)) + 0.2
  logits = rng.standard_normal((50, 6))
  out = image_metrics.image_metrics(real, fake, logits, kid_subsets=5, kid_subset_size=20)
  assert out["fid"] == pytest.approx(fid.frechet_distance_from_features(fake, real))
  assert (out["kid"], out["kid_std"]) == kid.kernel_distance(real, fake, 5, 20, 0)
  assert (out["is"], out["is_std"]) == inception_score.inception_score(logits, 10)
  assert out["precision"] == prdc.precision_recall(real, fake)["precision"]
  assert out["coverage"] == prdc.density_coverage(real, fake)["coverage"]
  assert "is" not in image_metrics.image_metrics(real, fake, kid_subsets=2, kid_subset_size=10)
