"""Sample grids, latent interpolation, truncation and 2-D scatter plots (host side)."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

Z_DISTS = ("normal", "uniform")


def sample_z(key: jax.Array, n: int, z_dim: int, dist: str = "normal") -> jax.Array:
  """Draws latent codes ``[n, z_dim]`` from N(0, I) or U[-1, 1]."""
  if dist == "normal":
    return jax.random.normal(key, (n, z_dim))
  if dist == "uniform":
    return jax.random.uniform(key, (n, z_dim), minval=-1.0, maxval=1.0)
  raise ValueError(f"Unknown model.z_dist {dist!r}; valid: {list(Z_DISTS)}")


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latent vectors.

  Follows the great circle between ``z0`` and ``z1``, which keeps interpolants at the
  norm a Gaussian prior expects (a straight line passes through low-density norms).

  Args:
    z0: ``[..., z_dim]`` start points.
    z1: ``[..., z_dim]`` end points.
    t: interpolation weights broadcastable to ``[..., 1]`` (0 -> z0, 1 -> z1).

  Returns:
    ``[..., z_dim]`` interpolated points.

  References:
    Shoemake 1985; White 2016, "Sampling Generative Networks", Section 2.
  """
  u0 = z0 / jnp.linalg.norm(z0, axis=-1, keepdims=True)
  u1 = z1 / jnp.linalg.norm(z1, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(u0 * u1, axis=-1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  lerp = (1.0 - t) * z0 + t * z1
  safe_so = jnp.where(so < 1e-6, 1.0, so)
  out = (jnp.sin((1.0 - t) * omega) * z0 + jnp.sin(t * omega) * z1) / safe_so
  return jnp.where(so < 1e-6, lerp, out)  # Nearly parallel: slerp tends to lerp.


def interpolation_latents(key: jax.Array, rows: int, cols: int, z_dim: int) -> jax.Array:
  """``[rows * cols, z_dim]``: each row walks by slerp between two random N(0, I) codes."""
  k0, k1 = jax.random.split(key)
  z0 = jax.random.normal(k0, (rows, 1, z_dim))
  z1 = jax.random.normal(k1, (rows, 1, z_dim))
  t = jnp.linspace(0.0, 1.0, cols)[None, :, None]
  return slerp(z0, z1, t).reshape(rows * cols, z_dim)


def truncate(z: jax.Array, psi: float, threshold: float | None = None) -> jax.Array:
  """The truncation trick in latent space: trade variety for fidelity.

  Entries beyond ``threshold`` are folded back by resampling-free clipping of their
  magnitude (BigGAN truncates the normal at ``threshold``), then the code is pulled
  towards the prior's mean, 0, by ``psi`` (StyleGAN's psi; 1 keeps z, 0 gives the mean).

  References:
    Brock et al. 2019, "Large Scale GAN Training ...", Section 3.1; Karras et al. 2019,
    "A Style-Based Generator Architecture ...", Section 2.1 and eq. in Appendix B.
  """
  if threshold is not None:
    z = jnp.clip(z, -threshold, threshold)
  return psi * z


def truncated_normal(key: jax.Array, n: int, z_dim: int, threshold: float) -> jax.Array:
  """Draws N(0, I) codes conditioned on every entry lying in ``[-threshold, threshold]``:
  the distribution of BigGAN's truncation trick, which redraws entries beyond the
  threshold until they fall inside (Brock et al. 2019, Section 3.1)."""
  return jax.random.truncated_normal(key, -threshold, threshold, (n, z_dim))


def truncate_resample(key: jax.Array, z: jax.Array, threshold: float) -> jax.Array:
  """BigGAN's truncation of given codes: entries with ``|z| > threshold`` are redrawn from
  N(0, 1) until inside (equivalently, drawn once from the truncated normal); the others
  are kept, so a sweep over thresholds changes only what it must.

  References:
    Brock et al. 2019, "Large Scale GAN Training ...", Section 3.1.
  """
  redraw = jax.random.truncated_normal(key, -threshold, threshold, z.shape)
  return jnp.where(jnp.abs(z) > threshold, redraw, z)


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Maps images in [-1, 1] to uint8."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles ``[N, H, W, C]`` images in [-1, 1] into one ``[H', W', C]`` uint8 image."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  ncol = ncol or math.ceil(math.sqrt(n))
  nrow = math.ceil(n / ncol)
  grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, ncol)
    y, x = pad + r * (h + pad), pad + q * (w + pad)
    grid[y : y + h, x : x + w] = images[i]
  return grid


def save_image(path: str, image: np.ndarray, scale: int = 1) -> None:
  """Writes a ``[H, W, C]`` uint8 image as PNG, optionally upscaled (nearest)."""
  if image.shape[-1] == 1:
    image = image[..., 0]
  img = Image.fromarray(image)
  if scale > 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  img.save(path)


def scatter_plot(
  samples: np.ndarray, means: np.ndarray | None = None, size: int = 512, extent: float | None = None
) -> np.ndarray:
  """Draws 2-D samples (blue) over the true modes (red rings) as a ``[size, size, 3]`` image."""
  samples = np.asarray(samples, np.float64)
  pts = samples if means is None else np.concatenate([samples, means])
  finite = pts[np.all(np.isfinite(pts), axis=1)]
  extent = extent or (1.2 * float(np.max(np.abs(finite))) if len(finite) else 0.0) or 1.0
  img = Image.new("RGB", (size, size), "white")
  draw = ImageDraw.Draw(img)

  def px(p):
    return ((p[0] / extent + 1) * size / 2, (1 - p[1] / extent) * size / 2)

  draw.line([px((-extent, 0)), px((extent, 0))], fill=(220, 220, 220))
  draw.line([px((0, -extent)), px((0, extent))], fill=(220, 220, 220))
  for p in samples:
    if np.all(np.isfinite(p)):
      x, y = px(p)
      draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(30, 80, 200))
  if means is not None:
    for m in means:
      x, y = px(m)
      draw.ellipse([x - 6, y - 6, x + 6, y + 6], outline=(220, 30, 30), width=2)
  return np.asarray(img)
