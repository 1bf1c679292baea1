"""An experiment config by path, with ``key=value`` overrides (the benchmark scripts' --set)."""

from __future__ import annotations

import ast
import importlib
import os


def load_config(path: str, tiny: bool, sets: list[str]):
  """The experiment config (``get_config("tiny")`` with ``tiny``) with ``key=value`` sets.

  Values are Python literals where they parse as one (``8``, ``0.5``, ``(1, 2)``), else
  strings.
  """
  module = importlib.import_module("experiments." + os.path.splitext(os.path.basename(path))[0])
  c = module.get_config("tiny" if tiny else None)
  for item in sets:
    key, _, raw = item.partition("=")
    *parents, last = key.split(".")
    node = c
    for p in parents:
      node = node[p]
    try:
      node[last] = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      node[last] = raw
  return c
