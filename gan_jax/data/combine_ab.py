"""Combines two folders of paired images into the aligned A|B format of ``paired_folder``.

    python -m gan_jax.data.combine_ab --fold_A=DIR_A --fold_B=DIR_B --fold_AB=OUT

Images of the same name (extension aside; subfolders kept) are put side by side, A left
and B right, and written as ``OUT/<split>/<name><A's extension>`` for each split folder
(train, val, test) present in both ``--fold_A`` and ``--fold_B``, or as ``OUT/<name>...``
when neither has split folders (then name ``OUT`` ``.../train`` yourself). A and B must
have the same size: a pair that does not is refused and reported, as is an unreadable
file; names found on one side only are reported. The exit status is 1 when a pair was
refused. Both images are written in RGB unless both are grayscale; JPEGs at quality 95.

References:
  junyanz/pytorch-CycleGAN-and-pix2pix, datasets/combine_A_and_B.py.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import app, flags

from gan_jax.data import folder, paired

SPLITS = paired.SPLIT_FOLDERS
MAX_LISTED = 5

_FOLD_A = flags.DEFINE_string("fold_A", None, "folder of the A images (left halves).")
_FOLD_B = flags.DEFINE_string("fold_B", None, "folder of the B images (right halves).")
_FOLD_AB = flags.DEFINE_string("fold_AB", None, "output folder of the combined A|B images.")


@dataclasses.dataclass
class SplitReport:
  """What ``combine_split`` did for one split (or the whole folders)."""

  split: str
  written: int = 0
  only_a: list[str] = dataclasses.field(default_factory=list)
  only_b: list[str] = dataclasses.field(default_factory=list)
  refused: list[str] = dataclasses.field(default_factory=list)  # "name: reason"

  def lines(self) -> list[str]:
    """Human-readable summary lines."""
    out = [f"{self.split or '.'}: wrote {self.written} pair(s)."]
    for side, names in (("A", self.only_a), ("B", self.only_b)):
      if names:
        out.append(
          f"  {len(names)} name(s) only in {side}, skipped: {', '.join(names[:MAX_LISTED])}"
          + (", ..." if len(names) > MAX_LISTED else "")
        )
    if self.refused:
      out.append(f"  {len(self.refused)} pair(s) refused:")
      out.extend(f"    {r}" for r in self.refused)
    return out


def _by_name(root: str, flag: str) -> dict[str, str]:
  """``{relative path without extension: path}`` of the images under ``root``."""
  if not os.path.isdir(root):
    return {}
  paths = [os.path.join(root, p) for p in folder.walk_images(root)]
  return paired.images_by_name(paths, root, flag)


def _combine_pair(path_a: str, path_b: str, out_path: str) -> None:
  """Writes A|B to ``out_path``; raises ValueError when the sizes differ."""
  from PIL import Image

  with Image.open(path_a) as ia, Image.open(path_b) as ib:
    if ia.size != ib.size:
      raise ValueError(
        f"A is {ia.size[0]}x{ia.size[1]} but B is {ib.size[0]}x{ib.size[1]} (width x height): "
        "the halves of an aligned image must have the same size."
      )
    mode = "L" if ia.mode == ib.mode == "L" else "RGB"
    a, b = np.asarray(ia.convert(mode)), np.asarray(ib.convert(mode))
  os.makedirs(os.path.dirname(out_path), exist_ok=True)
  out = Image.fromarray(np.concatenate([a, b], axis=1))
  if out_path.lower().endswith((".jpg", ".jpeg")):
    out.save(out_path, quality=95)
  else:
    out.save(out_path)


def combine_split(dir_a: str, dir_b: str, dir_ab: str, split: str = "") -> SplitReport:
  """Combines the same-named images of two folders into ``dir_ab``.

  Args:
    dir_a: the A images (searched recursively).
    dir_b: the B images.
    dir_ab: output folder; subfolders of ``dir_a`` are kept.
    split: the split's name, for the report.

  Returns:
    The ``SplitReport``.
  """
  a, b = _by_name(dir_a, "--fold_A"), _by_name(dir_b, "--fold_B")
  report = SplitReport(split)
  report.only_a = sorted(a.keys() - b.keys())
  report.only_b = sorted(b.keys() - a.keys())
  for key in sorted(a.keys() & b.keys()):
    out_path = os.path.join(dir_ab, key + os.path.splitext(a[key])[1])
    try:
      _combine_pair(a[key], b[key], out_path)
      report.written += 1
    except Exception as e:  # noqa: BLE001 (Pillow raises many types for bad files)
      report.refused.append(f"{key}: {type(e).__name__}: {e}")
  return report


def combine_folders(fold_a: str, fold_b: str, fold_ab: str) -> list[SplitReport]:
  """Combines every split folder present in both ``fold_a`` and ``fold_b``.

  Args:
    fold_a: the A folder, with train/ val/ test/ subfolders or none.
    fold_b: the B folder, laid out the same way.
    fold_ab: output folder.

  Returns:
    One ``SplitReport`` per split combined (one for the folders themselves when neither has
    split subfolders); a split present on one side only gets a report that names it
    and writes nothing.
  """
  for path, flag in ((fold_a, "--fold_A"), (fold_b, "--fold_B")):
    if not os.path.isdir(path):
      raise FileNotFoundError(f"{flag}={path!r} does not exist or is not a directory.")
  has = {
    side: [s for s in SPLITS if os.path.isdir(os.path.join(root, s))]
    for side, root in (("A", fold_a), ("B", fold_b))
  }
  if not has["A"] and not has["B"]:
    return [combine_split(fold_a, fold_b, fold_ab)]
  reports = []
  for s in SPLITS:
    if s in has["A"] and s in has["B"]:
      reports.append(
        combine_split(os.path.join(fold_a, s), os.path.join(fold_b, s), os.path.join(fold_ab, s), s)
      )
    elif s in has["A"] or s in has["B"]:
      side = "A" if s in has["A"] else "B"
      reports.append(SplitReport(f"{s} (only in {side}, skipped)"))
  return reports


def main(argv):
  del argv
  fold_a, fold_b, fold_ab = (os.path.expanduser(f.value) for f in (_FOLD_A, _FOLD_B, _FOLD_AB))
  try:
    reports = combine_folders(fold_a, fold_b, fold_ab)
  except (FileNotFoundError, ValueError) as e:
    raise SystemExit(f"combine_ab: {e}") from e
  for r in reports:
    print("\n".join(r.lines()))
  total = sum(r.written for r in reports)
  print(f"wrote {total} aligned image(s) under {fold_ab}")
  if any(r.refused for r in reports):
    raise SystemExit(1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["fold_A", "fold_B", "fold_AB"])
  app.run(main)
