"""End-to-end runs of train_and_evaluate on tiny configs: outputs, resume, bad input."""

import glob
import json
import logging
import os

import jax
import numpy as np
import pytest

from experiments import dcgan_digits, gan_grid, gan_ring, wgan_gp_digits
from gan_jax import build, checkpoint, data, train


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state.arrays())]


def test_dcgan_digits_tiny_writes_every_output(tmp_path):
  wd = str(tmp_path)
  state = train.train_and_evaluate(dcgan_digits.get_config("tiny"), wd)
  assert int(state.step) == 4
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2", "4"]
  samples = sorted(os.listdir(os.path.join(wd, "samples")))
  assert samples == ["step_0000002.png", "step_0000004.png"]
  assert glob.glob(os.path.join(wd, "tensorboard", "events.out.tfevents.*"))
  saved = json.load(open(os.path.join(wd, "config.json")))
  assert saved["model"]["name"] == "dcgan" and saved["data"]["name"] == "digits"


@pytest.mark.parametrize("module", [gan_grid, wgan_gp_digits])
def test_other_experiments_run_tiny(tmp_path, module):
  cfg = module.get_config("tiny")
  cfg.train.num_steps = 2
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == 2 and int(state.nonfinite_count) == 0


def test_resume_continues_to_the_same_parameters(tmp_path):
  cfg = gan_ring.get_config("tiny")
  straight = train.train_and_evaluate(cfg, str(tmp_path / "a"))
  cfg_half = gan_ring.get_config("tiny")
  cfg_half.train.num_steps = 2
  train.train_and_evaluate(cfg_half, str(tmp_path / "b"))
  resumed = train.train_and_evaluate(cfg, str(tmp_path / "b"))
  assert int(resumed.step) == 4
  for a, b in zip(_leaves(straight), _leaves(resumed), strict=True):
    np.testing.assert_array_equal(a, b)


def test_resume_refuses_a_config_that_changes_the_model(tmp_path):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  train.train_and_evaluate(cfg, str(tmp_path))
  cfg.model.z_dim = 3
  cfg.train.num_steps = 4
  with pytest.raises(ValueError, match=r"model\.z_dim: saved 8, now 3"):
    train.train_and_evaluate(cfg, str(tmp_path))


def test_sample_and_eval_modes(tmp_path):
  wd = str(tmp_path / "digits")
  cfg = dcgan_digits.get_config("tiny")
  cfg.train.num_steps = 2
  train.train_and_evaluate(cfg, wd)
  paths = train.sample(cfg, wd)
  assert set(paths) == {"grid", "interpolation", "truncation"}
  assert all(os.path.exists(p) for p in paths.values())

  wd = str(tmp_path / "ring")
  cfg = gan_ring.get_config("tiny")
  train.train_and_evaluate(cfg, wd)
  result = train.evaluate_checkpoint(cfg, wd)
  lines = [json.loads(x) for x in open(os.path.join(wd, "eval.jsonl"))]
  assert lines[-1]["step"] == 4
  for key in ("modes_covered", "high_quality_fraction", "reverse_kl"):
    assert key in lines[-1] and key in result
  assert lines[-1]["protocol"]["n_fake"] == cfg.eval.num_samples


def test_sample_mode_without_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    train.sample(gan_ring.get_config("tiny"), str(tmp_path))


class _PoisonedSource(data.Source):
  """Wraps a source and makes step ``bad`` NaN."""

  def __init__(self, inner, bad):
    self.inner, self.bad, self.spec = inner, bad, inner.spec

  def batch(self, step, n_critic=1):
    b = self.inner.batch(step, n_critic)
    if step == self.bad:
      b["image"] = np.full_like(b["image"], np.nan)
    return b

  def close(self):
    self.inner.close()


class _Scalars:
  """Stands in for the TensorBoard writer and records the logged scalars."""

  def __init__(self):
    self.scalars = {}

  def add_scalar(self, tag, value, step):
    self.scalars[(tag, step)] = value

  def add_image(self, *args):
    pass

  def close(self):
    pass


@pytest.fixture
def poisoned_step_3(monkeypatch):
  real = data.build_source
  monkeypatch.setattr(data, "build_source", lambda *a, **k: _PoisonedSource(real(*a, **k), 3))


def test_nan_policy_stop_names_the_step_and_keeps_checkpoints(tmp_path, poisoned_step_3):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 6
  with pytest.raises(train.NonFiniteError, match=r"at step 3 .*Last good checkpoint: 2"):
    train.train_and_evaluate(cfg, str(tmp_path))
  assert "2" in os.listdir(tmp_path / "checkpoints")


def test_nan_policy_skip_drops_the_update_and_goes_on(tmp_path, poisoned_step_3):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 6
  cfg.train.nan_policy = "skip"
  state = train.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == 6 and int(state.nonfinite_count) == 1
  assert all(np.all(np.isfinite(x)) for x in _leaves(state))


def test_logged_nonfinite_total_counts_up_to_the_logged_step(tmp_path, monkeypatch):
  """The update ending at step 3 is dropped: the log at step 2 must not count it yet,
  though the host reads step 2's metrics only after step 3 was dispatched."""
  real = data.build_source
  monkeypatch.setattr(data, "build_source", lambda *a, **k: _PoisonedSource(real(*a, **k), 2))
  writer = _Scalars()
  monkeypatch.setattr(train, "_make_writer", lambda workdir: writer)
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 6
  cfg.train.checkpoint_every = 6  # a save at step 2 would read its metrics before step 3
  cfg.train.nan_policy = "skip"
  train.train_and_evaluate(cfg, str(tmp_path))
  totals = {s: v for (tag, s), v in writer.scalars.items() if tag == "train/nonfinite_total"}
  assert totals == {2: 0.0, 4: 1.0, 6: 1.0}


@pytest.mark.parametrize(
  "field,value,match",
  [
    (
      "model.name",
      "resnet9",
      r"Unknown model 'resnet9'; valid models: "
      r"\['biggan', 'cyclegan', 'dcgan', 'dcgan28', 'mlp', 'pix2pix', 'sngan', 'sr', 'stylegan2'\]",
    ),
    ("loss.name", "wgan", r"Unknown loss 'wgan'; valid losses: \["),
    ("loss.penalty", "gp", r"Unknown loss.penalty 'gp'"),
    ("data.name", "cifar", r"Unknown dataset 'cifar'; valid datasets: \["),
    ("optim.g.name", "adamw2", r"Unknown optimizer 'adamw2'"),
    ("train.nan_policy", "ignore", r"one of \['stop', 'skip'\]"),
    ("model.dtype", "float8", r"Unknown model.dtype"),
    ("game.n_critic", 0, r"n_critic must be an integer >= 1"),
    ("train.steps_per_call", 3, r"must be a multiple of train.steps_per_call=3"),
  ],
)
def test_bad_config_fails_before_training(tmp_path, field, value, match):
  cfg = gan_ring.get_config("tiny")
  section, key = field.rsplit(".", 1)
  obj = cfg
  for part in section.split("."):
    obj = obj[part]
  obj[key] = value
  with pytest.raises(ValueError, match=match):
    train.train_and_evaluate(cfg, str(tmp_path))
  assert not os.path.exists(tmp_path / "checkpoints")


def test_gradient_penalty_with_batchnorm_critic_is_refused(tmp_path):
  cfg = wgan_gp_digits.get_config("tiny")
  cfg.model.d_norm = "batch"
  with pytest.raises(ValueError, match="BatchNorm"):
    train.train_and_evaluate(cfg, str(tmp_path))


def test_unsupported_resolution_is_refused(tmp_path):
  cfg = dcgan_digits.get_config("tiny")
  cfg.data.resolution = 24
  with pytest.raises(ValueError, match=r"resolutions|side in"):
    train.train_and_evaluate(cfg, str(tmp_path))


def test_unwritable_workdir_fails_at_start(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  with pytest.raises(OSError, match="not writable"):
    train.train_and_evaluate(gan_ring.get_config("tiny"), str(blocker / "run"))


def test_full_workdir_fails_at_start(tmp_path, monkeypatch):
  def no_space(fd):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(checkpoint.os, "fsync", no_space)
  with pytest.raises(OSError, match="not writable .*No space left on device"):
    train.train_and_evaluate(gan_ring.get_config("tiny"), str(tmp_path / "run"))


def test_workdir_without_room_for_a_checkpoint_fails_at_start(tmp_path, monkeypatch, caplog):
  usage = checkpoint.shutil.disk_usage

  def free(n):
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: usage(p)._replace(free=n))

  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  run = build.build(cfg)
  run.source.close()
  leaves = jax.tree.leaves(run.state.arrays())
  assert run.state_bytes() == sum(np.asarray(x).nbytes for x in leaves) > 0
  size = run.state_bytes() + checkpoint.CHECKPOINT_OVERHEAD_BYTES  # no checkpoint to measure
  free(size - 1)
  with pytest.raises(OSError, match=r"less than one checkpoint of this run"):
    train.train_and_evaluate(cfg, str(tmp_path / "a"))
  assert not os.path.exists(tmp_path / "a" / "checkpoints" / "2")
  free(2 * size)  # room for two of the (keep_checkpoints + 1) copies: a warning, a run
  state = train.train_and_evaluate(cfg, str(tmp_path / "b"))
  assert int(state.step) == 2 and "keeps up to" in caplog.text


def test_close_closes_everything_then_raises_the_first_save_error(tmp_path):
  cfg = gan_ring.get_config("tiny")
  ckpt = checkpoint.Checkpoints(str(tmp_path), cfg.train)
  ckpt.close()  # the real managers
  run = build.build(cfg)
  run.source.close()
  closed = []

  class Manager:
    def __init__(self, name, error=None):
      self.name, self.error = name, error

    def wait_until_finished(self):
      if self.error:
        raise self.error

    def close(self):
      closed.append(self.name)

  ckpt.manager = Manager("newest", OSError("disk gone"))
  ckpt.best_manager = Manager("best", OSError("second failure"))
  run.source.close = lambda: closed.append("source")
  with pytest.raises(OSError, match="disk gone"):
    train._close(run, ckpt)
  assert closed == ["newest", "best", "source"]


def test_allow_config_change_overrides_the_drift_check(tmp_path):
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  train.train_and_evaluate(cfg, str(tmp_path))
  cfg.loss.name = "hinge"  # same shapes, other semantics
  cfg.train.num_steps = 4
  with pytest.raises(ValueError, match="loss.name: saved 'non_saturating', now 'hinge'"):
    train.train_and_evaluate(cfg, str(tmp_path))
  cfg.train.allow_config_change = True
  assert int(train.train_and_evaluate(cfg, str(tmp_path)).step) == 4


def test_reading_a_run_under_another_config_warns_and_names_the_fields(tmp_path, caplog):
  """--mode=eval / sample take the config as given (a sampling option may be chosen there),
  warn about data, model and game fields that differ from the run's own, and name them
  when the checkpoint does not fit the networks."""
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 2
  train.train_and_evaluate(cfg, str(tmp_path))
  other = gan_ring.get_config("tiny")
  other.game.standing_stats = 2  # a sampling option: used, with a warning
  other.loss.name = "hinge"  # training only: not mentioned
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    assert "reverse_kl" in train.evaluate_checkpoint(other, str(tmp_path))
  warned = [r.getMessage() for r in caplog.records if "differs from its own" in r.getMessage()]
  assert len(warned) == 1 and warned[0].endswith("in: game.standing_stats: saved 0, now 2.")
  wider = gan_ring.get_config("tiny")
  wider.model.hidden = tuple(2 * h for h in cfg.model.hidden)  # the checkpoint cannot fit
  for use in (train.evaluate_checkpoint, train.sample):
    with pytest.raises(ValueError, match=r"trained with: model.hidden: saved \["):
      use(wider, str(tmp_path))


def test_best_checkpoint_follows_the_metric_and_named_steps_restore(tmp_path):
  wd = str(tmp_path)
  cfg = gan_ring.get_config("tiny")
  cfg.train.num_steps = 8
  cfg.train.eval_every = 2
  cfg.train.keep_checkpoints = 10
  train.train_and_evaluate(cfg, wd)
  lines = [json.loads(x) for x in open(os.path.join(wd, "eval.jsonl"))]
  assert [x["step"] for x in lines] == [2, 4, 6, 8]
  kls = [x["reverse_kl"] for x in lines]
  best = lines[int(np.argmin(kls))]  # the first of equal values is kept
  assert os.listdir(os.path.join(wd, "best_checkpoint")) == [str(best["step"])]
  assert train.evaluate_checkpoint(cfg, wd, which="best")["reverse_kl"] == best["reverse_kl"]
  # A named step gives the value recorded at that step during training.
  assert train.evaluate_checkpoint(cfg, wd, which="4")["reverse_kl"] == lines[1]["reverse_kl"]
  with pytest.raises(FileNotFoundError, match="available: \\[2, 4, 6, 8\\]"):
    train.evaluate_checkpoint(cfg, wd, which="5")

  cfg.train.num_steps = 10  # a resumed run starts from the saved best value...
  ckpt = checkpoint.Checkpoints(wd, cfg.train)
  assert ckpt.best_value == best["reverse_kl"]
  ckpt.close()
  cfg.train.best_mode = "max"  # ...unless it now ranks by another rule
  ckpt = checkpoint.Checkpoints(wd, cfg.train)
  assert ckpt.best_value is None
  ckpt.close()


def test_inception_metrics_without_weights_fail_at_start(tmp_path):
  cfg = dcgan_digits.get_config("tiny")
  cfg.eval.inception = True
  cfg.eval.inception_path = str(tmp_path / "missing.npz")
  with pytest.raises(FileNotFoundError, match="gan_jax.metrics.convert_inception"):
    train.train_and_evaluate(cfg, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "checkpoints" / "2")


def test_periodic_inception_evaluation_records_its_protocol(tmp_path, monkeypatch):
  from gan_jax.metrics import inception

  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))
  weights = str(tmp_path / "inception.npz")
  inception.save_variables(inception.random_variables(0), weights)
  cfg = dcgan_digits.get_config("tiny")
  cfg.train.num_steps = 2
  cfg.train.eval_every = 2
  cfg.train.best_metric = "fid"
  cfg.eval.update(inception=True, inception_path=weights, num_real=8, num_samples=8, batch_size=8)
  train.train_and_evaluate(cfg, str(tmp_path / "run"))
  (line,) = [json.loads(x) for x in open(tmp_path / "run" / "eval.jsonl")]
  for key in ("fid", "is", "kid", "precision", "recall", "density", "coverage", "digits_is"):
    assert np.isfinite(line[key]), key
  assert line["protocol"]["inception"]["n_real"] == 8
  assert "digits" in line["protocol"]
  assert os.listdir(tmp_path / "run" / "best_checkpoint") == ["2"]


def test_fields_newer_than_a_saved_run_are_not_drift():
  cfg = dcgan_digits.get_config("tiny")
  saved = json.loads(cfg.to_json_best_effort())
  del saved["data"]["tfds_name"], saved["data"]["split"]  # a run saved before these existed
  assert checkpoint.config_drift(saved, cfg) == []
  saved["data"]["resolution"] = 16
  assert checkpoint.config_drift(saved, cfg) == ["data.resolution: saved 16, now 8"]


def test_a_config_saved_before_games_is_compared_under_the_new_names():
  cfg = dcgan_digits.get_config("tiny")
  saved = json.loads(cfg.to_json_best_effort())
  del saved["game"], saved["augment"]  # a run saved before games
  saved["optim"]["n_critic"] = 1
  assert checkpoint.config_drift(saved, cfg) == []
  saved["optim"]["n_critic"] = 5
  assert checkpoint.config_drift(saved, cfg) == ["game.n_critic: saved 5, now 1"]
