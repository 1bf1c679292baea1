"""FID Inception features sharded over 2 fake CPU devices equal those on one device."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CODE = """
import jax
import numpy as np
from gan_jax.metrics import inception as inc

assert jax.local_device_count() == 2, jax.devices()
rng = np.random.default_rng(0)
variables = {}
for key, shape in inc.variable_shapes().items():
  node = variables
  *path, leaf = key.split("/")
  for part in path:
    node = node.setdefault(part, {})
  fan_in = np.prod(shape[:-1]) if leaf == "kernel" else 1
  if leaf == "kernel":
    v = rng.normal(size=shape) * np.sqrt(2.0 / fan_in)
  elif leaf in ("scale", "var"):
    v = 0.5 + rng.uniform(size=shape)
  else:
    v = 0.2 * rng.normal(size=shape)
  node[leaf] = v.astype(np.float32)

images = rng.uniform(-1, 1, (3, 20, 20, 3)).astype(np.float32)
two = inc.InceptionExtractor.from_variables(variables)
one = inc.InceptionExtractor.from_variables(variables, devices=jax.local_devices()[:1])
assert two.num_devices == 2 and one.num_devices == 1
pool2, logits2 = two.features(images, batch_size=1)  # rounded up to 2: one image a device
pool1, logits1 = one.features(images, batch_size=2)
assert pool2.shape == (3, 2048) and logits2.shape == (3, 1008)
assert np.abs(pool1).max() > 0
np.testing.assert_allclose(pool2, pool1, rtol=1e-5, atol=1e-6 * np.abs(pool1).max())
np.testing.assert_allclose(logits2, logits1, rtol=1e-5, atol=1e-6 * np.abs(logits1).max())
print("OK")
"""


def test_two_devices_match_one_device():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
  r = subprocess.run(
    [sys.executable, "-c", textwrap.dedent(_CODE)],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-3000:]
