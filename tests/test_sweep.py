"""``gan_jax.sweep``: one config over several seeds, and the table of mean +- standard error."""

import json
import math
import os

import numpy as np
import pytest

from experiments import gan_ring
from gan_jax import sweep


def test_summarize_mean_and_standard_error():
  lines = {0: {"step": 4, "kl": 1.0, "name": "x"}, 1: {"step": 4, "kl": 2.0}, 2: {"kl": 4.5}}
  table = sweep.summarize(lines)
  assert set(table) == {"step", "kl"}  # strings are not summarised
  kl = table["kl"]
  assert kl["n"] == 3 and kl["mean"] == pytest.approx(2.5)
  assert kl["stderr"] == pytest.approx(np.std([1.0, 2.0, 4.5], ddof=1) / math.sqrt(3))
  assert table["step"]["n"] == 2 and table["step"]["stderr"] == 0.0
  assert sweep.summarize({0: {"a": 3}})["a"]["stderr"] == 0.0


def test_sweep_of_two_seeds_trains_each_in_its_own_dir_and_reruns_nothing(tmp_path):
  """Two tiny ring runs, seeds 3 and 4: different results, a table of every eval key, and a
  second call that finds both runs complete and trains nothing."""
  cfg = gan_ring.get_config("tiny")  # eval_every 5000 > num_steps 4: made to divide it
  out, text = sweep.run_sweep(cfg, str(tmp_path), [3, 4])
  assert sorted(os.listdir(tmp_path)) == ["seed_3", "seed_4", "sweep.json", "sweep.md"]
  seeds = [json.loads(open(tmp_path / f"seed_{k}" / "config.json").read())["seed"] for k in (3, 4)]
  assert seeds == [3, 4]
  table = out["table"]
  assert {"modes_covered", "modes_covered_any", "reverse_kl", "high_quality_fraction"} <= set(table)
  assert table["modes_covered_any"]["mean"] >= table["modes_covered"]["mean"]
  assert table["step"]["values"] == [4.0, 4.0]
  assert "| reverse_kl |" in text and (tmp_path / "sweep.md").read_text() == text
  assert set(out["wall_s"]) == {"3", "4"}
  again, _ = sweep.run_sweep(cfg, str(tmp_path), [3, 4])
  assert again["wall_s"] == {} and json.dumps(again["table"]) == json.dumps(table)


def test_parallel_runs_get_the_command_line_config_flags_and_their_seed():
  argv = ["sweep.py", "--config=experiments/gan_grid.py:tiny", "--seeds=3", "--workdir=w",
          "--config.model.pack=2", "--parallel=2"]  # fmt: skip
  child = sweep._child_argv(argv, 7, "w/seed_7", 4)
  assert child[1:3] == ["-m", "gan_jax.main"]
  assert child[3:] == [
    "--config=experiments/gan_grid.py:tiny", "--config.model.pack=2", "--config.seed=7",
    "--config.train.eval_every=4", "--workdir=w/seed_7",
  ]  # fmt: skip
