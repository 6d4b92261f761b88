"""MediaPipe Tasks TextClassifier files: metadata written and the file checked in MediaPipe.

MediaPipe runs in its own venv (its numpy/protobuf pins clash with TensorFlow's), so both steps
run `tflite/mediapipe_task.py` with that venv's python.
"""

import json
import os
import subprocess
import tempfile

import numpy as np

from tf_sparsebert.export.verification import compare

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mediapipe_export(path, out, python, vocab_file, task, sentences, reference, labels, variant,
                     builtin=None):
  """Writes `out` (`<variant>.mediapipe.tflite`) from the fixed-length file `path` with
  MediaPipe's metadata, and verifies it in MediaPipe.

  `python` is the interpreter of a venv with mediapipe (tflite/mediapipe_task.py). The file is
  kept only if MediaPipe's TextClassifier reproduces Keras like LiteRT must (`compare`).
  MediaPipe pads every input to the model's input length: `path` must have fixed-length inputs.
  """
  script = os.path.join(_REPO, "tflite", "mediapipe_task.py")
  label_arg = "--labels=" + ",".join(task.labels)
  with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "in.json"), "w", encoding="utf-8") as f:
      json.dump(list(sentences), f)
    try:
      subprocess.run([python, script, "write", f"--model={path}", f"--vocab_file={vocab_file}",
                      label_arg, f"--output={out}.tmp"], check=True, capture_output=True,
                     text=True)
      subprocess.run([python, script, "classify", f"--model={out}.tmp", label_arg,
                      f"--sentences_json={tmp}/in.json", f"--output_json={tmp}/out.json"],
                     check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
      _remove(out + ".tmp")
      detail = getattr(e, "stderr", "") or str(e)
      raise ValueError(f"--mediapipe_python: {python} could not write or run the MediaPipe "
                       f"model: {detail.strip().splitlines()[-1] if detail.strip() else e}")
    with open(os.path.join(tmp, "out.json")) as f:
      outputs = np.asarray(json.load(f), np.float32)
  result = compare(outputs, reference, labels, task, variant, builtin)
  if result["ok"]:
    os.replace(out + ".tmp", out)
    result["file"] = os.path.basename(out)
    result["bytes"] = os.path.getsize(out)
  else:
    _remove(out + ".tmp")
    result["refused"] = "MediaPipe's outputs are wrong for this variant; not written"
  return result


def _remove(path):
  if os.path.exists(path):
    os.remove(path)
