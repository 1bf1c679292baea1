"""Face metrics computable offline: a Frechet distance in the eigenface space of the real
faces, and how close samples come to the training faces.

For the few-shot faces (``lfw``: the 100 face crops that ship with scikit-image) no
pretrained feature network is available offline. The features here are the projections
on the first ``NUM_COMPONENTS`` principal components of the real faces ("eigenfaces"),
computed from the real faces themselves: ``face_fd`` is the Frechet distance between
Gaussians fitted to the projections of generated and real faces (the FID formula in a
16-dimensional linear feature space: it sees the faces' layout, lighting and pose, not
texture). ``face_nn`` is the mean over generated faces of the root-mean-square pixel
distance (in [-1, 1] units) to the nearest training face: it falls toward 0 as a
generator reproduces its training set (memorisation, the failure data-efficient training
prevents), while ``face_fd`` measures the distribution.

References:
  Turk & Pentland 1991, "Eigenfaces for Recognition"; Heusel et al. 2017 (the Frechet
  distance of Gaussian fits); Karras et al. 2020b (ADA), Section 2 (D overfitting on
  small datasets).
"""

from __future__ import annotations

import numpy as np

from gan_jax.metrics import fid

NUM_COMPONENTS = 16


def eigenfaces(real: np.ndarray, k: int = NUM_COMPONENTS) -> tuple[np.ndarray, np.ndarray]:
  """``(mean [D], components [k, D])``: the principal axes of the flattened real faces."""
  x = np.asarray(real, np.float64).reshape(len(real), -1)
  mean = x.mean(axis=0)
  _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
  return mean, vt[:k]


def project(images: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
  """``[n, k]`` coordinates of the flattened images on the eigenfaces."""
  x = np.asarray(images, np.float64).reshape(len(images), -1)
  return (x - mean) @ components.T


def nearest_distance(fake: np.ndarray, real: np.ndarray) -> np.ndarray:
  """``[n]`` RMS pixel distance of each generated image to its nearest real one."""
  a = np.asarray(fake, np.float64).reshape(len(fake), -1)
  b = np.asarray(real, np.float64).reshape(len(real), -1)
  d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.sqrt(np.maximum(d2.min(axis=1), 0.0) / a.shape[1])


def face_metrics(fake: np.ndarray, real: np.ndarray, k: int = NUM_COMPONENTS) -> dict:
  """``face_fd`` and ``face_nn`` of generated faces against the real ones (same shape,
  values in [-1, 1]; generated values are clipped to it)."""
  fake = np.clip(np.asarray(fake, np.float64), -1.0, 1.0)
  mean, comps = eigenfaces(real, k)
  fd = fid.frechet_distance_from_features(project(fake, mean, comps), project(real, mean, comps))
  return {"face_fd": fd, "face_nn": float(nearest_distance(fake, real).mean())}
