"""gan_jax's XLA CPU flag (``gan_jax.CPU_CONV_FLAG``): set on import, effective, overridable.

Each case starts a fresh interpreter, because XLA reads its flags once, when JAX creates
its first backend. The compiled HLO tells whether a convolution went to a YNNPACK kernel
(a ``__ynn_fusion``) or to XLA's own convolution; XLA's cost model keeps small convolutions
(a few thousand outputs) out of YNNPACK, so the probe's convolution is 32x32x32.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gan_jax

PROBE = """
import json, os
import numpy as np
import gan_jax
import jax, jax.numpy as jnp
from jax import lax
x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 34, 34, 32)), jnp.float32)
w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 32, 32)), jnp.float32)
def f(x, w):
  return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
hlo = jax.jit(f).lower(x, w).compile().as_text()
y = jax.jit(f)(x, w)
print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "ynn": "__ynn_fusion" in hlo,
                  "conv": "convolution(" in hlo, "y": y.tolist()}))
"""


def _probe(**env_changes) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GAN_JAX_YNN_CONV")}
  env.update(env_changes)
  r = subprocess.run(
    [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
  )
  assert r.returncode == 0, r.stderr[-2000:]
  return json.loads(r.stdout.strip().splitlines()[-1])


def _reference() -> np.ndarray:
  x = np.random.default_rng(0).normal(size=(1, 34, 34, 32))
  w = np.random.default_rng(1).normal(size=(3, 3, 32, 32))
  y = np.zeros((1, 32, 32, 32))
  for i in range(3):
    for j in range(3):
      y += np.einsum("nhwc,co->nhwo", x[:, i : i + 32, j : j + 32], w[i, j])
  return y


def test_import_sets_the_flag_and_convolutions_leave_ynnpack():
  out = _probe()
  assert gan_jax.CPU_CONV_FLAG in out["flags"].split()
  assert not out["ynn"] and out["conv"]
  np.testing.assert_allclose(np.array(out["y"]), _reference(), rtol=1e-5, atol=1e-4)


def test_opt_out_keeps_xla_default_ynnpack_convolutions():
  # also shows the probe can see a YNNPACK convolution: XLA's default here
  out = _probe(GAN_JAX_YNN_CONV="1")
  assert "ynn_fusion_type" not in out["flags"]
  assert out["ynn"]
  np.testing.assert_allclose(np.array(out["y"]), _reference(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
  "user", ["--xla_cpu_experimental_ynn_fusion_type=", "--xla_cpu_enable_fast_math=false"]
)
def test_user_flags_are_kept(user):
  out = _probe(XLA_FLAGS=user)
  flags = out["flags"].split()
  assert flags[0] == user
  if "ynn_fusion_type" in user:
    assert flags == [user]  # the user's own choice of YNN fusions wins
  else:
    assert flags == [user, gan_jax.CPU_CONV_FLAG]
  assert not out["ynn"]
