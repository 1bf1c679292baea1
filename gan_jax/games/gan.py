"""The classic game: a generator ``g(z, labels)`` against a discriminator ``d(x, labels)``.

Two phases: ``d`` (``game.n_critic`` updates of D on real batches and detached fakes,
with the configured adversarial loss, gradient penalty / R1 / R2 and WGAN weight
clipping), then ``g`` (``game.g_steps`` updates of G against the updated D, each with
fresh codes, or with ``game.g_same_codes`` all with the first one's; 1 by default, 2 in
the DCGAN TensorFlow code of PacGAN's Table 2, which feeds its two updates the same
codes). With
``augment.name='diffaugment'`` D only ever sees images through the same differentiable
augmentation, real and fake, in both phases (Zhao et al. 2020, Section 3.2); penalties
are taken at the augmented images. Any of the project's
adversarial losses (``gan_jax/losses.py``) plays; the relativistic generator loss also
reads D's logits on real data. The EMA of G is what samples and evaluations use.

With ``model.pack = m`` > 1 D judges packs of m samples (PacGAN): m independent real
samples, or the outputs of m independent codes, concatenated on their last axis.
``data.batch_size`` counts samples, so D judges ``data.batch_size / m`` packs a step;
PacGAN's released code keeps the number of packs at its batch size (G draws m times as
many samples), which here is ``data.batch_size = m x`` that batch.

BigGAN's additions: ``loss.g_ortho`` / ``loss.d_ortho`` add the orthogonal
regularisation of the player's weights to its loss; ``game.standing_stats = K`` makes
sampling and evaluation use G's BatchNorm statistics averaged over K fixed batches of
fresh codes under the sampled (EMA) weights; ``eval.truncation`` thresholds give the
truncation rows of ``--mode=sample``. ``loss.penalty = "dragan"`` is DRAGAN's penalty.

References:
  Goodfellow et al. 2014, "Generative Adversarial Nets", Algorithm 1 (k D steps, then one
  G step).
  Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial
  networks", Section 3 (packing).
  Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
  Synthesis", Section 3.1 (truncation, orthogonal regularisation); standing statistics
  as BigGAN-PyTorch's ``utils.accumulate_standing_stats``.
  Kodali et al. 2017, "On Convergence and Stability of GANs", Section 4 (DRAGAN).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import augment, losses, sampling
from gan_jax.games.base import Game, Phase, PhaseContext, default_preview, standing_statistics
from gan_jax.metrics import mixtures
from gan_jax.models import blocks

# R1 / R2 are weighted by gamma / 2 (Mescheder et al. 2018, eq. 9-10).
_HALF_WEIGHT = ("r1", "r2")
AUGMENTS = ("none", "diffaugment")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the classic game's config."""
  losses.get_loss(config.loss.name)
  if config.loss.penalty not in losses.PENALTIES:
    raise ValueError(
      f"Unknown loss.penalty {config.loss.penalty!r}; valid: {list(losses.PENALTIES)}"
    )
  if config.game.n_critic < 1:
    raise ValueError(f"game.n_critic must be >= 1; got {config.game.n_critic}")
  if config.game.get("g_steps", 1) < 1:
    raise ValueError(f"game.g_steps must be >= 1; got {config.game.g_steps}")
  if config.model.z_dist not in sampling.Z_DISTS:
    raise ValueError(
      f"Unknown model.z_dist {config.model.z_dist!r}; valid: {list(sampling.Z_DISTS)}"
    )
  name = config.get("augment", {}).get("name", "none")
  if name not in AUGMENTS:
    raise ValueError(f"Unknown augment.name {name!r}; valid: {list(AUGMENTS)}")
  if name == "diffaugment":
    augment.parse_policy(config.augment.policy)
  pack = config.model.get("pack", 1)
  if pack < 1 or config.data.batch_size % pack:
    raise ValueError(f"model.pack={pack} must be >= 1 and divide data.batch_size")
  if pack > 1 and config.model.get("conditional", False):
    raise ValueError("model.pack > 1 packs samples of different classes: unconditional only.")
  for name in ("g_ortho", "d_ortho"):
    if config.loss.get(name, 0.0) < 0:
      raise ValueError(f"loss.{name} must be >= 0; got {config.loss.get(name)}")
  if config.game.get("standing_stats", 0) < 0:
    raise ValueError(f"game.standing_stats must be >= 0; got {config.game.standing_stats}")
  for t in config.eval.get("truncation", ()):
    if not t > 0:
      raise ValueError(f"eval.truncation thresholds must be > 0; got {t}")
  if config.eval.get("truncation", ()) and config.model.z_dist != "normal":
    raise ValueError("eval.truncation truncates N(0, I) codes: needs model.z_dist='normal'.")
  if config.model.get("d_minibatch", "none") == "stddev":
    n = config.data.batch_size // pack
    if n % min(4, n):
      raise ValueError(
        f"model.d_minibatch='stddev' groups D's batch ({n} = data.batch_size / model.pack) "
        "by 4: it must be a multiple of 4 (or smaller than 4)."
      )
  if config.loss.penalty != "none" and config.model.get("d_norm", "none") == "batch":
    raise ValueError(
      f"loss.penalty={config.loss.penalty!r} needs per-sample gradients of D, which "
      "BatchNorm couples across the batch: set model.d_norm to 'layer' or 'none' "
      "(Gulrajani et al. 2017, Section 4)."
    )


def pack_samples(x: jax.Array, m: int) -> jax.Array:
  """``[B, ..., C] -> [B / m, ..., m * C]``: consecutive samples concatenated on the last
  axis (the sample ``i * m + j`` in channels ``j * C .. (j + 1) * C - 1`` of pack ``i``).

  References:
    Lin et al. 2018 (PacGAN), Section 3.
  """
  if m == 1:
    return x
  b, rest = x.shape[0], x.shape[1:]
  x = x.reshape(b // m, m, *rest)
  x = jnp.moveaxis(x, 1, -2)  # [B / m, ..., m, C]
  return x.reshape(b // m, *rest[:-1], m * rest[-1])


def _ortho_filter(path: tuple[str, ...], leaf) -> bool:
  """BigGAN's orthogonal regularisation: every weight matrix and kernel but G's shared
  class embedding (BigGAN-PyTorch ``utils.ortho`` with ``blacklist=G.shared``)."""
  return leaf.ndim >= 2 and "shared" not in path


def ortho_penalty(params, weight: float):
  """``weight * sum_W ||W^T W * (1 - I)||_F^2`` over ``params`` (Brock et al. 2019, eq. 3)."""
  if not weight:
    return jnp.zeros((), jnp.float32)
  return blocks.orthogonal_regularization(params, weight, _ortho_filter)


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The classic game of ``config.loss`` over networks ``g`` and ``d``.

  Args:
    config: the experiment config (``loss``, ``game.n_critic``, ``model.z_dim``, ...).
    spec: the data's ``DataSpec``.
    num_classes: 0 unconditional; else G and D take labels.

  Returns:
    The game.
  """
  check_config(config)
  gan_loss = losses.get_loss(config.loss.name)
  penalty = config.loss.penalty
  pen_weight = config.loss.penalty_weight * (0.5 if penalty in _HALF_WEIGHT else 1.0)
  clip = config.loss.clip
  g_needs_real = config.loss.name == "relativistic_average"
  z_dim, z_dist = config.model.z_dim, config.model.z_dist
  pack = config.model.get("pack", 1)
  g_ortho, d_ortho = config.loss.get("g_ortho", 0.0), config.loss.get("d_ortho", 0.0)
  standing = config.game.get("standing_stats", 0)
  aug_cfg = config.get("augment", {})
  policy = aug_cfg.get("policy", "") if aug_cfg.get("name", "none") == "diffaugment" else ""

  def aug(ctx: PhaseContext, x, tag: str):
    """D's view of a batch: the same augmentation for real and fake (none: as it is)."""
    if not policy:
      return x
    return augment.diff_augment(x, ctx.device_key(ctx.fold(tag)), policy)

  def draw_z(key, n):
    return sampling.sample_z(key, n, z_dim, z_dist)

  def labels_of(ctx: PhaseContext):
    return ctx.batch["label"] if num_classes else None

  def fakes(ctx: PhaseContext, n: int, labels):
    z = ctx.global_draw(draw_z, ctx.fold("z"), n)
    return ctx.apply("g", z, labels)

  def d_loss(ctx: PhaseContext):
    real, labels = ctx.batch["image"], labels_of(ctx)
    # G runs in training mode (its BatchNorm statistics are kept), its output detached.
    fake = jax.lax.stop_gradient(fakes(ctx, real.shape[0], labels))
    real, fake = aug(ctx, real, "augr"), aug(ctx, fake, "augf")
    real, fake = pack_samples(real, pack), pack_samples(fake, pack)
    # Real and fake go through D as separate batches (separate BatchNorm statistics),
    # as in the DCGAN reference implementation.
    real_logits = ctx.apply("d", real, labels)
    fake_logits = ctx.apply("d", fake, labels)
    adv = gan_loss.d_loss(real_logits, fake_logits)

    def d_fn(x):
      return ctx.apply("d", x, labels, update=False)

    key_pen = ctx.device_key(ctx.fold("pen"))
    if penalty == "gradient_penalty":
      pen = losses.gradient_penalty(d_fn, real, fake, key_pen)
    elif penalty == "dragan":
      pen = losses.dragan_penalty(d_fn, real, key_pen)
    elif penalty == "r1":
      pen = losses.r1_penalty(d_fn, real)
    elif penalty == "r2":
      pen = losses.r2_penalty(d_fn, fake)
    else:
      pen = jnp.zeros((), jnp.float32)
    metrics = {
      "d_loss": adv,
      "d_penalty": pen,
      "d_real": jnp.mean(real_logits),
      "d_fake": jnp.mean(fake_logits),
    }
    loss = adv + pen_weight * pen
    if d_ortho:
      metrics["d_ortho"] = ortho_penalty(ctx.params["d"], 1.0)
      loss = loss + d_ortho * metrics["d_ortho"]
    return loss, metrics

  def g_loss(ctx: PhaseContext):
    real, labels = ctx.batch["image"], labels_of(ctx)
    fake = pack_samples(aug(ctx, fakes(ctx, real.shape[0], labels), "augf"), pack)
    # D's statistics are not updated by the generator's step.
    fake_logits = ctx.apply("d", fake, labels, update=False)
    if g_needs_real:
      real = pack_samples(aug(ctx, real, "augr"), pack)
      real_logits = jax.lax.stop_gradient(ctx.apply("d", real, labels, update=False))
    else:
      real_logits = jnp.zeros_like(fake_logits)
    loss = gan_loss.g_loss(real_logits, fake_logits)
    metrics = {"g_loss": loss}
    if g_ortho:
      metrics["g_ortho"] = ortho_penalty(ctx.params["g"], 1.0)
      loss = loss + g_ortho * metrics["g_ortho"]
    return loss, metrics

  post_update = (lambda name, p: losses.clip_weights(p, clip)) if clip > 0 else None
  phases = (
    Phase("d", ("d",), d_loss, repeat=config.game.n_critic, post_update=post_update),
    # G reads the batch for its size, labels and (relativistic loss) a real reference:
    # its extra updates reuse D's slices rather than draw more data.
    Phase(
      "g",
      ("g",),
      g_loss,
      repeat=config.game.get("g_steps", 1),
      shares_slices=True,
      same_draws=config.game.get("g_same_codes", False),
    ),
  )

  def standing_batches():
    """BigGAN's standing statistics: fixed batches of fresh codes (and uniform classes)."""
    key = jax.random.key(config.seed)
    out = []
    for k in range(standing):
      k_z, k_y = jax.random.split(jax.random.fold_in(key, k))
      z = draw_z(k_z, config.data.batch_size)
      y = jax.random.randint(k_y, (z.shape[0],), 0, num_classes) if num_classes else None
      out.append((z, y))
    return out

  def generate(nets, z, labels=None):
    if standing and nets.collections("g"):
      nets = nets.with_collections("g", standing_statistics(nets, "g", standing_batches()))
    return nets("g", z, labels)

  def draw_generate(key, n):
    labels = (np.arange(n, dtype=np.int32) % num_classes) if num_classes else None
    return np.asarray(draw_z(key, n)), labels

  def preview(sample, key, config):
    """The fixed-z grid (a scatter plot over the true modes for 2-D data)."""
    if spec.kind == "points":
      means = _mixture_means(config)
      sigma = mixtures.mixture_spec(config.data.name)[1] if means is not None else None
      points = sample("generate", key, config.eval.num_samples)
      return sampling.scatter_plot(points, means, sigma=sigma), 1
    return default_preview(sample, key, config)

  def write_samples(sample, key, out_dir, tag, config, rows=8, cols=8, psis=None):
    return _write_samples(sample, key, out_dir, tag, config, spec, num_classes, rows, cols, psis)

  return Game(
    phases=phases,
    batch_keys=("image", "label") if num_classes else ("image",),
    ema=("g",),
    predict={"generate": generate},
    draw_inputs={"generate": draw_generate},
    preview=preview,
    write_samples=write_samples,
  )


def _mixture_means(config):
  name = config.data.name
  return mixtures.mixture_spec(name)[0] if name in mixtures.MIXTURES else None


def _write_samples(sample, key, out_dir, tag, config, spec, num_classes, rows, cols, psis):
  """``--mode=sample``: a grid, a slerp interpolation strip and truncated samples."""
  psis = psis or (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
  k_grid, k_interp, k_trunc = jax.random.split(key, 3)
  z_dim, dist = config.model.z_dim, config.model.z_dist
  paths = {}
  if spec.kind == "points":
    pts = sample("generate", k_grid, config.eval.num_samples)
    paths["grid"] = os.path.join(out_dir, f"sample_scatter_{tag}.png")
    if jax.process_index() == 0:
      means = _mixture_means(config)
      sigma = mixtures.mixture_spec(config.data.name)[1] if means is not None else None
      sampling.save_image(paths["grid"], sampling.scatter_plot(pts, means, sigma=sigma))
    return paths

  def save_grid(name, z, ncol, labels=None):
    n = z.shape[0]
    if num_classes and labels is None:
      labels = np.arange(n, dtype=np.int32) % num_classes
    grid = sampling.make_grid(sample("generate", None, n, inputs=(np.asarray(z), labels)), ncol)
    path = os.path.join(out_dir, f"{name}_{tag}.png")
    if jax.process_index() == 0:
      sampling.save_image(path, grid, max(1, 512 // grid.shape[1]))
    return path

  if num_classes:  # one row per class
    z = sampling.sample_z(k_grid, num_classes * cols, z_dim, dist)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), cols)
    paths["grid"] = save_grid("sample_grid", z, cols, labels)
  else:
    paths["grid"] = save_grid(
      "sample_grid", sampling.sample_z(k_grid, rows * cols, z_dim, dist), cols
    )
  paths["interpolation"] = save_grid(
    "interpolation", sampling.interpolation_latents(k_interp, rows, cols, z_dim), cols
  )
  z = sampling.sample_z(k_trunc, cols, z_dim, dist)
  thresholds = tuple(config.eval.get("truncation", ()))
  if thresholds:  # BigGAN's truncation: one row per threshold, the last untruncated
    k_redraw = jax.random.fold_in(k_trunc, 1)
    zs = [sampling.truncate_resample(k_redraw, z, t) for t in thresholds] + [z]
  else:  # StyleGAN's psi: rows pulled towards the mean code
    zs = [sampling.truncate(z, psi) for psi in psis]
  labels = np.tile(np.arange(cols, dtype=np.int32) % num_classes, len(zs)) if num_classes else None
  paths["truncation"] = save_grid("truncation", jnp.concatenate(zs), cols, labels)
  return paths


def tiny(c: ml_collections.ConfigDict) -> None:
  """The classic game has no sizes of its own."""
  del c
