"""sparsebert_lite: the on-device side of tf_sparsebert (LiteRT runner, tokenizer, model metadata).

Imports no TensorFlow and nothing from `tf_sparsebert`, so it runs where TensorFlow cannot.
(It is not called `tflite`, which would shadow the PyPI package of that name.) LiteRT is imported
when a name that needs it is first used, so `sparsebert_lite.glue` and `.metrics` (which the
training side shares) do not load it.
"""

import importlib

_NAMES = {"fully_connected_weights": "model_file", "read_metadata": "model_file",
          "with_metadata": "model_file", "TextClassifier": "runner",
          "make_interpreter": "runner", "BertInputEncoder": "tokenizer"}

__all__ = sorted(_NAMES)


def __getattr__(name):
  if name in _NAMES:
    return getattr(importlib.import_module(f"sparsebert_lite.{_NAMES[name]}"), name)
  raise AttributeError(f"module 'sparsebert_lite' has no attribute {name!r}")
