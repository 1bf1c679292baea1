"""The command line: the documented invocation works; bad flags give clear errors."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(
    [sys.executable, "-m", "gan_jax.main", *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def test_cli_trains_then_samples(tmp_path):
  wd = str(tmp_path)
  r = _run(
    "--config=experiments/gan_ring.py:tiny",
    f"--workdir={wd}",
    "--config.train.num_steps=2",
    "--config.optim.d.lr=1e-4",
  )
  assert r.returncode == 0, r.stderr[-3000:]
  assert os.path.isdir(os.path.join(wd, "checkpoints", "2"))
  assert '"lr": 0.0001' in open(os.path.join(wd, "config.json")).read()
  r = _run("--config=experiments/gan_ring.py:tiny", f"--workdir={wd}", "--mode=sample")
  assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize(
  "flag,expected",
  [
    ("--config.train.num_stepz=2", "num_stepz"),
    ("--config.train.num_steps=abc", "abc"),
    (
      "--config.model.name=resnet9",
      "valid models: ['biggan', 'cyclegan', 'dcgan', 'dcgan28', 'mlp', 'pix2pix', 'sngan', "
      "'sr', 'stylegan2']",
    ),
  ],
)
def test_cli_bad_flags(tmp_path, flag, expected):
  r = _run("--config=experiments/gan_ring.py:tiny", f"--workdir={tmp_path}", flag, timeout=120)
  assert r.returncode != 0
  assert expected in r.stderr
