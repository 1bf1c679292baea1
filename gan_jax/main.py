"""Command-line entry: ``python -m gan_jax.main --config=experiments/X.py --workdir=DIR``.

    --mode=train   train, or continue the newest good checkpoint in DIR (default)
    --mode=sample  sample grid, latent interpolation and truncation from the EMA generator
    --mode=eval    evaluate the newest good checkpoint; appends to DIR/eval.jsonl
    --mode=translate --input=IN --output=OUT   translate a folder of images (pix2pix;
                   cyclegan with --direction=AtoB|BtoA); --predict names the function
    --checkpoint=best|STEP   sample or evaluate the best (train.best_metric) or a given step

Override any config field with ``--config.a.b=value``; ``--config=...py:tiny`` shrinks it.

Several processes (multi-host): on TPU VM pod slices, SLURM or Open MPI pass
``--distributed`` and JAX finds its peers; elsewhere give every process
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I``. Each process reads
its own shard of the data; only process 0 writes logs, images and eval files.
"""

import logging as py_logging

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import parallel, train

FLAGS = flags.FLAGS
if "config" not in FLAGS:  # main and benchmark may both be imported (tests)
  config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and logs.")
flags.DEFINE_enum("mode", "train", ["train", "sample", "eval", "translate"], "What to do.")
flags.DEFINE_string("input", None, "--mode=translate: a folder of images to translate.")
flags.DEFINE_string("output", None, "--mode=translate: where the translated images go.")
flags.DEFINE_string("predict", "", "--mode=translate: the game's predict function.")
flags.DEFINE_enum(
  "direction", None, ["AtoB", "BtoA"], "--mode=translate, two domains: translate_ab | _ba."
)
flags.DEFINE_string(
  "checkpoint", "newest", "For sample/eval: 'newest', 'best' (train.best_metric) or a step."
)
flags.DEFINE_bool(
  "distributed", False, "Start JAX's multi-process runtime, detecting the cluster itself."
)
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (multi-process).")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --coordinator_address).")
flags.DEFINE_integer("process_id", None, "This process's index (with --coordinator_address).")
flags.DEFINE_bool("cpu_collectives", False, "Cross-process collectives on CPU devices (gloo).")
flags.mark_flags_as_required(["config", "workdir"])


class _QuietLibraries(py_logging.Filter):
  """Keeps the checkpoint library's per-save INFO chatter out of the run's log."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    return record.levelno >= py_logging.WARNING or "/orbax/" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  py_logging.getLogger("absl").addFilter(_QuietLibraries())
  if FLAGS.distributed or FLAGS.coordinator_address:
    parallel.initialize_distributed(
      FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.cpu_collectives
    )
  if jax.process_index() != 0:  # one set of logs: the other processes report only problems
    logging.set_verbosity(logging.WARNING)
  logging.info(
    "JAX process %d/%d, devices: %s", jax.process_index(), jax.process_count(), jax.devices()
  )
  config = FLAGS.config
  if FLAGS.checkpoint not in ("newest", "best") and not FLAGS.checkpoint.isdigit():
    raise app.UsageError(f"--checkpoint must be newest, best or a step; got {FLAGS.checkpoint!r}")
  if FLAGS.mode == "train":
    train.train_and_evaluate(config, FLAGS.workdir)
  elif FLAGS.mode == "sample":
    train.sample(config, FLAGS.workdir, which=FLAGS.checkpoint)
  elif FLAGS.mode == "eval":
    train.evaluate_checkpoint(config, FLAGS.workdir, which=FLAGS.checkpoint)
  else:
    if not (FLAGS.input and FLAGS.output):
      raise app.UsageError("--mode=translate needs --input=DIR and --output=DIR")
    from gan_jax import translate

    predict = FLAGS.predict
    if FLAGS.direction:
      predict = {"AtoB": "translate_ab", "BtoA": "translate_ba"}[FLAGS.direction]
    translate.translate_folder(
      config, FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.checkpoint, predict
    )


if __name__ == "__main__":
  app.run(main)
