"""CycleGAN: unpaired translation between domains A and B with cycle consistency.

Networks ``g_ab`` (G: A -> B), ``g_ba`` (F: B -> A), ``d_a`` (real A vs F(b)) and ``d_b``
(real B vs G(a)). One phase updates all four from one forward pass, which is exactly the
reference implementation's order (G step with D fixed, then D step on fakes of the
pre-update G: D's loss does not depend on G's new weights):

- G and F descend together ``adv(D_B(G(a))) + adv(D_A(F(b)))`` plus ``game.cycle_weight``
  (lambda, 10) times ``|F(G(a)) - a|_1 + |G(F(b)) - b|_1`` plus ``game.identity_weight``
  (0.5) times lambda times ``|G(b) - b|_1 + |F(a) - a|_1``.
- Each D descends half its loss on real images against fakes drawn from an image pool of
  ``game.pool_size`` (50) past fakes of its domain.

The adversarial loss is ``loss.name`` (the reference: ``least_squares``), scaled to the
reference's terms (``losses.translation_scales``: a generator's least-squares term is the
squared error to 1 itself, D's loss half the sum of its real and fake terms).

The pool lives in the game's extra state (device arrays, checkpointed): it fills with the
first ``pool_size`` fakes, then each new fake is, with probability 1/2, swapped for a
random stored one (which is returned) or passed through. Under ``jit`` over many devices
it is one pool over the global batch, the same as on one device; under ``pmap`` each
device would keep its own pool and the replicas would drift apart, so a pool and
``parallel.strategy='pmap'`` are refused.

References:
  Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
  Adversarial Networks", eq. 1-3 and 5, Sections 3-4 (the pool: Shrivastava et al. 2017).
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

PREVIEW_ROWS = 6


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming a bad field of the CycleGAN config."""
  from gan_jax.games.pix2pix import PATCH_LOSSES

  if config.loss.name not in PATCH_LOSSES:
    raise ValueError(f"cyclegan plays loss.name in {list(PATCH_LOSSES)}; got {config.loss.name!r}")
  if config.loss.penalty != "none" or config.loss.clip > 0:
    raise ValueError(
      "cyclegan has no gradient penalty or clipping: set loss.penalty='none', loss.clip=0."
    )
  if config.game.n_critic != 1:
    raise ValueError("cyclegan updates all four networks once a step: set game.n_critic=1.")
  for field in ("cycle_weight", "identity_weight"):
    value = config.game.get(field, 0.0)
    if not np.isfinite(value) or value < 0:
      raise ValueError(f"game.{field} must be a finite number >= 0; got {value}")
  pool = config.game.get("pool_size", 50)
  if pool < 0:
    raise ValueError(f"game.pool_size must be >= 0; got {pool}")
  if pool and config.get("parallel", {}).get("strategy", "jit") == "pmap":
    raise ValueError(
      "cyclegan's image pool is one array over the global batch, which pmap cannot keep "
      "identical on every device: use parallel.strategy='jit' (the default), or "
      "game.pool_size=0."
    )


def pool_init(pool_size: int, shape) -> dict[str, jax.Array]:
  """An empty pool: ``images [pool_size, *shape]`` and the number stored so far."""
  return {"images": jnp.zeros((pool_size, *shape), jnp.float32), "count": jnp.int32(0)}


def pool_query(pool: dict, images: jax.Array, key: jax.Array):
  """The reference's image pool: returns ``(images for D, new pool)``.

  For each image in order: while the pool is not full it is stored and returned; then,
  with probability 1/2, a uniformly chosen stored image is returned and replaced by the
  new one, else the new image is returned.

  References:
    Zhu et al. 2017, Section 4; Shrivastava et al. 2017, Section 2.3.
  """
  size = pool["images"].shape[0]
  if size == 0:
    return images, pool

  def one(carry, xs):
    stored, count = carry
    image, k = xs
    k_swap, k_pick = jax.random.split(k)
    filling = count < size
    swap = jax.random.uniform(k_swap) > 0.5
    slot = jnp.where(filling, count, jax.random.randint(k_pick, (), 0, size))
    old = stored[slot]
    write = filling | swap
    stored = stored.at[slot].set(jnp.where(write, image, old))
    out = jnp.where(~filling & swap, old, image)
    return (stored, jnp.minimum(count + 1, size)), out

  keys = jax.random.split(key, images.shape[0])
  (stored, count), out = jax.lax.scan(one, (pool["images"], pool["count"]), (images, keys))
  return out, {"images": stored, "count": count}


def make_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The CycleGAN game; batches ``{a, b}`` of the two domains."""
  del num_classes
  check_config(config)
  if spec.kind != "unpaired":
    raise ValueError(
      f"cyclegan needs two unpaired domains; dataset {config.data.name!r} is {spec.kind!r}. "
      "Use digits2styled, unpaired_folders or cycle_gan."
    )
  gan_loss = losses.get_loss(config.loss.name)
  d_scale, g_scale = losses.translation_scales(config.loss.name)
  lam = config.game.cycle_weight
  lam_idt = config.game.identity_weight * lam
  pool_size = config.game.pool_size

  def g_adv(logits):
    logits = logits.reshape(-1)
    return g_scale * gan_loss.g_loss(jnp.zeros_like(logits), logits)

  def d_half(d, real, fake, ctx):
    real_logits = ctx.apply(d, real).reshape(-1)
    fake_logits = ctx.apply(d, fake).reshape(-1)
    return d_scale * gan_loss.d_loss(real_logits, fake_logits)

  def loss(ctx: PhaseContext):
    a, b = ctx.batch["a"], ctx.batch["b"]
    fake_b = ctx.apply("g_ab", a)
    fake_a = ctx.apply("g_ba", b)
    rec_a, rec_b = ctx.apply("g_ba", fake_b), ctx.apply("g_ab", fake_a)
    # D held fixed in G's terms (the reference's set_requires_grad(D, False)): no
    # zero-cotangent backward through D for the discriminators' pull-backs.
    fixed = {d: jax.lax.stop_gradient(ctx.params[d]) for d in ("d_a", "d_b")}
    adv = g_adv(ctx.apply("d_b", fake_b, update=False, params=fixed["d_b"])) + g_adv(
      ctx.apply("d_a", fake_a, update=False, params=fixed["d_a"])
    )
    cycle = jnp.mean(jnp.abs(rec_a - a)) + jnp.mean(jnp.abs(rec_b - b))
    loss_g = adv + lam * cycle
    metrics = {"g_adv": adv, "g_cycle": cycle}
    if lam_idt > 0:
      idt = jnp.mean(jnp.abs(ctx.apply("g_ab", b) - b)) + jnp.mean(
        jnp.abs(ctx.apply("g_ba", a) - a)
      )
      loss_g = loss_g + lam_idt * idt
      metrics["g_identity"] = idt
    # D learns on pooled fakes of the pre-update generators, detached.
    key_a, key_b = jax.random.split(ctx.fold("pool"))
    pooled_a, pool_a = pool_query(ctx.extra["pool_a"], jax.lax.stop_gradient(fake_a), key_a)
    pooled_b, pool_b = pool_query(ctx.extra["pool_b"], jax.lax.stop_gradient(fake_b), key_b)
    if pool_size:
      ctx.set_extra("pool_a", pool_a)
      ctx.set_extra("pool_b", pool_b)
    loss_da, loss_db = d_half("d_a", a, pooled_a, ctx), d_half("d_b", b, pooled_b, ctx)
    metrics.update({"g_loss": loss_g, "d_a_loss": loss_da, "d_b_loss": loss_db})
    return {"g_ab+g_ba": loss_g, "d_a": loss_da, "d_b": loss_db}, metrics

  shape = tuple(spec.sample_shape)

  def init_extra():
    return {"pool_a": pool_init(pool_size, shape), "pool_b": pool_init(pool_size, shape)}

  @functools.lru_cache(maxsize=1)
  def examples():
    return preview_examples(config, PREVIEW_ROWS * 2, ("a", "b"))

  def draw(domain):
    def fn(key, n):
      del key
      x = examples()[domain]
      return (np.concatenate([x] * -(-n // len(x)))[:n],)

    return fn

  def cycles(sample, key, n):
    """Rows a | G(a) | F(G(a)) then b | F(b) | G(F(b)) of the held-out examples."""
    rows = []
    for domain, there, back in (
      ("a", "translate_ab", "translate_ba"),
      ("b", "translate_ba", "translate_ab"),
    ):
      x = examples()[domain][:n]
      y = sample(there, key, len(x), inputs=(x,))
      rows.append(np.stack([x, y, sample(back, key, len(y), inputs=(y,))], axis=1))
    images = np.concatenate(rows).reshape(-1, *shape)
    return sampling.make_grid(images, ncol=3)

  def preview(sample, key, config):
    grid = cycles(sample, key, PREVIEW_ROWS // 2)
    return grid, max(1, 256 // grid.shape[1])

  def write_samples(sample, key, out_dir, tag, config, **kwargs):
    del kwargs
    path = os.path.join(out_dir, f"cycles_{tag}.png")
    grid = cycles(sample, key, PREVIEW_ROWS)
    if jax.process_index() == 0:
      sampling.save_image(path, grid, max(1, 512 // grid.shape[1]))
    return {"cycles": path}

  return Game(
    phases=(Phase("cycle", ("g_ab", "g_ba", "d_a", "d_b"), loss),),
    batch_keys=("a", "b"),
    init_extra=init_extra,
    predict={
      "translate_ab": lambda nets, x: nets("g_ab", x),
      "translate_ba": lambda nets, x: nets("g_ba", x),
    },
    draw_inputs={"translate_ab": draw("a"), "translate_ba": draw("b")},
    preview=preview,
    write_samples=write_samples,
  )


def tiny(c: ml_collections.ConfigDict) -> None:
  """Batch 2 with a pool of 3 (so a 4-step run fills it and starts swapping)."""
  c.data.batch_size = 2
  c.game.pool_size = 3
