"""Single-image super-resolution: SRResNet, SRGAN and ESRGAN as games.

Networks: ``g`` (LR -> HR: SRResNet, MSRResNet or RRDBNet, ``model.g_arch``), ``d`` (the
SRGAN or VGG-style discriminator, ``model.d_arch``; absent when ``game.adv_weight`` is 0)
and, for a perceptual loss, the frozen ``vgg`` (VGG19 features at ``model.vgg_layer``).
Batches are HR crops ``{"image"}``; the LR input is made from them on the device by
``degrade`` (bicubic downscaling by ``model.scale``), or is the dataset's own LR crop
``{"lr"}`` where it has one (``div2k``: ``spec.input_shape`` is set).

The generator's loss, in the papers' terms, with ``sr = g(degrade(hr))``:

    pixel_weight * pixel(sr, hr) + perceptual_weight * feature_loss(vgg(sr), vgg(hr))
      + adv_weight * adversarial(d, sr, hr)

- ``srresnet`` (Ledig et al. 2017, Section 2.2.1): the pixel loss alone (``game.pixel_loss``
  mse, the paper's; or l1); no discriminator.
- ``srgan`` (Ledig et al. 2017, eq. 3-5): content loss (pixel MSE, or the VGG feature MSE
  with ``perceptual_weight``; the paper's VGG54 is ``relu5_4``) plus ``1e-3`` times the
  non-saturating adversarial loss ``-log D(G(I_LR))`` (``loss.name``); D learns the
  standard GAN objective. G starts from an SRResNet run (``train.init_from``).
- ``esrgan`` (Wang et al. 2018, Section 3.2): ``1e-2`` x L1 + ``1`` x perceptual loss (L1
  between VGG features *before* activation, ``conv5_4``) + ``5e-3`` x the relativistic
  average GAN loss: ``D_Ra(a, b) = C(a) - mean C(b)``; G minimises
  ``BCE(D_Ra(fake, real), 1) + BCE(D_Ra(real, fake), 0)``, averaged over the two terms,
  D the mirror image (each term over its batch, halved, as in BasicSR's ESRGANModel).

Predict functions: ``upscale`` (LR -> SR, running statistics) and ``bicubic`` (the
baseline the tables compare with). Evaluation (``evaluation.py``'s ``super_resolution``)
upscales whole held-out images.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import losses, sampling
from gan_jax.games.base import Game, Phase, PhaseContext

SR_GAMES = ("srresnet", "srgan", "esrgan")
PIXEL_LOSSES = ("mse", "l1")
ADV_LOSSES = ("non_saturating", "minimax", "least_squares", "hinge")
PREVIEW_ROWS = 6


def degrade(hr: jax.Array, scale: int) -> jax.Array:
  """LR images ``[..., h / scale, w / scale, C]`` of HR ``[..., h, w, C]``: bicubic
  downscaling with antialiasing.

  The kernel is Keys' cubic with ``a = -0.5`` widened by the scale factor (antialiasing),
  the kernel of MATLAB's ``imresize(x, 1/scale, 'bicubic')`` and of PIL's ``BICUBIC``.
  At the border the kernel's weights are renormalised over the pixels inside, as PIL
  does: the result equals PIL's resize of the float image to 1e-7 everywhere
  (``tests/test_sr.py``), and MATLAB's away from the border (MATLAB pads by reflection,
  which changes the outermost ``2`` LR pixels). Computed in float32, not quantised to 8
  bits as the papers' LR files are.
  """
  if scale == 1:
    return hr
  *lead, h, w, c = hr.shape
  if h % scale or w % scale:
    raise ValueError(f"HR size {h}x{w} is not a multiple of the scale {scale}.")
  return jax.image.resize(hr, (*lead, h // scale, w // scale, c), "cubic", antialias=True)


def upsample_bicubic(lr: jax.Array, scale: int) -> jax.Array:
  """The bicubic baseline: LR upsampled by ``scale`` (Keys' cubic, a = -0.5)."""
  *lead, h, w, c = lr.shape
  return jax.image.resize(lr, (*lead, h * scale, w * scale, c), "cubic", antialias=False)


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the super-resolution config."""
  name, g = config.game.name, config.game
  if config.model.name != "sr":
    raise ValueError(f"game {name!r} needs model.name='sr'; got {config.model.name!r}")
  if g.get("pixel_loss", "mse") not in PIXEL_LOSSES:
    raise ValueError(f"game.pixel_loss must be one of {list(PIXEL_LOSSES)}")
  if name == "srresnet" and g.get("adv_weight", 0.0) > 0:
    raise ValueError("srresnet has no adversarial term: set game.adv_weight=0 (or play srgan).")
  if name != "srresnet" and not g.get("adv_weight", 0.0) > 0:
    raise ValueError(f"{name} needs game.adv_weight > 0 (srresnet trains without a D).")
  if name == "srgan" and config.loss.name not in ADV_LOSSES:
    raise ValueError(f"srgan plays loss.name in {list(ADV_LOSSES)}; got {config.loss.name!r}")
  if g.get("perceptual_weight", 0.0) > 0 and not config.model.get("vgg_layer", ""):
    raise ValueError("game.perceptual_weight > 0 needs model.vgg_layer (e.g. 'relu5_4').")
  if config.loss.penalty != "none" or config.loss.clip > 0:
    raise ValueError("The SR games have no gradient penalty or clipping.")


def _pixel(name: str, a: jax.Array, b: jax.Array) -> jax.Array:
  d = a.astype(jnp.float32) - b.astype(jnp.float32)
  return jnp.mean(jnp.square(d)) if name == "mse" else jnp.mean(jnp.abs(d))


def _bce_logits(logits: jax.Array, target: float) -> jax.Array:
  """Mean binary cross-entropy of ``sigmoid(logits)`` against a constant target."""
  return jnp.mean(target * jax.nn.softplus(-logits) + (1 - target) * jax.nn.softplus(logits))


def relativistic_d_loss(real: jax.Array, fake: jax.Array) -> jax.Array:
  """ESRGAN's D loss: ``(BCE(C(r) - E C(f), 1) + BCE(C(f) - E C(r), 0)) / 2``."""
  return 0.5 * (_bce_logits(real - jnp.mean(fake), 1.0) + _bce_logits(fake - jnp.mean(real), 0.0))


def relativistic_g_loss(real: jax.Array, fake: jax.Array) -> jax.Array:
  """ESRGAN's G loss: ``(BCE(C(r) - E C(f), 0) + BCE(C(f) - E C(r), 1)) / 2``."""
  return 0.5 * (_bce_logits(real - jnp.mean(fake), 0.0) + _bce_logits(fake - jnp.mean(real), 1.0))


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The super-resolution game named by ``config.game.name``; batches ``{"image"}``."""
  del num_classes
  check_config(config)
  if spec.kind != "image" or len(spec.sample_shape) != 3:
    raise ValueError(f"{config.game.name} needs image data; {config.data.name!r} is {spec.kind}")
  name, g_cfg = config.game.name, config.game
  scale = config.model.scale
  pixel_name = g_cfg.get("pixel_loss", "mse")
  pixel_w = g_cfg.get("pixel_weight", 1.0)
  percep_w = g_cfg.get("perceptual_weight", 0.0)
  percep_name = g_cfg.get("perceptual_loss", "mse")
  adv_w = g_cfg.get("adv_weight", 0.0)
  gan_loss = losses.get_loss(config.loss.name) if name == "srgan" else None
  own_lr = spec.input_shape is not None  # the dataset's LR crops, aligned with the HR ones
  if own_lr and spec.input_shape[0] * scale != spec.sample_shape[0]:
    ratio = spec.sample_shape[0] // spec.input_shape[0]
    raise ValueError(
      f"model.scale={scale}, but {config.data.name!r} has LR images at 1/{ratio}: set "
      f"model.scale={ratio} (or read another scale of the dataset)."
    )

  def sr_of(ctx: PhaseContext, update: bool):
    hr = ctx.batch["image"]
    lr = ctx.batch["lr"] if own_lr else degrade(hr, scale)
    return hr, ctx.apply("g", lr, update=update)

  def adversarial(real_logits, fake_logits, for_d: bool):
    if name == "esrgan":
      f = relativistic_d_loss if for_d else relativistic_g_loss
      return f(real_logits, fake_logits)
    if for_d:
      return gan_loss.d_loss(real_logits, fake_logits)
    return gan_loss.g_loss(real_logits, fake_logits)

  def d_loss(ctx: PhaseContext):
    hr, sr = sr_of(ctx, update=False)
    sr = jax.lax.stop_gradient(sr)
    real, fake = ctx.apply("d", hr).reshape(-1), ctx.apply("d", sr).reshape(-1)
    loss = adversarial(real, fake, True)
    return loss, {"d_loss": loss, "d_real": jnp.mean(real), "d_fake": jnp.mean(fake)}

  def g_loss(ctx: PhaseContext):
    hr, sr = sr_of(ctx, update=True)
    pixel = _pixel(pixel_name, sr, hr)
    metrics = {"g_pixel": pixel}
    loss = pixel_w * pixel
    if percep_w > 0:
      percep = _pixel(percep_name, ctx.apply("vgg", sr), ctx.apply("vgg", hr))
      metrics["g_perceptual"] = percep
      loss = loss + percep_w * percep
    if adv_w > 0:
      real = jax.lax.stop_gradient(ctx.apply("d", hr, update=False)).reshape(-1)
      fake = ctx.apply("d", sr, update=False).reshape(-1)
      adv = adversarial(real, fake, False)
      metrics["g_adv"] = adv
      loss = loss + adv_w * adv
    metrics["g_loss"] = loss
    return loss, metrics

  phases = (Phase("g", ("g",), g_loss),)
  if adv_w > 0:
    phases = (Phase("d", ("d",), d_loss, repeat=config.game.n_critic), *phases)

  def upscale(nets, lr):
    return nets("g", lr, train=False)

  def bicubic(nets, lr):
    del nets
    return upsample_bicubic(lr, scale)

  @functools.lru_cache(maxsize=1)
  def examples():
    """``(lr, hr)`` crops of the first held-out images for previews (three per image)."""
    from gan_jax.data import sr as sr_data

    r, q = spec.sample_shape[0], spec.sample_shape[0] // scale
    his, los = [], []
    for _, hr, lr in sr_data.heldout_pairs(config.data, scale, -(-PREVIEW_ROWS // 3)):
      for fy, fx in ((0.5, 0.5), (0.3, 0.3), (0.7, 0.6)):
        y, x = int(fy * (hr.shape[0] - r)) // scale, int(fx * (hr.shape[1] - r)) // scale
        his.append(hr[y * scale : y * scale + r, x * scale : x * scale + r])
        if lr is not None:
          los.append(lr[y : y + q, x : x + q])
    hr = np.stack(his[:PREVIEW_ROWS])
    lr = np.stack(los[:PREVIEW_ROWS]) if los else np.asarray(degrade(jnp.asarray(hr), scale))
    return lr, hr

  def draw(key, n):
    del key
    lr = examples()[0]
    return (np.concatenate([lr] * -(-n // len(lr)))[:n],)

  def preview(sample, key, config):
    lr, hr = examples()
    grid = quad(sample("bicubic", key, len(hr), inputs=(lr,)),
                sample("upscale", key, len(hr), inputs=(lr,)), hr)  # fmt: skip
    return grid, max(1, 384 // grid.shape[1])

  def write_samples(sample, key, out_dir, tag, config, **kwargs):
    del kwargs
    grid, up = preview(sample, key, config)
    path = os.path.join(out_dir, f"sr_{tag}.png")
    if jax.process_index() == 0:
      sampling.save_image(path, grid, up)
    return {"grid": path}

  return Game(
    phases=phases,
    batch_keys=("image", "lr") if own_lr else ("image",),
    predict={"upscale": upscale, "bicubic": bicubic},
    draw_inputs={"upscale": draw, "bicubic": draw},
    preview=preview,
    write_samples=write_samples,
  )


def quad(bicubic, sr, hr) -> np.ndarray:
  """Rows of bicubic | SR | HR as one uint8 grid."""
  stacked = np.stack([bicubic, sr, hr], axis=1).reshape(-1, *hr.shape[1:])
  return sampling.make_grid(np.clip(stacked, -1, 1), ncol=3)


def tiny(c: ml_collections.ConfigDict) -> None:
  """Batch 4 of 16-pixel HR crops."""
  c.data.batch_size = 4
  c.data.resolution = 16
