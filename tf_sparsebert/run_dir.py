"""The output folder of a run: new, resumed or refused; its lock; atomic writes; who writes.

A run's folder is only ever written by one process (an operating-system lock on the resolved
path), only after every check has passed, and each output appears whole or not at all:
directories are written under a `.partial` name and renamed, JSON files through a temporary file.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile

from tf_sparsebert.config import TrainConfig

FINISHED_MARKER = "metrics.json"
CONFIG_FILE = "config.json"
NEW, RESUME = "new", "resume"


def differences(saved, current, prefix=""):
  """Dotted names of the settings in which two `TrainConfig.to_dict()`s (or JSON of them) differ."""
  out = []
  for k in sorted(set(saved) | set(current)):
    a, b = saved.get(k), current.get(k)
    if isinstance(a, dict) and isinstance(b, dict):
      out += differences(a, b, f"{prefix}{k}.")
    elif a != b:
      out.append(f"{prefix}{k}")
  return out


def normalized(d):
  """A `TrainConfig.to_dict()` as JSON holds it, settings added since it was written at their
  defaults (one with a setting this version no longer has is returned as it is)."""
  try:
    d = TrainConfig.from_dict(d).to_dict()
  except TypeError:
    pass
  return json.loads(json.dumps(d))


def is_finished(config):
  """True if output_dir holds every output `config` asks for."""
  out = config.output_dir
  return (os.path.exists(os.path.join(out, FINISHED_MARKER))
          and (not config.export_tflite or os.path.isdir(os.path.join(out, "tflite"))))


def _inputs(config):
  """(flag, path) of every local file or folder the run reads."""
  data = config.data
  named = (("--init_checkpoint", config.init_checkpoint), ("--teacher_model", config.teacher_model),
           ("--glue_dir", data.glue_dir), ("--tfds_data_dir", data.tfds_data_dir),
           ("--mediapipe_python", config.mediapipe_python))
  return [(flag, path) for flag, path in named if path and os.path.exists(path)]


def _inside(path, folder):
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def is_run(path):
  """True if `path` holds a tf_sparsebert run (its config.json has a `train` section)."""
  try:
    with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return False
  return isinstance(saved, dict) and isinstance(saved.get("train"), dict)


def check_output_dir(config):
  """`NEW` for an absent or empty output_dir (or a run to replace with --overwrite), `RESUME` for
  an unfinished run of the same settings; raises for anything else, so nothing the user has is
  overwritten: --overwrite only ever replaces a tf_sparsebert run, and never one holding (or held
  by) one of the run's own inputs."""
  out = config.output_dir
  if "://" not in out:
    for flag, path in _inputs(config):
      if _inside(path, out) or _inside(out, path):
        raise ValueError(f"--output_dir: {out} and {flag}={path} overlap; the run would write "
                         "where it reads. Choose another --output_dir.")
  if os.path.exists(out) and not os.path.isdir(out):
    raise ValueError(f"--output_dir: {out} exists and is not a directory")
  if not os.path.isdir(out) or not os.listdir(out):
    return NEW
  if config.overwrite:
    if not is_run(out):
      raise ValueError(f"--output_dir: {out} holds files that are not a tf_sparsebert run; "
                       "--overwrite only replaces runs. Choose another directory.")
    return NEW
  if is_finished(config):
    raise ValueError(f"--output_dir: {out} already holds a finished run; choose another "
                     "directory or pass --overwrite to replace it.")
  saved_path = os.path.join(out, CONFIG_FILE)
  if not os.path.isfile(saved_path):
    raise ValueError(f"--output_dir: {out} already holds files that are not a tf_sparsebert run; "
                     "choose another directory or pass --overwrite to replace it.")
  with open(saved_path, encoding="utf-8") as f:
    saved = json.load(f)["train"]
  differ = [d for d in differences(normalized(saved), normalized(config.to_dict()))
            if d != "overwrite"]
  if differ:
    raise ValueError(f"--output_dir: {out} holds an unfinished run with other settings "
                     f"({', '.join(differ)}); rerun it with its own flags ({out}/flags.txt) to "
                     "resume it, choose another directory, or pass --overwrite to replace it.")
  return RESUME


ASIDE_SUFFIX = ".replaced"


@contextlib.contextmanager
def replacing(path):
  """For --overwrite: moves the run at `path` aside (`path + ".replaced"`) while the block writes
  a new one. The block calls the yielded `commit()` once the new run is safely written, which
  deletes the old one; if the block fails before that, the new files are removed and the old run
  is put back. A process killed before `commit()` leaves the old run at `path + ".replaced"`."""
  aside = path.rstrip(os.sep) + ASIDE_SUFFIX
  if os.path.lexists(aside):
    raise ValueError(f"--output_dir: {aside} exists (an earlier --overwrite was interrupted): "
                     f"move it back to {path} or delete it, then rerun")
  os.replace(path, aside)
  committed = []

  def commit():
    if not committed:
      remove(aside)
      committed.append(True)

  try:
    yield commit
  except BaseException:
    if not committed:
      remove(path)
      os.replace(aside, path)
    raise
  commit()


def remove(path):
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  elif os.path.lexists(path):
    os.remove(path)


@contextlib.contextmanager
def exclusive(path, flag="--output_dir"):
  """Holds an exclusive lock on the folder `path` while the block runs.

  A second process on the same folder (by any path: symlinks and `..` are resolved) fails at
  once, naming `flag`, instead of training into, resuming or overwriting a run that is still
  going. The lock is the operating system's (`flock`) on a file named by the resolved path in
  the temporary directory, so nothing is written beside the folder and no parent folder is
  created; it goes with the process, so a killed run leaves nothing to clean up. Paths with a
  scheme (`gs://...`) are not locked.
  """
  if "://" in path:
    yield
    return
  key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
  lock_path = os.path.join(tempfile.gettempdir(), "tf_sparsebert-locks", key + ".lock")
  os.makedirs(os.path.dirname(lock_path), exist_ok=True)
  with open(lock_path, "a+", encoding="utf-8") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "unknown"
      raise ValueError(f"{flag}: {path} is in use by another training process (pid {holder}); "
                       "wait for it to finish or choose another directory") from None
    f.truncate(0)
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_directory(path):
  """Yields `path + ".partial"` to write into; renames it to `path` only if the block succeeds.

  A crash or kill inside the block leaves `path` absent (never half-written); a stale
  `.partial` from an earlier crash is removed first.
  """
  partial = path + ".partial"
  remove(partial)
  os.makedirs(partial)
  yield partial
  remove(path)
  os.replace(partial, path)


def write_json(path, data):
  """Writes `data` as JSON to a temporary file and renames it over `path`."""
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2)
  os.replace(tmp, path)


def read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def own_dir(output_dir, chief, worker_index):
  """Where this process writes: the run's folder (the chief), or `workers/worker_<i>/` in it."""
  return output_dir if chief else os.path.join(output_dir, "workers", f"worker_{worker_index}")


def save_model(save, path, chief):
  """Calls `save(directory)` atomically into `path` (the chief) or into a throw-away folder (the
  other workers, which must take part in saving under a multi-worker strategy)."""
  if chief:
    with atomic_directory(path) as partial:
      save(partial)
  else:
    scratch = tempfile.mkdtemp(prefix="tf_sparsebert_worker_")
    try:
      save(scratch)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
