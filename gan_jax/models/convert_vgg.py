"""Converts torchvision's ImageNet VGG19 weights (.pth) to gan_jax's .npz, once, offline.

    python -m gan_jax.models.convert_vgg --src=PATH/vgg19-dcbb9e9d.pth [--dst=OUT.npz]

The .pth is the state_dict of torchvision's ``VGG19_Weights.IMAGENET1K_V1``
(``vgg.PTH_URL``); fetch it yourself, gan_jax never downloads. torch is needed only here
(``pip install torch``). Only ``features.*`` is kept (``classifier.*`` is dropped).
``--dst`` defaults to ``$GAN_JAX_VGG19`` or ``~/.cache/gan_jax/vgg19.npz``, where
``vgg.load_variables()`` looks.

The flags are defined only when this file runs as a program, so importing it (tests,
notebooks) adds no flags to the importing program.
"""

from __future__ import annotations

import os
from typing import Any

from absl import app, flags

from gan_jax.models import vgg


def convert_torch_state_dict(state_dict: dict[str, Any]) -> vgg.Variables:
  """Converts a state_dict of torch tensors (or arrays) to the Flax network's variables.

  Args:
    state_dict: torchvision's ``vgg19().state_dict()`` or the loaded .pth.

  Returns:
    ``{"params": {"conv1_1": {"kernel", "bias"}, ...}}`` of float32 numpy arrays.
  """
  arrays = {
    k: v.detach().cpu().numpy() if hasattr(v, "detach") else v for k, v in state_dict.items()
  }
  return vgg.convert_state_dict(arrays)


def convert_file(src: str, dst: str) -> None:
  """Reads torchvision's VGG19 .pth state_dict at ``src``, writes the checked .npz to ``dst``.

  Args:
    src: path of ``vgg19-dcbb9e9d.pth`` (or any ``vgg19().state_dict()`` saved by torch).
    dst: output path, read back by ``vgg.load_variables``.

  Raises:
    FileNotFoundError: ``src`` does not exist.
    ImportError: torch is not installed.
    ValueError: the file is not a VGG19 state_dict.
  """
  if not os.path.isfile(src):
    raise FileNotFoundError(f"no such file: {src} (torchvision publishes it at {vgg.PTH_URL})")
  try:
    import torch
  except ImportError as e:
    raise ImportError("convert_vgg needs torch: pip install torch") from e
  state_dict = torch.load(src, map_location="cpu", weights_only=True)
  vgg.save_variables(convert_torch_state_dict(state_dict), dst)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  src = os.path.expanduser(flags.FLAGS.src)
  dst = os.path.expanduser(flags.FLAGS.dst or vgg.default_weights_path())
  try:
    convert_file(src, dst)
  except (FileNotFoundError, ImportError) as e:
    raise SystemExit(str(e)) from e
  print(f"wrote {dst}")


if __name__ == "__main__":
  flags.DEFINE_string("src", None, f"torchvision's {vgg.PTH_NAME}.")
  flags.DEFINE_string("dst", None, "output .npz (default: $GAN_JAX_VGG19 or ~/.cache).")
  flags.mark_flag_as_required("src")
  app.run(main)
