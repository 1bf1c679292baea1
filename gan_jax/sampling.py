"""Sample grids, latent interpolation, truncation and 2-D scatter plots (host side)."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

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
  samples: np.ndarray,
  means: np.ndarray | None = None,
  size: int = 512,
  extent: float | None = None,
  sigma: float | None = None,
  title: str | None = None,
) -> np.ndarray:
  """Draws 2-D samples over the true modes of a mixture as a ``[size, size, 3]`` uint8 image.

  Samples are small blue dots and the modes red rings. With ``sigma``, a pale red disc
  outlined in red, of radius ``3 * sigma``, is drawn around each mode instead: the region
  where ``gan_jax.metrics.mixtures`` counts a sample as high quality (the rings stay when
  the discs would be under 3 pixels in radius, too small to see). Both axes span
  ``[-extent, extent]`` at equal scale; ``extent`` defaults to 1.2 times the largest
  ``|coordinate|`` of the finite samples and means. Non-finite samples are skipped.

  From 256 pixels up the plot has tick labels, a light grid and room for ``title``; smaller
  images are bare thumbnails whose axes fill the image, so the point ``(x, y)`` lands on
  pixel column ``(x / extent + 1) * size / 2`` and row ``(1 - y / extent) * size / 2``.
  Each call draws on its own matplotlib Figure with the Agg canvas: no display is needed
  and pyplot's global state is never touched, so a background thread may call it.

  Args:
    samples: ``[N, 2]`` generated points.
    means: optional ``[K, 2]`` mode centres.
    size: width and height of the image in pixels.
    extent: half-width of the plotted square; None picks it from the data.
    sigma: optional standard deviation of the mixture components.
    title: optional title (a small label in the corner of thumbnails).

  Returns:
    ``[size, size, 3]`` uint8 RGB, ready for ``save_image``.
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  from matplotlib.patches import Circle

  samples = np.asarray(samples, np.float64).reshape(-1, 2)
  samples = samples[np.all(np.isfinite(samples), axis=1)]
  if means is not None:
    means = np.asarray(means, np.float64).reshape(-1, 2)
    means = means[np.all(np.isfinite(means), axis=1)]
  pts = samples if means is None else np.concatenate([samples, means])
  extent = extent or (1.2 * float(np.max(np.abs(pts))) if len(pts) else 0.0) or 1.0

  dpi = 100.0
  px = 72.0 / dpi  # points per pixel
  labelled = size >= 256
  fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi, facecolor="white")
  canvas = FigureCanvasAgg(fig)
  # A square axes box at fixed figure fractions, so equal aspect holds by construction.
  ax = fig.add_axes((0.12, 0.08, 0.84, 0.84) if labelled else (0.0, 0.0, 1.0, 1.0))
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_aspect("equal", adjustable="box")
  scale = size / 512
  if labelled:
    ax.grid(True, color=(0.88, 0.88, 0.88), linewidth=0.8 * scale)
    ax.tick_params(labelsize=max(6.0, 9.0 * scale), length=3 * scale)
    if title:
      ax.set_title(title, fontsize=max(7.0, 11.0 * scale))
  else:
    ax.set_axis_off()
    for line in (ax.axhline, ax.axvline):
      line(0.0, color=(220 / 255, 220 / 255, 220 / 255), linewidth=px, zorder=0)
    if title:
      ax.text(0.02, 0.98, title, transform=ax.transAxes, va="top", fontsize=6)
  ax.set_axisbelow(True)

  red = (220 / 255, 30 / 255, 30 / 255)
  has_means = means is not None and len(means) > 0
  ring_px = 12.0 * max(0.5, scale)  # diameter of a mode's ring marker
  hq_px = 0.0  # radius of the 3-sigma disc in pixels
  if has_means and sigma:
    hq_px = 3.0 * sigma * (0.84 if labelled else 1.0) * size / (2.0 * extent)
    for m in means:  # pale fill under the samples, outline above them
      ax.add_patch(Circle(m, 3.0 * sigma, facecolor=(1.0, 0.8, 0.8), linewidth=0, zorder=1))
      ax.add_patch(Circle(m, 3.0 * sigma, fill=False, edgecolor=red, linewidth=1.5 * px, zorder=3))
  if len(samples):
    dot = 3.0 * max(1.0, scale) * px  # diameter in points: 3 pixels at 512
    ax.scatter(
      samples[:, 0],
      samples[:, 1],
      s=dot**2,
      c=[(30 / 255, 80 / 255, 200 / 255)],
      marker="o",
      linewidths=0,
      zorder=2,
    )
  if has_means and hq_px < 3.0:  # rings mark the modes unless the 3-sigma circles show
    ax.scatter(
      means[:, 0],
      means[:, 1],
      s=(ring_px * px) ** 2,
      marker="o",
      facecolors="none",
      edgecolors=[red],
      linewidths=2.0 * px,
      zorder=3,
    )
  canvas.draw()
  img = np.asarray(canvas.buffer_rgba())[..., :3]
  out = np.full((size, size, 3), 255, np.uint8)  # guards against an off-by-one canvas size
  h, w = min(size, img.shape[0]), min(size, img.shape[1])
  out[:h, :w] = img[:h, :w]
  return out
