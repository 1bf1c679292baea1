"""``--mode=upscale``: super-resolve a folder of the user's images with a trained SR run.

    python -m gan_jax.main --config=experiments/srresnet_x4.py --workdir=runs/srresnet \\
        --mode=upscale --input=photos/ --output=big/

Every image is read at its own size as RGB, cut into overlapping tiles of ``--tile`` LR
pixels a side (``--tile_overlap`` shared with each neighbour), each tile upscaled by the
game's ``upscale`` predict function (``model.scale`` times), and the tiles blended back
into one image ``scale`` times the size, written as PNG under the same relative name.

Tiling keeps the network's input shape fixed, so it compiles once whatever the images'
sizes, and keeps memory at one batch of tiles plus the output image. The blending hides
the seams: a tile's output is weighted by a separable window that is 1 in its interior
and falls linearly to 0 across the overlap on each side that has a neighbouring tile (1 up
to the image's border elsewhere); the result is ``sum(w * out) / sum(w)``. The window is
0 over the outer quarter of the overlap, where the tile's convolutions saw padding instead
of the image, and crossfades with the neighbour over its middle half: once a quarter of
``--tile_overlap`` covers the network's context, the tiled result equals the whole-image
one to float rounding. ``tiled_upscale`` is the blending on its own, for any ``fn`` of a
fixed tile batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
from absl import logging

from gan_jax import progress, sampling, train
from gan_jax.data import folder
from gan_jax.translate import load_native

TILE_BATCH = 4  # tiles per compiled upscale call


def check_tiling(tile: int, overlap: int, scale: int = 1, batch: int = 1) -> None:
  """Raises ValueError naming the flag of a bad tile size, overlap, scale or batch."""
  if int(tile) != tile or tile < 1:
    raise ValueError(f"--tile={tile!r}: the tile side must be a whole number of LR pixels >= 1.")
  if int(overlap) != overlap or not 0 <= overlap < tile:
    raise ValueError(
      f"--tile_overlap={overlap!r}: the overlap must be at least 0 and less than "
      f"--tile={tile} (tiles advance by tile - overlap pixels)."
    )
  if int(scale) != scale or scale < 1:
    raise ValueError(f"--config.model.scale={scale!r}: the scale must be a whole number >= 1.")
  if int(batch) != batch or batch < 1:
    raise ValueError(f"batch={batch!r}: tiles per call must be >= 1.")


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
  """Start offsets of the tiles along one side of ``size >= tile`` pixels.

  Tiles advance by ``tile - overlap``; the last one is moved back to end at the edge, so
  it shares at least ``overlap`` pixels with the one before.
  """
  if size <= tile:
    return [0]
  starts = list(range(0, size - tile, tile - overlap))
  return [*starts, size - tile]


def ramp(overlap: int) -> np.ndarray:
  """The weights of a tile across an overlap of ``overlap`` pixels, from its edge inward.

  0 over the outer quarter (the pixels whose context the tile lacks), rising linearly
  across the middle half, 1 over the inner quarter: ``clip((j - m + 1/2) / (overlap -
  2m), 0, 1)`` at ``j`` pixels from the edge, ``m = overlap // 4``. Two tiles that share
  exactly ``overlap`` pixels have weights summing to 1 across it (a crossfade).
  """
  m = overlap // 4
  j = np.arange(overlap, dtype=np.float64)
  return np.clip((j - m + 0.5) / (overlap - 2 * m), 0.0, 1.0)


def _window(n_tiles: int, index: int, length: int, overlap: int) -> np.ndarray:
  """The 1-D blending weights of tile ``index`` of ``n_tiles`` (``length`` output pixels):
  1 inside, ``ramp(overlap)`` toward each side that has a neighbouring tile."""
  w = np.ones(length, np.float64)
  if overlap == 0:
    return w
  up = ramp(overlap)
  if index > 0:
    w[:overlap] = np.minimum(w[:overlap], up)
  if index < n_tiles - 1:
    w[-overlap:] = np.minimum(w[-overlap:], up[::-1])
  return w


def _tile_outputs(
  fn: Callable[[np.ndarray], np.ndarray],
  image: np.ndarray,
  coords: list[tuple[int, int]],
  tile: int,
  scale: int,
  batch: int,
) -> Iterator[tuple[int, np.ndarray]]:
  """``(k, output of tile k)`` in order, calling ``fn`` on exactly ``batch`` tiles a time
  (the last group filled up with copies of its last tile, whose outputs are dropped)."""
  size = tile * scale
  for k0 in range(0, len(coords), batch):
    group = coords[k0 : k0 + batch]
    tiles = [image[y : y + tile, x : x + tile] for y, x in group]
    tiles += [tiles[-1]] * (batch - len(group))
    out = np.asarray(fn(np.stack(tiles)))
    if out.ndim != 4 or out.shape[:3] != (batch, size, size):
      raise ValueError(
        f"The upscale function returned {out.shape} for tiles {(batch, tile, tile)}; "
        f"expected ({batch}, {size}, {size}, C) at scale {scale}."
      )
    for i in range(len(group)):
      yield k0 + i, out[i]


def tiled_upscale(
  fn: Callable[[np.ndarray], np.ndarray],
  lr: np.ndarray,
  scale: int,
  tile: int = 128,
  overlap: int = 16,
  batch: int = TILE_BATCH,
) -> np.ndarray:
  """Upscales one image of any size by running ``fn`` on overlapping tiles and blending.

  Args:
    fn: maps ``[batch, tile, tile, C]`` to ``[batch, tile * scale, tile * scale, C']``;
      it is only ever called with that input shape (a jitted ``fn`` compiles once).
    lr: one image ``[h, w, C]``.
    scale: the upscaling factor of ``fn``.
    tile: LR pixels per tile side. A side of the image shorter than ``tile`` is padded
      by reflection up to it, and the output cropped back.
    overlap: LR pixels each tile shares with its neighbour (0: tiles meet edge to edge,
      with seams where ``fn`` depends on context).
    batch: tiles per call of ``fn``.

  Returns:
    ``float32 [h * scale, w * scale, C']``: tile outputs weighted by separable windows
    (1 inside, ``ramp(overlap * scale)`` over the output pixels toward each neighbouring
    tile) and normalised by the summed weights. Sums are kept in float64 over a band of
    one tile row, so where the tiles agree the result equals them exactly; memory is the
    batch of tiles, the band and the output.
  """
  check_tiling(tile, overlap, scale, batch)
  lr = np.asarray(lr, np.float32)
  if lr.ndim != 3:
    raise ValueError(f"tiled_upscale takes one image [h, w, C]; got shape {lr.shape}")
  h, w, _ = lr.shape
  if h < 1 or w < 1:
    raise ValueError(f"tiled_upscale got an empty image of shape {lr.shape}")
  ph, pw = max(tile - h, 0), max(tile - w, 0)
  image = np.pad(lr, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else lr
  H, W = image.shape[0] * scale, image.shape[1] * scale
  size, hr_overlap = tile * scale, overlap * scale
  ys, xs = tile_starts(image.shape[0], tile, overlap), tile_starts(image.shape[1], tile, overlap)
  wy = [_window(len(ys), i, size, hr_overlap) for i in range(len(ys))]
  wx = [_window(len(xs), j, size, hr_overlap) for j in range(len(xs))]
  # The grid is a product of rows and columns, so the summed weights are separable too.
  norm_y, norm_x = np.zeros(H), np.zeros(W)
  for y, wt in zip(ys, wy, strict=True):
    norm_y[y * scale : y * scale + size] += wt
  for x, wt in zip(xs, wx, strict=True):
    norm_x[x * scale : x * scale + size] += wt

  coords = [(y, x) for y in ys for x in xs]
  result: np.ndarray | None = None
  band: np.ndarray | None = None  # float64 sums of output rows [top, top + size)
  top = 0

  def flush(result: np.ndarray, band: np.ndarray, top: int, rows: int) -> None:
    norm = norm_y[top : top + rows, None, None] * norm_x[None, :, None]
    result[top : top + rows] = band[:rows] / norm

  for k, out in _tile_outputs(fn, image, coords, tile, scale, batch):
    i, j = divmod(k, len(xs))
    y0, x0 = ys[i] * scale, xs[j] * scale
    if result is None or band is None:
      result = np.empty((H, W, out.shape[-1]), np.float32)
      band = np.zeros((size, W, out.shape[-1]), np.float64)
    if y0 != top:  # a new tile row: the rows above it are final
      done = y0 - top
      flush(result, band, top, done)
      band[: size - done] = band[done:]
      band[size - done :] = 0.0
      top = y0
    weight = wy[i][:, None, None] * wx[j][None, :, None]
    band[:, x0 : x0 + size] += weight * out
  assert result is not None and band is not None  # at least one tile
  flush(result, band, top, H - top)
  if ph or pw:
    return np.ascontiguousarray(result[: h * scale, : w * scale])
  return result


def upscale_folder(
  config,
  workdir: str,
  input_dir: str,
  output_dir: str,
  which: str = "newest",
  tile: int = 128,
  overlap: int = 16,
  batch: int = TILE_BATCH,
) -> list[str]:
  """Upscales every image under ``input_dir`` into ``output_dir``; returns the paths.

  Args:
    config: the run's experiment config (a super-resolution game; ``model.scale``).
    workdir: the run (its checkpoint is restored).
    input_dir: a folder of JPEG/PNG images (searched recursively), of any sizes.
    output_dir: where the PNG outputs go, under the same relative names.
    which: the checkpoint: ``newest``, ``best`` or a step number.
    tile: LR pixels per tile side (``--tile``).
    overlap: LR pixels shared by neighbouring tiles (``--tile_overlap``).
    batch: tiles per compiled call.
  """
  if not os.path.isdir(input_dir):
    raise FileNotFoundError(f"--input={input_dir!r} is not a folder of images.")
  scale = int(config.model.get("scale", 1))
  check_tiling(tile, overlap, scale, batch)
  run = train.restored_run(config, workdir, which)
  if "upscale" not in run.game.predict:
    raise ValueError(
      f"Game {config.game.name!r} does not upscale images (its predict functions: "
      f"{sorted(run.game.predict)}); --mode=upscale needs a super-resolution game "
      f"(srresnet, srgan, esrgan)."
    )
  paths = folder.walk_images(input_dir)
  if not paths:
    raise FileNotFoundError(f"No images in --input={input_dir!r}.")
  channels = run.spec.sample_shape[-1]
  sample = run.sampler()

  def fn(tiles: np.ndarray) -> np.ndarray:
    return sample("upscale", None, len(tiles), inputs=(tiles,))

  written = []
  for rel in progress.bar(paths, desc=f"Upscaling {input_dir}", unit="img"):
    path = os.path.join(input_dir, rel)
    x = load_native(path, channels)
    try:
      out = tiled_upscale(fn, x, scale, tile, overlap, batch)
    except ValueError as e:
      raise ValueError(f"{path}: {e}") from e
    dest = os.path.join(output_dir, os.path.splitext(rel)[0] + ".png")
    sampling.save_image(dest, sampling.to_uint8(out))
    written.append(dest)
  logging.info(
    "Upscaled %d images x%d from %s into %s (tiles of %d, overlap %d)",
    len(written), scale, input_dir, output_dir, tile, overlap,
  )  # fmt: skip
  return written
