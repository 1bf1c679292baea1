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


def _config_with_every_field() -> ml_collections.ConfigDict:
  c = base.get_base_config()
  c.model.g_width = 0  # fields only some families' configs have
  c.model.d_width = 0
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
    return []  # a bool field takes only bools (ml_collections refuses anything else)
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
