"""Games by name: ``config.game.name`` -> the objective over named networks.

Each entry builds a ``Game`` (``games/base.py``) from the config, the data's spec and the
number of classes, checks the config before anything is built, and says its own tiny
sizes for ``:tiny`` configs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import ml_collections

from gan_jax.games import cyclegan, gan, pix2pix, sr, stylegan2, unrolled
from gan_jax.games.base import Game, Network, Phase, PhaseContext, Predictor

__all__ = ["GAMES", "Game", "Network", "Phase", "PhaseContext", "Predictor", "get", "build_game"]


@dataclasses.dataclass(frozen=True)
class GameSpec:
  """``make(config, spec, num_classes) -> Game``, ``check(config)``, ``tiny(config)``."""

  make: Callable[..., Game]
  check: Callable[[ml_collections.ConfigDict], None]
  tiny: Callable[[ml_collections.ConfigDict], None]


GAMES: dict[str, GameSpec] = {
  "gan": GameSpec(gan.make_game, gan.check_config, gan.tiny),
  "pix2pix": GameSpec(pix2pix.make_game, pix2pix.check_config, pix2pix.tiny),
  "cyclegan": GameSpec(cyclegan.make_game, cyclegan.check_config, cyclegan.tiny),
  "unrolled": GameSpec(unrolled.make_game, unrolled.check_config, unrolled.tiny),
  **{name: GameSpec(sr.make_game, sr.check_config, sr.tiny) for name in sr.SR_GAMES},
  "stylegan2": GameSpec(stylegan2.make_game, stylegan2.check_config, stylegan2.tiny),
}


def get(name: str) -> GameSpec:
  if name not in GAMES:
    raise ValueError(f"Unknown game {name!r}; valid games: {sorted(GAMES)}")
  return GAMES[name]


def build_game(config: ml_collections.ConfigDict, spec, num_classes: int) -> Game:
  """The game named by ``config.game.name`` (default ``gan``)."""
  return get(config.game.name).make(config, spec, num_classes)
