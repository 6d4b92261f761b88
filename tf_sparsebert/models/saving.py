"""Saving and loading classifiers with their tokenizer: `<dir>/model.keras`, SavedModel, vocab."""

import json
import os

import tensorflow as tf
import tensorflow_model_optimization as tfmot

from sparsebert_lite.tokenizer import read_vocab, write_vocab

from tf_sparsebert.models.checkpoints import make_preprocessor
from tf_sparsebert.models.encoder import PrunableTransformerEncoder  # noqa: F401

keras = tf.keras
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
TOKENIZER_FILE = "tokenizer.json"
TASK_FILE = "task.json"
VOCAB_FILE = "vocab.txt"


def save_classifier(model, directory, vocab, lowercase, saved_model=True, task=None):
  """Writes `model.keras`, optionally `saved_model/`, the tokenizer (vocab.txt, tokenizer.json)
  and, if given, the task the classifier was trained for (task.json: its name and labels)."""
  os.makedirs(directory, exist_ok=True)
  if task is not None:
    with open(os.path.join(directory, TASK_FILE), "w", encoding="utf-8") as f:
      json.dump({"task": task.name, "labels": list(task.labels) if task.labels else None}, f,
                indent=2)
  model.save(os.path.join(directory, KERAS_FILE))
  if saved_model:
    model.save(os.path.join(directory, SAVED_MODEL_DIR), save_format="tf")
  write_vocab(os.path.join(directory, VOCAB_FILE), vocab)
  with open(os.path.join(directory, TOKENIZER_FILE), "w", encoding="utf-8") as f:
    json.dump({"lowercase": lowercase, "vocab_file": VOCAB_FILE}, f, indent=2)


def _keras_path(path, flag):
  if os.path.isdir(path):
    path = os.path.join(path, KERAS_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{flag}: {path} does not exist (expected a .keras file or a "
                            f"directory holding {KERAS_FILE})")
  return path


def check_classifier_files(path, flag):
  """Raises a clear error if `path` lacks the model or tokenizer files `save_classifier` writes."""
  load_tokenizer_files(os.path.dirname(_keras_path(path, flag)), flag)


def load_classifier(path, flag="--model_dir"):
  """Loads a classifier saved by `save_classifier` (wrapped or stripped) from a dir or .keras file.

  A wrapped model needs `tf_sparsebert.pruning` imported (it registers `PruneKernelBlocks`);
  `import tf_sparsebert` does that.
  """
  path = _keras_path(path, flag)
  try:
    with tfmot.sparsity.keras.prune_scope():
      return keras.models.load_model(path, compile=False)
  except (OSError, ValueError, TypeError, KeyError) as e:
    raise ValueError(f"{flag}: could not load {path}: {type(e).__name__}: {e}") from None


def load_tokenizer_files(directory, flag="--model_dir"):
  """(vocab, lowercase) saved beside a classifier."""
  if not os.path.isdir(directory):
    directory = os.path.dirname(directory)
  settings_path = os.path.join(directory, TOKENIZER_FILE)
  if not os.path.isfile(settings_path):
    raise FileNotFoundError(f"{flag}: {settings_path} does not exist (the model's tokenizer)")
  with open(settings_path, encoding="utf-8") as f:
    settings = json.load(f)
  vocab = read_vocab(os.path.join(directory, settings["vocab_file"]))
  return vocab, bool(settings["lowercase"])


def saved_task(directory):
  """The task name a classifier was saved for (task.json), or None."""
  if not os.path.isdir(directory):
    directory = os.path.dirname(directory)
  try:
    with open(os.path.join(directory, TASK_FILE), encoding="utf-8") as f:
      return json.load(f)["task"]
  except (OSError, ValueError, KeyError, TypeError):
    return None


def check_task(directory, task, flag="--task"):
  """Raises if the classifier in `directory` was trained for another task than `task` (a
  `glue.Task`); classifiers saved without task.json are not checked."""
  if not os.path.isdir(directory):
    directory = os.path.dirname(directory)
  path = os.path.join(directory, TASK_FILE)
  if not os.path.isfile(path):
    return
  try:
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)["task"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f"--model_dir: {path} is unreadable: {e}") from None
  if saved != task.name:
    raise ValueError(f"{flag}={task.name}: the model in {directory} was trained for {saved} "
                     f"(its {TASK_FILE}); pass --task={saved}")


def load_preprocessor(directory, sequence_length, flag="--model_dir"):
  vocab, lowercase = load_tokenizer_files(directory, flag)
  return make_preprocessor(vocab, lowercase, sequence_length)
