"""gan_jax: Generative Adversarial Networks in JAX/Flax."""

import os as _os

__version__ = "0.1.0"

# XLA's CPU backend in jaxlib 0.10 hands unpadded convolutions above a size threshold to
# YNNPACK kernels by default. On the 2-core AMD EPYC development machine those kernels run
# a 3x3 256->256 convolution at a third of the speed of XLA's own (Eigen) convolution, and
# its weight gradient at batch 8 ten times slower (benchmarks/cpu_conv_probe.py); DCGAN-64's
# training step runs 1.5x faster without them (README, Performance). The flag only touches
# the CPU backend, is read when JAX starts its first backend (so import gan_jax before
# running JAX code), and is left alone when XLA_FLAGS already sets it or GAN_JAX_YNN_CONV=1.
CPU_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def _jaxlib_minor() -> tuple[int, int] | None:
  from importlib import metadata

  try:
    major, minor = metadata.version("jaxlib").split(".")[:2]
    return int(major), int(minor)
  except (metadata.PackageNotFoundError, ValueError):
    return None


def _set_cpu_conv_flag() -> None:
  flags = _os.environ.get("XLA_FLAGS", "")
  if _os.environ.get("GAN_JAX_YNN_CONV") == "1" or "ynn_fusion_type" in flags:
    return
  # an unknown flag aborts XLA, so only on the jaxlib whose flag list was read
  if _jaxlib_minor() == (0, 10):
    _os.environ["XLA_FLAGS"] = f"{flags} {CPU_CONV_FLAG}".strip()


_set_cpu_conv_flag()


def load(workdir: str, checkpoint: str = "newest"):
  """Restores a trained run for prediction; see ``gan_jax.api.load``."""
  from gan_jax import api

  return api.load(workdir, checkpoint)
