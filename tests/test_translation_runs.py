"""Whole tiny runs of the translation games: pix2pix and CycleGAN on the embedded data.

Training, evaluation keys, the sample and translate modes, resume (bitwise, after SIGKILL
for pix2pix; mid-pool for CycleGAN).
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from experiments import cyclegan_digits, pix2pix_edges2digits
from gan_jax import train, translate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def _eval_line(wd):
  return [json.loads(x) for x in open(os.path.join(wd, "eval.jsonl"))][-1]


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("p2p"))
  cfg = pix2pix_edges2digits.get_config("tiny")
  cfg.train.eval_every = 4
  state = train.train_and_evaluate(cfg, wd)
  return cfg, wd, state


def test_pix2pix_trains_evaluates_and_samples(pix2pix_run):
  cfg, wd, state = pix2pix_run
  assert int(state.step) == 4 and set(state.params) == {"g", "d"}
  line = _eval_line(wd)
  assert {"l1", "psnr", "ssim", "label_accuracy"} <= set(line)
  assert 0 < line["l1"] < 2 and 0 <= line["label_accuracy"] <= 1
  assert line["protocol"]["translation"]["n"] == 297  # the classifier's held-out digits
  paths = train.sample(cfg, wd)
  assert set(paths) == {"translate", "translate_eval"}
  for p in paths.values():
    grid = np.asarray(Image.open(p))
    assert grid.ndim >= 2 and grid.shape[0] > grid.shape[1]  # rows input | output | target


def test_pix2pix_translate_mode_takes_the_sizes_the_unet_takes(pix2pix_run, tmp_path):
  cfg, wd, _ = pix2pix_run
  src = tmp_path / "in"
  (src / "sub").mkdir(parents=True)
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 255, (32, 64), np.uint8)).save(src / "a.png")
  Image.fromarray(rng.integers(0, 255, (64, 32, 3), np.uint8)).save(src / "sub" / "b.jpg")
  written = translate.translate_folder(cfg, wd, str(src), str(tmp_path / "out"))
  assert sorted(os.path.relpath(p, tmp_path / "out") for p in written) == ["a.png", "sub/b.png"]
  assert np.asarray(Image.open(tmp_path / "out" / "a.png")).shape == (32, 64)
  Image.fromarray(rng.integers(0, 255, (40, 40), np.uint8)).save(src / "c.png")
  with pytest.raises(ValueError, match=r"c\.png.*divisible by 2\*\*5 = 32"):
    translate.translate_folder(cfg, wd, str(src), str(tmp_path / "out2"))
  with pytest.raises(ValueError, match="translates with"):
    translate.translate_folder(cfg, wd, str(src), str(tmp_path / "o"), predict="generate")


def test_pix2pix_l1_only_trains_no_discriminator(tmp_path):
  cfg = pix2pix_edges2digits.get_config("tiny")
  cfg.game.adv_weight = 0.0
  cfg.train.num_steps = 2
  from gan_jax import build

  run = build.build(cfg)
  d0 = run.state.params["d"]
  run.source.close()
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert _leaves_equal(d0, state.params["d"])
  assert int(jax.tree.leaves(state.opt_state["g"])[0]) == 2


# ---- CycleGAN ---------------------------------------------------------------------------


def _cycle_cfg(steps):
  cfg = cyclegan_digits.get_config("tiny")  # batch 2, pool 3: fills during step 1
  cfg.train.num_steps = steps
  cfg.train.checkpoint_every = 2
  return cfg


def test_cyclegan_trains_and_evaluates_and_resumes_mid_pool(tmp_path):
  straight = train.train_and_evaluate(_cycle_cfg(4), str(tmp_path / "a"))
  assert set(straight.params) == {"g_ab", "g_ba", "d_a", "d_b"}
  pool = straight.extra["pool_a"]
  assert int(pool["count"]) == 3 and float(np.abs(pool["images"]).sum()) > 0
  train.train_and_evaluate(_cycle_cfg(2), str(tmp_path / "b"))
  half = train.restored_run(_cycle_cfg(2), str(tmp_path / "b")).state
  assert int(half.extra["pool_b"]["count"]) == 3  # full before the resume
  resumed = train.train_and_evaluate(_cycle_cfg(4), str(tmp_path / "b"))
  assert _leaves_equal(straight.arrays(), resumed.arrays())
  result = train.evaluate_checkpoint(_cycle_cfg(4), str(tmp_path / "b"))
  assert {"label_accuracy_ab", "label_accuracy_ba", "cycle_l1"} <= set(result)
  paths = train.sample(_cycle_cfg(4), str(tmp_path / "b"))
  assert os.path.exists(paths["cycles"])


def test_cyclegan_translates_a_folder_either_way(tmp_path):
  cfg = _cycle_cfg(2)
  wd = str(tmp_path / "run")
  train.train_and_evaluate(cfg, wd)
  src = tmp_path / "in"
  src.mkdir()
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(src / "x.png")
  for predict in ("translate_ab", "translate_ba"):
    (out,) = translate.translate_folder(
      cfg, wd, str(src), str(tmp_path / predict), "newest", predict
    )
    assert np.asarray(Image.open(out)).shape == (16, 16, 3)
  r = subprocess.run(
    [sys.executable, "-m", "gan_jax.main", "--config=experiments/cyclegan_digits.py:tiny",
     f"--workdir={wd}", "--config.train.num_steps=2", "--mode=translate", "--direction=BtoA",
     f"--input={src}", f"--output={tmp_path / 'cli'}"],
    cwd=ROOT, capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert r.returncode == 0, r.stderr[-2000:]
  assert os.path.exists(tmp_path / "cli" / "x.png")


# ---- pix2pix: SIGKILL, then the same command ------------------------------------------

CLI = [  # the tiny U-Net: 40 steps with 8 checkpoints leave seconds to kill it mid-run
  "--config=experiments/pix2pix_edges2digits.py:tiny",
  "--config.train.num_steps=40",
  "--config.train.checkpoint_every=5",
  "--config.train.sample_every=0",
  "--config.train.log_every=10",
]


def _start(wd):
  return subprocess.Popen(
    [sys.executable, "-m", "gan_jax.main", f"--workdir={wd}", *CLI],
    cwd=ROOT,
    env=dict(os.environ, JAX_PLATFORMS="cpu"),
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )


def _finish(wd):
  p = _start(wd)
  out, _ = p.communicate(timeout=300)
  assert p.returncode == 0, out[-3000:]
  return out


def _checksums(wd, step=40):
  return json.load(open(os.path.join(wd, "checkpoints", str(step), "meta", "metadata")))[
    "checksums"
  ]


def test_pix2pix_sigkill_then_the_same_command_is_bitwise_identical(tmp_path):
  ref = str(tmp_path / "ref")
  _finish(ref)
  wd = str(tmp_path / "killed")
  p = _start(wd)
  t0 = time.time()
  committed = lambda: [d for d in glob.glob(f"{wd}/checkpoints/*") if d[-1].isdigit()]  # noqa: E731
  while len(committed()) < 2:
    assert p.poll() is None and time.time() - t0 < 200, "kill point never reached"
    time.sleep(0.005)
  p.send_signal(signal.SIGKILL)
  p.wait()
  assert not os.path.exists(os.path.join(wd, "checkpoints", "40"))
  out = _finish(wd)
  assert "Restored checkpoint at step" in out
  assert _checksums(wd) == _checksums(ref)
