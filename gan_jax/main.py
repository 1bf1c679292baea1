"""Command-line entry: ``python -m gan_jax.main --config=experiments/X.py --workdir=DIR``.

    --mode=train   train, or continue the newest good checkpoint in DIR (default)
    --mode=sample  sample grid, latent interpolation and truncation from the EMA generator
    --mode=eval    evaluate the newest good checkpoint; appends to DIR/eval.jsonl
    --mode=translate --input=IN --output=OUT   translate a folder of images (pix2pix;
                   cyclegan with --direction=AtoB|BtoA); --predict names the function
    --mode=upscale --input=IN --output=OUT     super-resolve a folder of images of any size
                   (srresnet, srgan, esrgan) in tiles of --tile LR pixels that share
                   --tile_overlap pixels with their neighbours, blended without seams
    --checkpoint=best|STEP   sample or evaluate the best (train.best_metric) or a given step
    --mode=report  plot the run's losses, gradient norms, eval metrics and sample grids
                   into DIR/report.png (no --config needed)

``gan-jax`` (installed with the package) is the same command. ``--config`` names a file,
or one of the experiments shipped in the package (``experiments/dcgan_digits.py`` works
from any directory).

A user error (bad value, unknown name, missing file, workdir in use) prints one line,
``gan_jax: error: ...``, and exits with status 2; a run that stops on a known failure
(failed save, full disk, non-finite loss) prints ``gan_jax: failed: ...`` and exits with
1. ``--verbose`` (or ``GAN_JAX_VERBOSE=1``) adds the traceback.

Override any config field with ``--config.a.b=value``; ``--config=...py:tiny`` shrinks it.

Several processes (multi-host): on TPU VM pod slices, SLURM or Open MPI pass
``--distributed`` and JAX finds its peers; elsewhere give every process
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I``. Each process reads
its own shard of the data; only process 0 writes logs, images and eval files.
"""

import logging as py_logging
import os
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import errors, parallel, train

FLAGS = flags.FLAGS
if "config" not in FLAGS:  # main and benchmark may both be imported (tests)
  config_flags.DEFINE_config_file("config", None, "Experiment config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and logs.")
flags.DEFINE_enum(
  "mode", "train", ["train", "sample", "eval", "translate", "upscale", "report"], "What to do."
)
flags.DEFINE_string("input", None, "--mode=translate|upscale: a folder of images.")
flags.DEFINE_string("output", None, "--mode=translate|upscale: where the outputs go.")
flags.DEFINE_string("predict", "", "--mode=translate: the game's predict function.")
flags.DEFINE_enum(
  "direction", None, ["AtoB", "BtoA"], "--mode=translate, two domains: translate_ab | _ba."
)
flags.DEFINE_integer("tile", 128, "--mode=upscale: LR pixels per tile side.")
flags.DEFINE_integer("tile_overlap", 16, "--mode=upscale: LR pixels shared by adjacent tiles.")
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
flags.DEFINE_bool("verbose", False, "Print the traceback of user errors and run failures too.")
flags.mark_flags_as_required(["workdir"])


class _QuietLibraries(py_logging.Filter):
  """Keeps the checkpoint library's per-save INFO chatter out of the run's log, and its
  error reports to one line each (the run's own message names the failure; ``--verbose``
  keeps their tracebacks)."""

  def filter(self, record: py_logging.LogRecord) -> bool:
    if "/orbax/" not in record.pathname:
      return True
    if record.levelno < py_logging.WARNING:
      return False
    if record.exc_info and not errors.verbose(FLAGS.verbose):
      record.exc_info, record.exc_text = None, None
      record.msg, record.args = errors.one_line(record.getMessage())[:300], ()
    return True


def _quiet_start() -> None:
  """No log lines about accelerator backends a CPU machine does not have, nor the
  checkpoint library's per-save chatter."""
  py_logging.getLogger("absl").addFilter(_QuietLibraries())
  py_logging.getLogger("jax._src.xla_bridge").setLevel(py_logging.WARNING)


def main(argv):
  try:
    _main(argv)
  except BaseException as e:  # noqa: BLE001 (internal failures are re-raised)
    if isinstance(e, app.UsageError):
      errors.mark_user_error(e)
    if isinstance(e, SystemExit) or not (
      errors.is_user_error(e) or isinstance(e, errors.RunFailure)
    ):
      raise
    status = errors.exit_for(e, FLAGS.verbose)
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown: a failed save's background writes would report
    # from their threads as it runs. Everything of the run was closed on the way out.
    os._exit(status)


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _quiet_start()
  if FLAGS.mode == "report":
    from gan_jax import report

    with errors.user_input():
      path = report.write_report(FLAGS.workdir)
    logging.info("Wrote %s", path)
    return
  if FLAGS.config is None:
    raise app.UsageError("--config=FILE is required (e.g. --config=experiments/dcgan_digits.py)")
  if FLAGS.distributed or FLAGS.coordinator_address:
    parallel.initialize_distributed(
      FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.cpu_collectives
    )
  if jax.process_index() != 0:  # one set of logs: the other processes report only problems
    logging.set_verbosity(logging.WARNING)
  devices = jax.devices()
  logging.info(
    "gan_jax %s: --config=%s on %d %s device(s)%s, workdir %s",
    FLAGS.mode,
    _config_arg(),
    len(devices),
    devices[0].platform,
    f" over {jax.process_count()} processes" if jax.process_count() > 1 else "",
    FLAGS.workdir,
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
  elif FLAGS.mode == "upscale":
    if not (FLAGS.input and FLAGS.output):
      raise app.UsageError("--mode=upscale needs --input=DIR and --output=DIR")
    from gan_jax import upscale

    with errors.user_input():  # the input folder and its images are the user's
      upscale.upscale_folder(
        config, FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.checkpoint,
        tile=FLAGS.tile, overlap=FLAGS.tile_overlap,
      )  # fmt: skip
  else:
    if not (FLAGS.input and FLAGS.output):
      raise app.UsageError("--mode=translate needs --input=DIR and --output=DIR")
    from gan_jax import translate

    predict = FLAGS.predict
    if FLAGS.direction:
      predict = {"AtoB": "translate_ab", "BtoA": "translate_ba"}[FLAGS.direction]
    with errors.user_input():  # the input folder and its images are the user's
      translate.translate_folder(
        config, FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.checkpoint, predict
      )


def _config_arg() -> str:
  for i, a in enumerate(sys.argv):
    if a.startswith("--config="):
      return a[len("--config=") :]
    if a == "--config" and i + 1 < len(sys.argv):
      return sys.argv[i + 1]
  return "?"


def _packaged_experiment(path: str) -> str | None:
  """``experiments/NAME.py`` of the installed package, for a path that does not exist here."""
  rel = os.path.normpath(path)
  if rel.startswith("experiments" + os.sep):
    rel = rel[len("experiments" + os.sep) :]
  elif os.sep in rel:
    return None
  try:
    import experiments
  except ImportError:
    return None
  candidate = os.path.join(os.path.dirname(experiments.__file__), rel)
  return candidate if os.path.isfile(candidate) else None


def resolve_config_arg(argv: list[str]) -> list[str]:
  """``--config=experiments/x.py[:arg]`` -> the shipped file when no such file is here.

  Raises:
    errors.ConfigError: the file is neither here nor among the shipped experiments.
  """
  out = list(argv)
  for i, a in enumerate(argv):
    if i == 0 or not (a.startswith("--config=") or (a == "--config" and i + 1 < len(argv))):
      continue
    j, spec = (i, a[len("--config=") :]) if a.startswith("--config=") else (i + 1, argv[i + 1])
    path, sep, rest = spec.partition(":")
    if path and not os.path.exists(path):
      found = _packaged_experiment(path)
      if not found:
        raise errors.ConfigError(
          f"No config file {path!r} here ({os.getcwd()}) nor among the shipped experiments "
          f"({', '.join(_shipped_experiments()) or 'none installed'})."
        )
      out[j] = ("--config=" if j == i else "") + f"{found}{sep}{rest}"
  return out


def _shipped_experiments() -> list[str]:
  try:
    import experiments
  except ImportError:
    return []
  names = os.listdir(os.path.dirname(experiments.__file__))
  return sorted(
    f"experiments/{n}"
    for n in names
    if n.endswith(".py") and n not in ("__init__.py", "base.py", "presets.py")
  )


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad flag, config file or override reported in one line
  (status 2): everything that fails here is the command line's."""
  try:
    return FLAGS(argv)
  except Exception as e:  # noqa: BLE001 (flags.Error; an override of no such field)
    if errors.verbose("--verbose" in argv):
      import traceback

      traceback.print_exception(e)
    if isinstance(e, (AttributeError, KeyError)):
      inner: object = e
      while isinstance(inner, BaseException) and inner.args:
        inner = inner.args[0]
      text = "no such config field: " + errors.one_line(str(inner))
    else:
      text = str(e)
      if "Traceback (most recent call last)" in text:  # an exception inside the config file
        head, _, trace = text.partition("Traceback (most recent call last)")
        text = f"{head.strip()} {[ln for ln in trace.splitlines() if ln.strip()][-1].strip()}"
      text = errors.one_line(text)
    sys.stderr.write(f"gan_jax: error: {text} (see --helpfull)\n")
    sys.exit(errors.USER_ERROR_STATUS)


def cli(argv: list[str] | None = None) -> None:
  """The ``gan-jax`` command and ``python -m gan_jax.main``."""
  try:
    argv = resolve_config_arg(list(sys.argv if argv is None else argv))
  except errors.ConfigError as e:
    sys.exit(errors.exit_for(e))
  sys.argv[:] = argv
  app.run(main, argv=argv, flags_parser=_parse_flags)


if __name__ == "__main__":
  cli()
