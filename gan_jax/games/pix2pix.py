"""pix2pix: a conditional GAN that translates paired images, ``g(input) -> output``.

Networks ``g`` (a U-Net) and ``d`` (a PatchGAN on the channel concatenation of input and
output, input first). One iteration, in the reference implementation's order:

1. ``d``: D learns to tell (input, target) from (input, G(input)), G's output detached;
   its loss is halved ("we divide the objective by 2 while optimizing D, which slows down
   the rate at which D learns relative to G").
2. ``g``: G, against the updated D, minimises the adversarial loss plus
   ``game.l1_weight`` (100) times the L1 distance to the target.

G's output is the same in both phases (one forward in the reference): the D phase runs G
without keeping its BatchNorm statistics, with the dropout key the G phase uses. The
adversarial loss is ``loss.name`` over every patch logit (``non_saturating`` is the
reference's "vanilla" BCE; ``least_squares`` its "lsgan", scaled to the reference's
terms by ``losses.translation_scales``). ``game.adv_weight=0`` leaves
the L1-trained U-Net alone (the paper's "L1" baseline); D is then not trained.

(The reference puts dropout in ``num_downs - 5`` decoder blocks: none in a 32x32 U-Net.)
At test time the paper keeps dropout and batch statistics on (Section 3.3, "we apply
dropout at test time, and we apply batch normalization using the statistics of the test
batch"), with batches of one image: ``translate`` does exactly that, one image at a time;
``translate_eval`` uses the running statistics and no dropout.

References:
  Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
  eq. 1-4, Sections 3.2-3.3 and 6.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import losses, sampling
from gan_jax.games.base import Game, Phase, PhaseContext, preview_examples

# Adversarial losses that make sense per patch (the ones the reference offers, and hinge).
PATCH_LOSSES = ("non_saturating", "minimax", "least_squares", "hinge", "wasserstein")
PREVIEW_ROWS = 8


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the pix2pix config."""
  if config.loss.name not in PATCH_LOSSES:
    raise ValueError(f"pix2pix plays loss.name in {list(PATCH_LOSSES)}; got {config.loss.name!r}")
  if config.loss.penalty != "none" or config.loss.clip > 0:
    raise ValueError(
      "pix2pix has no gradient penalty or clipping: set loss.penalty='none', loss.clip=0."
    )
  for field in ("l1_weight", "adv_weight"):
    value = config.game.get(field, 0.0)
    if not np.isfinite(value) or value < 0:
      raise ValueError(f"game.{field} must be a finite number >= 0; got {value}")


def _pairs(x, y):
  """D's input: the condition and the image, concatenated on channels (input first)."""
  return jnp.concatenate([x, y], axis=-1)


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The pix2pix game over networks ``g`` and ``d``; batches ``{input, target}``."""
  del num_classes
  check_config(config)
  if spec.kind != "paired":
    raise ValueError(
      f"pix2pix needs paired data (input, target); dataset {config.data.name!r} is "
      f"{spec.kind!r}. Use edges2digits, gray2color, paired_folder or paired_folders."
    )
  gan_loss = losses.get_loss(config.loss.name)
  d_scale, g_scale = losses.translation_scales(config.loss.name)
  l1_weight, adv_weight = config.game.l1_weight, config.game.adv_weight

  def g_forward(ctx: PhaseContext, update: bool):
    # The same dropout key in both phases: D sees the output G is trained on.
    key = ctx.device_key(jax.random.fold_in(ctx.step_key, 0xD0))
    return ctx.apply("g", ctx.batch["input"], update=update, key=key)

  def d_loss(ctx: PhaseContext):
    x, y = ctx.batch["input"], ctx.batch["target"]
    fake = jax.lax.stop_gradient(g_forward(ctx, update=False))
    real_logits = ctx.apply("d", _pairs(x, y)).reshape(-1)  # every patch
    fake_logits = ctx.apply("d", _pairs(x, fake)).reshape(-1)
    loss = d_scale * gan_loss.d_loss(real_logits, fake_logits)
    return loss, {"d_loss": loss, "d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits)}

  def g_loss(ctx: PhaseContext):
    x, y = ctx.batch["input"], ctx.batch["target"]
    fake = g_forward(ctx, update=True)
    l1 = jnp.mean(jnp.abs(fake.astype(jnp.float32) - y))
    metrics = {"g_l1": l1}
    loss = l1_weight * l1
    if adv_weight > 0:
      fake_logits = ctx.apply("d", _pairs(x, fake), update=False).reshape(-1)
      adv = g_scale * gan_loss.g_loss(jnp.zeros_like(fake_logits), fake_logits)
      metrics["g_adv"] = adv
      loss = loss + adv_weight * adv
    metrics["g_loss"] = loss
    return loss, metrics

  phases = (Phase("g", ("g",), g_loss),)
  if adv_weight > 0:
    phases = (Phase("d", ("d",), d_loss, repeat=config.game.n_critic), *phases)

  def translate(nets, x):
    """The paper's test time: each image alone, batch statistics and dropout on."""
    keys = jax.random.split(jax.random.key(0), x.shape[0])
    one = lambda xi, k: nets("g", xi[None], train=True, key=k)[0]  # noqa: E731
    return jax.vmap(one)(x, keys)

  def translate_eval(nets, x):
    """Running statistics, no dropout."""
    return nets("g", x, train=False)

  @functools.lru_cache(maxsize=1)
  def examples():
    return preview_examples(config, PREVIEW_ROWS * 2, ("input", "target"))

  def draw(key, n):
    del key
    held = examples()
    reps = -(-n // len(held["input"]))
    return (np.concatenate([held["input"]] * reps)[:n],)

  def preview(sample, key, config):
    x, y = examples()["input"][:PREVIEW_ROWS], examples()["target"][:PREVIEW_ROWS]
    grid = triptych(x, sample("translate", key, len(x), inputs=(x,)), y)
    return grid, max(1, 256 // grid.shape[1])

  def write_samples(sample, key, out_dir, tag, config, **kwargs):
    del kwargs
    held = examples()
    paths = {}
    for name in ("translate", "translate_eval"):
      out = sample(name, key, len(held["input"]), inputs=(held["input"],))
      paths[name] = os.path.join(out_dir, f"{name}_{tag}.png")
      if jax.process_index() == 0:
        grid = triptych(held["input"], out, held["target"])
        sampling.save_image(paths[name], grid, max(1, 512 // grid.shape[1]))
    return paths

  return Game(
    phases=phases,
    batch_keys=("input", "target"),
    predict={"translate": translate, "translate_eval": translate_eval},
    draw_inputs={"translate": draw, "translate_eval": draw},
    preview=preview,
    write_samples=write_samples,
  )


def triptych(inputs, outputs, targets) -> np.ndarray:
  """Rows of input | output | target as one uint8 grid (inputs of 1 channel broadcast)."""
  c = max(inputs.shape[-1], outputs.shape[-1], targets.shape[-1])
  cols = [np.broadcast_to(a, (*a.shape[:-1], c)) for a in (inputs, outputs, targets)]
  stacked = np.stack(cols, axis=1).reshape(-1, *cols[0].shape[1:])
  return sampling.make_grid(stacked, ncol=3)


def tiny(c: ml_collections.ConfigDict) -> None:
  """Batch 4 (the model family's tiny U-Net is 32x32, the smallest it takes)."""
  c.data.batch_size = 4
