"""`export_run`: every variant of a saved student converted, verified, written, and reported.

Each file is run in LiteRT on real dev examples against the Keras model (`verify`). A file that is
wrong with LiteRT's default XNNPACK delegate but right with builtin kernels is written with
`op_resolver: BUILTIN_WITHOUT_DEFAULT_DELEGATES` in its metadata (the runner honours it); one
that is wrong either way is not written at all. `export_report.json` records, per variant, the
parity figures, the op resolver, the size, and whether its sparse weights are read directly by
LiteRT's kernels or rebuilt dense at load (for the run's pruning block shape).
"""

import dataclasses
import hashlib
import os
import tempfile
from typing import Tuple

import tensorflow as tf
from absl import logging
from sparsebert_lite import metrics as lite_metrics
from sparsebert_lite import model_file

from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.export import conversion, mediapipe, verification
from tf_sparsebert.export.variants import VARIANTS, Variant
from tf_sparsebert.models import saving
from tf_sparsebert.pruning import compact, prune
from tf_sparsebert.run_dir import write_json

REPORT_FILE = "export_report.json"
RESOLVER_ORDER = ("AUTO", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


@dataclasses.dataclass
class ExportConfig:
  """What `export_run` writes and checks."""
  model_dir: str
  output_dir: str
  variants: tuple = VARIANTS
  max_verify_examples: int = 0   # 0: the whole dev split
  mediapipe_python: str = ""     # a mediapipe venv's python: also write MediaPipe models
  block_size: Tuple[int, int] = (1, 1)  # the student's pruning blocks (its run's config.json)
  # LiteRT files take each input at its own length (MediaPipe files are always fixed-length).
  dynamic_length: bool = True

  def validate(self):
    if not self.output_dir:
      raise ValueError("--output_dir is required")
    for v in self.variants:
      Variant.parse(v)
    if self.max_verify_examples < 0:
      raise ValueError("--max_verify_examples must be >= 0")
    if len(self.block_size) != 2 or min(self.block_size) < 1:
      raise ValueError(f"--pruning_block_size: must be two positive integers, got "
                       f"{self.block_size}")
    saving.check_classifier_files(self.model_dir, "--model_dir")
    if self.mediapipe_python and not os.access(self.mediapipe_python, os.X_OK):
      raise FileNotFoundError(f"--mediapipe_python: {self.mediapipe_python} is not an "
                              "executable (create it with `make .venv-mediapipe`)")
    return self


def check_output_dir(output_dir, model_dir, overwrite=False):
  """Raises unless `output_dir` may receive an export: absent or empty, or (with `overwrite`) a
  finished export, and never a folder that holds the model or is held by it."""
  if os.path.exists(model_dir) and os.path.exists(output_dir):
    model, out = os.path.realpath(model_dir), os.path.realpath(output_dir)
    if model == out or model.startswith(out + os.sep) or out.startswith(model + os.sep):
      raise ValueError(f"--output_dir: {output_dir} and --model_dir={model_dir} overlap; choose "
                       "another --output_dir")
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise ValueError(f"--output_dir: {output_dir} exists and is not a directory")
  if not os.path.isdir(output_dir) or not os.listdir(output_dir):
    return
  if not os.path.isfile(os.path.join(output_dir, REPORT_FILE)):
    raise ValueError(f"--output_dir: {output_dir} holds files that are not a tf_sparsebert export; "
                     "choose another directory")
  if not overwrite:
    raise ValueError(f"--output_dir: {output_dir} already holds an export; choose another "
                     "directory or pass --overwrite to replace it")


def _run_variant(content, variant, features, reference, labels, task, dynamic_length):
  """Verifies `content` with every resolver it may need; returns the report entry and the
  builtin kernels' outputs (the reference for MediaPipe's delegate)."""
  entry = {"runs": {}}
  check = lambda resolver, builtin=None: verification.verify(  # noqa: E731
      content, resolver, features, reference, labels, task, variant, builtin, dynamic_length)
  builtin = None
  if variant.int8:  # the builtin kernels are the reference for the delegate
    entry["runs"][RESOLVER_ORDER[1]], builtin = check(RESOLVER_ORDER[1])
    entry["runs"]["AUTO"], _ = check("AUTO", builtin)
  else:
    entry["runs"]["AUTO"], _ = check("AUTO")
    if not entry["runs"]["AUTO"]["ok"]:
      entry["runs"][RESOLVER_ORDER[1]], _ = check(RESOLVER_ORDER[1])
  for resolver in RESOLVER_ORDER:
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
  return entry, builtin


def _mediapipe(config, model, compacted, variant, task, seq_len, vocab, lowercase, resolver,
               path, examples, reference, builtin):
  """`<variant>.mediapipe.tflite`: MediaPipe pads to the model's input length, so it is made
  from a fixed-length conversion of the same variant."""
  content = conversion.convert(model, seq_len, variant, task.is_regression, compacted, False)
  content = model_file.with_metadata(content, conversion.metadata(
      task, variant, seq_len, vocab, lowercase, resolver, False))
  with tempfile.TemporaryDirectory() as tmp:
    fixed = os.path.join(tmp, f"{variant}.tflite")
    conversion.write_atomically(fixed, content)
    return mediapipe.mediapipe_export(
        fixed, path[:-len(".tflite")] + ".mediapipe.tflite", config.mediapipe_python,
        os.path.join(config.model_dir, saving.VOCAB_FILE), task, examples.texts[0], reference,
        examples.labels, variant, builtin)


def export_run(config, data_config):
  """Exports `config.model_dir` in every variant, verifies each, writes `export_report.json`.

  Returns the report. Raises `RuntimeError` naming the variants that are wrong in every LiteRT
  configuration (after writing the report; those files are not written).
  """
  config.validate()
  data_config.validate()
  task = glue.get_task(data_config.task)
  saving.check_task(config.model_dir, task)
  examples = glue.load_split(data_config, "dev").take(config.max_verify_examples)
  model = saving.load_classifier(config.model_dir)
  if model.output_shape[-1] != task.num_classes:
    raise ValueError(f"--task={task.name} has {task.num_classes} outputs but the model in "
                     f"{config.model_dir} has {model.output_shape[-1]}")
  model = conversion.stripped(model)
  vocab, lowercase = saving.load_tokenizer_files(config.model_dir)
  seq_len = data_config.max_seq_length
  preprocessor = saving.load_preprocessor(config.model_dir, seq_len)
  features = preprocessing.tokenize(examples, preprocessor)
  logits = model.predict(features, batch_size=data_config.eval_batch_size, verbose=0)
  reference = logits if task.is_regression else tf.nn.softmax(logits).numpy()
  block_size = tuple(int(b) for b in config.block_size)
  report = {"model_dir": config.model_dir, "task": task.name, "sequence_length": seq_len,
            "verified_on": {"data": examples.source, "num_examples": len(examples)},
            "keras_metrics": lite_metrics.compute_metrics(task, examples.labels, logits),
            "criteria": verification.CRITERIA, "block_size": list(block_size),
            "sparsity": prune.sparsity_report(model, block_size=block_size), "variants": {}}
  variants = [Variant.parse(v) for v in config.variants]
  compacted = None
  if any(v.compact for v in variants):  # compact once for all variants
    compacted, report["compaction"] = compact.compact(model)
  refused = []
  os.makedirs(config.output_dir, exist_ok=True)  # every input is read and checked by now
  for variant in variants:
    logging.info("Converting %s", variant)
    dynamic = config.dynamic_length
    content = conversion.convert(model, seq_len, variant, task.is_regression, compacted, dynamic)
    entry, builtin = _run_variant(content, variant, features, reference, examples.labels, task,
                                  dynamic)
    entry["dynamic_length"] = dynamic
    note = variant.sparse_weights_note(block_size)
    if note:
      entry["sparse_weights"] = note
      if entry["num_sparse_weights"] and not entry["num_read_directly"]:
        logging.warning("%s: %s", variant, note)
    if "op_resolver" in entry:
      path = os.path.join(config.output_dir, f"{variant}.tflite")
      content = model_file.with_metadata(content, conversion.metadata(
          task, variant, seq_len, vocab, lowercase, entry["op_resolver"], dynamic))
      conversion.write_atomically(path, content)
      entry.update(file=os.path.basename(path), bytes=len(content),
                   sha256=hashlib.sha256(content).hexdigest())
      if config.mediapipe_python and task.is_pair:
        entry["mediapipe"] = {"skipped": "MediaPipe's TextClassifier takes single sentences"}
      elif config.mediapipe_python:
        entry["mediapipe"] = _mediapipe(config, model, compacted, variant, task, seq_len, vocab,
                                        lowercase, entry["op_resolver"], path, examples,
                                        reference, builtin)
    else:
      refused.append(str(variant))
      entry["refused"] = "wrong outputs in every LiteRT configuration; not written"
    report["variants"][str(variant)] = entry
  sizes = {v: e["bytes"] for v, e in report["variants"].items() if "bytes" in e}
  for base in ("dense_fp32", "dense_int8"):
    if base in sizes:
      report[f"size_vs_{base}"] = {v: b / sizes[base] for v, b in sizes.items()}
  write_json(os.path.join(config.output_dir, REPORT_FILE), report)
  if refused:
    raise RuntimeError(f"not exported, wrong in LiteRT: {refused} (see "
                       f"{os.path.join(config.output_dir, REPORT_FILE)})")
  return report
