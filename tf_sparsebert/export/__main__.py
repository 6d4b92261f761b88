"""Export a saved student to verified TFLite files.

  python -m tf_sparsebert.export --model_dir=RUN/student --output_dir=RUN/tflite

Data flags (task, data location, sequence length) and the pruning block shape default to the
run's `config.json` (beside `--model_dir`); flags given on the command line win.
"""

import dataclasses
import json
import os
import sys

from absl import app, flags

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tf_sparsebert import flags as tsb_flags
from tf_sparsebert.config import DataConfig
from tf_sparsebert import run_dir
from tf_sparsebert.export.report import ExportConfig, check_output_dir, export_run
from tf_sparsebert.export.variants import ALL_VARIANTS, VARIANTS, default_variants


def _saved_train_config(model_dir):
  """The `train` section of the run's config.json beside `model_dir` ({} if there is none)."""
  path = os.path.join(os.path.dirname(os.path.abspath(model_dir)), "config.json")
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return json.load(f).get("train", {})


def _settings(flag_values):
  """`(data config, block size, variants)`: the run's, overridden by the flags given."""
  saved = _saved_train_config(flag_values.model_dir)
  data = tsb_flags.data_config_from_flags(flag_values)
  saved_data = saved.get("data", {})
  for field in dataclasses.fields(DataConfig):
    if field.name in flag_values and not flag_values[field.name].present and (
        field.name in saved_data):
      setattr(data, field.name, saved_data[field.name])
  pruning = saved.get("pruning", {})
  block = tuple(int(b) for b in pruning.get("block_size", (1, 1)))
  if flag_values["pruning_block_size"].present:
    block = tsb_flags.block_size(flag_values.pruning_block_size)
  variants = tuple(flag_values.variants) if flag_values["variants"].present else (
      default_variants(pruning.get("head_sparsity", 0.0), pruning.get("neuron_sparsity", 0.0)))
  return data, block, variants


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    data, block, variants = _settings(f)
    config = ExportConfig(f.model_dir, f.output_dir, variants, f.max_verify_examples,
                          f.mediapipe_python or "", block).validate()
    check_output_dir(f.output_dir, f.model_dir, f.overwrite)
    # Written whole into <output_dir>.partial, which then replaces output_dir: an old export is
    # never mixed with a new one, and a failed export leaves the old one as it was.
    refused = None
    with run_dir.atomic_directory(f.output_dir) as partial:
      try:
        report = export_run(dataclasses.replace(config, output_dir=partial), data)
      except RuntimeError as e:  # the report and the files that passed are kept
        refused = e
    if refused:
      raise refused
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    sys.exit(f"error: {e}")
  summary = {v: {k: e.get(k) for k in ("file", "bytes", "op_resolver", "num_densified",
                                        "num_read_directly", "sparse_weights")}
             for v, e in report["variants"].items()}
  print(json.dumps(summary, indent=2))


def define_flags(flag_values=flags.FLAGS):
  tsb_flags.define_data_flags(flag_values)
  flags.DEFINE_string("model_dir", None, "A saved classifier (e.g. RUN/student). Its data "
                      "flags default to the run's config.json.", flag_values=flag_values)
  flags.DEFINE_string("output_dir", None, "Where the .tflite files and export_report.json go.",
                      flag_values=flag_values)
  flags.DEFINE_list("variants", list(VARIANTS), "Any of [compact_]{sparse,dense}_{fp32,int8,"
                    "int8_per_tensor} (compact_: emptied heads and FFN neurons removed first, "
                    "exact; int8_per_tensor: one weight scale per matrix). Default: the four "
                    "plain ones, and compact_dense_int8, compact_sparse_int8 for a student with "
                    f"heads or neurons pruned. Choose from {', '.join(ALL_VARIANTS)}.",
                    flag_values=flag_values)
  flags.DEFINE_list("pruning_block_size", ["1", "1"], "The student's pruning blocks (rows,cols); "
                    "default: its run's config.json. Decides whether LiteRT reads the sparse "
                    "weights directly or rebuilds them dense at load.", flag_values=flag_values)
  flags.DEFINE_integer("max_verify_examples", 0, "Verify on the first N dev examples (0: all).",
                       flag_values=flag_values)
  flags.DEFINE_string("mediapipe_python", None, "Python of a venv with mediapipe (make "
                      ".venv-mediapipe): also write and verify <variant>.mediapipe.tflite for "
                      "MediaPipe's TextClassifier (single-sentence tasks).",
                      flag_values=flag_values)
  flags.DEFINE_bool("overwrite", False, "Replace an earlier export in --output_dir.",
                    flag_values=flag_values)
  flags.mark_flags_as_required(["model_dir", "output_dir"], flag_values=flag_values)


if __name__ == "__main__":
  define_flags()
  app.run(main)
