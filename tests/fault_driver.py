"""Runs many command lines of ``gan_jax.main`` cheaply: one import, one fork per case.

    python tests/fault_driver.py CASES.json RESULTS.json

Each case (a JSON object): ``id``, ``argv`` (the flags), ``cwd``, optional ``env`` (added to
the environment), ``setup`` (Python run in the child before the command: the fault to
inject), ``rlimit_fsize`` (bytes: the largest file the child may write; XLA's compilation
cache is off in such a child) and ``timeout``
(seconds). Every case runs in a child forked from this process after gan_jax is imported
(no JAX backend is started before the fork), with its stdout and stderr in files; up to
``--jobs`` cases run at once. RESULTS.json maps each id to its exit status (None: killed at
its timeout), its wall time and its stderr.
"""

import json
import os
import resource
import signal
import sys
import tempfile
import threading
import time
import traceback

import jax

import gan_jax.main  # noqa: F401 (imported once, before any fork)


def _child(case: dict, out_path: str, err_path: str) -> None:
  code = 1
  try:
    for fd, path in ((1, out_path), (2, err_path)):
      f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
      os.dup2(f, fd)
      os.close(f)
    os.chdir(case["cwd"])
    os.environ.update(case.get("env", {}))
    if case.get("rlimit_fsize"):
      # The limit would cut XLA's cache writes too, leaving a half-written entry in the
      # session's shared cache. (The environment was read at import: JAX_* variables in
      # ``env`` change nothing here, so the cache is turned off through jax.config.)
      jax.config.update("jax_enable_compilation_cache", False)
      n = int(case["rlimit_fsize"])
      resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    exec(case.get("setup", ""), {"__name__": "fault_setup"})
    try:
      gan_jax.main.cli(["gan_jax.main", *case["argv"]])
      code = 0
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # noqa: BLE001 (an internal failure: its traceback is the report)
    traceback.print_exc()
    code = 1
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_cases(cases: list[dict], jobs: int = 2) -> dict:
  # Forking a process with threads can deadlock the child: the imports must start none.
  assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
  tmp = tempfile.mkdtemp(prefix="fault_driver_")
  pending, running, results = list(cases), {}, {}
  while pending or running:
    while pending and len(running) < jobs:
      case = pending.pop(0)
      out, err = (os.path.join(tmp, f"{case['id']}.{k}") for k in ("out", "err"))
      pid = os.fork()
      if pid == 0:
        _child(case, out, err)
      running[pid] = (case, time.monotonic(), err)
    time.sleep(0.05)
    for pid, (case, t0, err) in list(running.items()):
      done, status = os.waitpid(pid, os.WNOHANG)
      elapsed = time.monotonic() - t0
      if not done and elapsed > case.get("timeout", 120):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        code = None
      elif not done:
        continue
      else:
        code = os.waitstatus_to_exitcode(status)
      with open(err, errors="replace") as f:
        results[case["id"]] = {"status": code, "seconds": elapsed, "stderr": f.read()}
      del running[pid]
  return results


if __name__ == "__main__":
  with open(sys.argv[1]) as f:
    cases = json.load(f)
  jobs = int(os.environ.get("FAULT_DRIVER_JOBS", "2"))
  with open(sys.argv[2], "w") as f:
    json.dump(run_cases(cases, jobs), f)
