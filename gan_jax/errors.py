"""How gan_jax fails: user errors in one line (exit 2), run failures in one message (exit 1).

Three kinds of failure reach the command line:

* **User errors** (exit status 2): an unknown name, a bad config value, a missing file,
  dataset or weights file, an incompatible config, a workdir in use or not writable. They are
  instances of :class:`UserError`, or any ``ValueError`` / ``OSError`` raised while a run
  *starts* (config, workdir, data, restore: everything inside :func:`user_input`), where
  gan_jax's checks say what is wrong and how to fix it. The CLI prints
  ``gan_jax: error: <one line>`` to stderr, no traceback.
* **Run failures** (exit status 1): a known way for a started run to stop: a failed
  checkpoint save, a full disk, a non-finite loss under ``nan_policy='stop'``, no good
  checkpoint left. Instances of :class:`RunFailure`; the CLI prints one line
  ``gan_jax: failed: <message>``.
* **Internal failures** (exit status 1): anything else keeps its Python traceback.

``--verbose`` (or ``GAN_JAX_VERBOSE=1``) prints the traceback of the first two kinds too.
Library users get the exception itself: :class:`UserError` subclasses keep their built-in
base (``ConfigError`` is a ``ValueError``), so ``except ValueError`` still works.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

USER_ERROR_STATUS = 2
FAILURE_STATUS = 1
_MARK = "_gan_jax_user_error"


class UserError(Exception):
  """A problem with what the user asked for; the message says how to fix it."""


class ConfigError(UserError, ValueError):
  """A config value, or a combination of values, that gan_jax cannot run."""


class WorkdirError(UserError, OSError):
  """The workdir is in use by another process, not writable, or has no room."""


class RunFailure(RuntimeError):
  """A started run stopped for a known reason (failed save, full disk, NaN loss)."""


def mark_user_error(e: BaseException) -> BaseException:
  """Marks ``e`` (a ValueError or OSError raised by a check at start-up) as a user error."""
  with contextlib.suppress(AttributeError, TypeError):
    setattr(e, _MARK, True)
  return e


def is_user_error(e: BaseException) -> bool:
  return isinstance(e, UserError) or bool(getattr(e, _MARK, False))


@contextlib.contextmanager
def user_input():
  """Code inside reads the config, files and workdir before any training: the ValueError
  and OSError it raises (gan_jax's checks, missing files) are user errors."""
  try:
    yield
  except (ValueError, OSError) as e:
    mark_user_error(e)
    raise


def one_line(message: str) -> str:
  """A message on one line: its lines stripped and joined (lists become ``a; b``)."""
  parts = [p.strip() for p in str(message).splitlines() if p.strip()]
  out = ""
  for p in parts:
    if not out:
      out = p
    elif out.endswith((":", ",", ";", "(")):
      out += " " + p
    else:
      out += "; " + p
  return out


def describe(e: BaseException) -> str:
  """The one-line description of ``e`` the CLI prints."""
  if isinstance(e, OSError) and str(e).startswith("[Errno") and e.strerror:
    return one_line(f"{e.strerror}: {e.filename}" if e.filename else e.strerror)
  if isinstance(e, KeyError) and len(e.args) == 1:
    return one_line(str(e.args[0]))
  return one_line(str(e)) or type(e).__name__


def verbose(flag: bool = False) -> bool:
  return flag or os.environ.get("GAN_JAX_VERBOSE", "") not in ("", "0", "false", "False")


def exit_for(e: BaseException, show_traceback: bool = False) -> int:
  """Prints ``e`` as the CLI does and returns the exit status, or re-raises an internal
  failure (its traceback is the useful report)."""
  if is_user_error(e):
    kind, status = "error", USER_ERROR_STATUS
  elif isinstance(e, RunFailure):
    kind, status = "failed", FAILURE_STATUS
  else:
    raise e
  sys.stdout.flush()
  if verbose(show_traceback):
    traceback.print_exception(e)
  sys.stderr.write(f"gan_jax: {kind}: {describe(e)}\n")
  sys.stderr.flush()
  return status
