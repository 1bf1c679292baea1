"""The PyTorch eager references of benchmarks/torch_reference.py run a training step of
each family at a config's tiny sizes, and benchmarks/compare.py turns alternating runs
into its table."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  import torch
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")

import compare  # noqa: E402
import torch_reference  # noqa: E402


@pytest.mark.parametrize(
  "config,family",
  [
    ("pix2pix_facades:tiny", "pix2pix"),
    ("cyclegan_horse2zebra:tiny", "cyclegan"),
    ("srgan_x4:tiny", "sr"),
    ("biggan_cifar10:width8", "biggan"),
    ("stylegan2_lfw:tiny", "stylegan2"),
  ],
)
def test_torch_reference_times_a_step_at_the_configs_shapes(config, family, capsys):
  name, _, size = config.partition(":")
  flags = ["--tiny"] if size == "tiny" else ["--set=model.width=8", "--set=data.batch_size=4"]
  torch_reference.main(
    [f"--config=experiments/{name}.py", *flags, "--steps=1", "--warmup=0", "--threads=1"]
  )
  out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert out["family"] == family and out["images_per_sec"] > 0 and out["peak_rss_mb"] > 0


def test_torch_reference_sizes_the_networks_from_the_config():
  """The U-Net and PatchGAN get the config's widths and depth (the gan_jax benchmark's)."""
  c = torch_reference.load_config(
    "experiments/pix2pix_facades.py", True, ["model.width=4", "data.batch_size=3"]
  )
  assert c.model.width == 4 and c.data.batch_size == 3
  step, batch = torch_reference.pix2pix(c, torch.device("cpu"))
  step()
  assert batch == 3


def test_torch_reference_refuses_a_family_it_does_not_have():
  c = torch_reference.load_config("experiments/gan_ring.py", True, [])
  with pytest.raises(SystemExit, match="no PyTorch reference"):
    torch_reference.family_of(c)


@pytest.mark.parametrize("lazy,pl_calls,r1_calls", [("all", 4, 4), ("interval", 2, 2)])
def test_torch_stylegan2_step_runs_the_lazy_regularisers_by_mode(
  lazy, pl_calls, r1_calls, monkeypatch
):
  """``all``: path length and R1 in every step (gan_jax.benchmark's step on CPU);
  ``interval``: at steps 0, 2 (pl_interval 2) and 0, 3 (r1_interval 3). The step trains G,
  its EMA and D, on the config's 1-channel LFW shapes, with finite parameters."""
  import torch_stylegan2

  calls = {"pl": 0, "r1": 0}
  for name, key in (("path_length_penalty", "pl"), ("r1_penalty", "r1")):
    fn = getattr(torch_stylegan2, name)

    def counted(*args, fn=fn, key=key):
      calls[key] += 1
      return fn(*args)

    monkeypatch.setattr(torch_stylegan2, name, counted)
  c = torch_reference.load_config(
    "experiments/stylegan2_lfw.py", True, ["game.pl_interval=2", "game.r1_interval=3"]
  )
  step, batch = torch_reference.stylegan2(c, torch.device("cpu"), lazy=lazy)
  nets = step.networks
  before = {k: [p.detach().clone() for p in nets[k].parameters()] for k in ("g", "d")}
  for _ in range(4):
    step()
  assert calls == {"pl": pl_calls, "r1": r1_calls} and batch == 4
  assert step.info == {"lazy": lazy}
  assert nets["g"].synthesis_network.b16.torgb.weight.shape[0] == 1  # LFW is grayscale
  after = {"g": list(nets["g"].parameters()), "d": list(nets["d"].parameters())}
  for k in ("g", "d"):
    assert all(torch.isfinite(p).all() for p in after[k])
    assert all(not torch.equal(p, q) for p, q in zip(after[k], before[k], strict=True))
  ema = nets["g_ema"]
  assert all(torch.isfinite(e).all() for e in ema)
  assert any(not torch.equal(e, p) for e, p in zip(ema, before["g"], strict=True))
  with pytest.raises(SystemExit, match="augmentation"):
    torch_reference.stylegan2(
      torch_reference.load_config("experiments/stylegan2_lfw.py", True, ["augment.name=ada"]),
      torch.device("cpu"),
    )


def test_compare_table_from_alternating_runs():
  jax_runs = [
    {"images_per_sec": 100.0, "compile_s": 5.0, "gflop_per_step": 2.0, "achieved_gflops": 50.0,
     "batch_size": 4, "peak_rss_mb": 900.0},
    {"images_per_sec": 120.0, "compile_s": 6.0, "gflop_per_step": 2.0, "achieved_gflops": 60.0,
     "batch_size": 4, "peak_rss_mb": 910.0},
  ]  # fmt: skip
  torch_runs = [{"images_per_sec": 80.0, "peak_rss_mb": 700.0}, {"error": "over 5 s"}]
  row = compare.summarize("pix2pix256", jax_runs, torch_runs, peak=220.0)
  assert row["gan_jax"] == 110.0 and row["torch"] == 80.0
  assert row["ratio"] == pytest.approx(110 / 80) and row["peak_fraction"] == pytest.approx(0.25)
  text = compare.table([row], 220.0)
  assert "| pix2pix256 (over 5 s) | 4 | 110 | 80 | 1.38x | 5.5 | 2.00 | 25 % | 905 / 700 |" in text
  slow = dict(row, family="cyclegan256", gan_jax=0.05731, torch=0.0632, error=None)
  assert "| cyclegan256 | 4 | 0.0573 | 0.0632 |" in compare.table([slow], 220.0)
  assert compare.torch_cmd("srgan_x4:tiny", {"data.batch_size": 2}, 3, 1, 2)[-8:] == [
    "--set", "data.batch_size=2", "--steps", "3", "--warmup", "1", "--threads", "2",
  ]  # fmt: skip
