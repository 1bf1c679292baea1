"""Converts pytorch-fid's FID Inception weights (.pth) to gan_jax's .npz, once, offline.

    python -m gan_jax.metrics.convert_inception \
        --src=PATH/pt_inception-2015-12-05-6726825d.pth --dst=~/.cache/gan_jax/inception_fid.npz

The .pth is the state_dict that pytorch-fid 0.3.0 publishes as a GitHub release asset
(``inception.PTH_URL``); fetch it yourself, gan_jax never downloads. torch is needed only
here (``pip install torch``). ``--dst`` defaults to ``$GAN_JAX_INCEPTION`` or
``~/.cache/gan_jax/inception_fid.npz``, where ``InceptionExtractor.load()`` looks.
"""

from __future__ import annotations

import os
from typing import Any

from absl import app, flags

from gan_jax.metrics import inception

_SRC = flags.DEFINE_string("src", None, f"pytorch-fid's {inception.PTH_NAME}.")
_DST = flags.DEFINE_string("dst", None, "output .npz (default: $GAN_JAX_INCEPTION or ~/.cache).")


def convert_torch_state_dict(state_dict: dict[str, Any]) -> inception.Variables:
  """Converts a state_dict of torch tensors (or arrays) to the Flax network's variables.

  Args:
    state_dict: pytorch-fid's ``fid_inception_v3().state_dict()`` or the loaded .pth.

  Returns:
    ``{"params": ..., "batch_stats": ...}`` of float32 numpy arrays.
  """
  arrays = {
    k: v.detach().cpu().numpy() if hasattr(v, "detach") else v for k, v in state_dict.items()
  }
  return inception.convert_state_dict(arrays)


def convert_file(src: str, dst: str) -> None:
  """Reads pytorch-fid's .pth state_dict at ``src`` and writes the converted .npz to ``dst``.

  Args:
    src: path of ``pt_inception-2015-12-05-6726825d.pth``.
    dst: output path, read back by ``inception.load_variables``.
  """
  try:
    import torch
  except ImportError as e:
    raise SystemExit("convert_inception needs torch: pip install torch") from e
  if not os.path.isfile(src):
    raise SystemExit(f"no such file: {src} (download {inception.PTH_URL})")
  state_dict = torch.load(src, map_location="cpu", weights_only=True)
  inception.save_variables(convert_torch_state_dict(state_dict), dst)


def main(argv):
  del argv
  src = os.path.expanduser(_SRC.value)
  dst = os.path.expanduser(_DST.value or inception.default_weights_path())
  convert_file(src, dst)
  print(f"wrote {dst}")


if __name__ == "__main__":
  flags.mark_flag_as_required("src")
  app.run(main)
