"""StyleGAN2: the style-based generator's game, with lazy regularisation and ADA.

Networks ``g`` (``models/stylegan2.py``: mapping z -> w, synthesis w -> image) and ``d``
(the residual discriminator with minibatch standard deviation). Four phases per
iteration, in the reference's order:

- ``g`` (every step): the non-saturating logistic loss ``softplus(-D(G(z)))``;
- ``g_pl`` (every ``game.pl_interval`` steps, 4): the path-length penalty on a batch
  shrunk by ``game.pl_batch_shrink`` (2): with ``y ~ N(0, I) / sqrt(H W)``, the lengths
  ``a = ||J_w^T y||`` (the gradient of ``sum(G(w) * y)`` with respect to the ws, squared
  and summed over the w features, averaged over the ws, square-rooted); ``pl_mean`` (in
  the game's extra state, checkpointed) moves toward their mean by ``game.pl_decay``
  (0.01); the loss is ``pl_weight * mean((a - pl_mean)^2)`` times the interval;
- ``d`` (every step): ``softplus(D(G(z))) + softplus(-D(x))``;
- ``d_r1`` (every ``game.r1_interval`` steps, 16): ``gamma / 2 * ||grad_x D(x)||^2`` on
  real images, times the interval.

Style mixing (``game.style_mixing``, 0.9): with that probability a batch's ws after a
cutoff drawn uniformly from ``[1, num_ws)`` come from a second code (whose w does not
move ``w_avg``: each phase that maps codes updates it once, from its first code). Lazy
phases scale their loss by their interval (the reference's ``gain``); the optimizers'
learning rates and betas for lazy regularisation (``lr * c``, ``beta ** c``,
``c = I / (I + 1)``) are set by the configs (``experiments/base.lazy_optimizer``). The EMA
of G has a half-life in images (``optim.ema_kimg``, ``optim.ema_rampup``).

D sees real and generated images through ``augment.name``: ``none``, ``diffaugment``
(``augment.policy``) or ``ada``: the ``bgc`` pipeline with probability ``ada_p`` (extra
state, checkpointed), which every ``augment.ada_interval`` steps moves by ``batch *
interval / (ada_kimg * 1000)`` toward an overfitting signal ``E[sign D(x)]`` of
``augment.ada_target`` (0.6). The R1 penalty is taken through the augmentation, at the
un-augmented real images, as the reference does.

Predict functions: ``generate`` (z, labels), ``truncated`` (z, labels, psi: per-sample
pull of every w toward the tracked mean ``w_avg``), ``mix`` (two codes and a cutoff:
coarse ws from the first, fine ones from the second) and ``interpolate_w`` (two codes and
t: linear interpolation of their ws).

References:
  Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Sections
  2-3 and Appendix B (lazy regularisation, path length); Karras et al. 2019, "A
  Style-Based Generator Architecture for GANs", Section 3.1 (style mixing) and 3.3
  (truncation); Karras et al. 2020b, "Training Generative Adversarial Networks with
  Limited Data" (ADA); Mescheder et al. 2018 (R1).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import augment, sampling
from gan_jax.games.base import Game, Phase, PhaseContext, default_preview

AUGMENTS = ("none", "diffaugment", "ada")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the StyleGAN2 config."""
  g = config.game
  if config.model.name != "stylegan2":
    raise ValueError(f"game 'stylegan2' needs model.name='stylegan2'; got {config.model.name!r}")
  if config.loss.name != "non_saturating" or config.loss.penalty != "none":
    raise ValueError(
      "game 'stylegan2' plays the non-saturating logistic loss with its own lazy R1 "
      "(game.r1_gamma): set loss.name='non_saturating' and loss.penalty='none'."
    )
  for name in ("r1_interval", "pl_interval", "pl_batch_shrink"):
    if g.get(name, 1) < 1:
      raise ValueError(f"game.{name} must be >= 1; got {g.get(name)}")
  if not 0.0 <= g.get("style_mixing", 0.0) <= 1.0:
    raise ValueError(f"game.style_mixing is a probability; got {g.style_mixing}")
  if config.model.z_dist != "normal":
    raise ValueError("StyleGAN2 draws z from N(0, I): set model.z_dist='normal'.")
  aug = config.get("augment", {}).get("name", "none")
  if aug not in AUGMENTS:
    raise ValueError(f"Unknown augment.name {aug!r}; valid: {list(AUGMENTS)}")
  if aug == "diffaugment":
    augment.parse_policy(config.augment.policy)
  if aug == "ada" and config.augment.get("ada_resample", "sym6") not in augment.ADA_RESAMPLE:
    raise ValueError(
      f"Unknown augment.ada_resample {config.augment.ada_resample!r}; valid: "
      f"{list(augment.ADA_RESAMPLE)}"
    )
  if config.game.n_critic != 1:
    raise ValueError("game 'stylegan2' takes one D step per G step (game.n_critic=1).")
  check_mbstd(config)


def check_mbstd(config: ml_collections.ConfigDict) -> None:
  """D's minibatch stddev layer splits the batch D sees (the per-device batch under pmap)
  into groups of ``min(model.mbstd_group, N)`` and its 4x4 channels into
  ``model.mbstd_channels`` blocks: both must divide."""
  m = config.model
  group, mbstd_ch = m.get("mbstd_group", 4), m.get("mbstd_channels", 1)
  if mbstd_ch == 0:
    return
  n = config.data.batch_size
  if config.get("parallel", {}).get("strategy", "jit") == "pmap":
    n //= max(1, jax.local_device_count())
  g = min(group, n)
  if n % g:
    raise ValueError(
      f"model.mbstd_group={group}: D's batch of {n} does not split into groups of {g}; use a "
      f"group size that divides {n} (or data.batch_size a multiple of {group})."
    )
  ch = min(m.get("channel_base", 32768) // 4, m.get("channel_max", 512))
  if ch % mbstd_ch:
    raise ValueError(
      f"model.mbstd_channels={mbstd_ch} must divide D's {ch} channels at 4x4 "
      "(min(model.channel_base // 4, model.channel_max))."
    )


def path_lengths(synthesis, ws: jax.Array, y: jax.Array) -> jax.Array:
  """Per-sample path lengths ``||J_w^T y||`` of ``synthesis`` at ``ws`` (``[N, num_ws,
  w_dim]``) for image-space directions ``y``: the gradient of ``sum(synthesis(ws) * y)``
  with respect to the ws, squared and summed over the w features, averaged over the ws,
  square-rooted (Karras et al. 2020, eq. 4 and ``loss.py``'s ``pl_lengths``). Taken with
  ``jax.grad``, so the penalty built on it differentiates through it (second order).

  Returns:
    ``[N]`` lengths.
  """
  grads = jax.grad(lambda w: jnp.sum(synthesis(w) * y))(ws)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The StyleGAN2 game (see the module docstring)."""
  check_config(config)
  if spec.kind != "image":
    raise ValueError(f"game 'stylegan2' needs image data; {config.data.name!r} is {spec.kind}")
  g_cfg, aug_cfg = config.game, config.get("augment", ml_collections.ConfigDict())
  z_dim, batch = config.model.z_dim, config.data.batch_size
  gamma, r1_every = g_cfg.get("r1_gamma", 10.0), g_cfg.get("r1_interval", 16)
  pl_weight, pl_every = g_cfg.get("pl_weight", 2.0), g_cfg.get("pl_interval", 4)
  pl_shrink, pl_decay = g_cfg.get("pl_batch_shrink", 2), g_cfg.get("pl_decay", 0.01)
  mixing = g_cfg.get("style_mixing", 0.9)
  aug_name = aug_cfg.get("name", "none")
  policy = aug_cfg.get("policy", "")
  ada_target, ada_every = aug_cfg.get("ada_target", 0.6), aug_cfg.get("ada_interval", 4)
  ada_kimg, ada_p0 = aug_cfg.get("ada_kimg", 500.0), aug_cfg.get("ada_p", 0.0)
  ada_resample = aug_cfg.get("ada_resample", "sym6")
  from gan_jax.models import stylegan2 as sg2

  num_ws = sg2.num_ws_of(config.model, spec.sample_shape)
  h, w = spec.sample_shape[:2]

  def draw_z(key, n):
    return jax.random.normal(key, (n, z_dim))

  def labels_of(ctx: PhaseContext, n: int | None = None):
    if not num_classes:
      return None
    return ctx.batch["label"][:n]

  def d_view(ctx: PhaseContext, x, tag: str):
    """D's view of a batch: the augmentation (fresh draws per call), or the batch."""
    key = ctx.device_key(ctx.fold(tag))
    if aug_name == "diffaugment":
      return augment.diff_augment(x, key, policy)
    if aug_name == "ada":
      return augment.ada_augment(x, key, ctx.extra["ada_p"], resample=ada_resample)
    return x

  def mapped(ctx: PhaseContext, n: int, labels, tag: str):
    """ws ``[n, num_ws, w_dim]`` of fresh codes, style-mixed with probability ``mixing``."""
    z = ctx.global_draw(draw_z, ctx.fold(tag), n)
    ws = ctx.apply("g", z, labels, method="mapping")
    if mixing > 0:
      z2 = ctx.global_draw(draw_z, ctx.fold(tag + "2"), n)
      ws2 = ctx.apply("g", z2, labels, method="mapping", update=False)  # w_avg tracks z only
      k_p, k_cut = jax.random.split(ctx.fold(tag + "c"))  # one cutoff for the whole batch
      cutoff = jax.random.randint(k_cut, (), 1, num_ws)
      cutoff = jnp.where(jax.random.uniform(k_p) < mixing, cutoff, num_ws)
      ws = jnp.where(jnp.arange(num_ws)[None, :, None] < cutoff, ws, ws2)
    return ws

  def g_main(ctx: PhaseContext):
    n = ctx.batch["image"].shape[0]
    labels = labels_of(ctx)
    fake = ctx.apply("g", mapped(ctx, n, labels, "gz"), method="synthesis")
    logits = ctx.apply("d", d_view(ctx, fake, "ga"), labels, update=False)
    loss = jnp.mean(jax.nn.softplus(-logits))
    return loss, {"g_loss": loss}

  def g_path_length(ctx: PhaseContext):
    n = max(ctx.batch["image"].shape[0] // pl_shrink, 1)
    labels = labels_of(ctx, n)
    ws = mapped(ctx, n, labels, "plz")
    noise_key = ctx.device_key(ctx.fold("pln"))
    c = spec.sample_shape[-1]
    y = jax.random.normal(noise_key, (n, h, w, c)) / np.sqrt(h * w)
    synth_key = ctx.device_key(ctx.fold("pls"))

    def synthesis(ws):
      return ctx.apply("g", ws, method="synthesis", update=False, key=synth_key)

    lengths = path_lengths(synthesis, ws, y)  # differentiable in G's parameters
    mean_len = jnp.mean(jax.lax.stop_gradient(lengths))
    if ctx.axis_name is not None:
      mean_len = jax.lax.pmean(mean_len, ctx.axis_name)
    pl_mean = ctx.extra["pl_mean"] + pl_decay * (mean_len - ctx.extra["pl_mean"])
    ctx.set_extra("pl_mean", pl_mean)
    penalty = jnp.mean(jnp.square(lengths - pl_mean))
    loss = penalty * pl_weight * pl_every
    return loss, {"g_pl_penalty": penalty, "g_pl_mean": pl_mean}

  def d_main(ctx: PhaseContext):
    real = ctx.batch["image"]
    n, labels = real.shape[0], labels_of(ctx)
    ws = mapped(ctx, n, labels, "dz")
    fake = jax.lax.stop_gradient(ctx.apply("g", ws, method="synthesis"))
    fake_logits = ctx.apply("d", d_view(ctx, fake, "dfa"), labels)
    real_logits = ctx.apply("d", d_view(ctx, real, "dra"), labels)
    loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    signs = jnp.sign(jax.lax.stop_gradient(real_logits)).reshape(-1)
    metrics = {
      "d_loss": loss,
      "d_real": jnp.mean(real_logits),
      "d_fake": jnp.mean(fake_logits),
      "d_real_sign": jnp.mean(signs),  # ADA's overfitting signal E[sign D(x)]
    }
    if aug_name == "ada":
      total, count = jnp.sum(signs), jnp.float32(signs.shape[0])
      if ctx.axis_name is not None:
        total, count = jax.lax.psum((total, count), ctx.axis_name)
      acc_sum, acc_n = ctx.extra["ada_sign_sum"] + total, ctx.extra["ada_sign_count"] + count
      due = (ctx.step + 1) % ada_every == 0
      new_p = augment.ada_p_update(
        ctx.extra["ada_p"], acc_sum / jnp.maximum(acc_n, 1.0), batch, ada_every, ada_kimg,
        ada_target,
      )  # fmt: skip
      ctx.set_extra("ada_p", jnp.where(due, new_p, ctx.extra["ada_p"]))
      ctx.set_extra("ada_sign_sum", jnp.where(due, 0.0, acc_sum))
      ctx.set_extra("ada_sign_count", jnp.where(due, 0.0, acc_n))
      metrics["ada_p"] = ctx.extra["ada_p"]
    return loss, metrics

  def d_r1(ctx: PhaseContext):
    real, labels = ctx.batch["image"], labels_of(ctx)

    def summed(x):
      return jnp.sum(ctx.apply("d", d_view(ctx, x, "r1a"), labels, update=False))

    grads = jax.grad(summed)(real)
    penalty = jnp.mean(jnp.sum(jnp.square(grads), axis=(1, 2, 3)))
    loss = penalty * (gamma / 2) * r1_every
    return loss, {"d_r1_penalty": penalty}

  phases = [Phase("g", ("g",), g_main)]
  if pl_weight > 0:
    phases.append(Phase("g_pl", ("g",), g_path_length, every=pl_every))
  phases.append(Phase("d", ("d",), d_main))
  if gamma > 0:
    phases.append(Phase("d_r1", ("d",), d_r1, every=r1_every))

  def init_extra():
    extra = {"pl_mean": jnp.zeros((), jnp.float32)}
    if aug_name == "ada":
      extra.update(
        ada_p=jnp.asarray(ada_p0, jnp.float32),
        ada_sign_sum=jnp.zeros((), jnp.float32),
        ada_sign_count=jnp.zeros((), jnp.float32),
      )
    return extra

  def generate(nets, z, labels=None):
    return nets("g", z, labels)

  def truncated(nets, z, labels, psi):
    ws = nets("g", z, labels, method="mapping")
    w_avg = sg2.w_avg_of(nets.collections("g"))
    ws = w_avg + psi.reshape(-1, 1, 1) * (ws - w_avg)
    return nets("g", ws, method="synthesis")

  def mix(nets, z_coarse, z_fine, labels, cutoff):
    ws_a = nets("g", z_coarse, labels, method="mapping")
    ws_b = nets("g", z_fine, labels, method="mapping")
    coarse = jnp.arange(num_ws)[None, :, None] < cutoff.reshape(-1, 1, 1)
    return nets("g", jnp.where(coarse, ws_a, ws_b), method="synthesis")

  def interpolate_w(nets, z_a, z_b, labels, t):
    ws_a = nets("g", z_a, labels, method="mapping")
    ws_b = nets("g", z_b, labels, method="mapping")
    return nets("g", ws_a + t.reshape(-1, 1, 1) * (ws_b - ws_a), method="synthesis")

  def class_labels(n):
    return (np.arange(n, dtype=np.int32) % num_classes) if num_classes else None

  def draw_generate(key, n):
    return np.asarray(draw_z(key, n)), class_labels(n)

  def draw_truncated(key, n):
    return np.asarray(draw_z(key, n)), class_labels(n), np.full((n,), 0.7, np.float32)

  def draw_mix(key, n):
    k1, k2 = jax.random.split(key)
    cut = np.full((n,), max(1, num_ws // 2), np.int32)
    return np.asarray(draw_z(k1, n)), np.asarray(draw_z(k2, n)), class_labels(n), cut

  def draw_interpolate(key, n):
    k1, k2 = jax.random.split(key)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return np.asarray(draw_z(k1, n)), np.asarray(draw_z(k2, n)), class_labels(n), t

  def write_samples(sample, key, out_dir, tag, config, rows=8, cols=8, psis=None):
    return _write_samples(sample, key, out_dir, tag, z_dim, num_ws, class_labels, rows, cols, psis)

  return Game(
    phases=tuple(phases),
    batch_keys=("image", "label") if num_classes else ("image",),
    ema=("g",),
    init_extra=init_extra,
    predict={
      "generate": generate,
      "truncated": truncated,
      "mix": mix,
      "interpolate_w": interpolate_w,
    },
    draw_inputs={
      "generate": draw_generate,
      "truncated": draw_truncated,
      "mix": draw_mix,
      "interpolate_w": draw_interpolate,
    },
    preview=default_preview,
    write_samples=write_samples,
  )


def _write_samples(sample, key, out_dir, tag, z_dim, num_ws, class_labels, rows, cols, psis):
  """``--mode=sample``: a grid; a truncation grid (rows psi 1 -> 0.5 toward ``w_avg``); a
  style-mixing grid (row i: coarse styles of code a_i, column j: fine styles of code b_j,
  the cutoff rising down the rows); an interpolation in W (each row from one code's w to
  another's, linearly)."""
  psis = psis or (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
  k_grid, k_trunc, k_a, k_b, k_end = jax.random.split(key, 5)
  n = rows * cols

  def normal(k, m):
    return np.asarray(jax.random.normal(k, (m, z_dim)))

  def save(name, predict, inputs, ncol):
    grid = sampling.make_grid(sample(predict, None, len(inputs[0]), inputs=inputs), ncol)
    path = os.path.join(out_dir, f"{name}_{tag}.png")
    if jax.process_index() == 0:
      sampling.save_image(path, grid, max(1, 512 // grid.shape[1]))
    return path

  paths = {"grid": save("sample_grid", "generate", (normal(k_grid, n), class_labels(n)), cols)}
  m = cols * len(psis)
  z = np.tile(normal(k_trunc, cols), (len(psis), 1))
  psi = np.repeat(np.asarray(psis, np.float32), cols)
  paths["truncation"] = save("truncation", "truncated", (z, class_labels(m), psi), cols)
  za, zb = normal(k_a, rows), normal(k_b, cols)
  cut = np.clip(np.linspace(1, num_ws - 1, rows).round().astype(np.int32), 1, num_ws - 1)
  mixing = (np.repeat(za, cols, 0), np.tile(zb, (rows, 1)), class_labels(n), np.repeat(cut, cols))
  paths["style_mixing"] = save("style_mixing", "mix", mixing, cols)
  t = np.tile(np.linspace(0.0, 1.0, cols, dtype=np.float32), rows)
  ends = (np.repeat(za, cols, 0), np.repeat(normal(k_end, rows), cols, 0))
  paths["interpolation"] = save("interpolation", "interpolate_w", (*ends, class_labels(n), t), cols)
  return paths


def tiny(c: ml_collections.ConfigDict) -> None:
  """Batch 4, lazy intervals 2 (so that tiny runs reach every phase)."""
  c.data.batch_size = 4
  c.game.r1_interval = 2
  c.game.pl_interval = 2
