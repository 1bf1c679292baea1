"""Suite-wide settings, made before anything imports JAX and inherited by pytest-xdist
workers and by the runs that tests start in subprocesses:

- the project's caches (digits classifier, Inception reference features) go to a temporary
  directory, so tests never read or write the user's ~/.cache/gan_jax;
- XLA's persistent compilation cache lives in another temporary directory, shared by every
  process of the session, so a step that many tests build (the tiny ring MLP, the tiny
  digits DCGAN) is compiled once. Entries are read and written under a file lock;
- XLA compiles for the CPU at LLVM optimisation level 0 (``XLA_FLAGS``), since compiling
  tiny programs, not running them, is most of the suite's time.

The directories belong to the session (never the user's own, even where the environment
names one) and the process that made them removes them at the end.
"""

import os
import shutil
import tempfile
import warnings

import filelock
import pytest

_CREATED = []
for _marker, _var, _prefix in (
  ("GAN_JAX_TEST_CACHE", "GAN_JAX_CACHE", "gan_jax_test_cache_"),
  ("GAN_JAX_TEST_XLA_CACHE", "JAX_COMPILATION_CACHE_DIR", "gan_jax_test_xla_cache_"),
):
  if _marker not in os.environ:  # the first process of the session: the controller
    os.environ[_marker] = tempfile.mkdtemp(prefix=_prefix)
    _CREATED.append(os.environ[_marker])
  os.environ[_var] = os.environ[_marker]
# XLA CPU compiles with LLVM at its lowest optimisation level: the tests' programs are tiny,
# so compiling is most of their time; at level 0 the suite's CPU time roughly halves
# (a tiny pix2pix run with eval and sampling: 125 s of CPU at the default, 68 s at 0).
# Numerics are IEEE float32 either way; runs compared bitwise run under the same flags.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
  ).strip()
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
# A size limit turns on the cache's file lock: no process reads a half-written entry.
os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(8 * 2**30)


def pytest_unconfigure(config):
  if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
    for path in _CREATED:
      shutil.rmtree(path, ignore_errors=True)


def remove_orphan_cache_entries(path: str) -> list[str]:
  """Removes the XLA cache entries whose access-time file is missing, and returns their names.

  XLA's size-limited cache writes an entry's ``-cache`` file, then its ``-atime`` file, under
  its file lock. A process killed between the two (the tests that SIGKILL a run) leaves an
  entry without ``-atime``, possibly half written; every later write by every process then
  fails while scanning the entries for eviction ("Error writing persistent compilation cache
  entry ... -atime"), and a read could get the half-written file. Taken under the same lock,
  so an entry being written is never mistaken for one.
  """
  if not os.path.isdir(path):
    return []
  with filelock.FileLock(os.path.join(path, ".lockfile"), timeout=60):
    names = set(os.listdir(path))
    orphans = [n for n in names if n.endswith("-cache") and n[:-5] + "atime" not in names]
    for name in orphans:
      os.remove(os.path.join(path, name))
  return orphans


@pytest.fixture(autouse=True)
def _session_caches_survive(request):
  """After each test: makes a session cache directory again when it is gone (so that the
  tests after it still share compiled programs) and removes XLA cache entries that a killed
  process left half made, each with a warning naming the test."""
  yield
  for var in ("JAX_COMPILATION_CACHE_DIR", "GAN_JAX_CACHE"):
    path = os.environ.get(var, "")
    if path and not os.path.isdir(path):
      os.makedirs(path, exist_ok=True)
      msg = f"CACHE DIR REMOVED: {path} ({var}) was gone after {request.node.nodeid}"
      warnings.warn(msg, stacklevel=2)
  orphans = remove_orphan_cache_entries(os.environ["JAX_COMPILATION_CACHE_DIR"])
  if orphans:
    msg = f"removed XLA cache entries left half made by {request.node.nodeid}: {orphans[:3]}"
    warnings.warn(msg, stacklevel=2)
