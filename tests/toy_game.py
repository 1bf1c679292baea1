"""A toy game over two small networks, for the tests of the generic core.

It has what the real families need and the classic game lacks: a simultaneous update
with one loss per network (``main``), a lazy phase (``lazy``, every 3 steps) that writes
the game's extra state (a running mean and a counter), an EMA of ``a``, and optionally a
frozen network ``f`` loaded from a local file. ``register()`` adds the game ``toy``, the
model family ``toy`` and the dataset ``slow_ring`` (the ring, 20 ms a batch, so that a
run can be killed mid-way). Run as a script, it is ``gan_jax.main`` with them registered.
"""

import os
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from gan_jax import data, games, models  # noqa: E402
from gan_jax.data import embedded  # noqa: E402
from gan_jax.games.base import Game, Network, Phase  # noqa: E402

EVERY = 3
FROZEN_FILE = "GAN_JAX_TOY_FROZEN"  # env var: path of the frozen network's .npz


class Tiny(nn.Module):
  out: int = 2

  @nn.compact
  def __call__(self, x, train: bool = True):
    h = jnp.tanh(nn.Dense(8)(x))
    return nn.Dense(self.out)(h)


def build_networks(cfg, shape, num_classes, axis_name, input_shape=None):
  del cfg, num_classes, axis_name, input_shape
  x = jnp.zeros((2, *shape), jnp.float32)
  nets = {"a": Network(Tiny(), (x,), role="g"), "b": Network(Tiny(1), (x,), role="d")}
  path = os.environ.get(FROZEN_FILE)
  if path:
    nets["f"] = Network(Tiny(), (x,), role="frozen", trained=False, load=lambda: load(path))
  return nets


def load(path):
  """The frozen network's variables from an .npz of flattened parameter paths."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"No weights file {path}")
  flat = dict(np.load(path))
  params: dict = {}
  for key, value in flat.items():
    node = params
    *parents, last = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[last] = value
  return {"params": params}


def losses(ctx):
  """Per-network losses with cross terms: each network must descend only its own."""
  x = ctx.batch["image"]
  a, b = ctx.apply("a", x), ctx.apply("b", x)
  if "f" in ctx.networks:
    a = a + ctx.apply("f", x)
  loss_a = jnp.mean((a - x) ** 2) + jnp.mean(b**2 * a[:, :1])
  loss_b = jnp.mean(b**2) + jnp.mean(a * b)
  return {"a": loss_a, "b": loss_b}, {"loss_a": loss_a, "loss_b": loss_b}


def make_game(config, spec, num_classes):
  del config, spec, num_classes

  def main(ctx):
    return losses(ctx)

  def lazy(ctx):
    b = ctx.apply("b", ctx.batch["image"])
    ctx.set_extra("running", 0.9 * ctx.extra["running"] + 0.1 * jnp.mean(b))
    ctx.set_extra("count", ctx.extra["count"] + 1)
    loss = jnp.mean(b**2)
    return loss, {"lazy_loss": loss}

  def init_extra():
    return {"running": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.int32)}

  def draw(key, n):
    return (np.asarray(jax.random.normal(key, (n, 2))),)

  return Game(
    phases=(Phase("main", ("a", "b"), main), Phase("lazy", ("b",), lazy, every=EVERY)),
    batch_keys=("image",),
    ema=("a",),
    init_extra=init_extra,
    predict={"generate": lambda nets, x: nets("a", x)},
    draw_inputs={"generate": draw},
  )


class SlowSource(data.Source):
  def __init__(self, inner):
    self.inner, self.spec = inner, inner.spec

  def batch(self, step, n=1):
    time.sleep(0.02)
    return self.inner.batch(step, n)


def register():
  games.GAMES["toy"] = games.GameSpec(make_game, lambda c: None, lambda c: None)
  models.MODELS["toy"] = models.ModelFamily(build_networks, lambda c: None)
  data.DATASETS["slow_ring"] = lambda *a: SlowSource(embedded.EMBEDDED["ring"](*a))


def unregister():
  games.GAMES.pop("toy", None)
  models.MODELS.pop("toy", None)
  data.DATASETS.pop("slow_ring", None)


def config(**changes):
  """The tiny ring config playing the toy game (Adam, lr 0.01)."""
  from experiments import gan_ring

  c = gan_ring.get_config("tiny")
  c.game.name = "toy"
  c.model.name = "toy"
  for p in (c.optim.g, c.optim.d):
    p.name, p.lr = "adam", 0.01
  for key, value in changes.items():
    node = c
    *path, last = key.split(".")
    for part in path:
      node = node[part]
    node[last] = value
  return c


if __name__ == "__main__":
  from absl import app

  from gan_jax import main

  register()
  app.run(main.main)
