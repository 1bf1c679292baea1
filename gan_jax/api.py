"""``gan_jax.load(workdir)``: a trained run's networks for notebooks and scripts.

    import gan_jax
    model = gan_jax.load("runs/dcgan_digits")        # newest good checkpoint
    images = model.generate(16, seed=0)              # [16, 32, 32, 1] in [-1, 1]
    images = model.predict("generate", z, labels)    # any predict function, given inputs

The run's own ``config.json`` rebuilds the networks and the game; predict functions use
the EMA weights where the game keeps them.
"""

from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np

from gan_jax import build, train


def _saved_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"No config.json in {workdir!r}: is it a gan_jax run's workdir?")
  with open(path) as f:
    saved = json.load(f)
  from experiments import base  # the defaults of fields newer than the saved run

  config = base.get_base_config()
  optim = saved.get("optim", {})
  if "game" not in saved and "n_critic" in optim:  # a run saved before games
    saved["game"] = {"name": "gan", "n_critic": optim.pop("n_critic")}
  _merge(config, saved)
  return config


def _merge(config: ml_collections.ConfigDict, saved: dict) -> None:
  for key, value in saved.items():
    if (
      isinstance(value, dict)
      and key in config
      and isinstance(config[key], ml_collections.ConfigDict)
    ):
      _merge(config[key], value)
    else:
      with config.ignore_type():
        config[key] = tuple(value) if isinstance(value, list) else value


class Model:
  """A restored run: ``predict(name, *inputs)``, ``sample(name, n, seed)``, ``generate``."""

  def __init__(self, run: build.Run):
    self.run = run
    self.config = run.config
    self.step = int(run.state.step)
    self._sample = run.sampler()

  @property
  def predict_names(self) -> tuple[str, ...]:
    return tuple(self.run.game.predict)

  def predict(self, name: str, *inputs) -> np.ndarray:
    """Applies the game's predict function ``name`` to the given inputs (numpy arrays)."""
    n = next(len(x) for x in inputs if x is not None)
    return self._sample(name, None, n, inputs=inputs)

  def sample(self, name: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` outputs of predict ``name`` on random inputs drawn by the game."""
    return self._sample(name, jax.random.key(seed), n)

  def generate(self, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of the generator (for a game that generates)."""
    return self.sample("generate", n, seed)


def load(workdir: str, checkpoint: str = "newest") -> Model:
  """Restores a run for prediction.

  Args:
    workdir: the run's directory (holds ``config.json`` and ``checkpoints/``).
    checkpoint: ``newest`` (good), ``best`` or a step number.

  Returns:
    A ``Model``.
  """
  config = _saved_config(workdir)
  return Model(train.restored_run(config, workdir, str(checkpoint)))
