"""Keras classifier -> TFLite flatbuffer, with the `sparsebert` metadata the runner reads."""

import os

import tensorflow as tf
from sparsebert_lite import model_file, runner

from tf_sparsebert.data import glue
from tf_sparsebert.export.variants import Variant
from tf_sparsebert.models.bert import unwrap
from tf_sparsebert.pruning import compact, prune


def configure(converter, variant):
  """Sets a `TFLiteConverter`'s optimizations for `variant` (a `Variant` or its name)."""
  v = Variant.parse(variant)
  converter.optimizations = ([tf.lite.Optimize.DEFAULT] if v.int8 else []) + (
      [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if v.sparse else [])
  if v.per_tensor:
    converter._experimental_disable_per_channel = True  # noqa: SLF001 - the converter's switch
  return converter


def stripped(model):
  """`model` without pruning wrappers (masks applied), or `model` itself if it has none."""
  wrapped = any(unwrap(layer) is not layer for layer in model.layers)
  return prune.strip(model) if wrapped else model


def output_name(regression):
  return "score" if regression else "probabilities"


def convert(model, sequence_length, variant="sparse_int8", regression=False, compacted=None,
            dynamic_length=False):
  """TFLite flatbuffer bytes of a classifier with int32 `[1, sequence_length]` inputs, or, with
  `dynamic_length`, `[1, None]` inputs that take each example at its own length (up to
  `sequence_length`; LiteRT resizes the graph to each new length).

  `compact_*` variants run on `compacted` (from `compact.compact(model)`), or compact `model`
  first if it is not given (the heads and FFN neurons pruning emptied are removed exactly).
  """
  v = Variant.parse(variant)
  model = stripped(model)
  if v.compact:
    model = compacted if compacted is not None else compact.compact(model)[0]
  length = None if dynamic_length else sequence_length
  spec = lambda name: tf.TensorSpec([1, length], tf.int32, name=name)  # noqa: E731

  @tf.function(input_signature=[spec(n) for n in runner.INPUTS])
  def serve(input_word_ids, input_mask, input_type_ids):
    logits = model({"token_ids": input_word_ids, "padding_mask": input_mask,
                    "segment_ids": input_type_ids}, training=False)
    return {output_name(regression): logits if regression else tf.nn.softmax(logits)}

  converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()],
                                                              model)
  return configure(converter, v.uncompacted).convert()


def metadata(task, variant, sequence_length, vocab, lowercase, op_resolver, dynamic_length=False):
  """The `sparsebert` metadata entry (`sparsebert_lite.model_file`) of an exported file."""
  regression = bool(task and task.is_regression)
  return {
      "format": 1, "variant": str(variant), "task": task.name if task else None,
      "labels": list(task.labels) if task and task.labels else None,
      "is_pair": bool(task and task.is_pair), "sequence_length": sequence_length,
      "signature": runner.SIGNATURE, "inputs": list(runner.INPUTS),
      "output": output_name(regression), "lowercase": bool(lowercase),
      "vocab": list(vocab or []), "op_resolver": op_resolver,
      "dynamic_length": bool(dynamic_length),
  }


def write_atomically(path, content):
  """Writes bytes to a temporary file beside `path` and renames it over `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(content)
  os.replace(tmp, path)


def export_tflite(model, path, sequence_length=128, variant="sparse_int8", vocab=None,
                  lowercase=True, task=None, op_resolver="AUTO", dynamic_length=False):
  """Converts `model` (wrapped or stripped) to a `.tflite` file with `sparsebert` metadata.

  This writes without verifying; `export_run` (the CLI) verifies each file against Keras on dev
  data and records the op resolver it must run with. Sparse int8 files are wrong under XNNPACK
  (see tflite/README.md): pass `op_resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES"` for them.

  Args:
    model: a classifier from `bert_classifier`, `make_sparse_student` or `strip`.
    path: the `.tflite` file to write (written to a temporary name, then renamed).
    sequence_length: the fixed input length.
    variant: one of `ALL_VARIANTS`.
    vocab: the WordPiece vocabulary (list of tokens), embedded for the runner.
    lowercase: whether the tokenizer lower-cases.
    task: a GLUE task name (labels and pair/single input come from it), or None.
    op_resolver: the LiteRT op resolver the file must be run with.
    dynamic_length: inputs at their own length (`convert`); MediaPipe needs fixed ones.

  Returns:
    The bytes written.
  """
  spec = glue.get_task(task) if task else None
  content = convert(model, sequence_length, variant, bool(spec and spec.is_regression),
                    dynamic_length=dynamic_length)
  content = model_file.with_metadata(content, metadata(spec, variant, sequence_length, vocab,
                                                       lowercase, op_resolver, dynamic_length))
  write_atomically(path, content)
  return content
