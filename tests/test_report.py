"""Tests for gan_jax.report (the run report) and gan_jax.sampling.scatter_plot."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from gan_jax import report, sampling

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _write_lines(path, lines):
  with open(path, "w") as f:
    for line in lines:
      f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def _metrics_lines():
  return [
    {"step": 100, "d_loss": 1.5, "g_loss": 0.5, "d_grad_norm": 2.0, "steps_per_sec": 10.0},
    {"step": 200, "d_loss": 1.25, "g_loss": 0.75, "d_grad_norm": 4.0, "steps_per_sec": 11.0},
    {"step": 300, "d_loss": 9.0, "g_loss": 9.0, "d_grad_norm": 9.0, "steps_per_sec": 9.0},
    # A resume from the checkpoint at step 200 logs step 300 again, then goes on.
    {"step": 300, "d_loss": 1.0, "g_loss": 1.0, "d_grad_norm": 3.0, "nonfinite": 0.0},
    {"step": 400, "d_loss": 0.75, "g_loss": 1.25, "d_grad_norm": 1.0, "d_real": 0.25},
    '{"step": 500, "d_loss": 0.5',  # cut short by a crash
  ]


def _eval_lines():
  protocol = {"name": "digits_classifier", "n_fake": 2500}
  return [
    {"step": 200, "digits_fd": 40.0, "digits_is": 5.0, "digits_is_std": 0.1, "protocol": protocol},
    {"step": 400, "digits_fd": 20.0, "digits_is": 7.0, "digits_is_std": 0.2, "protocol": "v1"},
  ]


def _write_grid(path, value):
  Image.fromarray(np.full((20, 30, 3), value, np.uint8)).save(path)


@pytest.fixture
def workdir(tmp_path):
  _write_lines(tmp_path / "metrics.jsonl", _metrics_lines())
  _write_lines(tmp_path / "eval.jsonl", _eval_lines())
  os.makedirs(tmp_path / "samples")
  _write_grid(tmp_path / "samples" / "step_0000200.png", 40)
  _write_grid(tmp_path / "samples" / "step_0000100.png", 200)
  _write_grid(tmp_path / "samples" / "sample_grid_0000400.png", 0)  # not a preview
  return str(tmp_path)


def test_read_jsonl_keeps_the_last_record_of_each_step(workdir):
  records = report.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert records == [
    {"step": 100, "d_loss": 1.5, "g_loss": 0.5, "d_grad_norm": 2.0, "steps_per_sec": 10.0},
    {"step": 200, "d_loss": 1.25, "g_loss": 0.75, "d_grad_norm": 4.0, "steps_per_sec": 11.0},
    {"step": 300, "d_loss": 1.0, "g_loss": 1.0, "d_grad_norm": 3.0, "nonfinite": 0.0},
    {"step": 400, "d_loss": 0.75, "g_loss": 1.25, "d_grad_norm": 1.0, "d_real": 0.25},
  ]


def test_read_jsonl_drops_non_numeric_values_and_sorts(tmp_path):
  path = tmp_path / "eval.jsonl"
  _write_lines(
    path,
    [
      {"step": 30, "fd": 1.0, "protocol": {"n": 5}, "ok": True, "note": "x", "n": 7},
      {"step": 10, "fd": 3.0},
      {"fd": 2.0},  # no step
      {"step": "20", "fd": 2.0},  # not an integer step
      "[1, 2]",
      "",
    ],
  )
  assert report.read_jsonl(str(path)) == [
    {"step": 10, "fd": 3.0},
    {"step": 30, "fd": 1.0, "n": 7.0},
  ]
  assert report.read_jsonl(str(tmp_path / "missing.jsonl")) == []


def test_sample_grids_and_pick(workdir):
  grids = report.sample_grids(workdir)
  assert [s for s, _ in grids] == [100, 200]
  assert all(p.endswith(f"step_{s:07d}.png") for s, p in grids)
  assert report._pick(list(range(10)), 4) == [0, 3, 6, 9]
  assert report._pick(list(range(3)), 4) == [0, 1, 2]
  assert report._pick(list(range(3)), 0) == []


def _check_png(path):
  with open(path, "rb") as f:
    assert f.read(8) == PNG_SIGNATURE
  with Image.open(path) as img:
    assert img.format == "PNG"
    assert img.size == (int(report.FIGSIZE[0] * report.DPI), int(report.FIGSIZE[1] * report.DPI))
    pixels = np.asarray(img.convert("RGB"))
  assert pixels.std() > 10  # something is drawn on the white page
  return pixels


def test_write_report(workdir):
  path = report.write_report(workdir)
  assert path == os.path.join(workdir, "report.png")
  assert os.path.getsize(path) > 10_000
  full = _check_png(path)
  other = report.write_report(workdir, path=os.path.join(workdir, "out", "r.png"), max_grids=0)
  assert other == os.path.join(workdir, "out", "r.png")
  assert not np.array_equal(_check_png(other), full)  # the same page without the grids


def test_write_report_from_pieces(tmp_path):
  """Each piece alone is enough for a page: samples only, eval.jsonl only."""
  os.makedirs(tmp_path / "a" / "samples")
  _write_grid(tmp_path / "a" / "samples" / "step_0000001.png", 90)
  _check_png(report.write_report(str(tmp_path / "a")))
  os.makedirs(tmp_path / "b")
  _write_lines(tmp_path / "b" / "eval.jsonl", _eval_lines()[:1])
  _check_png(report.write_report(str(tmp_path / "b")))


def test_write_report_without_anything_raises(tmp_path):
  with pytest.raises(FileNotFoundError, match="gan_jax.main --config"):
    report.write_report(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="Nothing to report"):
    report.write_report(str(tmp_path / "missing"))
  assert not os.path.exists(tmp_path / "report.png")


def _write_events(logdir):
  from tensorboardX import SummaryWriter
  from tensorboardX.proto import summary_pb2, tensor_pb2, types_pb2

  writer = SummaryWriter(logdir)
  writer.add_scalar("train/d_loss", 0.5, 10)
  writer.add_scalar("train/g_grad_norm", 2.0, 10)
  writer.add_scalar("train/d_loss", 0.25, 20)
  writer.add_scalar("train/d_loss", 4.0, 30)  # logged again after the resume below
  writer.add_scalar("eval/digits_fd", 3.0, 20)
  writer.add_image("samples", np.zeros((3, 4, 4), np.uint8), 10)
  writer.close()
  # The resumed run: a second file in the same directory.
  writer = SummaryWriter(logdir, filename_suffix=".resumed")
  writer.add_scalar("train/d_loss", 0.125, 30)
  # A tensor-valued scalar, as other TensorBoard writers store them.
  tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.5])
  summary = summary_pb2.Summary(
    value=[summary_pb2.Summary.Value(tag="train/d_loss", tensor=tensor)]
  )
  writer._get_file_writer().add_summary(summary, 40)
  writer.close()
  # A record cut short at the end of the newest file (a run killed mid-write).
  newest = sorted(n for n in os.listdir(logdir) if "tfevents" in n)[-1]
  with open(os.path.join(logdir, newest), "ab") as f:
    f.write(b"\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00partial")


def test_read_event_scalars(tmp_path):
  logdir = str(tmp_path / "tensorboard")
  _write_events(logdir)
  assert len([n for n in os.listdir(logdir) if "tfevents" in n]) == 2
  assert report.read_event_scalars(logdir, "train/") == {
    "d_loss": [(10, 0.5), (20, 0.25), (30, 0.125), (40, 1.5)],
    "g_grad_norm": [(10, 2.0)],
  }
  everything = report.read_event_scalars(logdir)
  assert everything["eval/digits_fd"] == [(20, 3.0)]
  assert "samples" not in everything
  assert report.read_event_scalars(str(tmp_path / "none")) == {}


def test_train_records_fall_back_to_tensorboard(tmp_path):
  _write_events(str(tmp_path / "tensorboard"))
  records, source = report.train_records(str(tmp_path))
  assert source == "tensorboard"
  assert records == [
    {"step": 10, "d_loss": 0.5, "g_grad_norm": 2.0},
    {"step": 20, "d_loss": 0.25},
    {"step": 30, "d_loss": 0.125},
    {"step": 40, "d_loss": 1.5},
  ]
  _check_png(report.write_report(str(tmp_path)))
  # metrics.jsonl, when present, is the source.
  _write_lines(tmp_path / "metrics.jsonl", [{"step": 5, "d_loss": 1.0}])
  assert report.train_records(str(tmp_path)) == ([{"step": 5, "d_loss": 1.0}], "metrics.jsonl")


# scatter_plot ----------------------------------------------------------------------------

BLUE = np.array([30, 80, 200])
PALE_RED = np.array([255, 204, 204])  # the 3-sigma disc


def _near(pixel, colour, tol=12):
  return bool(np.all(np.abs(pixel.astype(int) - colour) <= tol))


def test_scatter_plot_sigma_discs_and_samples():
  # A thumbnail (size < 256): the axes fill the image, x -> (x / extent + 1) * size / 2.
  size, extent, sigma = 128, 2.0, 0.1  # 3 sigma = 0.3 -> 9.6 pixels
  means = np.array([[1.0, 0.0], [-1.0, 0.0]])
  samples = np.array([[1.0, 0.0], [0.0, 1.5]])  # on the first mode; far from both
  with_sigma = sampling.scatter_plot(samples, means, size=size, extent=extent, sigma=sigma)
  without = sampling.scatter_plot(samples, means, size=size, extent=extent)
  for img in (with_sigma, without):
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert _near(img[64, 96], BLUE)  # the sample at the mode (1, 0)
    assert _near(img[16, 64], BLUE)  # the sample at (0, 1.5)
    assert np.all(img[100:, 100:] == 255)  # empty corner
  # Inside the disc of the empty mode (-1, 0), 6 pixels from its centre: pale red with sigma.
  # (Row 64 is the light grey line y = 0, so test off it.)
  assert _near(with_sigma[58, 32], PALE_RED, tol=3)
  assert _near(with_sigma[59, 37], PALE_RED, tol=3)
  assert np.all(without[58, 32] == 255) and np.all(without[59, 37] == 255)
  # The disc ends at 3 sigma: 13 pixels from the centre is white again.
  assert np.all(with_sigma[55, 41] == 255) and np.all(with_sigma[51, 32] == 255)
  # Its red outline crosses the row of the centre about 9.6 pixels out.
  row = with_sigma[64, 40:44].astype(int)
  assert np.any((row[:, 0] > 200) & (row[:, 1] < 120) & (row[:, 2] < 120))
  # Without sigma a ring marks the mode instead.
  ring = without[60:69, 28:37].reshape(-1, 3).astype(int)
  assert np.any((ring[:, 0] > 180) & (ring[:, 1] < 100) & (ring[:, 2] < 100))


def test_scatter_plot_labelled():
  means = np.array([[1.0, 0.0], [0.0, 1.0]])
  pts = np.random.default_rng(0).normal(size=(200, 2)) * 0.05 + means[[0, 1] * 100]
  plain = sampling.scatter_plot(pts, means)
  assert plain.shape == (512, 512, 3) and plain.dtype == np.uint8
  with_sigma = sampling.scatter_plot(pts, means, sigma=0.05)
  titled = sampling.scatter_plot(pts, means, sigma=0.05, title="ring, step 1000")
  assert (np.abs(with_sigma.astype(int) - plain).sum(-1) > 30).sum() > 100
  assert not np.array_equal(titled[:40], with_sigma[:40])  # the title is at the top
  np.testing.assert_array_equal(titled[60:], with_sigma[60:])
  blue = (plain[..., 2] > 150) & (plain[..., 0] < 100)
  assert blue.sum() > 300


def test_scatter_plot_nonfinite_only():
  nan = np.full((10, 2), np.nan)
  for img in (
    sampling.scatter_plot(nan),
    sampling.scatter_plot(nan, means=np.array([[1.0, 0.0]]), sigma=0.1, size=64),
    sampling.scatter_plot(np.zeros((0, 2)), sigma=0.1, title="empty"),
    sampling.scatter_plot(np.array([[np.inf, 0.0]]), means=np.array([[np.nan, 1.0]]), sigma=0.1),
  ):
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[0] == img.shape[1]
    assert img.shape[-1] == 3
