"""Cost of running a lazy phase under ``lax.cond`` against a static schedule, per backend.

    python benchmarks/lazy_phase.py

Times one R1-regularised discriminator update of the digits DCGAN critic (32x32, width
32, batch 64, the kind of phase a game runs every 16 steps): compiled alone (what a
static schedule runs at its active steps), inside ``lax.cond`` with a true predicate, and
inside ``lax.cond`` with a false one. The step picks "static" on CPU and "cond" elsewhere
(``gan_jax.step.StepConfig.lazy``); this script is the measurement behind that choice.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.models.dcgan import DCGANDiscriminator


def main(repeats: int = 20) -> dict:
  d = DCGANDiscriminator(32, width=32, norm="none")
  x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32, 32, 1)).astype(np.float32))
  params = d.init(jax.random.key(0), x[:2], train=False)["params"]
  tx = optax.adam(1e-4)
  opt_state = tx.init(params)

  def phase(p, o):
    def loss(p):
      grad_x = jax.grad(lambda xx: jnp.sum(d.apply({"params": p}, xx, train=False)))(x)
      r1 = jnp.mean(jnp.sum(grad_x**2, axis=(1, 2, 3)))
      return r1 + jnp.mean(d.apply({"params": p}, x, train=False))

    updates, o = tx.update(jax.grad(loss)(p), o, p)
    return optax.apply_updates(p, updates), o

  alone = jax.jit(lambda p, o, s: phase(p, o))
  cond = jax.jit(lambda p, o, s: jax.lax.cond(s % 16 == 0, phase, lambda p, o: (p, o), p, o))

  def median_ms(f, s):
    jax.block_until_ready(f(params, opt_state, s))
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(f(params, opt_state, s))
      times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))

  return {
    "device": jax.devices()[0].device_kind,
    "alone_ms": median_ms(alone, jnp.int32(0)),
    "cond_true_ms": median_ms(cond, jnp.int32(0)),
    "cond_false_ms": median_ms(cond, jnp.int32(1)),
  }


if __name__ == "__main__":
  print(json.dumps(main()))
