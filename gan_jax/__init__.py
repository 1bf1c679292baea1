"""gan_jax: Generative Adversarial Networks in JAX/Flax."""

__version__ = "0.1.0"


def load(workdir: str, checkpoint: str = "newest"):
  """Restores a trained run for prediction; see ``gan_jax.api.load``."""
  from gan_jax import api

  return api.load(workdir, checkpoint)
