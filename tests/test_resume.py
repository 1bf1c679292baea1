"""A run survives anything: SIGKILL, SIGTERM, corrupt checkpoints; it is deterministic."""

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import pytest

from experiments import gan_ring
from gan_jax import checkpoint, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A DCGAN on digits: slow enough per step (tens of ms) to be killed mid-run.
CLI = [
  "--config=experiments/dcgan_digits.py:tiny",
  "--config.train.num_steps=40",
  "--config.train.checkpoint_every=5",
  "--config.train.sample_every=0",
  "--config.train.log_every=10",
  "--config.data.batch_size=32",
  "--config.model.width=16",
]


def _start(workdir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.Popen(
    [sys.executable, "-m", "gan_jax.main", f"--workdir={workdir}", *CLI],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )


def _finish(workdir):
  p = _start(workdir)
  out, _ = p.communicate(timeout=300)
  assert p.returncode == 0, out.split("Extension modules:")[0][-3000:]
  return out


def _final_checksums(workdir, step=40):
  path = os.path.join(workdir, "checkpoints", str(step), "meta", "metadata")
  return json.load(open(path))["checksums"]


def _wait_for(pred, proc, timeout=120):
  t0 = time.time()
  while not pred():
    assert proc.poll() is None, "run ended before the kill point"
    assert time.time() - t0 < timeout, "kill point never reached"
    time.sleep(0.002)


def _committed(workdir):
  return [d for d in glob.glob(os.path.join(workdir, "checkpoints", "*")) if d[-1].isdigit()]


def _writing(workdir):
  return glob.glob(os.path.join(workdir, "checkpoints", "*orbax-checkpoint-tmp*"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("reference"))
  _finish(wd)
  return _final_checksums(wd)


@pytest.mark.parametrize("when", ["during_checkpoint_write", "between_checkpoints"])
def test_sigkill_then_same_command_is_bitwise_identical(tmp_path, reference, when):
  wd = str(tmp_path)
  p = _start(wd)
  if when == "during_checkpoint_write":
    _wait_for(lambda: len(_committed(wd)) >= 1 and _writing(wd), p)
  else:
    _wait_for(lambda: len(_committed(wd)) >= 2, p)
    time.sleep(0.05)
  p.send_signal(signal.SIGKILL)
  p.wait()
  assert not os.path.exists(os.path.join(wd, "checkpoints", "40"))
  out = _finish(wd)
  assert "Restored checkpoint at step" in out
  assert _final_checksums(wd) == reference


def test_sigterm_saves_and_exits_cleanly_then_continues(tmp_path, reference):
  wd = str(tmp_path)
  p = _start(wd)
  _wait_for(lambda: len(_committed(wd)) >= 1, p)
  p.send_signal(signal.SIGTERM)
  out, _ = p.communicate(timeout=120)
  assert p.returncode == 0, out.split("Extension modules:")[0][-3000:]
  assert "SIGTERM: saved a checkpoint at step" in out
  saved = int(out.split("SIGTERM: saved a checkpoint at step ")[1].split(";")[0])
  assert os.path.isdir(os.path.join(wd, "checkpoints", str(saved)))
  out = _finish(wd)
  assert f"Restored checkpoint at step {saved}" in out
  assert _final_checksums(wd) == reference


# ---- Corrupt checkpoints (in-process, the ring MLP: checkpoints at steps 2 and 4) --------


def _ring_run(wd, steps=4):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = steps
  return train.train_and_evaluate(cfg, wd)


def _data_files(step_dir):
  files = [f for f in glob.glob(os.path.join(step_dir, "state", "**", "*"), recursive=True)]
  files = [f for f in files if os.path.isfile(f) and "/d/" in f]
  return sorted(files, key=os.path.getsize)


# Each damage hits every data file: the manifest may reference only some of them.
def _missing_file(step_dir):
  for f in _data_files(step_dir):
    os.remove(f)


def _truncated_file(step_dir):
  for f in _data_files(step_dir):
    with open(f, "r+b") as fh:
      fh.truncate(os.path.getsize(f) // 2)


def _bit_flip(step_dir):
  for f in _data_files(step_dir):
    with open(f, "r+b") as fh:
      data = bytearray(fh.read())
      data[len(data) // 2] ^= 0x10
      fh.seek(0)
      fh.write(data)


def _half_written(step_dir):
  shutil.rmtree(os.path.join(step_dir, "meta"))
  os.remove(os.path.join(step_dir, "state", "manifest.ocdbt"))


@pytest.mark.parametrize("damage", [_missing_file, _truncated_file, _bit_flip, _half_written])
def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, damage, caplog):
  wd = str(tmp_path)
  reference = _ring_run(str(tmp_path / "ref"), steps=6)
  _ring_run(wd)
  damage(os.path.join(wd, "checkpoints", "4"))
  state = _ring_run(wd, steps=6)
  assert "Checkpoint at step 4" in caplog.text and "trying an older one" in caplog.text
  assert glob.glob(os.path.join(wd, "corrupt_checkpoints", "4.*"))  # kept, not deleted
  assert int(state.step) == 6
  assert checkpoint.checksums(state.arrays()) == checkpoint.checksums(reference.arrays())


def test_no_good_checkpoint_stops_and_deletes_nothing(tmp_path):
  wd = str(tmp_path)
  _ring_run(wd)
  for step in ("2", "4"):
    _bit_flip(os.path.join(wd, "checkpoints", step))
  before = sorted(glob.glob(os.path.join(wd, "**"), recursive=True))
  with pytest.raises(checkpoint.NoGoodCheckpointError, match="nothing was deleted"):
    _ring_run(wd, steps=6)
  assert sorted(glob.glob(os.path.join(wd, "**"), recursive=True)) == before


def test_half_written_step_directory_is_ignored(tmp_path):
  wd = str(tmp_path)
  _ring_run(wd)
  shutil.copytree(
    os.path.join(wd, "checkpoints", "4"), os.path.join(wd, "checkpoints", "6.orbax-checkpoint-tmp")
  )
  state = _ring_run(wd, steps=6)
  assert int(state.step) == 6


def test_two_runs_with_the_same_seed_are_identical(tmp_path):
  a = _ring_run(str(tmp_path / "a"))
  b = _ring_run(str(tmp_path / "b"))
  assert checkpoint.checksums(a.arrays()) == checkpoint.checksums(b.arrays())


def test_keep_period_keeps_every_kth_step(tmp_path):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 12
  cfg.train.keep_checkpoints = 1
  cfg.train.keep_period = 4
  train.train_and_evaluate(cfg, str(tmp_path))
  steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
  assert steps == [4, 8, 12]


def test_stragglers_of_a_failed_restore_are_dropped_and_nothing_else(monkeypatch, caplog):
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  asyncio_log = logging.getLogger("asyncio")
  monkeypatch.setattr(asyncio_log, "filters", [])
  checkpoint.quiet_stragglers()
  checkpoint.quiet_stragglers()  # installed once

  def unraisable(exc):
    return types.SimpleNamespace(exc_type=type(exc), exc_value=exc, object=None)

  closed = unraisable(RuntimeError("Event loop is closed"))
  sys.unraisablehook(closed)
  other = unraisable(RuntimeError("something else"))
  sys.unraisablehook(other)
  assert seen == [other]
  monkeypatch.setattr(checkpoint, "_quiet_until", time.monotonic())  # the window has passed
  sys.unraisablehook(closed)
  assert seen == [other, closed]
  checkpoint.quiet_stragglers()  # a new failure opens a new window

  read_error = ValueError('DATA_LOSS: Error reading ... [tensorstore_spec=\'{"driver": "zarr"}\']')
  for exc in (read_error, KeyError("kept")):
    asyncio_log.error("Future exception was never retrieved", exc_info=(type(exc), exc, None))
  errors = [r for r in caplog.records if r.name == "asyncio"]
  assert len(errors) == 1 and errors[0].exc_info[1].args == ("kept",)
