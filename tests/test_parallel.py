"""Data parallelism over fake CPU devices: batch checks and a run over 8 devices."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, devices: int, timeout: int = 300):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return subprocess.run(
    [sys.executable, "-c", textwrap.dedent(code)],
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


def test_eight_devices_match_one_device(tmp_path):
  code = f"""
    import jax, numpy as np, sys
    from experiments import gan_ring
    from gan_jax import train
    c = gan_ring.get_config("tiny")
    c.data.batch_size = 16
    s = train.train_and_evaluate(c, {str(tmp_path)!r} + "/" + sys.argv[1])
    np.save({str(tmp_path)!r} + "/" + sys.argv[1] + ".npy",
            np.concatenate([np.ravel(x) for x in jax.tree.leaves(s.g_params)]))
    print("devices", len(jax.devices()), s.g_params["Dense_0"]["kernel"].sharding)
  """
  for n in (1, 8):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
    r = subprocess.run(
      [sys.executable, "-c", textwrap.dedent(code), f"d{n}"],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"devices {n}" in r.stdout
  one = __import__("numpy").load(tmp_path / "d1.npy")
  eight = __import__("numpy").load(tmp_path / "d8.npy")
  __import__("numpy").testing.assert_allclose(one, eight, rtol=1e-4, atol=1e-5)
