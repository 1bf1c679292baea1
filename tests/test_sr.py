"""Super-resolution: the LR degradation and the bicubic baseline against PIL, ESRGAN's
relativistic average losses against their formula in float64, the perceptual network, the
held-out evaluation, and an SRGAN run started from an SRResNet run that resumes bitwise."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from experiments import srgan_x4, srresnet_x4
from gan_jax import train
from gan_jax.data import sr as sr_data
from gan_jax.games import sr
from gan_jax.metrics import image_quality
from gan_jax.models import sr_family, vgg


def _smooth_image(seed=0, side=64):
  x = np.random.default_rng(seed).normal(size=(1, side, side, 3))
  x = gaussian_filter(x, (0, 2, 2, 0))
  return (x / np.abs(x).max()).astype(np.float32)


def _pil_resize(img, size):
  """PIL's BICUBIC per channel of a float image (antialiased when it shrinks)."""
  chans = [Image.fromarray(img[:, :, c]).resize(size, Image.Resampling.BICUBIC) for c in range(3)]
  return np.stack([np.asarray(c) for c in chans], -1)


@pytest.mark.parametrize("scale", [2, 4])
def test_degradation_and_bicubic_baseline_equal_pil(scale):
  x = _smooth_image()
  lr = np.asarray(sr.degrade(jnp.asarray(x), scale))[0]
  np.testing.assert_allclose(lr, _pil_resize(x[0], (64 // scale,) * 2), atol=1e-6)
  up = np.asarray(sr.upsample_bicubic(jnp.asarray(lr[None]), scale))[0]
  np.testing.assert_allclose(up, _pil_resize(lr, (64, 64)), atol=1e-6)
  with pytest.raises(ValueError, match="not a multiple of the scale"):
    sr.degrade(jnp.zeros((1, 30, 30, 3)), 4)


def _bce(logits, target):
  p = 1 / (1 + np.exp(-logits))
  return -np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_relativistic_average_losses_are_the_esrgan_formula():
  rng = np.random.default_rng(1)
  real, fake = rng.normal(size=7), rng.normal(size=7) - 0.5
  d_real, d_fake = real - fake.mean(), fake - real.mean()  # D_Ra(x_r, x_f), D_Ra(x_f, x_r)
  want_d = 0.5 * (_bce(d_real, 1.0) + _bce(d_fake, 0.0))
  want_g = 0.5 * (_bce(d_real, 0.0) + _bce(d_fake, 1.0))
  got_d = sr.relativistic_d_loss(jnp.asarray(real), jnp.asarray(fake))
  got_g = sr.relativistic_g_loss(jnp.asarray(real), jnp.asarray(fake))
  np.testing.assert_allclose(float(got_d), want_d, rtol=1e-5)
  np.testing.assert_allclose(float(got_g), want_g, rtol=1e-5)


def test_perceptual_network_is_vgg_features_of_normalised_images():
  variables = vgg.random_variables(0)
  x = jnp.asarray(_smooth_image(side=32))
  net = sr_family.PerceptualVGG(layer="conv5_4")
  got = net.apply(variables, x, train=False)
  want = vgg.features(variables, x, "conv5_4")
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_heldout_photographs_are_whole_and_never_trained_on():
  held = sr_data.heldout_images(96, 4)
  assert [h.shape for h in held] == [(96, 96, 3), (96, 144, 3)]
  assert not set(sr_data.HELDOUT_PHOTOS) & set(sr_data.TRAIN_PHOTOS)


def test_photo_crops_are_a_function_of_seed_and_step_and_shards_compose():
  import ml_collections

  cfg = ml_collections.ConfigDict(
    {"name": "photos", "batch_size": 6, "resolution": 24, "load_size": 96, "random_flip": True}
  )
  one = sr_data.PhotoCrops(cfg, 3, 0, 1).batch(5, 2)["image"]
  assert one.shape == (2, 6, 24, 24, 3) and np.abs(one).max() <= 1
  np.testing.assert_array_equal(one, sr_data.PhotoCrops(cfg, 3, 0, 1).batch(5, 2)["image"])
  halves = [sr_data.PhotoCrops(cfg, 3, i, 2).batch(5, 2)["image"] for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), one)
  assert not np.array_equal(one, sr_data.PhotoCrops(cfg, 3, 0, 1).batch(6, 2)["image"])


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def test_srgan_starts_from_srresnet_resumes_bitwise_and_scores_against_bicubic(tmp_path):
  """About a minute: an SRResNet run, then an SRGAN run from it twice (straight, and
  stopped after its first checkpoint then resumed)."""
  pre = srresnet_x4.get_config("tiny")
  pre.train.num_steps = 2
  pre_state = train.train_and_evaluate(pre, str(tmp_path / "srresnet"))

  def cfg():
    c = srgan_x4.get_config("tiny")
    c.train.init_from = str(tmp_path / "srresnet")
    c.train.sample_every = 0
    c.data.load_size = 64  # held-out photographs of short side 64
    return c

  straight = train.train_and_evaluate(cfg(), str(tmp_path / "a"))
  assert set(straight.params) == {"g", "d"}
  shutil.copytree(tmp_path / "a", tmp_path / "b")
  shutil.rmtree(tmp_path / "b" / "checkpoints" / "4")
  resumed = train.train_and_evaluate(cfg(), str(tmp_path / "b"))
  assert _leaves_equal(straight.arrays(), resumed.arrays())
  # The SRGAN's G started from the SRResNet's: its first steps moved away from there.
  assert not _leaves_equal(straight.params["g"], pre_state.params["g"])

  result = train.evaluate_checkpoint(cfg(), str(tmp_path / "b"))
  assert {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "psnr_rgb"} <= set(result)
  # The bicubic baseline, recomputed with PIL on the same held-out photographs.
  psnrs, ssims = [], []
  for hr in sr_data.heldout_images(64, 4):
    lr = _pil_resize(hr, (hr.shape[1] // 4, hr.shape[0] // 4))
    up = _pil_resize(lr, (hr.shape[1], hr.shape[0]))[None]
    psnrs.append(image_quality.psnr(up, hr[None], crop_border=4, y_channel=True)[0])
    ssims.append(image_quality.ssim(up, hr[None], crop_border=4, y_channel=True)[0])
  assert result["psnr_bicubic"] == pytest.approx(np.mean(psnrs), abs=0.02)
  assert result["ssim_bicubic"] == pytest.approx(np.mean(ssims), abs=2e-3)
