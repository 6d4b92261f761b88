"""How closely students follow their teacher on MRPC dev: accuracy, agreement, positive rate.

  .venv/bin/python experiments/agreement.py --teacher=runs/claims/mrpc_sparsebert_90/teacher \
      runs/claims/mrpc_sparsebert_aug_90/student runs/claims/mrpc_sparsebert_aug_95/student

For each saved student: dev accuracy, the fraction of dev pairs where its label is the teacher's,
the fraction it calls paraphrases (the teacher's beside it) and its mean KL(teacher || student).
Appends one record per student (keyed by its directory) to benchmarks/results/agreement.json.
"""

import argparse
import json
import os

import tf_sparsebert  # noqa: F401  (before TensorFlow)
from tf_sparsebert import run_dir
from tf_sparsebert.config import DataConfig
from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.distill import losses
from tf_sparsebert.models import saving

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "experiments", "results", "agreement.json")


def logits(model_dir, data, flag):
  model = saving.load_classifier(model_dir, flag)
  features = preprocessing.tokenize(data, saving.load_preprocessor(model_dir, 128, flag))
  return model.predict(features, batch_size=64, verbose=0)


def compare(teacher, student, labels):
  """Logits of teacher and student on the same examples, against the gold labels."""
  t, s = teacher.argmax(1), student.argmax(1)
  return {"accuracy": 100 * float((s == labels).mean()),
          "teacher_accuracy": 100 * float((t == labels).mean()),
          "agreement": 100 * float((s == t).mean()),
          "positive_rate": 100 * float(s.mean()), "teacher_positive_rate": 100 * float(t.mean()),
          "kd_kl": float(losses.kd_loss(teacher, student))}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--teacher", required=True)
  parser.add_argument("--glue_dir", default=os.path.join(REPO, "..", "shared", "data", "glue"))
  parser.add_argument("students", nargs="+")
  args = parser.parse_args()
  dev = glue.load_split(DataConfig(task="mrpc", glue_dir=args.glue_dir), "dev")
  teacher = logits(args.teacher, dev, "--teacher")
  results = {}
  if os.path.exists(RESULT):
    with open(RESULT) as f:
      results = json.load(f)
  for student in args.students:
    row = dict(compare(teacher, logits(student, dev, "students"), dev.labels), teacher=args.teacher)
    results[os.path.relpath(os.path.abspath(student), REPO)] = row
    print(student, row, flush=True)
  run_dir.write_json(RESULT, results)


if __name__ == "__main__":
  main()
