"""Two processes x two CPU devices on localhost against one process: one run, one set of logs.

The processes find each other through ``jax.distributed`` (coordinator on 127.0.0.1) and
run their collectives over gloo, as a GPU cluster would over its network.
"""

import glob
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

from experiments import gan_ring
from gan_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = [
  "--config=experiments/gan_ring.py:tiny",
  "--config.data.batch_size=16",
  "--config.train.log_every=1",
]


def _env(devices: int) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  flags = os.environ.get("XLA_FLAGS", "")  # the suite's own (tests/conftest.py)
  env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}"
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _main(workdir, *extra):
  return [sys.executable, "-m", "gan_jax.main", f"--workdir={workdir}", *CONFIG, *extra]


def _peers(command, timeout=300):
  """Runs ``command(port, i)`` for processes 0 and 1 (2 CPU devices each); their outputs."""
  port = _free_port()
  procs = [
    subprocess.Popen(
      command(port, i),
      cwd=ROOT,
      env=_env(2),
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for i in range(2)
  ]
  try:
    outs = [p.communicate(timeout=timeout)[0] for p in procs]
  finally:
    for p in procs:  # after a timeout or an interrupt: no orphaned peer keeps running
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, out in zip(procs, outs, strict=True):
    assert p.returncode == 0, out[-3000:]
  return outs


def _two_processes(workdir, *extra):
  return _peers(
    lambda port, i: _main(
      workdir,
      f"--coordinator_address=127.0.0.1:{port}",
      "--num_processes=2",
      f"--process_id={i}",
      "--cpu_collectives",
      *extra,
    )
  )


def _one_process(workdir, *extra):
  r = subprocess.run(
    _main(workdir, *extra), cwd=ROOT, env=_env(4), capture_output=True, text=True, timeout=300
  )
  assert r.returncode == 0, r.stderr[-3000:]
  return r.stderr


def _params(workdir):
  """The newest checkpoint of ``workdir`` read back by this (one-device) process."""
  c = gan_ring.get_config("tiny")
  c.data.batch_size = 16
  s = train.restored_run(c, str(workdir)).state
  leaves = jax.tree.leaves((s.params, s.ema, s.opt_state))
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in leaves]), int(s.step)


def test_two_processes_match_one_under_jit_and_pmap_and_checkpoints_move_between_layouts(tmp_path):
  multi, single = tmp_path / "multi", tmp_path / "single"
  outs = _two_processes(multi)
  _one_process(single)

  # One set of logs: process 0 reports progress and writes files; process 1 stays quiet.
  assert "step 4/4" in outs[0]
  assert "step 4/4" not in outs[1]
  assert len(glob.glob(str(multi / "tensorboard" / "*"))) == 1
  assert os.path.exists(multi / "samples" / "step_0000004.png")

  # The same parameters (up to the order of float32 sums), read back by one process.
  p_multi, step_multi = _params(multi)
  p_single, step_single = _params(single)
  assert step_multi == step_single == 4
  np.testing.assert_allclose(p_multi, p_single, rtol=1e-4, atol=1e-5)

  # pmap over the 2 x 2 devices of both processes: the same run.
  pmapped = tmp_path / "pmap"
  _two_processes(pmapped, "--config.parallel.strategy=pmap")
  p_pmap, step_pmap = _params(pmapped)
  assert step_pmap == 4
  np.testing.assert_allclose(p_pmap, p_single, rtol=1e-4, atol=1e-5)

  # A one-process checkpoint continues in the two-process layout.
  outs = _two_processes(single, "--config.train.num_steps=6")
  assert "Restored checkpoint at step 4" in outs[0]
  assert _params(single)[1] == 6


_ONE_HOST_FULL = """
import sys
from experiments import gan_ring
from gan_jax import checkpoint, parallel, train
port, pid, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
parallel.initialize_distributed(f"127.0.0.1:{port}", 2, pid, cpu_collectives=True)
if pid == 1:  # only the second host's disk is full
  usage = checkpoint.shutil.disk_usage
  checkpoint.shutil.disk_usage = lambda p: usage(p)._replace(free=1000)
c = gan_ring.get_config("tiny")
c.data.batch_size = 16
try:
  train.train_and_evaluate(c, f"{workdir}/{pid}")
except OSError as e:
  print("refused:", e)
"""


def test_one_full_host_stops_every_process_at_start(tmp_path):
  """Both processes refuse together; neither waits in a collective for the other."""
  code = textwrap.dedent(_ONE_HOST_FULL)
  outs = _peers(
    lambda port, i: [sys.executable, "-c", code, str(port), str(i), str(tmp_path)], timeout=120
  )
  for out in outs:
    assert "refused:" in out and "less than one checkpoint" in out, out[-3000:]
  assert not os.path.exists(tmp_path / "0" / "checkpoints" / "2")
