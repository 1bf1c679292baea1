"""Every config value checked in one place, at start-up, before any compute or write.

``check(config)`` applies :data:`RULES` (a field pattern -> its type and range) to the
flattened config, then requires every float anywhere in it to be finite. The names of
games, models, losses, datasets and optimizers, and the rules that tie fields together, are
checked by their owners (``build.validate_config`` calls both). A field no experiment has
is skipped; a pattern's ``*`` matches one level (``optim.*.lr``: every optimizer entry).

A broken rule raises :class:`gan_jax.errors.ConfigError` naming the field, what it must be
and what it is, e.g. ``train.keep_checkpoints must be an integer >= 1; got 0``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import numbers
from collections.abc import Iterator
from typing import Any

import ml_collections

from gan_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Int:
  """An integer (not a bool) in ``[lo, hi]``; ``each``: a tuple of such integers."""

  lo: int | None = None
  hi: int | None = None
  optional: bool = False
  each: bool = False

  def problem(self, v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
      return "an integer"
    if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
      return _range("an integer", self.lo, self.hi, False, False)
    return None


@dataclasses.dataclass(frozen=True)
class Float:
  """A finite real number in its range (ends excluded where ``open_lo`` / ``open_hi``)."""

  lo: float | None = None
  hi: float | None = None
  open_lo: bool = False
  open_hi: bool = False
  optional: bool = False
  each: bool = False

  def problem(self, v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
      return "a finite number"
    lo_bad = self.lo is not None and (v <= self.lo if self.open_lo else v < self.lo)
    hi_bad = self.hi is not None and (v >= self.hi if self.open_hi else v > self.hi)
    if lo_bad or hi_bad:
      return _range("a number", self.lo, self.hi, self.open_lo, self.open_hi)
    return None


@dataclasses.dataclass(frozen=True)
class Choice:
  """One of ``values``."""

  values: tuple[Any, ...]
  optional: bool = False
  each: bool = False

  def problem(self, v: Any) -> str | None:
    if all(isinstance(x, bool) for x in self.values) and not isinstance(v, bool):
      return f"one of {list(self.values)}"  # 1 == True, but a flag is a bool
    return None if v in self.values else f"one of {list(self.values)}"


def _range(kind: str, lo, hi, open_lo: bool, open_hi: bool) -> str:
  if lo is not None and hi is not None:
    return f"{kind} in {'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"
  if lo is not None:
    return f"{kind} {'>' if open_lo else '>='} {lo}"
  return f"{kind} {'<' if open_hi else '<='} {hi}"


POSITIVE = Int(1)
NON_NEGATIVE = Int(0)
WEIGHT = Float(0.0)  # a loss weight: >= 0, finite

RULES: tuple[tuple[str, Int | Float | Choice], ...] = (
  ("seed", Int(0, 2**31 - 1)),
  # Data.
  ("data.batch_size", POSITIVE),
  ("data.resolution", POSITIVE),
  ("data.channels", Choice((1, 3))),
  ("data.num_classes", NON_NEGATIVE),
  ("data.crop", Int(1, optional=True)),
  ("data.random_flip", Choice((False, True))),
  ("data.random_rotate", Choice((False, True))),
  ("data.download", Choice((False, True))),
  ("data.shuffle_buffer", POSITIVE),
  ("data.on_bad_file", Choice(("skip", "fail"))),
  ("data.num_workers", NON_NEGATIVE),
  ("data.direction", Choice(("AtoB", "BtoA"))),
  ("data.load_size", NON_NEGATIVE),
  # Games.
  ("game.n_critic", POSITIVE),
  ("game.g_steps", POSITIVE),
  ("game.g_same_codes", Choice((False, True))),
  ("game.l1_weight", WEIGHT),
  ("game.adv_weight", WEIGHT),
  ("game.cycle_weight", WEIGHT),
  ("game.identity_weight", WEIGHT),
  ("game.pool_size", NON_NEGATIVE),
  ("game.standing_stats", NON_NEGATIVE),
  ("game.unroll_steps", NON_NEGATIVE),
  ("game.pixel_loss", Choice(("mse", "l1"))),
  ("game.pixel_weight", WEIGHT),
  ("game.perceptual_weight", WEIGHT),
  ("game.r1_gamma", WEIGHT),
  ("game.r1_interval", POSITIVE),
  ("game.pl_weight", WEIGHT),
  ("game.pl_interval", POSITIVE),
  ("game.pl_batch_shrink", POSITIVE),
  ("game.pl_decay", Float(0.0, 1.0)),
  ("game.style_mixing", Float(0.0, 1.0)),
  ("augment.ada_p", WEIGHT),
  ("augment.ada_target", Float(-1.0, 1.0)),
  ("augment.ada_interval", POSITIVE),
  ("augment.ada_kimg", Float(0.0, open_lo=True)),
  ("augment.ada_resample", Choice(("sym6", "bilinear"))),
  ("game.perceptual_loss", Choice(("mse", "l1"))),
  ("game.unroll_first_order", Choice((False, True))),
  # Models: every size that becomes an array dimension is >= 1 (0 means "the default"
  # only where a comment in experiments/base.py says so).
  ("model.z_dim", POSITIVE),
  ("model.width", POSITIVE),
  ("model.max_width", POSITIVE),
  ("model.g_width", NON_NEGATIVE),
  ("model.d_width", NON_NEGATIVE),
  ("model.hidden", Int(1, each=True)),
  ("model.d_hidden", Int(1, each=True)),
  ("model.maxout_pieces", POSITIVE),
  ("model.pack", POSITIVE),
  ("model.num_downs", NON_NEGATIVE),
  ("model.n_layers", NON_NEGATIVE),
  ("model.n_blocks", NON_NEGATIVE),
  ("model.attention", NON_NEGATIVE),
  ("model.shared_dim", NON_NEGATIVE),
  ("model.scale", Choice((1, 2, 3, 4, 8))),
  ("model.g_arch", Choice(("srresnet", "msrresnet", "rrdbnet"))),
  ("model.num_grow_ch", POSITIVE),
  ("model.z_dist", Choice(("normal", "uniform"))),
  ("model.conditional", Choice((False, True))),
  ("model.hier", Choice((False, True))),
  ("model.dropout", Choice((False, True))),
  ("model.d_wide", Choice((False, True))),
  # StyleGAN2.
  ("model.w_dim", POSITIVE),
  ("model.map_layers", POSITIVE),
  ("model.d_map_layers", POSITIVE),
  ("model.lr_mul", Float(0.0, open_lo=True)),
  ("model.w_avg_beta", Float(0.0, 1.0)),
  ("model.channel_base", POSITIVE),
  ("model.channel_max", POSITIVE),
  ("model.mbstd_group", POSITIVE),
  ("model.mbstd_channels", NON_NEGATIVE),
  ("model.cmap_dim", NON_NEGATIVE),
  ("model.noise_mode", Choice(("auto", "random", "const", "none"))),
  ("model.fused_modconv", Choice((False, True))),
  ("model.d_norm", Choice(("batch", "layer", "none"))),
  ("model.norm", Choice(("batch", "instance", "none"))),
  # Losses: weights and the clip are >= 0.
  ("loss.penalty_weight", WEIGHT),
  ("loss.clip", WEIGHT),
  ("loss.g_ortho", WEIGHT),
  ("loss.d_ortho", WEIGHT),
  # Optimizers (every entry) and the EMA.
  ("optim.*.lr", Float(0.0)),
  ("optim.*.b1", Float(0.0, 1.0, open_hi=True)),
  ("optim.*.b2", Float(0.0, 1.0, open_hi=True)),
  ("optim.*.eps", Float(0.0)),
  ("optim.*.eps_root", Float(0.0)),
  ("optim.*.decay_start", NON_NEGATIVE),
  ("optim.*.decay_end", NON_NEGATIVE),
  ("optim.*.milestones", Int(0, each=True)),
  ("optim.*.gamma", Float(0.0, open_lo=True)),
  ("optim.ema_decay", Float(0.0, 1.0)),
  ("optim.ema_start", NON_NEGATIVE),
  ("optim.ema_kimg", WEIGHT),
  ("optim.ema_rampup", WEIGHT),
  # Training loop.
  ("train.num_steps", POSITIVE),
  ("train.steps_per_call", POSITIVE),
  ("train.log_every", POSITIVE),
  ("train.sample_every", NON_NEGATIVE),
  ("train.checkpoint_every", POSITIVE),
  ("train.eval_every", NON_NEGATIVE),
  ("train.keep_checkpoints", POSITIVE),
  ("train.keep_period", NON_NEGATIVE),
  ("train.num_samples", POSITIVE),
  ("train.nan_policy", Choice(("stop", "skip"))),
  ("train.best_mode", Choice(("min", "max"))),
  ("train.allow_config_change", Choice((False, True))),
  # Evaluation.
  ("eval.num_heldout", NON_NEGATIVE),
  ("eval.sr_tile", NON_NEGATIVE),
  ("eval.num_samples", POSITIVE),
  ("eval.num_real", POSITIVE),
  ("eval.batch_size", POSITIVE),
  ("eval.truncation", Float(0.0, open_lo=True, each=True)),
  ("eval.inception", Choice((False, True))),
  ("eval.resize", Choice(("pytorch_fid_bilinear", "clean_bicubic"))),
  ("parallel.strategy", Choice(("jit", "pmap"))),
)

_HOW = {
  "train.keep_checkpoints": " (the run keeps this many newest checkpoints; it never "
  "deletes them all)",
  "train.checkpoint_every": " (a checkpoint is also written at the end and on SIGTERM)",
}


def flatten(config: ml_collections.ConfigDict | dict) -> dict[str, Any]:
  """``{"a.b.c": value}`` for every leaf (ConfigDicts and dicts are descended)."""
  out: dict[str, Any] = {}

  def walk(node, prefix: str) -> None:
    for k, v in node.items():
      if isinstance(v, (ml_collections.ConfigDict, dict)):
        walk(v, f"{prefix}{k}.")
      else:
        out[f"{prefix}{k}"] = v

  walk(config, "")
  return out


def _numbers(v: Any) -> Iterator[Any]:
  if isinstance(v, (list, tuple)):
    for x in v:
      yield from _numbers(x)
  elif isinstance(v, numbers.Real) and not isinstance(v, bool):
    yield v


def check(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first value that breaks a rule or is not finite."""
  flat = flatten(config)
  for key, value in flat.items():
    for pattern, rule in RULES:
      if "*" in pattern and not fnmatch.fnmatchcase(key, pattern.replace("*", "[!.]*")):
        continue
      if "*" not in pattern and key != pattern:
        continue
      if value is None and rule.optional:
        break
      values = value if rule.each else (value,)
      if rule.each and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a tuple; got {value!r}")
      for v in values:
        need = rule.problem(v)
        if need:
          what = f"each entry of {key}" if rule.each else key
          raise ConfigError(f"{what} must be {need}; got {value!r}{_HOW.get(key, '')}")
      break
    for v in _numbers(value):
      if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{key} must be finite; got {value!r}")
