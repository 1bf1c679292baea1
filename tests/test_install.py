"""A non-editable install works from any directory: the package, its experiments and the
``gan-jax`` command.

The project's files are copied to a temporary directory and installed from there with
``pip install .`` (a wheel: no dependencies, no build isolation) into a fresh venv that
reads the dependencies from the test's environment, so the checkout is left as it was.
The run happens in another empty directory, where only the installed copy can be
imported. About 20 s: a wheel build, a tiny run, a report.
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pip_install_runs_the_shipped_experiments_from_anywhere(tmp_path):
  src = tmp_path / "src"
  src.mkdir()
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(os.path.join(ROOT, name), src / name)
  for name in ("gan_jax", "experiments"):
    shutil.copytree(
      os.path.join(ROOT, name), src / name, ignore=shutil.ignore_patterns("__pycache__")
    )
  # A fresh venv whose own site-packages gets the wheel; the dependencies come from this
  # test's environment through a .pth file placed after it (nothing is downloaded).
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  vpy = str(venv / "bin" / "python")
  vsite = subprocess.run(
    [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
    capture_output=True, text=True, check=True,
  ).stdout.strip()  # fmt: skip
  deps = [p for p in sys.path if p.endswith("site-packages")]
  with open(os.path.join(vsite, "zz_test_deps.pth"), "w") as f:
    f.write("\n".join(deps) + "\n")
  pip = [vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-compile"]
  r = subprocess.run([*pip, str(src)], capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  gan_jax_cmd = venv / "bin" / "gan-jax"
  assert gan_jax_cmd.exists()
  assert os.path.exists(os.path.join(vsite, "experiments", "dcgan_digits.py"))
  assert not any("__editable__" in n for n in os.listdir(vsite))

  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("PYTHONPATH", None)
  code = "import gan_jax, experiments; print(gan_jax.__file__, experiments.__file__)"
  where = subprocess.run(
    [vpy, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert where.returncode == 0, where.stderr[-2000:]
  assert all(p.startswith(vsite) for p in where.stdout.split()), where.stdout

  # The documented command, from a directory without experiments/: the shipped config.
  run = subprocess.run(
    [vpy, "-m", "gan_jax.main", "--config=experiments/dcgan_digits.py:tiny",
     "--workdir=wd", "--config.train.num_steps=2"],
    cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert run.returncode == 0, run.stderr[-3000:]
  assert os.path.isdir(elsewhere / "wd" / "checkpoints" / "2")

  # The console command takes the same flags (the report mode: no compile), and refuses a
  # bad value in one line with status 2.
  report = subprocess.run(
    [str(gan_jax_cmd), "--workdir=wd", "--mode=report"],
    cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert report.returncode == 0, report.stderr[-3000:]
  assert os.path.getsize(elsewhere / "wd" / "report.png") > 10_000
  bad = subprocess.run(
    [str(gan_jax_cmd), "--config=experiments/dcgan_digits.py:tiny",
     "--workdir=wd2", "--config.train.keep_checkpoints=0"],
    cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
  )  # fmt: skip
  assert bad.returncode == 2 and bad.stderr.strip().endswith("it never deletes them all)")
