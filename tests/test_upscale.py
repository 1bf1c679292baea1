"""``--mode=upscale``: tiled super-resolution of images of any size, blended without seams.

The blending against whole-image outputs (nearest-neighbour upsampling: exactly equal for
every size and overlap; a small conv net and a tiny MSRResNet: equal to float rounding
once the overlap covers their context, with seams at overlap 0), the fixed tile shape,
argument checks, and a tiny SRResNet run upscaling a folder, in process and on the
command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from experiments import srresnet_x4
from gan_jax import train, upscale
from gan_jax.models.sr import MSRResNet, pixel_shuffle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _nearest(scale):
  return lambda x: np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)


def _smooth(h, w, seed=0):
  x = gaussian_filter(np.random.default_rng(seed).normal(size=(h, w, 3)), (1.5, 1.5, 0))
  return (x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize(
  "h,w", [(5, 7), (16, 16), (16, 9), (40, 23), (33, 61)]
)  # smaller than a tile, one tile, one side short, not multiples of the stride
@pytest.mark.parametrize("overlap", [0, 1, 5, 8, 15])
def test_nearest_neighbour_tiles_equal_the_whole_image_exactly(h, w, overlap):
  lr = np.random.default_rng(h * w + overlap).normal(size=(h, w, 3)).astype(np.float32)
  fn = _nearest(3)
  out = upscale.tiled_upscale(fn, lr, 3, tile=16, overlap=overlap, batch=3)
  assert out.shape == (3 * h, 3 * w, 3) and out.dtype == np.float32
  np.testing.assert_array_equal(out, fn(lr[None])[0])


def test_weights_crossfade_across_the_overlap_and_cover_every_pixel():
  r = upscale.ramp(16)
  assert r[0] == 0 and r[-1] == 1 and np.all(np.diff(r) >= 0)
  np.testing.assert_allclose(r + r[::-1], 1.0)  # two neighbours' weights sum to 1
  assert upscale.tile_starts(16, 16, 4) == [0]
  assert upscale.tile_starts(40, 16, 4) == [0, 12, 24]
  assert upscale.tile_starts(41, 16, 4) == [0, 12, 24, 25]  # the last ends at the edge
  assert upscale.tile_starts(32, 16, 0) == [0, 16]


def _conv_net(seed=0):
  """Three 3x3 convolutions (zero padded: 3 LR pixels of context) and pixel shuffle x2."""
  rng = np.random.default_rng(seed)
  shapes = [(3, 16), (16, 16), (16, 12)]
  kernels = [rng.normal(size=(3, 3, i, o)).astype(np.float32) / np.sqrt(9 * i) for i, o in shapes]

  @jax.jit
  def net(x):
    for n, k in enumerate(kernels):
      x = jax.lax.conv_general_dilated(
        x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
      x = jnp.tanh(x) if n < len(kernels) - 1 else x
    return pixel_shuffle(x, 2)

  return net


def _recording(fn):
  shapes = []

  def call(x):
    shapes.append(x.shape)
    return fn(x)

  return call, shapes


def test_conv_net_tiles_blend_without_seams_and_take_one_shape():
  net = _conv_net()
  lr = _smooth(45, 61)
  whole = np.asarray(net(lr[None]))[0]
  assert 0.5 < np.abs(whole).max() < 2
  err = {}
  for overlap in (0, 8, 12):
    fn, shapes = _recording(net)
    out = upscale.tiled_upscale(fn, lr, 2, tile=16, overlap=overlap, batch=3)
    assert out.shape == whole.shape
    assert set(shapes) == {(3, 16, 16, 3)}
    err[overlap] = np.abs(out - whole).max()
  # Measured: 0.61 at overlap 0 (seams), 0.035 at 8 (the trimmed quarter, 2 LR pixels,
  # is less than the net's 3 of context), 0 at 12 (3 trimmed: only exact pixels count).
  assert err[0] > 0.3
  assert err[8] < err[0] / 10
  assert err[12] < 1e-5


def test_msrresnet_tiles_match_the_whole_image():
  net = MSRResNet(scale=2, num_feat=8, num_blocks=1)
  variables = net.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  apply = jax.jit(lambda x: net.apply(variables, x))
  lr = _smooth(45, 61, seed=1)
  whole = np.asarray(apply(lr[None]))[0]
  fn, shapes = _recording(apply)
  err0 = np.abs(upscale.tiled_upscale(fn, lr, 2, tile=16, overlap=0, batch=4) - whole).max()
  err8 = np.abs(upscale.tiled_upscale(fn, lr, 2, tile=16, overlap=8, batch=4) - whole).max()
  assert set(shapes) == {(4, 16, 16, 3)}
  # Measured: 0.092 at overlap 0, 3.6e-6 at overlap 8, of outputs up to 0.99.
  assert err0 > 0.03 and err8 < 1e-4


@pytest.mark.parametrize(
  "kwargs,match",
  [
    ({"tile": 0}, "--tile=0"),
    ({"tile": 8, "overlap": 8}, "--tile_overlap=8"),
    ({"overlap": -1}, "--tile_overlap=-1"),
    ({"scale": 0}, "model.scale=0"),
    ({"batch": 0}, "batch=0"),
  ],
)
def test_bad_arguments_name_the_flag(kwargs, match):
  args = {"scale": 2, "tile": 16, "overlap": 4, "batch": 2, **kwargs}
  scale = args.pop("scale")
  with pytest.raises(ValueError, match=match):
    upscale.tiled_upscale(_nearest(max(scale, 1)), np.zeros((8, 8, 3)), scale, **args)


def test_bad_images_and_bad_functions_are_refused():
  with pytest.raises(ValueError, match=r"one image \[h, w, C\]"):
    upscale.tiled_upscale(_nearest(2), np.zeros((1, 8, 8, 3)), 2, tile=8, overlap=2)
  with pytest.raises(ValueError, match=r"expected \(2, 16, 16, C\)"):
    upscale.tiled_upscale(_nearest(3), np.zeros((8, 8, 3)), 2, tile=8, overlap=2, batch=2)


# ---- a tiny SRResNet run -------------------------------------------------------------


def _sr_cfg():
  cfg = srresnet_x4.get_config("tiny")
  cfg.train.num_steps = 2
  cfg.train.sample_every = 0
  return cfg


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("srresnet"))
  train.train_and_evaluate(_sr_cfg(), wd)
  return wd


def _photos(root):
  rng = np.random.default_rng(0)
  (root / "sub").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 255, (20, 28, 3), np.uint8)).save(root / "a.png")
  Image.fromarray(rng.integers(0, 255, (40, 33, 3), np.uint8)).save(root / "sub" / "b.jpg")


def test_upscale_folder_writes_each_image_scale_times_its_size(sr_run, tmp_path):
  src, dst = tmp_path / "in", tmp_path / "out"
  _photos(src)
  written = upscale.upscale_folder(_sr_cfg(), sr_run, str(src), str(dst), tile=16, overlap=4)
  assert sorted(os.path.relpath(p, dst) for p in written) == ["a.png", "sub/b.png"]
  assert np.asarray(Image.open(dst / "a.png")).shape == (80, 112, 3)
  assert np.asarray(Image.open(dst / "sub" / "b.png")).shape == (160, 132, 3)
  (tmp_path / "empty").mkdir()
  with pytest.raises(FileNotFoundError, match="No images"):
    upscale.upscale_folder(_sr_cfg(), sr_run, str(tmp_path / "empty"), "x")
  with pytest.raises(FileNotFoundError, match="not a folder"):
    upscale.upscale_folder(_sr_cfg(), sr_run, str(tmp_path / "missing"), "x")
  with pytest.raises(ValueError, match="--tile_overlap=16"):
    upscale.upscale_folder(_sr_cfg(), sr_run, str(src), "x", tile=16, overlap=16)


def test_a_game_without_upscale_is_refused(monkeypatch, tmp_path):
  game = types.SimpleNamespace(predict={"generate": None})
  monkeypatch.setattr(train, "restored_run", lambda *a: types.SimpleNamespace(game=game))
  cfg = srresnet_x4.get_config("tiny")
  with pytest.raises(ValueError, match="'srresnet' does not upscale.*needs a super-resolution"):
    upscale.upscale_folder(cfg, str(tmp_path), str(tmp_path), str(tmp_path / "o"))


def _cli(*args):
  return subprocess.run(
    [sys.executable, "-m", "gan_jax.main", "--config=experiments/srresnet_x4.py:tiny",
     "--config.train.num_steps=2", "--config.train.sample_every=0", "--mode=upscale", *args],
    cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True, text=True,
    timeout=300,
  )  # fmt: skip


def test_upscale_mode_on_the_command_line(sr_run, tmp_path):
  src = tmp_path / "in"
  _photos(src)
  r = _cli(f"--workdir={sr_run}", f"--input={src}", f"--output={tmp_path / 'cli'}",
           "--tile=16", "--tile_overlap=4")  # fmt: skip
  assert r.returncode == 0, r.stderr[-3000:]
  assert np.asarray(Image.open(tmp_path / "cli" / "sub" / "b.png")).shape == (160, 132, 3)
  r = _cli(f"--workdir={sr_run}", f"--output={tmp_path / 'o'}")
  assert r.returncode == 2 and "--mode=upscale needs --input=DIR and --output=DIR" in r.stderr
