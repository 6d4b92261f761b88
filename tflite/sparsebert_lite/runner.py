"""Run an exported tf_sparsebert `.tflite` with LiteRT, as its metadata says it must be run."""

import numpy as np
from ai_edge_litert import interpreter as litert

from sparsebert_lite import model_file
from sparsebert_lite.tokenizer import BertInputEncoder, read_vocab

SIGNATURE = "serving_default"
INPUTS = ("input_word_ids", "input_mask", "input_type_ids")

RESOLVERS = {
    # LiteRT's default: builtin kernels with the XNNPACK delegate applied.
    "AUTO": litert.OpResolverType.AUTO,
    # Builtin kernels only. Required where XNNPACK computes a model wrongly (sparse int8).
    "BUILTIN_WITHOUT_DEFAULT_DELEGATES": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
}


def make_interpreter(content, op_resolver="AUTO", num_threads=None):
  """A LiteRT `Interpreter` for a model's bytes with one of `RESOLVERS`."""
  if op_resolver not in RESOLVERS:
    raise ValueError(f"op_resolver must be one of {sorted(RESOLVERS)}, got {op_resolver!r}")
  return litert.Interpreter(model_content=content, num_threads=num_threads,
                            experimental_op_resolver_type=RESOLVERS[op_resolver])


class TextClassifier:
  """A tf_sparsebert `.tflite` classifier: text in, scores out, with no TensorFlow.

  Usage:
  ```python
  clf = TextClassifier("model.tflite")
  clf.classify("the movie was great")          # -> array of per-label probabilities
  clf.classify("sentence one", "sentence two")   # pair tasks
  ```

  Args:
    path: the `.tflite` file written by `tf_sparsebert.export`.
    num_threads: LiteRT threads (None: LiteRT's default).
    vocab_file: a WordPiece vocab to use instead of the one embedded in the model.
    op_resolver: override the model's required op resolver (for benchmarks; a model that
      requires builtin kernels computes wrong outputs with XNNPACK).
  """

  def __init__(self, path, num_threads=None, vocab_file=None, op_resolver=None):
    try:
      with open(path, "rb") as f:
        content = f.read()
    except OSError as e:
      raise FileNotFoundError(f"--model: cannot read {path}: {e.strerror}") from None
    model_file.check_against_report(path, content)
    try:
      info = model_file.read_metadata(content)
    except Exception:  # noqa: BLE001 - not a flatbuffer at all
      info = None
    if info is None:
      raise ValueError(f"--model: {path} is not a tf_sparsebert export (no "
                       f"'{model_file.METADATA_NAME}' metadata); export it with "
                       "`python -m tf_sparsebert.export`")
    self.info = info
    self.op_resolver = op_resolver or info["op_resolver"]
    self.interpreter = make_interpreter(content, self.op_resolver, num_threads)
    self._run = self.interpreter.get_signature_runner(SIGNATURE)
    vocab = info["vocab"]
    if vocab_file:
      vocab = read_vocab(vocab_file)
      if len(vocab) != len(info["vocab"]):
        raise ValueError(f"--vocab_file: {vocab_file} has {len(vocab)} tokens, the model was "
                         f"trained with {len(info['vocab'])}")
    self.encoder = BertInputEncoder(vocab, info["lowercase"], info["sequence_length"])

  @property
  def labels(self):
    return self.info["labels"]

  @property
  def dynamic_length(self):
    """True if the file takes inputs at their own length (exports since `dynamic_length`)."""
    return bool(self.info.get("dynamic_length"))

  def run(self, input_word_ids, input_mask, input_type_ids):
    """Scores for one already-encoded example (int32 arrays of shape [1, S]). A model with a
    dynamic sequence dimension runs it cut to its own length: no time spent on padding."""
    if self.dynamic_length:
      n = max(int(np.asarray(input_mask).sum()), 1)
      input_word_ids, input_mask, input_type_ids = (
          np.asarray(a)[:, :n] for a in (input_word_ids, input_mask, input_type_ids))
    out = self._run(input_word_ids=input_word_ids, input_mask=input_mask,
                    input_type_ids=input_type_ids)
    return np.asarray(out[self.info["output"]])[0]

  def classify(self, text_a, text_b=None):
    """Per-label probabilities (or the regression score) for a text or a text pair."""
    if self.info["is_pair"] and text_b is None:
      raise ValueError(f"this {self.info['task']} model classifies sentence pairs: give text_b")
    if not self.info["is_pair"] and text_b is not None:
      raise ValueError(f"this {self.info['task']} model classifies single sentences: no text_b")
    return self.run(*self.encoder.encode(text_a, text_b))
