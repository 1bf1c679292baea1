"""Bad inputs and faults at the command line: the message, the exit status, the time to
fail, and a saved run left byte for byte as it was.

Every case is one ``python -m gan_jax.main`` command line, run by ``fault_driver.py`` (one
import of gan_jax, one fork per case, two at a time): user errors exit 2 with one line
``gan_jax: error: ...`` and no traceback; run failures exit 1 with ``gan_jax: failed: ...``;
internal failures keep their traceback. A case on an ``existing`` workdir runs on a copy
of a trained run (checkpoints at steps 2 and 4) whose checkpoint files must be unchanged;
on a ``fresh`` one, a refused config must not even create the workdir.

All cases run in one driver call and are checked by one test that lists every failing
case (a module fixture would be built once per xdist worker). About 45 s on two cores:
84 cases, most of which fail before compiling anything.
"""

# ruff: noqa: E501 (the case table reads best one case a line)

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from experiments import dcgan_digits
from gan_jax import checkpoint, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "--config=experiments/dcgan_digits.py:tiny"
USER = 2
FAILED = 1
QUICK_S = 60  # a refused config or workdir (some build a model first), on a loaded 2-core machine
RUN_S = 120  # a run that starts, compiles and then fails

# Python run in the child before the command line: the fault.
POISON_STEP_3 = """
import numpy as np
from gan_jax import data
real = data.build_source
class Poisoned(data.Source):
  def __init__(self, inner):
    self.inner, self.spec = inner, inner.spec
  def batch(self, step, n_critic=1):
    b = self.inner.batch(step, n_critic)
    if step == 3:
      b["image"] = np.full_like(b["image"], np.nan)
    return b
  def close(self):
    self.inner.close()
data.build_source = lambda *a, **k: Poisoned(real(*a, **k))
"""
# The disk "fills" after the first checkpoint: free space reads 10 GB for the start-up
# check and the first save, then 100 KB. (It counts the calls of shutil.disk_usage: a new
# caller in the run moves the step at which the disk fills, and the match below says so.)
DISK_FILLS = """
import shutil
real, calls = shutil.disk_usage, [0]
def fake(path):
  calls[0] += 1
  u = real(path)
  return type(u)(u.total, u.used, 10**10 if calls[0] <= 2 else 10**5)
shutil.disk_usage = fake
"""
INTERNAL_BUG = """
from gan_jax import train
def broken(config, workdir):
  raise TypeError("an internal bug")
train._train = broken
"""


def case(cid, *flags, status=USER, match="", workdir="existing", timeout=QUICK_S, **kw):
  return dict(id=cid, flags=list(flags), status=status, match=match, workdir=workdir,
              timeout=timeout, **kw)  # fmt: skip


CASES = [
  # ---- Values out of range (every one refused before any write) ------------------------
  case("keep_checkpoints_0", "--config.train.keep_checkpoints=0", match="keep_checkpoints must be an integer >= 1"),
  case("num_steps_0", "--config.train.num_steps=0", match="train.num_steps must be an integer >= 1"),
  case("num_steps_negative", "--config.train.num_steps=-5", match="train.num_steps must be"),
  case("lr_negative", "--config.optim.g.lr=-1e-4", match="optim.g.lr must be a number >= 0.0"),
  case("lr_nan", "--config.optim.d.lr=nan", match="optim.d.lr must be a finite number"),
  case("lr_inf", "--config.optim.g.lr=inf", match="optim.g.lr must be a finite number"),
  case("beta1_is_1", "--config.optim.g.b1=1.0", match=r"optim.g.b1 must be a number in \[0.0, 1.0\)"),
  case("beta2_negative", "--config.optim.d.b2=-0.1", match="optim.d.b2 must be"),
  case("ema_decay_above_1", "--config.optim.ema_decay=1.5", match=r"optim.ema_decay must be a number in \[0.0, 1.0\]"),
  case("penalty_weight_negative", "--config.loss.penalty_weight=-1.0", match="loss.penalty_weight must be a number >= 0.0"),
  case("checkpoint_every_0", "--config.train.checkpoint_every=0", match="checkpoint_every must be an integer >= 1"),
  case("eval_samples_0", "--config.eval.num_samples=0", match="eval.num_samples must be"),
  case("grid_samples_0", "--config.train.num_samples=0", match="train.num_samples must be"),
  case("z_dim_0", "--config.model.z_dim=0", match="model.z_dim must be an integer >= 1"),
  case("width_0", "--config.model.width=0", match="model.width must be an integer >= 1"),
  case("batch_0", "--config.data.batch_size=0", match="data.batch_size must be"),
  case("steps_per_call", "--config.train.steps_per_call=3", match="multiple of train.steps_per_call=3"),
  case("n_critic_0", "--config.game.n_critic=0", match="game.n_critic must be"),
  case("pack_not_dividing", "--config.model.pack=3", match="model.pack=3 must be >= 1 and divide"),
  case("truncation_negative", "--config.eval.truncation=(-1.0,)", match="each entry of eval.truncation"),
  case("fresh_keep_checkpoints_0", "--config.train.keep_checkpoints=0", workdir="fresh", match="keep_checkpoints must be"),
  case("fresh_lr_nan", "--config.optim.g.lr=nan", workdir="fresh", match="optim.g.lr must be a finite number"),
  case("fresh_unknown_model", "--config.model.name=resnet9", workdir="fresh", match="Unknown model"),
  # ---- Every family's config (its own fields) ----------------------------------------------
  case("pix2pix_l1_negative", "--config.game.l1_weight=-1.0", config="pix2pix_edges2digits", workdir="fresh", match="game.l1_weight must be a number >= 0.0"),
  case("cyclegan_cycle_nan", "--config.game.cycle_weight=nan", config="cyclegan_digits", workdir="fresh", match="game.cycle_weight must be a finite number"),
  case("cyclegan_pool_negative", "--config.game.pool_size=-1", config="cyclegan_digits", workdir="fresh", match="game.pool_size must be an integer >= 0"),
  case("sngan_width_negative", "--config.model.g_width=-1", config="sngan_digits", workdir="fresh", match="model.g_width must be an integer >= 0"),
  case("biggan_shared_dim_negative", "--config.model.shared_dim=-2", config="biggan_digits", workdir="fresh", match="model.shared_dim must be"),
  case("biggan_ortho_negative", "--config.loss.g_ortho=-1e-4", config="biggan_digits", workdir="fresh", match="loss.g_ortho must be a number >= 0.0"),
  case("mlp_hidden_zero", "--config.model.hidden=(0,)", config="gan_ring", workdir="fresh", match="each entry of model.hidden must be an integer >= 1"),
  case("pacgan_pack_zero", "--config.model.pack=0", config="pacgan_ring", workdir="fresh", match="model.pack must be an integer >= 1"),
  case("unrolled_steps_negative", "--config.game.unroll_steps=-1", config="unrolled_ring", workdir="fresh", match="game.unroll_steps must be"),
  case("wgan_gp_penalty_negative", "--config.loss.penalty_weight=-10.0", config="wgan_gp_digits", workdir="fresh", match="loss.penalty_weight must be"),
  case("srresnet_scale_5", "--config.model.scale=5", config="srresnet_x4", workdir="fresh", match=r"model.scale must be one of \[1, 2, 3, 4, 8\]"),
  case("div2k_not_prepared", "--config.data.data_dir=/nonexistent/tfds", config="rrdbnet_div2k", workdir="fresh_allowed", match="tfds build div2k/bicubic_x4"),
  case("sr_folder_missing", "--config.data.name=sr_folder", "--config.data.folder=/nonexistent/hr", config="srresnet_x4", workdir="fresh_allowed", match="SR image folder .* does not exist"),
  case("srgan_vgg_weights_missing", "--config.model.vgg_layer=relu5_4", "--config.game.perceptual_weight=0.006", config="srgan_x4", env={"GAN_JAX_VGG19": "/nonexistent/vgg19.npz"}, workdir="fresh_allowed", match="gan_jax.models.convert_vgg"),
  case("rrdbnet_grow_channels_0", "--config.model.num_grow_ch=0", config="rrdbnet_div2k", workdir="fresh", match="model.num_grow_ch must be an integer >= 1"),
  case("srgan_unknown_d", "--config.model.d_arch=patch", config="srgan_x4", workdir="fresh", match="d_arch 'patch'; valid are"),
  case("upscale_without_input", "--mode=upscale", config="srresnet_x4", workdir="fresh_allowed", match="--mode=upscale needs --input=DIR and --output=DIR"),
  case("upscale_tile_0", "--mode=upscale", "--input=/tmp", "--output=/nonexistent/out", "--tile=0", config="srresnet_x4", workdir="fresh_allowed", match="--tile=0: the tile side must be"),
  case("stylegan2_w_dim_0", "--config.model.w_dim=0", config="stylegan2_lfw", workdir="fresh", match="model.w_dim must be an integer >= 1"),
  case("stylegan2_lr_mul_0", "--config.model.lr_mul=0.0", config="stylegan2_lfw", workdir="fresh", match="model.lr_mul must be a number > 0.0"),
  case("stylegan2_mbstd_group", "--config.model.mbstd_group=3", config="stylegan2_lfw", workdir="fresh", match="model.mbstd_group=3: D's batch of 4 does not split"),
  case("stylegan2_r1_negative", "--config.game.r1_gamma=-1.0", config="stylegan2_lfw", workdir="fresh", match="game.r1_gamma must be a number >= 0.0"),
  case("stylegan2_ada_resample", "--config.augment.ada_resample=lanczos", config="stylegan2_lfw", workdir="fresh", match="augment.ada_resample must be one of"),
  case("stylegan2_resolution_24", "--config.data.resolution=24", config="stylegan2_lfw", workdir="fresh", match="power-of-two resolution"),
  case("stylegan2_unknown_augment", "--config.augment.name=mixup", config="stylegan2_lfw", workdir="fresh", match="Unknown augment.name 'mixup'"),
  case("dcgan_stacked_shuffle_buffer", "--config.data.shuffle_buffer=0", config="dcgan_stacked_digits", workdir="fresh", match="data.shuffle_buffer must be"),
  # ---- Unknown names, bad flags, incompatible settings -----------------------------------
  case("unknown_model", "--config.model.name=resnet9", match="Unknown model 'resnet9'; valid models"),
  case("unknown_dataset", "--config.data.name=imagenet", match="Unknown dataset 'imagenet'"),
  case("unknown_loss", "--config.loss.name=foo", match="foo"),
  case("unknown_game", "--config.game.name=foo", match="foo"),
  case("unknown_optimizer", "--config.optim.g.name=sgdd", match="Unknown optimizer 'sgdd'"),
  case("unknown_nan_policy", "--config.train.nan_policy=maybe", match="train.nan_policy must be one of"),
  case("unknown_field", "--config.train.num_stepz=3", match="no such config field: 'num_stepz'; Did you mean"),
  case("bad_type", "--config.train.num_steps=abc", match="invalid literal for int"),
  case("bad_config_arg", "--config=experiments/dcgan_digits.py:huge", tiny=False, match="Unknown config argument 'huge'"),
  case("missing_config_file", "--config=experiments/nope.py", tiny=False, match="No config file 'experiments/nope.py'"),
  case("conditional_pack", "--config.model.pack=2", "--config.model.conditional=True", match="unconditional only"),
  case("bad_checkpoint_flag", "--mode=sample", "--checkpoint=latest", match="--checkpoint must be newest, best or a step"),
  case("translate_without_input", "--mode=translate", match="--mode=translate needs --input"),
  case("sample_missing_step", "--mode=sample", "--checkpoint=999", match=r"No checkpoint at step 999 .*available: \[2, 4\]"),
  # ---- Missing files, data, weights -------------------------------------------------------
  case("missing_folder", "--config.data.name=folder", "--config.data.folder=/nonexistent/images", workdir="fresh_allowed", match="/nonexistent/images"),
  case("missing_inception", "--config.eval.inception=True", "--config.eval.inception_path=/nonexistent/incep.npz", "--config.train.eval_every=2", match="convert_inception"),
  case("offline_download", "--config.data.name=mnist", "--config.data.download=True", env={"GAN_JAX_DOWNLOAD_HOSTS": "127.0.0.1:9"}, match="no download host answers .*127.0.0.1:9", workdir="fresh_allowed"),
  case("eval_without_checkpoints", "--mode=eval", workdir="fresh_allowed", match="No checkpoint in .*train first"),
  case("report_without_run", "--mode=report", tiny=False, workdir="fresh_allowed", match="Train first"),
  # ---- The workdir -------------------------------------------------------------------------
  case("workdir_is_a_file", workdir="file", match="is not writable"),
  case("workdir_in_use", workdir="locked", match=r"is in use by pid \d+ on host"),
  case("stale_lock_taken_over", status=0, workdir="stale_lock", match="Took over a stale lock"),
  # ---- Resuming: the config the checkpoints were trained with is kept ----------------------
  case("drift_loss", "--config.loss.name=hinge", match="loss.name: saved 'non_saturating', now 'hinge'"),
  case("drift_flip", "--config.data.random_flip=True", match="data.random_flip: saved False, now True"),
  case("drift_seed", "--config.seed=1", match="seed: saved 0, now 1"),
  case("drift_without_config_json", "--config.loss.name=hinge", workdir="no_config_json", match="loss.name: saved 'non_saturating'"),
  case("num_steps_reached", status=0, match="at step 4, at or past train.num_steps=4: nothing to train"),
  case("num_steps_below_saved", "--config.train.num_steps=2", status=0, match="nothing to train"),
  # ---- Failures of a started run ----------------------------------------------------------
  case("failed_save", "--config.model.width=64", "--config.train.num_steps=8", workdir="fresh_allowed", status=FAILED, rlimit_fsize=100_000, timeout=RUN_S, match=r"Saving a checkpoint in .* failed \(File too large\)"),
  case("disk_fills", "--config.train.num_steps=8", workdir="fresh_allowed", status=FAILED, setup=DISK_FILLS, timeout=RUN_S, match="nearly full.*stopped before saving step 4.*newest: 2"),
  case("non_finite_loss", "--config.train.num_steps=6", workdir="fresh_allowed", status=FAILED, setup=POISON_STEP_3, timeout=RUN_S, match="Non-finite loss or gradient at step 3.*Last good checkpoint: 2"),
  case("newest_checkpoint_damaged", "--config.train.num_steps=4", workdir="damaged_newest", status=0, timeout=RUN_S, match="Checkpoint at step 4 .* cannot be restored"),
  case("every_checkpoint_damaged", workdir="damaged_all", status=FAILED, timeout=RUN_S, match="No checkpoint in .* could be restored"),
  # ---- What the user sees ------------------------------------------------------------------
  case("verbose_shows_traceback", "--config.train.keep_checkpoints=0", "--verbose", match="keep_checkpoints must be"),
  case("internal_failure_keeps_traceback", status=FAILED, setup=INTERNAL_BUG, match="TypeError: an internal bug"),
]  # fmt: skip


def _digest(workdir: str) -> dict[str, str]:
  """sha256 of every file of the checkpoints."""
  out = {}
  for sub in ("checkpoints", "best_checkpoint"):
    for root, _, files in os.walk(os.path.join(workdir, sub)):
      for name in files:
        path = os.path.join(root, name)
        with open(path, "rb") as f:
          out[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
  return out


def _damage(workdir: str, step: int) -> None:
  """Truncates the array data files of one checkpoint step."""
  state = os.path.join(workdir, "checkpoints", str(step), "state")
  for root, _, files in os.walk(state):
    if os.path.basename(root) == "d":
      for name in files:
        with open(os.path.join(root, name), "r+b") as f:
          f.truncate(8)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  base = str(tmp_path_factory.mktemp("base") / "run")
  train.train_and_evaluate(dcgan_digits.get_config("tiny"), base)  # checkpoints 2 and 4
  assert sorted(os.listdir(os.path.join(base, "checkpoints"))) == ["2", "4"]
  root = tmp_path_factory.mktemp("cases")
  specs, before, holders = [], {}, []
  for c in CASES:
    wd = str(root / c["id"])
    kind = c["workdir"]
    if kind in (
      "existing",
      "locked",
      "stale_lock",
      "no_config_json",
      "damaged_newest",
      "damaged_all",
    ):
      shutil.copytree(base, wd)
    if kind == "no_config_json":
      os.remove(os.path.join(wd, "config.json"))
    elif kind == "locked":
      holders.append(checkpoint.WorkdirLock(wd).acquire())
    elif kind == "stale_lock":
      with open(os.path.join(wd, ".lock"), "w") as f:
        json.dump({"pid": 2**22 + 12345, "host": socket.gethostname(), "since": "then"}, f)
    elif kind == "file":
      open(wd, "w").close()
    elif kind == "damaged_newest":
      _damage(wd, 4)
    elif kind == "damaged_all":
      _damage(wd, 4)
      _damage(wd, 2)
    before[c["id"]] = _digest(wd) if os.path.isdir(wd) else None
    config = [] if not c.get("tiny", True) else [TINY]
    if c.get("config"):
      config = [f"--config=experiments/{c['config']}.py:tiny"]
    specs.append(
      dict(
        id=c["id"],
        argv=[*config, f"--workdir={wd}", *c["flags"]],
        cwd=ROOT,
        env={"JAX_PLATFORMS": "cpu", **c.get("env", {})},
        setup=c.get("setup", ""),
        rlimit_fsize=c.get("rlimit_fsize"),
        timeout=c["timeout"] * 2,  # killed past twice the limit; the test reports it
      )
    )
  cases_file, results_file = root / "cases.json", root / "results.json"
  cases_file.write_text(json.dumps(specs))
  try:
    subprocess.run(
      [sys.executable, os.path.join(ROOT, "tests", "fault_driver.py"), cases_file, results_file],
      cwd=ROOT,
      check=True,
      timeout=900,
      env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
  finally:
    for h in holders:
      h.release()
  out = json.loads(results_file.read_text())
  for c in CASES:
    wd = str(root / c["id"])
    out[c["id"]]["workdir"] = wd
    out[c["id"]]["before"] = before[c["id"]]
    out[c["id"]]["after"] = _digest(wd) if os.path.isdir(wd) else None
  return out


def test_there_are_enough_cases():
  assert len(CASES) >= 40
  assert len({c["id"] for c in CASES}) == len(CASES)


def _check(results, c):
  r = results[c["id"]]
  err = r["stderr"]
  assert r["status"] is not None, f"killed after {r['seconds']:.0f}s (hung?):\n{err[-3000:]}"
  assert r["status"] == c["status"], err[-3000:]
  assert r["seconds"] < c["timeout"], f"took {r['seconds']:.0f}s"
  assert len(err.splitlines()) <= 40, f"{len(err.splitlines())} lines of stderr:\n{err[-3000:]}"
  if c["status"] == USER:
    lines = [ln for ln in err.splitlines() if ln.startswith("gan_jax: error: ")]
    assert len(lines) == 1, err[-3000:]
    assert err.rstrip().endswith(lines[0]), "the error is the last line"
    assert re.search(c["match"], lines[0]), lines[0]
    assert ("Traceback" in err) == ("--verbose" in c["flags"]), err[-3000:]
  elif c["status"] == FAILED and "traceback" not in c["id"]:
    lines = [ln for ln in err.splitlines() if ln.startswith("gan_jax: failed: ")]
    assert len(lines) == 1, err[-3000:]
    assert re.search(c["match"], lines[0]), lines[0]
    assert "Traceback" not in err, err[-3000:]
  else:
    assert re.search(c["match"], err), err[-3000:]
  if c["id"] == "internal_failure_keeps_traceback":
    assert "Traceback (most recent call last)" in err
  # Nothing saved was touched: byte for byte on a trained run; no workdir for a refused
  # config on a fresh one.
  if c["workdir"] in ("existing", "locked", "stale_lock", "no_config_json"):
    assert r["after"] == r["before"], "the checkpoints changed"
  elif c["workdir"] == "fresh":
    assert r["after"] is None, "a refused config created the workdir"
  if c["workdir"] in ("damaged_newest", "damaged_all"):
    moved = os.path.join(r["workdir"], "corrupt_checkpoints")
    kept = os.listdir(moved) if os.path.isdir(moved) else []
    assert c["workdir"] == "damaged_all" or len(kept) == 1, "the damaged step is kept aside"
    if c["workdir"] == "damaged_all":
      assert sorted(os.listdir(os.path.join(r["workdir"], "checkpoints"))) == ["2", "4"]


def test_every_case(results):
  """One test over every case, so that the driver runs once whatever the scheduling (a
  module fixture is built once per xdist worker); every failing case is listed."""
  failures = []
  for c in CASES:
    try:
      _check(results, c)
    except AssertionError as e:
      r = results[c["id"]]
      stderr = "\n".join(f"    | {ln[:240]}" for ln in r["stderr"].splitlines()[-30:])
      failures.append(
        f"{c['id']}: exit status {r['status']} after {r['seconds']:.0f}s; "
        f"{str(e).splitlines()[-1][:600]}\n  stderr, each line cut to 240 characters:\n{stderr}"
      )
  assert not failures, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n\n".join(failures)
