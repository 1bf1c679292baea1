"""gan_jax's StyleGAN2 networks and regularisers against the PyTorch rebuild in
``tests/torch_stylegan2.py``, with the same weights, in float32.

Tiny networks (16 px, 8 then 4 channels, a 2-layer mapping, batch 4 in minibatch-stddev
groups of 2, 3 classes) with random values in every parameter (biases, noise strengths and
``w_avg`` non-zero, the mapping layers at their stored scale, / lr_mul) are copied into
the torch modules by ``load_from_flax``; the constant noise of each synthesis layer is
gan_jax's. Compared: ``ws`` and the updated ``w_avg`` of a training-mode mapping,
truncated ``ws``, images of the fused and unfused modulated convolution, gradients of an
image loss in every G parameter and in ``z``; D's logits and the gradients of the
non-saturating loss in every D parameter and in the images; the R1 penalty and its
(second-order) gradient in every D parameter; the path-length penalty of the game's
``path_lengths`` for a fixed direction ``y`` and ``pl_mean``, and its (second-order)
gradient in every G parameter.
"""

import importlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.games.stylegan2 import path_lengths
from gan_jax.models.stylegan2 import W_AVG_COLLECTION, StyleGAN2Discriminator, StyleGAN2Generator

if os.environ.get("GAN_JAX_REQUIRE_EXTRAS"):  # `make test` sets it: never skip there
  torch = importlib.import_module("torch")
else:
  torch = pytest.importorskip("torch", reason="the reference needs the `reference` extra")
import torch_stylegan2 as tsg  # noqa: E402

F = torch.nn.functional

RES, BATCH, CLASSES = 16, 4, 3
SIZES = dict(z_dim=8, w_dim=8, map_layers=2, channel_base=64, channel_max=8)
D_SIZES = dict(channel_base=64, channel_max=8, mbstd_group=2, map_layers=2)
KEY = jax.random.key(0)
# Relative to the largest magnitude of each compared array; float32 on both sides. Outputs
# and first-order gradients agree to about 1e-6 of it, the path-length gradients to 5e-6;
# the R1 gradients to 8e-5 (torch float32 against torch float64 differs as much: the second
# derivative of the minibatch stddev's sqrt(var + 1e-8)).
OUT_TOL, GRAD_TOL, R1_TOL = 1e-5, 1e-4, 1e-3


def _random_variables(module, seed, *args):
  """``init``'s tree (shapes only) filled with random values: N(0, 1) weights, N(0, 0.1)
  biases (1 + that for the styles' affine layers), both / lr_mul in the mapping networks'
  ``fc`` layers (their stored scale), noise strengths in [0.2, 0.5], N(0, 0.1) ``w_avg``."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda *a: module.init({"params": KEY, "dropout": KEY}, *a), *args)

  def fill(path, s):
    names = [str(getattr(k, "key", k)) for k in path]
    lr_mul = ("mapping_network" in names or "mapping" in names) and names[-2].startswith("fc")
    scale = 100.0 if lr_mul and names[-1] in ("kernel", "bias") else 1.0  # 1 / lr_mul
    if names[-1] == "noise_strength":
      v = rng.uniform(0.2, 0.5, s.shape)
    elif names[-1] in ("bias", "w_avg"):
      v = rng.normal(0, 0.1, s.shape) * scale + (names[-2] == "affine")
    else:
      v = rng.normal(0, 1, s.shape) * scale
    return jnp.asarray(v, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _close(got, want, tol, what="", scale=None):
  """``max |got - want| <= tol * scale``; ``scale`` defaults to ``max |want|``."""
  got = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
  want = np.asarray(want)
  assert got.shape == want.shape, (what, got.shape, want.shape)
  scale = max(float(np.abs(want).max()) if scale is None else scale, 1e-30)
  err = float(np.abs(got - want).max()) / scale
  assert err <= tol, f"{what}: max error {err:.2e} of the magnitude {scale:.2e} (tolerance {tol})"


def _grads_close(module, flax_grads, tol=GRAD_TOL):
  """Every torch parameter's ``.grad`` (None: zero) against the Flax gradient tree, relative
  to the leaf's largest magnitude, or to 1 % of the largest over all leaves where that is
  more (a leaf whose gradient is zero but for rounding, such as a bias just before the
  minibatch stddev layer in the R1 gradient)."""
  want = tsg.flax_to_torch(flax_grads)
  named = dict(module.named_parameters())
  assert set(named) == set(want)
  top = max(float(np.abs(v).max()) for v in want.values())
  assert top > 0
  for name, p in named.items():
    got = torch.zeros_like(p) if p.grad is None else p.grad
    _close(got, want[name], tol, name, max(float(np.abs(want[name]).max()), 1e-2 * top))


def _nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


@pytest.fixture(scope="module")
def generators():
  g = StyleGAN2Generator(RES, 3, num_classes=CLASSES, noise_mode="const", **SIZES)
  rng = np.random.default_rng(1)
  z = rng.standard_normal((BATCH, SIZES["z_dim"])).astype(np.float32)
  labels = np.array([0, 2, 1, 2], np.int32)
  variables = _random_variables(g, 0, z, labels)
  tg = tsg.Generator(
    SIZES["z_dim"], SIZES["w_dim"], RES, 3, CLASSES, SIZES["map_layers"],
    channel_base=SIZES["channel_base"], channel_max=SIZES["channel_max"], noise_mode="const",
  )  # fmt: skip
  tsg.load_from_flax(tg, variables["params"], variables)
  return g, variables, tg, z, labels


def test_torch_rebuild_has_gan_jax_parameters_and_const_noise(generators):
  g, variables, tg, _, _ = generators
  n_flax = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables["params"]))
  assert sum(p.numel() for p in tg.parameters()) == n_flax
  layer = tg.synthesis_network.b8.conv1
  assert layer.noise_index == 2 and tuple(layer.noise_const.shape) == (8, 8)
  with pytest.raises(KeyError, match="missing"):
    tsg.load_from_flax(tsg.Generator(8, 8, RES, 3, CLASSES, 3, channel_base=64, channel_max=8),
                       variables["params"])  # fmt: skip


def test_generator_mapping_images_and_gradients(generators):
  g, variables, tg, z, labels = generators
  params, w_avg = variables["params"], {W_AVG_COLLECTION: variables[W_AVG_COLLECTION]}
  y = np.random.default_rng(2).standard_normal((BATCH, RES, RES, 3)).astype(np.float32)

  @jax.jit
  def run(params, z):
    v = {"params": params, **w_avg}
    ws, new = g.apply(v, z, labels, train=True, method="mapping", mutable=[W_AVG_COLLECTION])
    trunc = g.apply(v, z, labels, False, 0.7, 2, method="mapping")

    def loss(params, z):
      return jnp.sum(g.apply({"params": params, **w_avg}, z, labels, train=False) * y)

    img = g.apply(v, z, labels, train=False)
    return ws, new, trunc, img, jax.grad(loss, argnums=(0, 1))(params, z)

  ws, new, trunc, img, (g_params, g_z) = run(params, z)

  tz, tl = torch.from_numpy(z).requires_grad_(True), torch.from_numpy(labels)
  old = tg.mapping_network.w_avg.clone()
  tg.train()
  _close(tg.mapping(tz, tl), ws, OUT_TOL, "ws")
  _close(tg.mapping_network.w_avg, new[W_AVG_COLLECTION]["mapping_network"]["w_avg"], OUT_TOL)
  tg.eval()
  tg.mapping_network.w_avg.copy_(old)
  _close(tg.mapping(tz, tl, truncation_psi=0.7, truncation_cutoff=2), trunc, OUT_TOL, "trunc")
  want = np.asarray(img).transpose(0, 3, 1, 2)
  for fused in (True, False):
    tg.fused_modconv = fused
    tg.zero_grad()
    tz.grad = None
    out = tg(tz, tl)
    _close(out, want, OUT_TOL, f"image (fused={fused})")
    (out * _nchw(y)).sum().backward()
    _grads_close(tg, g_params)
    _close(tz.grad, g_z, GRAD_TOL, "dz")


def test_path_length_penalty_and_its_gradient(generators):
  g, variables, tg, z, labels = generators
  w_avg = {W_AVG_COLLECTION: variables[W_AVG_COLLECTION]}
  n = BATCH // 2  # the game's pl_batch_shrink
  rng = np.random.default_rng(3)
  y = (rng.standard_normal((n, RES, RES, 3)) / RES).astype(np.float32)
  ws = np.array(g.apply({"params": variables["params"], **w_avg}, z[:n], labels[:n],
                          train=False, method="mapping"))  # fmt: skip
  ws[:, 3:] = ws[::-1, 3:]  # style mixing: the fine ws from the other sample
  pl_mean, decay = 0.3, 0.01

  @jax.jit
  def penalty(params):
    def synthesis(ws):
      return g.apply({"params": params, **w_avg}, ws, method="synthesis")

    lengths = path_lengths(synthesis, ws, y)
    mean = pl_mean + decay * (jnp.mean(jax.lax.stop_gradient(lengths)) - pl_mean)
    return jnp.mean(jnp.square(lengths - mean)), (lengths, mean)

  (value, (lengths, new_mean)), grads = jax.value_and_grad(penalty, has_aux=True)(
    variables["params"]
  )

  tg.fused_modconv = False  # the experiments' training form
  tg.zero_grad()
  t_ws = torch.from_numpy(ws).requires_grad_(True)
  t_lengths = tsg.path_lengths(tg, t_ws, _nchw(y))
  _close(t_lengths, lengths, GRAD_TOL, "lengths")
  t_value, t_mean = tsg.path_length_penalty(tg, t_ws, _nchw(y), pl_mean, decay)
  _close(t_mean, new_mean, GRAD_TOL, "pl_mean")
  _close(t_value, value, GRAD_TOL, "penalty")
  assert float(value) > 0
  t_value.backward()
  _grads_close(tg, grads)


def test_discriminator_logits_gradients_and_r1():
  d = StyleGAN2Discriminator(RES, CLASSES, **D_SIZES)
  rng = np.random.default_rng(4)
  x = rng.standard_normal((BATCH, RES, RES, 3)).astype(np.float32)
  labels = np.array([1, 0, 2, 1], np.int32)
  params = _random_variables(d, 5, x, labels)["params"]

  @jax.jit
  def run(params, x):
    def loss(params, x):
      logits = d.apply({"params": params}, x, labels)
      return jnp.mean(jax.nn.softplus(-logits[:2])) + jnp.mean(jax.nn.softplus(logits[2:]))

    def r1(params):
      grad_x = jax.grad(lambda x: jnp.sum(d.apply({"params": params}, x, labels)))(x)
      return jnp.mean(jnp.sum(jnp.square(grad_x), axis=(1, 2, 3)))

    logits = d.apply({"params": params}, x, labels)
    return logits, jax.grad(loss, argnums=(0, 1))(params, x), jax.value_and_grad(r1)(params)

  logits, (g_params, g_x), (r1, g_r1) = run(params, x)

  td = tsg.load_from_flax(tsg.Discriminator(RES, 3, CLASSES, **D_SIZES), params)
  tx, tl = _nchw(x).requires_grad_(True), torch.from_numpy(labels)
  t_logits = td(tx, tl)
  _close(t_logits, logits, OUT_TOL, "logits")
  loss = F.softplus(-t_logits[:2]).mean() + F.softplus(t_logits[2:]).mean()
  loss.backward()
  _grads_close(td, g_params)
  _close(tx.grad, np.asarray(g_x).transpose(0, 3, 1, 2), GRAD_TOL, "dx")

  td.zero_grad()
  t_r1 = tsg.r1_penalty(td, _nchw(x), tl)
  _close(t_r1, r1, GRAD_TOL, "r1")
  t_r1.backward()
  _grads_close(td, g_r1, R1_TOL)
