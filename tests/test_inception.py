"""FID Inception-v3 in Flax against pytorch-fid 0.3.0's network with random weights."""

import importlib
import os
import time

import numpy as np
import pytest

from gan_jax.metrics import convert_inception
from gan_jax.metrics import inception as inc

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
  pfid = importlib.import_module("pytorch_fid.inception")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
  pfid = pytest.importorskip("pytorch_fid.inception")
F = torch.nn.functional

BATCH = 2  # one network compilation, shared by every test through the module fixture


def _randomise(model: "torch.nn.Module", seed: int) -> None:
  """Random conv/fc weights (He scale) and random BatchNorm affine and running stats."""
  g = torch.Generator().manual_seed(seed)
  rand = lambda shape: torch.rand(shape, generator=g)
  randn = lambda shape: torch.randn(shape, generator=g)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.Conv2d):
        fan_in = m.weight[0].numel()
        m.weight.copy_(randn(m.weight.shape) * (2.0 / fan_in) ** 0.5)
      elif isinstance(m, torch.nn.BatchNorm2d):
        c = m.num_features
        m.weight.copy_(0.5 + rand(c))
        m.bias.copy_(0.2 * randn(c))
        m.running_mean.copy_(0.2 * randn(c))
        m.running_var.copy_(0.5 + rand(c))
      elif isinstance(m, torch.nn.Linear):
        m.weight.copy_(randn(m.weight.shape) / m.in_features**0.5)
        m.bias.copy_(0.1 * randn(m.out_features))


@pytest.fixture(scope="module")
def reference():
  """pytorch-fid's InceptionV3 wrapper (pool3) and its inner network (for fc), random."""
  built = {}
  original = pfid._inception_v3

  def capture(*args, **kwargs):
    built["net"] = original(*args, **kwargs)
    return built["net"]

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(pfid, "_inception_v3", capture)
    # No download: fid_inception_v3() loads the network's own (fresh) state_dict.
    mp.setattr(pfid, "load_state_dict_from_url", lambda *a, **k: built["net"].state_dict())
    wrapper = pfid.InceptionV3([3], resize_input=True, normalize_input=True)
  net = built["net"]
  _randomise(net, seed=0)
  wrapper.eval()
  net.eval()
  return wrapper, net


@pytest.fixture(scope="module")
def variables(reference):
  return convert_inception.convert_torch_state_dict(reference[1].state_dict())


@pytest.fixture(scope="module")
def extractor(variables):
  return inc.InceptionExtractor.from_variables(variables, resize="pytorch_fid_bilinear")


def _torch_features(reference, images_nhwc: np.ndarray):
  wrapper, net = reference
  x01 = torch.from_numpy((images_nhwc.transpose(0, 3, 1, 2) + 1.0) / 2.0)  # (0, 1) input
  with torch.no_grad():
    pool = wrapper(x01)[0].flatten(1)
    logits = net.fc(pool)
  return pool.double().numpy(), logits.double().numpy()


def _assert_close(got, want):
  rel = np.abs(got - want).max() / np.abs(want).max()
  assert rel < 1e-4, rel
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("shape", [(3, 24, 40, 3), (1, 320, 305, 3)])
def test_matches_pytorch_fid(reference, extractor, shape):
  # 3 images over batches of 2 pads the last batch; 320 x 305 downsamples (no antialias).
  images = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
  pool, logits = extractor.features(images, batch_size=BATCH)
  want_pool, want_logits = _torch_features(reference, images)
  assert pool.shape == (shape[0], 2048) and logits.shape == (shape[0], 1008)
  assert pool.dtype == np.float64
  assert (want_pool > 0).mean() > 0.5  # random weights keep most features alive
  _assert_close(pool, want_pool)
  _assert_close(logits, want_logits)


def test_iterable_of_batches_and_grayscale_match_one_array(extractor):
  images = np.random.default_rng(2).uniform(-1, 1, (3, 16, 16, 1)).astype(np.float32)
  pool, logits = extractor.features(np.repeat(images, 3, axis=-1), batch_size=BATCH)
  pool_it, logits_it = extractor.features(iter([images[:1], images[1:]]), batch_size=BATCH)
  np.testing.assert_allclose(pool_it, pool, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(logits_it, logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [(7, 5), (32, 32), (299, 299), (600, 451)])
def test_bilinear_matrix_matches_torch_interpolate(size):
  x = np.random.default_rng(3).normal(size=(1, 2, *size)).astype(np.float32)
  want = F.interpolate(torch.from_numpy(x), size=(299, 299), mode="bilinear", align_corners=False)
  got = np.asarray(inc.resize_bilinear(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
  np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-6)


def test_clean_bicubic_runs_and_differs_from_bilinear(variables, extractor):
  clean = inc.InceptionExtractor.from_variables(variables, resize="clean_bicubic")
  images = np.random.default_rng(4).uniform(-1, 1, (2, 24, 24, 3)).astype(np.float32)
  pool_c, logits_c = clean.features(images, batch_size=BATCH)
  pool_b, _ = extractor.features(images, batch_size=BATCH)
  assert np.all(np.isfinite(pool_c)) and np.all(np.isfinite(logits_c))
  assert np.abs(pool_c - pool_b).max() > 1e-2 * np.abs(pool_b).max()


def test_clean_bicubic_resize_quantises_and_antialiases():
  # A constant image stays its uint8-quantised value; a 1-pixel checkerboard at 500 px
  # averages out under PIL's antialiased bicubic but aliases under bilinear sampling.
  const = np.full((1, 10, 10, 3), 0.3, np.float32)
  q = np.floor((0.3 + 1) * 127.5 + 0.5) / 127.5 - 1
  np.testing.assert_allclose(inc.resize_clean_bicubic(const), q, atol=1e-5)
  board = np.indices((500, 500)).sum(0) % 2 * 2.0 - 1.0
  board = np.repeat(board[None, :, :, None], 3, axis=-1).astype(np.float32)
  clean = inc.resize_clean_bicubic(board)[0, 20:-20, 20:-20]
  aliased = np.asarray(inc.resize_bilinear(board))[0, 20:-20, 20:-20]
  assert np.abs(clean).max() < 0.05
  assert np.abs(aliased).max() > 0.9


def test_conversion_command_and_npz_round_trip(reference, variables, tmp_path):
  src = tmp_path / inc.PTH_NAME
  torch.save(reference[1].state_dict(), src)
  dst = tmp_path / "inception_fid.npz"
  convert_inception.convert_file(str(src), str(dst))
  loaded = inc.load_variables(str(dst))
  flat_loaded, flat_want = inc._flatten(loaded), inc._flatten(variables)
  assert flat_loaded.keys() == flat_want.keys() and len(flat_want) == 472
  for k, v in flat_want.items():
    np.testing.assert_array_equal(flat_loaded[k], v)
  conv = reference[1].Mixed_6b.branch7x7_2.conv.weight.detach().numpy()  # OIHW [128,128,1,7]
  kernel = loaded["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]  # HWIO
  np.testing.assert_array_equal(kernel[0, 3, 5, 9], conv[9, 5, 0, 3])


def test_conversion_rejects_other_state_dicts(reference):
  sd = {k: v.numpy() for k, v in reference[1].state_dict().items()}
  with pytest.raises(ValueError, match="not part of the FID Inception"):
    inc.convert_state_dict({**sd, "AuxLogits.fc.weight": np.zeros((1000, 768))})
  bad = dict(sd)
  bad["fc.weight"] = np.zeros((1000, 2048), np.float32)
  with pytest.raises(ValueError, match="wrong shapes"):
    inc.convert_state_dict(bad)
  del bad["fc.weight"]
  with pytest.raises(ValueError, match="missing"):
    inc.convert_state_dict(bad)


def test_missing_weights_file_names_path_and_command(tmp_path, monkeypatch):
  path = str(tmp_path / "nowhere" / "inception_fid.npz")
  monkeypatch.setenv(inc.ENV_WEIGHTS, path)
  start = time.monotonic()
  with pytest.raises(FileNotFoundError) as e:
    inc.InceptionExtractor.load()
  assert time.monotonic() - start < 1.0
  msg = str(e.value)
  assert path in msg
  assert "python -m gan_jax.metrics.convert_inception --src=" in msg
  assert inc.PTH_NAME in msg and "pytorch-fid" in msg


def test_bad_inputs_raise(extractor):
  with pytest.raises(ValueError, match="unknown resize"):
    inc.InceptionExtractor.from_variables({}, resize="bicubic")
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    extractor.features(np.full((1, 8, 8, 3), 255.0, np.float32))
  with pytest.raises(ValueError, match="C in"):
    extractor.features(np.zeros((1, 8, 8, 4), np.float32))
