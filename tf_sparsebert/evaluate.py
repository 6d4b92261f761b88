"""Evaluate a saved classifier on a GLUE split.

  python -m tf_sparsebert.evaluate --model_dir=RUN/student --task=mrpc --split=dev \
      --glue_dir=../shared/data/glue --output_json=student_dev.json
"""

import json
import sys

from absl import app, flags

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tf_sparsebert import metrics
from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.models import saving


def evaluate(model, features, labels, task, batch_size=64, bucket_width=32):
  """Runs `model` on tokenized `features`; returns the task's official metrics (percent)."""
  ds, _ = preprocessing.make_dataset(features, labels, batch_size, training=False,
                                     bucket_width=bucket_width)
  logits = model.predict(ds.map(lambda x, y: x), verbose=0)
  return metrics.compute_metrics(task, labels, logits)


def evaluate_saved(model_dir, data_config, split):
  """Loads `model_dir` (model.keras + tokenizer) and evaluates it on `split` of the task."""
  task = glue.get_task(data_config.task)
  data_config.validate()
  saving.check_classifier_files(model_dir, "--model_dir")
  saving.check_task(model_dir, task)
  examples = glue.load_split(data_config, split)
  model = saving.load_classifier(model_dir)
  positions = model.get_layer("position_embedding").sequence_length
  if data_config.max_seq_length > positions:
    raise ValueError(f"--max_seq_length={data_config.max_seq_length} is above the model's "
                     f"{positions} positions")
  if model.output_shape[-1] != task.num_classes:
    raise ValueError(f"--task={task.name} has {task.num_classes} outputs but the model in "
                     f"{model_dir} has {model.output_shape[-1]}")
  preprocessor = saving.load_preprocessor(model_dir, data_config.max_seq_length)
  features = preprocessing.tokenize(examples, preprocessor)
  result = evaluate(model, features, examples.labels, task, data_config.eval_batch_size,
                    data_config.bucket_width)
  result.update({"task": task.name, "split": split, "num_examples": len(examples),
                 "model_dir": model_dir, "data": examples.source})
  return result


def main(argv):
  del argv
  from tf_sparsebert import flags as tsb_flags
  data_config = tsb_flags.data_config_from_flags(flags.FLAGS)
  try:
    if not flags.FLAGS["task"].present:  # the model's own task, if it recorded one
      data_config.task = saving.saved_task(flags.FLAGS.model_dir) or data_config.task
    result = evaluate_saved(flags.FLAGS.model_dir, data_config, flags.FLAGS.split)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  print(json.dumps(result, indent=2))
  if flags.FLAGS.output_json:
    from tf_sparsebert.run_dir import write_json
    write_json(flags.FLAGS.output_json, result)  # a temporary file, renamed when complete


def define_flags(flag_values=flags.FLAGS):
  from tf_sparsebert import flags as tsb_flags
  tsb_flags.define_data_flags(flag_values)
  flags.DEFINE_string("model_dir", None, "Directory of a saved classifier (e.g. RUN/student).",
                      flag_values=flag_values)
  flags.DEFINE_enum("split", "dev", ["train", "dev"], "The split to evaluate.",
                    flag_values=flag_values)
  flags.DEFINE_string("output_json", None, "Also write the metrics to this JSON file.",
                      flag_values=flag_values)
  flags.mark_flag_as_required("model_dir", flag_values=flag_values)


if __name__ == "__main__":
  define_flags()
  app.run(main)
