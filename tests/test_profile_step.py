"""benchmarks/profile_step.py: a traced step's ops, named as in the compiled program."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))

import profile_step  # noqa: E402


def test_op_times_keep_xla_ops_per_step():
  evs = [
    {"ph": "X", "name": "convolution.3", "dur": 4000},
    {"ph": "X", "name": "convolution.3", "dur": 2000},
    {"ph": "X", "name": "ThunkExecutor::Execute", "dur": 9000},  # runtime, not an op
    {"ph": "X", "name": "$api.py:1 block_until_ready", "dur": 9000},  # Python
    {"ph": "X", "name": "PjitFunction(<lambda>)", "dur": 9000},
    {"ph": "X", "name": "ParseArguments", "dur": 9000},
    {"ph": "X", "name": "transpose_copy_fusion", "dur": 1000},
    {"ph": "M", "name": "thread_name"},
  ]
  assert profile_step.op_times(evs, 2) == {"convolution.3": 3.0, "transpose_copy_fusion": 0.5}


def test_describe_reads_the_shape_and_origin():
  hlo = (
    "\n  %fusion.2 = f32[4,8]{1,0} fusion(%p), kind=kLoop, "
    'metadata={op_name="jit(step)/jvp(G)/conv/add"}\n'
  )
  assert profile_step.describe(hlo, "fusion.2") == ("f32[4,8]{1,0}", "jit(step)/jvp(G)/conv/add")
  assert profile_step.describe(hlo, "fusion.20") == ("?", "")


def test_profiles_the_tiny_dcgan(tmp_path, capsys):
  profile_step.main(
    ["--config=experiments/dcgan_digits.py", "--tiny", "--steps=1", "--warmup=1", "--top=5",
     f"--out={tmp_path}"]
  )  # fmt: skip
  out = capsys.readouterr().out
  assert "| op kind | ms / step |" in out and "| op | ms / step | writes | from |" in out
  rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
  assert len(rows) >= 4  # two headers and ops
  assert os.path.exists(tmp_path / "step.hlo.txt")
