"""Data parallelism over fake CPU devices: batch checks and a run over 8 devices."""

import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, devices: int, timeout: int = 300, args=()):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  flags = os.environ.get("XLA_FLAGS", "")  # the suite's own (tests/conftest.py)
  env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}"
  return subprocess.run(
    [sys.executable, "-c", textwrap.dedent(code), *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def test_batch_that_does_not_divide_over_devices_fails_at_start(tmp_path):
  r = _python(
    f"""
    from experiments import gan_ring
    from gan_jax import train
    c = gan_ring.get_config("tiny")
    c.data.batch_size = 12
    train.train_and_evaluate(c, {str(tmp_path)!r})
    """,
    devices=8,
  )
  assert r.returncode != 0
  assert "data.batch_size=12 does not divide over 8 devices" in r.stderr
  assert not os.path.exists(tmp_path / "checkpoints" / "2")


# The tiny digits DCGAN: BatchNorm in G and D, whose statistics must be the global batch's
# under both strategies. (The MLP ring game over devices and hosts is test_multihost's.)
_RUN = """
import jax, numpy as np, sys
from experiments import dcgan_digits
from gan_jax import train
out, strategies = sys.argv[1], sys.argv[2].split(",")
for strategy in strategies:
  c = dcgan_digits.get_config("tiny")
  c.data.batch_size = 16
  c.train.sample_every = 0
  c.parallel.strategy = strategy
  s = train.train_and_evaluate(c, f"{out}/{strategy}")
  leaves = jax.tree.leaves((s.params, s.ema, s.collections))
  np.save(f"{out}/{strategy}.npy", np.concatenate([np.ravel(x) for x in leaves]))
print("devices", len(jax.devices()))
"""


def test_eight_devices_match_one_device_under_jit_and_pmap(tmp_path):
  """Parameters, EMA and BatchNorm statistics after 4 steps agree across device counts."""
  for n, strategies in ((1, "jit"), (8, "jit,pmap")):
    r = _python(_RUN, devices=n, args=[str(tmp_path / f"d{n}"), strategies])
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"devices {n}" in r.stdout
  one = np.load(tmp_path / "d1" / "jit.npy")
  for strategy in ("jit", "pmap"):
    eight = np.load(tmp_path / "d8" / f"{strategy}.npy")
    np.testing.assert_allclose(eight, one, rtol=1e-4, atol=1e-5, err_msg=strategy)
