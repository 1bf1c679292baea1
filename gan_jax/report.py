"""One-page PNG report of a training run: losses, gradient norms, evaluations, samples.

``write_report(workdir)`` reads what training leaves in ``WORKDIR`` and draws
``WORKDIR/report.png``:

- ``metrics.jsonl``: the training scalars logged every ``train.log_every`` steps (losses,
  per-phase gradient norms, the game's other terms, ``steps_per_sec``, ``nonfinite``). Runs
  from before that file existed are read from the TensorBoard event files in
  ``WORKDIR/tensorboard/`` instead (the ``train/<key>`` scalars).
- ``eval.jsonl``: one line per evaluation; every numeric value but the ``*_std`` spreads
  becomes a small panel over steps (at most ``MAX_EVAL_PANELS``).
- ``samples/step_*.png``: the preview grids; up to ``max_grids`` of them, evenly spaced
  from the first to the last.

A resumed run appends lines for steps it had already logged: the last line of each step
wins. Missing pieces are left out of the page. From the command line::

  python -m gan_jax.main --mode=report --workdir=DIR

or from Python::

  from gan_jax import report
  report.write_report("runs/my_run")  # -> "runs/my_run/report.png"
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterator

import numpy as np

FIGSIZE = (12.0, 8.0)  # inches; the PNG is FIGSIZE * DPI pixels
DPI = 90
MAX_EVAL_PANELS = 12
# Training scalars about the run rather than the game: not plotted as curves.
BOOKKEEPING = ("steps_per_sec", "nonfinite", "nonfinite_total")
_STEP_PNG = re.compile(r"^step_(\d+)\.png$")


def read_jsonl(path: str) -> list[dict[str, float]]:
  """The numeric records of a ``metrics.jsonl`` / ``eval.jsonl`` file, one per step.

  Lines that do not parse (a line cut short by a crash) and records without an integer
  ``step`` are skipped; values that are not numbers (``protocol``, strings, booleans) are
  dropped. When a step occurs more than once (a resumed run logs again from its
  checkpoint), its last record replaces the earlier ones whole.

  Args:
    path: the JSON-lines file; a missing file reads as no records.

  Returns:
    ``[{"step": int, key: float, ...}, ...]`` sorted by step.
  """
  if not os.path.exists(path):
    return []
  by_step: dict[int, dict[str, float]] = {}
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if not isinstance(record, dict):
        continue
      step = record.get("step")
      if isinstance(step, bool) or not isinstance(step, int):
        continue
      values = {
        k: float(v)
        for k, v in record.items()
        if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)
      }
      by_step[step] = {"step": step, **values}
  return [by_step[s] for s in sorted(by_step)]


def _tfrecords(path: str) -> Iterator[bytes]:
  """The records of a TFRecord file: uint64 length, uint32 CRC, data, uint32 CRC (the CRCs
  are not checked). A record cut short at the end (a run killed mid-write) ends the file."""
  with open(path, "rb") as f:
    while True:
      header = f.read(12)
      if len(header) < 12:
        return
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length)
      if len(data) < length or len(f.read(4)) < 4:
        return
      yield data


def _event_files(logdir: str) -> list[str]:
  if os.path.isfile(logdir):
    return [logdir]
  if not os.path.isdir(logdir):
    return []
  names = sorted(n for n in os.listdir(logdir) if "tfevents" in n)
  return [os.path.join(logdir, n) for n in names if os.path.isfile(os.path.join(logdir, n))]


def read_event_scalars(logdir: str, prefix: str = "") -> dict[str, list[tuple[int, float]]]:
  """Scalars of the TensorBoard event files that ``tensorboardX.SummaryWriter`` wrote.

  Args:
    logdir: a directory of ``*tfevents*`` files (e.g. ``WORKDIR/tensorboard``) or one file.
    prefix: keep only tags that start with it, and strip it (``"train/"``).

  Returns:
    ``{tag: [(step, value), ...]}`` sorted by step; of several values logged at one step
    (a resumed run), the one written last (by wall time, then file and record order).
  """
  from google.protobuf.message import DecodeError
  from tensorboardX.proto import event_pb2

  latest: dict[str, dict[int, tuple[tuple[float, int, int], float]]] = {}
  for file_index, path in enumerate(_event_files(logdir)):
    for record_index, record in enumerate(_tfrecords(path)):
      event = event_pb2.Event()
      try:
        event.ParseFromString(record)
      except DecodeError:
        break
      if not event.HasField("summary"):
        continue
      order = (event.wall_time, file_index, record_index)
      for value in event.summary.value:
        if not value.tag.startswith(prefix):
          continue
        if value.HasField("simple_value"):
          v = float(value.simple_value)
        elif value.HasField("tensor") and (value.tensor.float_val or value.tensor.double_val):
          v = float((value.tensor.float_val or value.tensor.double_val)[0])
        else:
          continue  # images, histograms, text
        by_step = latest.setdefault(value.tag[len(prefix) :], {})
        if event.step not in by_step or by_step[event.step][0] <= order:
          by_step[event.step] = (order, v)
  return {tag: [(s, by_step[s][1]) for s in sorted(by_step)] for tag, by_step in latest.items()}


def train_records(workdir: str) -> tuple[list[dict[str, float]], str | None]:
  """The training scalars of a run and where they came from.

  Returns:
    ``(records, source)``: ``read_jsonl`` of ``WORKDIR/metrics.jsonl`` when it exists,
    else records rebuilt from the ``train/`` scalars in ``WORKDIR/tensorboard``;
    ``source`` is ``"metrics.jsonl"``, ``"tensorboard"`` or None (no scalars).
  """
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    records = read_jsonl(path)
    return records, ("metrics.jsonl" if records else None)
  by_step: dict[int, dict[str, float]] = {}
  for tag, pairs in read_event_scalars(os.path.join(workdir, "tensorboard"), "train/").items():
    for step, v in pairs:
      by_step.setdefault(step, {"step": step})[tag] = v
  records = [by_step[s] for s in sorted(by_step)]
  return records, ("tensorboard" if records else None)


def sample_grids(workdir: str) -> list[tuple[int, str]]:
  """``[(step, path), ...]`` of the preview grids ``WORKDIR/samples/step_%07d.png``."""
  folder = os.path.join(workdir, "samples")
  if not os.path.isdir(folder):
    return []
  found = [(m, n) for n in os.listdir(folder) if (m := _STEP_PNG.match(n))]
  return sorted((int(m.group(1)), os.path.join(folder, n)) for m, n in found)


def _series(records: list[dict[str, float]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """``{key: (steps, values)}`` over the finite values, keys in order of first appearance."""
  keys = list(dict.fromkeys(k for r in records for k in r if k != "step"))
  out = {}
  for k in keys:
    pairs = [(r["step"], r[k]) for r in records if k in r and math.isfinite(r[k])]
    if pairs:
      steps, values = zip(*pairs, strict=True)
      out[k] = (np.asarray(steps), np.asarray(values, np.float64))
  return out


def _pick(items: list, n: int) -> list:
  """``n`` items evenly spaced from the first to the last (all of them when fewer)."""
  if n <= 0 or not items:
    return []
  if len(items) <= n:
    return list(items)
  return [items[i] for i in sorted(set(np.linspace(0, len(items) - 1, n).round().astype(int)))]


def _eval_keys(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[list[str], int]:
  """The eval metrics to draw, in key order: all but ``*_std``, at most ``MAX_EVAL_PANELS``
  preferring those that change over the run; and how many were left out."""
  keys = [k for k in series if not k.endswith("_std")]
  if len(keys) <= MAX_EVAL_PANELS:
    return keys, 0
  varying = [k for k in keys if np.ptp(series[k][1]) > 0]
  chosen = set((varying + [k for k in keys if k not in varying])[:MAX_EVAL_PANELS])
  return [k for k in keys if k in chosen], len(keys) - MAX_EVAL_PANELS


def _plot_lines(ax, series, keys, title, log_when_positive=False):
  for k in keys:
    steps, values = series[k]
    ax.plot(steps, values, label=k, linewidth=1.2, marker="o" if len(steps) < 3 else None)
  if log_when_positive and all(np.all(series[k][1] > 0) for k in keys):
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
      """Labels the ticks LogFormatter picks as plain numbers: "40", "0.06"."""

      def __call__(self, x, pos=None):
        return f"{x:.3g}" if super().__call__(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
  ax.set_title(title, fontsize=10)
  ax.set_xlabel("step", fontsize=8)
  ax.tick_params(labelsize=7)
  ax.grid(True, color="0.9")
  ax.legend(fontsize=7, loc="best")


def write_report(workdir: str, path: str | None = None, max_grids: int = 4) -> str:
  """Draws the report of a run (see the module docstring) and writes it as a PNG.

  Args:
    workdir: the run's working directory.
    path: where to write; default ``WORKDIR/report.png``.
    max_grids: how many preview grids to show (0 for none).

  Returns:
    The path of the PNG, ``FIGSIZE * DPI`` pixels.

  Raises:
    FileNotFoundError: when the workdir holds none of training scalars, evaluations or
      preview grids.
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  from PIL import Image

  records, source = train_records(workdir)
  train = _series(records)
  evals = _series(read_jsonl(os.path.join(workdir, "eval.jsonl")))
  grids = _pick(sample_grids(workdir), max_grids)
  if not (train or evals or grids):
    raise FileNotFoundError(
      f"Nothing to report in {workdir}: no metrics.jsonl, TensorBoard scalars, eval.jsonl or "
      f"samples/step_*.png. Train first: python -m gan_jax.main --config=... --workdir={workdir}"
    )

  losses = [k for k in train if "loss" in k]
  norms = [k for k in train if "grad_norm" in k and k not in losses]
  others = [k for k in train if k not in losses and k not in norms and k not in BOOKKEEPING]
  train_panels = [
    (keys, title, log)
    for keys, title, log in (
      (losses, "losses", False),
      (norms, "gradient norms", True),
      (others, "other training terms", False),
    )
    if keys
  ]
  eval_keys, eval_left_out = _eval_keys(evals)
  eval_cols = min(6, max(4, len(eval_keys)))  # small panels even when there are few
  eval_rows = math.ceil(len(eval_keys) / eval_cols)

  sections = []  # (name, height ratio)
  if train_panels:
    sections.append(("train", 2.8))
  if eval_keys:
    sections.append(("eval", 1.6 * eval_rows))
  if grids:
    sections.append(("grids", 3.2))
  fig = Figure(figsize=FIGSIZE, dpi=DPI, facecolor="white", layout="constrained")
  FigureCanvasAgg(fig)  # renders on Agg: no display, no pyplot state
  subfigs = fig.subfigures(len(sections), 1, height_ratios=[h for _, h in sections], squeeze=False)

  headline = [os.path.basename(os.path.normpath(workdir)) or workdir]
  if records:
    headline.append(f"last logged step {int(records[-1]['step'])}")
  if "steps_per_sec" in train:
    headline.append(f"median {np.median(train['steps_per_sec'][1]):.1f} steps/s")
  if "nonfinite_total" in train and train["nonfinite_total"][1][-1] > 0:
    headline.append(f"{int(train['nonfinite_total'][1][-1])} non-finite updates dropped")
  fig.suptitle("  |  ".join(headline), fontsize=12)

  for (name, _), sub in zip(sections, subfigs[:, 0], strict=True):
    if name == "train":
      sub.suptitle(f"training scalars ({source})", fontsize=9, color="0.35")
      axes = sub.subplots(1, len(train_panels), squeeze=False)[0]
      for ax, (keys, title, log) in zip(axes, train_panels, strict=True):
        _plot_lines(ax, train, keys, title, log_when_positive=log)
    elif name == "eval":
      more = f"; {eval_left_out} more in eval.jsonl" if eval_left_out else ""
      sub.suptitle(f"evaluations (eval.jsonl{more})", fontsize=9, color="0.35")
      axes = sub.subplots(eval_rows, eval_cols, squeeze=False).ravel()
      for ax, k in zip(axes, eval_keys, strict=False):
        steps, values = evals[k]
        ax.plot(steps, values, marker="o", markersize=3, linewidth=1.2)
        ax.set_title(f"{k} = {values[-1]:.4g}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(True, color="0.9")
      for ax in axes[len(eval_keys) :]:
        ax.set_axis_off()
    else:
      sub.suptitle("preview samples (samples/step_*.png)", fontsize=9, color="0.35")
      axes = sub.subplots(1, max_grids, squeeze=False)[0]
      for ax, (step, grid_path) in zip(axes, grids, strict=False):
        with Image.open(grid_path) as img:
          ax.imshow(np.asarray(img.convert("RGB")))
        ax.set_title(f"step {step}", fontsize=9)
      for ax in axes:
        ax.set_axis_off()

  path = path or os.path.join(workdir, "report.png")
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=DPI, facecolor="white")
  return path
