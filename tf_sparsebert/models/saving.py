"""Saving and loading classifiers with their tokenizer: `<dir>/model.keras`, SavedModel, vocab."""

import json
import os

import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tf_sparsebert.models.checkpoints import make_preprocessor
from tf_sparsebert.models.encoder import PrunableTransformerEncoder  # noqa: F401

keras = tf.keras
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"


def save_classifier(model, directory, vocab, lowercase, saved_model=True):
  """Writes `model.keras`, optionally `saved_model/`, and the tokenizer (vocab.txt, tokenizer.json)."""
  os.makedirs(directory, exist_ok=True)
  model.save(os.path.join(directory, KERAS_FILE))
  if saved_model:
    model.save(os.path.join(directory, SAVED_MODEL_DIR), save_format="tf")
  with open(os.path.join(directory, VOCAB_FILE), "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
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
  with open(os.path.join(directory, settings["vocab_file"]), encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f if line.rstrip("\n")]
  return vocab, bool(settings["lowercase"])


def load_preprocessor(directory, sequence_length, flag="--model_dir"):
  vocab, lowercase = load_tokenizer_files(directory, flag)
  return make_preprocessor(vocab, lowercase, sequence_length)
