"""The README's few-shot StyleGAN2 picture: the 100 training faces beside samples of runs
without augmentation, with DiffAugment and with ADA, and D's overfitting signal.

    python benchmarks/stylegan2_figure.py --runs=runs/sg2_lfw,runs/sg2_lfw_da,runs/sg2_lfw_ada \\
        --labels=none,DiffAugment,ADA --out=docs/stylegan2_lfw.png

Top: 24 training faces, then 24 samples of each run's EMA generator (the same z for every
run, no truncation). Bottom: E[sign D(x)] on a real batch over training (the training
metric ``d_real_sign`` of ``metrics.jsonl``, one batch every ``train.log_every`` steps) for
each run: near 1, D tells every training face from the generated ones (it has
overfitted); ADA moves its p to hold it near its target 0.6.
"""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gan_jax  # noqa: E402
from gan_jax import sampling  # noqa: E402
from gan_jax.data.embedded import load_lfw  # noqa: E402


def _signal(workdir):
  steps, values = [], []
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      if "d_real_sign" in r:
        steps.append(r["step"])
        values.append(r["d_real_sign"])
  return steps, values


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--runs", required=True, help="comma-separated workdirs")
  p.add_argument("--labels", required=True, help="comma-separated names")
  p.add_argument("--out", required=True)
  p.add_argument("--n", type=int, default=24)
  a = p.parse_args()
  runs, labels = a.runs.split(","), a.labels.split(",")
  models = [gan_jax.load(r) for r in runs]
  res = models[0].config.data.resolution
  rows = [load_lfw(res)[: a.n]]
  z = np.random.default_rng(0).normal(size=(a.n, models[0].config.model.z_dim))
  rows += [np.clip(m.predict("generate", z.astype(np.float32), None), -1, 1) for m in models]
  grids = [sampling.make_grid(r, ncol=a.n // 2, pad=1) for r in rows]
  fig = plt.figure(figsize=(10, 2.2 * len(grids) + 2.5))
  for i, (g, name) in enumerate(zip(grids, ["training faces", *labels], strict=True)):
    ax = fig.add_subplot(len(grids) + 1, 1, i + 1)
    ax.imshow(g.squeeze(), cmap="gray", vmin=0, vmax=255)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
  ax = fig.add_subplot(len(grids) + 1, 1, len(grids) + 1)
  for r, name in zip(runs, labels, strict=True):
    ax.plot(*_signal(r), label=name)
  ax.axhline(0.6, color="gray", lw=0.8, ls="--")
  ax.set_xlabel("step")
  ax.set_ylabel("E[sign D(real)]")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(a.out, dpi=90)


if __name__ == "__main__":
  main()
