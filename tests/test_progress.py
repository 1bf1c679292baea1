"""The training bar (tqdm on a terminal: steps/s, ETA, the losses) and its plain log-line
form off a terminal; the long loops' bars are off outside a terminal."""

import io
import logging as std_logging

from absl import logging

from gan_jax import progress, train


class _Terminal(io.StringIO):
  def isatty(self) -> bool:
    return True


def test_training_bar_on_a_terminal(monkeypatch):
  err = _Terminal()
  monkeypatch.setattr("sys.stderr", err)
  p = train._Progress(total=10, start=2)
  assert p.bar is not None
  p.update(6, {"d_loss": 1.25, "g_loss": 0.5, "d_grad_norm": 3.0})
  p.done()
  text = err.getvalue()
  assert "6/10" in text and ("step/s" in text or "s/step" in text)
  assert "d_loss=1.25" in text and "g_loss=0.5" in text
  assert "grad_norm" not in text  # the postfix carries the losses only
  assert "<" in text  # elapsed<remaining: the ETA


def test_plain_log_lines_off_a_terminal(monkeypatch, caplog):
  monkeypatch.setattr("sys.stderr", io.StringIO())
  p = train._Progress(total=10, start=0)
  assert p.bar is None
  with caplog.at_level(std_logging.INFO, logger=logging.ABSLLogger.root.name):
    p.update(4, {"d_loss": 1.0, "g_loss": 2.0})  # not a log step: nothing
    p.update(5, {"d_loss": 1.0, "g_loss": 2.0}, force_log=True)
  p.done()
  lines = [r.getMessage() for r in caplog.records if "steps/s" in r.getMessage()]
  assert len(lines) == 1, lines
  assert lines[0].startswith("step 5/10 | ") and "ETA " in lines[0]
  assert "d_loss 1 g_loss 2" in lines[0]


def test_loop_bars_only_on_a_terminal(monkeypatch):
  monkeypatch.setattr("sys.stderr", io.StringIO())
  assert progress.bar(range(3)).disable
  err = _Terminal()
  monkeypatch.setattr("sys.stderr", err)
  b = progress.bar(range(3), desc="Upscaling x", unit="img")
  assert not b.disable
  assert list(b) == [0, 1, 2]
  assert b.n == 3 and "Upscaling x" in err.getvalue() and "/3 " in err.getvalue()
