"""Export a stripped sparse classifier to TFLite, and verify every file with LiteRT before keeping it.

  python -m tf_sparsebert.export --model_dir=RUN/student --output_dir=RUN/tflite

Variants: `sparse_fp32`, `sparse_int8` (dynamic-range int8 weights) and their dense references
`dense_fp32`, `dense_int8`. Inputs are three fixed-length int32 `[1, S]` tensors
(`input_word_ids`, `input_mask`, `input_type_ids`, signature `serving_default`); the output is
`probabilities` (softmax; the raw regression score for STS-B). Each file carries `sparsebert`
metadata (task, labels, vocab, how it must be run) that `sparsebert_lite` reads.

Verification runs each file in LiteRT on real dev examples against the Keras model: fp32 must
match to 1e-4 (max abs logit difference), int8 must agree on >= 99% of labels and stay within
0.5 points of the Keras metric. A file that is wrong with LiteRT's default XNNPACK delegate but
right with builtin kernels is written with `op_resolver: BUILTIN_WITHOUT_DEFAULT_DELEGATES` in its
metadata (the runner honours it); one that is wrong either way is not written at all.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags, logging

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf  # noqa: E402
from sparsebert_lite import metrics as lite_metrics  # noqa: E402
from sparsebert_lite import model_file, runner  # noqa: E402

from tf_sparsebert.data import glue, preprocessing  # noqa: E402
from tf_sparsebert.models import saving  # noqa: E402
from tf_sparsebert.pruning import compact, prune  # noqa: E402

VARIANTS = ("sparse_fp32", "sparse_int8", "dense_fp32", "dense_int8")
# Every variant: `[compact_]{sparse,dense}_{fp32,int8,int8_per_tensor}`. `compact_` first removes
# the FFN neurons pruning emptied (tf_sparsebert.pruning.compact); `int8_per_tensor` quantizes
# each weight matrix with one scale instead of one per output channel, which XNNPACK computes
# correctly for sparse weights (its per-channel sparse int8 path is wrong).
ALL_VARIANTS = tuple(f"{c}{s}_{q}" for c in ("", "compact_") for s in ("sparse", "dense")
                     for q in ("fp32", "int8", "int8_per_tensor"))
COMPACT_VARIANTS = tuple(v for v in ALL_VARIANTS if v.startswith("compact_"))


@dataclasses.dataclass(frozen=True)
class Variant:
  """What a variant name asks of the converter."""
  compact: bool
  sparse: bool
  int8: bool
  per_tensor: bool

  @classmethod
  def parse(cls, name):
    if name not in ALL_VARIANTS:
      raise ValueError(f"--variants: unknown variant {name!r}; choose from {list(ALL_VARIANTS)}")
    return cls(compact=name.startswith("compact_"), sparse="sparse_" in name,
               int8="_int8" in name, per_tensor=name.endswith("_per_tensor"))
FP32_LOGIT_ATOL = 1e-4
INT8_MIN_AGREEMENT = 0.99
INT8_MAX_METRIC_DROP = 0.5
# A delegate must compute the same quantized model as LiteRT's reference (builtin) kernels. On the
# MiniLM student XNNPACK's dense int8 differs from them by 0.004 in logits (it quantizes
# activations its own way); its per-channel sparse int8 by 2.4, flipping 81% of MRPC labels.
DELEGATE_MAX_LOGIT_DIFF = 0.02
REPORT_FILE = "export_report.json"
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RESOLVER_ORDER = ("AUTO", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


def configure(converter, variant):
  """Sets a `TFLiteConverter`'s optimizations for `variant` (a name of `ALL_VARIANTS`)."""
  v = Variant.parse(variant)
  converter.optimizations = ([tf.lite.Optimize.DEFAULT] if v.int8 else []) + (
      [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if v.sparse else [])
  if v.per_tensor:
    converter._experimental_disable_per_channel = True  # noqa: SLF001 - the converter's switch
  return converter


def convert(model, sequence_length, variant="sparse_int8", regression=False):
  """TFLite flatbuffer bytes of a classifier with fixed `[1, sequence_length]` int32 inputs.

  `compact_*` variants first remove the FFN neurons pruning emptied (`compact.compact`).
  """
  parsed = Variant.parse(variant)
  model = _stripped(model)
  if parsed.compact:
    model, _ = compact.compact(model)
  spec = lambda name: tf.TensorSpec([1, sequence_length], tf.int32, name=name)  # noqa: E731

  @tf.function(input_signature=[spec(n) for n in runner.INPUTS])
  def serve(input_word_ids, input_mask, input_type_ids):
    logits = model({"token_ids": input_word_ids, "padding_mask": input_mask,
                    "segment_ids": input_type_ids}, training=False)
    return {_output_name(regression): logits if regression else tf.nn.softmax(logits)}

  converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()],
                                                              model)
  return configure(converter, variant).convert()


def convert_variant(model, compacted, sequence_length, variant, regression=False):
  """`convert` for callers converting one model into many variants: `compacted` (from
  `compact.compact(model)`) is used for the `compact_*` ones instead of compacting each time."""
  if Variant.parse(variant).compact:
    return convert(compacted, sequence_length, variant.removeprefix("compact_"), regression)
  return convert(model, sequence_length, variant, regression)


def _stripped(model):
  wrapped = any(isinstance(layer, prune.pruning_wrapper.PruneLowMagnitude) for layer in model.layers)
  return prune.strip(model) if wrapped else model


def _output_name(regression):
  return "score" if regression else "probabilities"


def export_tflite(model, path, sequence_length=128, variant="sparse_int8", vocab=None,
                  lowercase=True, task=None, op_resolver="AUTO"):
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

  Returns:
    The bytes written.
  """
  spec = glue.get_task(task) if task else None
  regression = bool(spec and spec.is_regression)
  content = convert(model, sequence_length, variant, regression)
  content = model_file.with_metadata(content, _metadata(
      spec, variant, sequence_length, vocab, lowercase, op_resolver, regression))
  _write_atomically(path, content)
  return content


def _metadata(spec, variant, sequence_length, vocab, lowercase, op_resolver, regression):
  return {
      "format": 1, "variant": variant, "task": spec.name if spec else None,
      "labels": list(spec.labels) if spec and spec.labels else None,
      "is_pair": bool(spec and spec.is_pair), "sequence_length": sequence_length,
      "signature": runner.SIGNATURE, "inputs": list(runner.INPUTS),
      "output": _output_name(regression), "lowercase": bool(lowercase),
      "vocab": list(vocab or []), "op_resolver": op_resolver,
  }


def _write_atomically(path, content):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(content)
  os.replace(tmp, path)


def verify(content, op_resolver, features, reference, labels, task, variant, builtin=None):
  """Runs `content` in LiteRT with `op_resolver` on `features` and compares with Keras.

  Args:
    reference: the Keras model's outputs (probabilities, or scores) on the same features.
    builtin: for int8 with a delegate, the outputs of the builtin kernels, which the delegate
      must reproduce (`DELEGATE_MAX_LOGIT_DIFF`).

  Returns:
    `(result, outputs)`: a dict of parity figures with `"ok"`, and the outputs (None on error).
  """
  interpreter = runner.make_interpreter(content, op_resolver)
  run = interpreter.get_signature_runner(runner.SIGNATURE)
  out_name = _output_name(task.is_regression)
  start = time.perf_counter()
  try:
    outputs = np.stack([
        np.asarray(run(input_word_ids=features["token_ids"][i:i + 1],
                       input_mask=features["padding_mask"][i:i + 1],
                       input_type_ids=features["segment_ids"][i:i + 1])[out_name])[0]
        for i in range(len(labels))])
  except (RuntimeError, ValueError) as e:
    return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}, None
  seconds = time.perf_counter() - start
  result = compare(outputs, reference, labels, task, variant, builtin)
  result["examples_per_second"] = len(labels) / seconds
  return result, outputs


def compare(outputs, reference, labels, task, variant, builtin=None):
  """Parity figures of a runtime's `outputs` against Keras' `reference`, with `"ok"`."""
  center = (lambda x: x) if task.is_regression else lite_metrics.centered_logits
  diff = float(np.max(np.abs(center(outputs) - center(reference))))
  agreement = None if task.is_regression else float(
      np.mean(outputs.argmax(-1) == reference.argmax(-1)))
  ours = lite_metrics.compute_metrics(task, labels, outputs)
  keras_metric = lite_metrics.compute_metrics(task, labels, reference)
  result = {"max_abs_logit_diff" if not task.is_regression else "max_abs_score_diff": diff,
            "max_abs_prob_diff": float(np.max(np.abs(outputs - reference))),
            "label_agreement": agreement, "metrics": ours,
            "metric_drop": keras_metric["main"] - ours["main"]}
  if not Variant.parse(variant).int8:
    result["ok"] = bool(diff <= FP32_LOGIT_ATOL)
  else:
    result["ok"] = bool((agreement is None or agreement >= INT8_MIN_AGREEMENT)
                        and abs(result["metric_drop"]) <= INT8_MAX_METRIC_DROP)
    if builtin is not None:
      result["max_abs_logit_diff_vs_builtin"] = float(np.max(np.abs(center(outputs)
                                                                    - center(builtin))))
      result["ok"] = result["ok"] and result["max_abs_logit_diff_vs_builtin"] <= (
          DELEGATE_MAX_LOGIT_DIFF)
  return result


def mediapipe_export(path, python, vocab_file, task, sentences, reference, labels, variant,
                     builtin=None):
  """Writes `<variant>.mediapipe.tflite` beside `path` and verifies it in MediaPipe.

  `python` is the interpreter of a venv with mediapipe (tflite/mediapipe_task.py). The file is
  kept only if MediaPipe's TextClassifier reproduces Keras like LiteRT must (`compare`).
  """
  script = os.path.join(_REPO, "tflite", "mediapipe_task.py")
  out = path[:-len(".tflite")] + ".mediapipe.tflite"
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


@dataclasses.dataclass
class ExportConfig:
  """What `export_run` writes and checks."""
  model_dir: str
  output_dir: str
  variants: tuple = VARIANTS
  max_verify_examples: int = 0   # 0: the whole dev split
  mediapipe_python: str = ""     # a mediapipe venv's python: also write MediaPipe models

  def validate(self):
    if not self.output_dir:
      raise ValueError("--output_dir is required")
    for v in self.variants:
      Variant.parse(v)
    if self.max_verify_examples < 0:
      raise ValueError("--max_verify_examples must be >= 0")
    saving.check_classifier_files(self.model_dir, "--model_dir")
    if self.mediapipe_python and not os.access(self.mediapipe_python, os.X_OK):
      raise FileNotFoundError(f"--mediapipe_python: {self.mediapipe_python} is not an "
                              "executable (create it with `make .venv-mediapipe`)")
    return self


def export_run(config, data_config):
  """Exports `config.model_dir` in every variant, verifies each, writes `export_report.json`.

  Returns the report. Raises `RuntimeError` naming the variants that are wrong in every LiteRT
  configuration (after writing the report; those files are not written).
  """
  config.validate()
  data_config.validate()
  task = glue.get_task(data_config.task)
  examples = glue.load_split(data_config, "dev").take(config.max_verify_examples)
  model = saving.load_classifier(config.model_dir)
  if model.output_shape[-1] != task.num_classes:
    raise ValueError(f"--task={task.name} has {task.num_classes} outputs but the model in "
                     f"{config.model_dir} has {model.output_shape[-1]}")
  model = _stripped(model)
  vocab, lowercase = saving.load_tokenizer_files(config.model_dir)
  seq_len = data_config.max_seq_length
  preprocessor = saving.load_preprocessor(config.model_dir, seq_len)
  features = preprocessing.tokenize(examples, preprocessor)
  logits = model.predict(features, batch_size=data_config.eval_batch_size, verbose=0)
  reference = logits if task.is_regression else tf.nn.softmax(logits).numpy()
  report = {"model_dir": config.model_dir, "task": task.name, "sequence_length": seq_len,
            "verified_on": {"data": examples.source, "num_examples": len(examples)},
            "keras_metrics": lite_metrics.compute_metrics(task, examples.labels, logits),
            "criteria": {"fp32_max_abs_logit_diff": FP32_LOGIT_ATOL,
                         "int8_min_label_agreement": INT8_MIN_AGREEMENT,
                         "int8_max_metric_drop": INT8_MAX_METRIC_DROP},
            "sparsity": prune.sparsity_report(model), "variants": {}}
  compacted = None
  if any(Variant.parse(v).compact for v in config.variants):  # compact once for all variants
    compacted, report["compaction"] = compact.compact(model)
  refused = []
  for variant in config.variants:
    logging.info("Converting %s", variant)
    content = convert_variant(model, compacted, seq_len, variant, task.is_regression)
    entry = {"runs": {}}
    check = lambda resolver, builtin=None: verify(  # noqa: E731
        content, resolver, features, reference, examples.labels, task, variant, builtin)
    builtin = None
    if Variant.parse(variant).int8:  # the builtin kernels are the reference for the delegate
      entry["runs"]["BUILTIN_WITHOUT_DEFAULT_DELEGATES"], builtin = check(_RESOLVER_ORDER[1])
      entry["runs"]["AUTO"], _ = check("AUTO", builtin)
    else:
      entry["runs"]["AUTO"], _ = check("AUTO")
      if not entry["runs"]["AUTO"]["ok"]:
        entry["runs"]["BUILTIN_WITHOUT_DEFAULT_DELEGATES"], _ = check(_RESOLVER_ORDER[1])
    for resolver in _RESOLVER_ORDER:
      logging.info("%s with %s: %s", variant, resolver, entry["runs"].get(resolver))
      if entry["runs"].get(resolver, {}).get("ok"):
        entry["op_resolver"] = resolver
        break
    weights = model_file.fully_connected_weights(content)
    entry.update(
        ops=model_file.op_counts(content), fully_connected=weights,
        num_sparse_weights=sum(w["stored"] == "sparse" for w in weights),
        num_read_directly=sum(w["stored"] == "sparse" and w["read_by"] == "FULLY_CONNECTED"
                              for w in weights),
        num_densified=sum(w["read_by"] == "DENSIFY" for w in weights))
    if "op_resolver" in entry:
      path = os.path.join(config.output_dir, f"{variant}.tflite")
      content = model_file.with_metadata(content, _metadata(
          task, variant, seq_len, vocab, lowercase, entry["op_resolver"], task.is_regression))
      _write_atomically(path, content)
      entry.update(file=os.path.basename(path), bytes=len(content))
      if config.mediapipe_python and task.is_pair:
        entry["mediapipe"] = {"skipped": "MediaPipe's TextClassifier takes single sentences"}
      elif config.mediapipe_python:
        entry["mediapipe"] = mediapipe_export(
            path, config.mediapipe_python, os.path.join(config.model_dir, saving.VOCAB_FILE),
            task, examples.texts[0], reference, examples.labels, variant, builtin)
    else:
      refused.append(variant)
      entry["refused"] = "wrong outputs in every LiteRT configuration; not written"
    report["variants"][variant] = entry
  sizes = {v: e["bytes"] for v, e in report["variants"].items() if "bytes" in e}
  for base in ("dense_fp32", "dense_int8"):
    if base in sizes:
      report[f"size_vs_{base}"] = {v: b / sizes[base] for v, b in sizes.items()}
  _write_atomically(os.path.join(config.output_dir, REPORT_FILE),
                    json.dumps(report, indent=2).encode())
  if refused:
    raise RuntimeError(f"not exported, wrong in LiteRT: {refused} (see "
                       f"{os.path.join(config.output_dir, REPORT_FILE)})")
  return report


def _run_data_config(model_dir, flag_values):
  """The data config of the run `model_dir` came from (RUN/config.json), overridden by flags."""
  from tf_sparsebert import config as tsb_config
  from tf_sparsebert import flags as tsb_flags
  data = tsb_flags.data_config_from_flags(flag_values)
  run_config = os.path.join(os.path.dirname(os.path.abspath(model_dir)), "config.json")
  if os.path.isfile(run_config):
    with open(run_config, encoding="utf-8") as f:
      saved = tsb_config.TrainConfig.from_dict(json.load(f)["train"]).data
    for field in dataclasses.fields(data):
      if not flag_values[field.name].present and hasattr(saved, field.name):
        setattr(data, field.name, getattr(saved, field.name))
  return data


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    data = _run_data_config(f.model_dir, f)
    config = ExportConfig(f.model_dir, f.output_dir, tuple(f.variants), f.max_verify_examples,
                          f.mediapipe_python or "")
    report = export_run(config, data)
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    sys.exit(f"error: {e}")
  summary = {v: {k: e.get(k) for k in ("file", "bytes", "op_resolver", "num_densified",
                                        "num_read_directly")}
             for v, e in report["variants"].items()}
  print(json.dumps(summary, indent=2))


def define_flags(flag_values=flags.FLAGS):
  from tf_sparsebert import flags as tsb_flags
  tsb_flags.define_data_flags(flag_values)
  flags.DEFINE_string("model_dir", None, "A saved classifier (e.g. RUN/student). Its data "
                      "flags default to the run's config.json.", flag_values=flag_values)
  flags.DEFINE_string("output_dir", None, "Where the .tflite files and export_report.json go.",
                      flag_values=flag_values)
  flags.DEFINE_list("variants", list(VARIANTS), "Any of [compact_]{sparse,dense}_{fp32,int8,"
                    "int8_per_tensor} (compact_: emptied FFN neurons removed first, exact; "
                    "int8_per_tensor: one weight scale per matrix).",
                    flag_values=flag_values)
  flags.DEFINE_integer("max_verify_examples", 0, "Verify on the first N dev examples (0: all).",
                       flag_values=flag_values)
  flags.DEFINE_string("mediapipe_python", None, "Python of a venv with mediapipe (make "
                      ".venv-mediapipe): also write and verify <variant>.mediapipe.tflite for "
                      "MediaPipe's TextClassifier (single-sentence tasks).",
                      flag_values=flag_values)
  flags.mark_flags_as_required(["model_dir", "output_dir"], flag_values=flag_values)


if __name__ == "__main__":
  define_flags()
  app.run(main)
