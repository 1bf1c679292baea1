"""Every rule of ``gan_jax.validate``: each bound refused with the field named, every
experiment config (full and tiny) accepted."""

import glob
import importlib
import math
import os

import ml_collections
import pytest

from experiments import base
from gan_jax import build, validate
from gan_jax.errors import ConfigError, is_user_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(
  os.path.basename(p)[:-3]
  for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
  if os.path.basename(p) not in ("__init__.py", "base.py", "presets.py")
)


def _family_fields() -> dict:
  """The fields only some families' experiment configs have, with their values there."""
  known = validate.flatten(base.get_base_config())
  out = {}
  for name in EXPERIMENTS:
    flat = validate.flatten(importlib.import_module(f"experiments.{name}").get_config())
    out.update({k: v for k, v in flat.items() if k not in known and k not in out})
  return out


FAMILY_FIELDS = _family_fields()


def _config_with_every_field() -> ml_collections.ConfigDict:
  c = base.get_base_config()
  with c.unlocked():
    for key, value in FAMILY_FIELDS.items():
      *path, last = key.split(".")
      node = c
      for p in path:
        if p not in node:
          node[p] = ml_collections.ConfigDict()
        node = node[p]
      node[last] = value
  c.optim.d.eps_root = 0.0
  c.optim.g.eps = 1e-8
  return c


def _bad_values(rule):
  """Values just outside each bound of ``rule`` (and a non-finite one for floats)."""
  if isinstance(rule, validate.Int):
    out = [] if rule.lo is None else [rule.lo - 1]
    return out + ([] if rule.hi is None else [rule.hi + 1])
  if isinstance(rule, validate.Float):
    out = [math.nan, math.inf]
    if rule.lo is not None:
      out.append(rule.lo if rule.open_lo else rule.lo - 0.5)
    if rule.hi is not None:
      out.append(rule.hi if rule.open_hi else rule.hi + 0.5)
    return out
  if all(isinstance(v, bool) for v in rule.values):
    return [2, 1, "yes"]  # a bool field takes only bools (a config file could set others)
  if all(isinstance(v, int) for v in rule.values):
    return [max(rule.values) + 1]
  return ["no-such-choice"]


def _cases():
  flat = validate.flatten(_config_with_every_field())
  out = []
  for pattern, rule in validate.RULES:
    keys = [k for k in flat if k == pattern or (
      "*" in pattern and k.startswith(pattern.split("*")[0]) and k.endswith(pattern.split("*")[1])
    )]  # fmt: skip
    assert keys, f"rule {pattern} matches no field of the base config"
    for bad in _bad_values(rule):
      out.append((keys[0], rule, bad))
  return out


CASES = _cases()


def test_every_rule_has_cases():
  assert {c[0].split(".")[0] for c in CASES} >= {"data", "game", "model", "loss", "optim", "train"}
  assert len(CASES) > 80


@pytest.mark.parametrize("key,rule,bad", CASES, ids=[f"{k}={b!r}" for k, _, b in CASES])
def test_each_bound_is_refused_naming_the_field(key, rule, bad):
  c = _config_with_every_field()
  validate.check(c)  # the defaults pass
  *path, last = key.split(".")
  node = c
  for p in path:
    node = node[p]
  value = (bad,) if rule.each else bad
  with node.ignore_type():
    node[last] = value
  with pytest.raises(ConfigError, match=rf"^(each entry of )?{key.replace('.', '[.]')} must be"):
    validate.check(c)


def test_non_finite_anywhere_is_refused():
  c = _config_with_every_field()
  with c.ignore_type():
    c.data.resolution = float("nan")  # a float where an int belongs: named too
  with pytest.raises(ConfigError, match="data.resolution must be an integer"):
    validate.check(c)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_passes_full_and_tiny(name):
  module = importlib.import_module(f"experiments.{name}")
  for arg in (None, "tiny"):
    validate.check(module.get_config(arg))


def test_build_checks_every_value_before_anything_else():
  c = base.get_base_config()
  c.train.keep_checkpoints = 0
  with pytest.raises(ConfigError, match="keep_checkpoints") as e:
    build.validate_config(c)
  assert is_user_error(e.value) and isinstance(e.value, ValueError)


@pytest.mark.parametrize(
  "fields,match",
  [
    ({"data.batch_size": 6, "model.mbstd_group": 4}, "does not split into groups of 4"),
    ({"data.batch_size": 4, "model.mbstd_group": 3}, "does not split into groups of 3"),
    ({"model.mbstd_channels": 3}, "must divide D's 16 channels at 4x4"),
  ],
)
def test_stylegan2_minibatch_stddev_shapes_are_checked_at_start(fields, match):
  """D's minibatch stddev layer would fail at the first trace, after the workdir is written."""
  from experiments import stylegan2_lfw

  c = stylegan2_lfw.get_config("tiny")
  build.validate_config(c)
  for key, v in fields.items():
    section, name = key.split(".")
    c[section][name] = v
  with pytest.raises(ValueError, match=match):
    build.validate_config(c)


def test_stylegan2_minibatch_stddev_accepts_what_the_layer_takes():
  """Batches smaller than the group form one group; 0 channels remove the layer."""
  from experiments import stylegan2_lfw

  for fields in (
    {"data.batch_size": 2, "model.mbstd_group": 4},
    {"data.batch_size": 6, "model.mbstd_channels": 0},
    {"data.batch_size": 8, "model.mbstd_group": 8, "model.mbstd_channels": 2},
  ):
    c = stylegan2_lfw.get_config("tiny")
    for key, v in fields.items():
      section, name = key.split(".")
      c[section][name] = v
    build.validate_config(c)
