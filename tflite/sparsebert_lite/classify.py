"""Classify a sentence, a pair, or a whole GLUE TSV with an exported `.tflite` (no TensorFlow).

  python -m sparsebert_lite.classify --model=model.tflite --text="a gripping film"
  python -m sparsebert_lite.classify --model=model.tflite --text="..." --text_b="..."
  python -m sparsebert_lite.classify --model=model.tflite --tsv=../shared/data/glue/MRPC/dev.tsv
"""

import json
import sys
import time

import numpy as np
from absl import app, flags

from sparsebert_lite import glue, metrics
from sparsebert_lite.runner import RESOLVERS, TextClassifier

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The .tflite file written by tf_sparsebert.export.")
flags.DEFINE_string("text", None, "A sentence to classify (the first of a pair).")
flags.DEFINE_string("text_b", None, "The second sentence, for pair tasks.")
flags.DEFINE_string("tsv", None, "A GLUE TSV file of the model's task: classify it, report metrics.")
flags.DEFINE_integer("max_examples", 0, "Only the first N examples of --tsv (0: all).")
flags.DEFINE_string("vocab_file", None, "Use this vocab instead of the one in the model.")
flags.DEFINE_integer("num_threads", None, "LiteRT threads.")
flags.DEFINE_enum("op_resolver", None, sorted(RESOLVERS),
                  "Override the op resolver the model requires (benchmarks only).")
flags.DEFINE_string("output_json", None, "Write the metrics (with --tsv) or scores here.")


def evaluate_tsv(classifier, path, max_examples=0):
  """The task metrics of `classifier` on a GLUE TSV file, and examples/second."""
  task = glue.get_task(classifier.info["task"])
  examples = glue.read_tsv(path, task).take(max_examples)
  start = time.perf_counter()
  scores = np.stack([classifier.classify(*texts) for texts in zip(*examples.texts)])
  seconds = time.perf_counter() - start
  result = metrics.compute_metrics(task, examples.labels, scores)
  result.update(num_examples=len(examples), examples_per_second=len(examples) / seconds)
  return result


def main(argv):
  del argv
  if not FLAGS.model:
    raise app.UsageError("--model is required")
  if bool(FLAGS.text) == bool(FLAGS.tsv):
    raise app.UsageError("give either --text (and --text_b for pairs) or --tsv")
  try:
    clf = TextClassifier(FLAGS.model, FLAGS.num_threads, FLAGS.vocab_file, FLAGS.op_resolver)
    if FLAGS.tsv:
      result = evaluate_tsv(clf, FLAGS.tsv, FLAGS.max_examples)
    else:
      scores = clf.classify(FLAGS.text, FLAGS.text_b)
      labels = clf.labels or ["score"]
      result = {"scores": dict(zip(labels, map(float, scores)))}
      if clf.labels:
        result["label"] = labels[int(np.argmax(scores))]
  except (OSError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(json.dumps(result, indent=2))
  if FLAGS.output_json:
    with open(FLAGS.output_json, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  app.run(main)
