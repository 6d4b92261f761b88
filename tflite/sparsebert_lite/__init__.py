"""sparsebert_lite: the on-device side of tf_sparsebert (LiteRT runner, tokenizer, model metadata).

Imports no TensorFlow and nothing from `tf_sparsebert`, so it runs where TensorFlow cannot.
(It is not called `tflite`, which would shadow the PyPI package of that name.)
"""

from sparsebert_lite.model_file import fully_connected_weights, read_metadata, with_metadata
from sparsebert_lite.runner import TextClassifier, make_interpreter
from sparsebert_lite.tokenizer import BertInputEncoder

__all__ = ["BertInputEncoder", "TextClassifier", "fully_connected_weights", "make_interpreter",
           "read_metadata", "with_metadata"]
