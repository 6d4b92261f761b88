"""Checkpoint averaging: do a run's weights averaged over its steps at the final sparsity score
better on dev than its last weights?

  .venv/bin/python experiments/weight_average.py --run=runs/claims/mrpc_sparsebert_aug5_lr2e4_95 \
      --snapshots=runs/snapshots_95

A finished run deletes its backups, so `--snapshots` holds copies of the student's backups
(`<run>/backup/student/chief/ckpt-N.index` and `.data-*`), taken while it trained. The snapshots
after the pruning ramp's end share the final masks; this evaluates each of them and the run's saved
student (its last weights), then the uniform average of all of these (the masks are the same, so
the average is exactly as sparse). The average never trains: the same run's figures are compared,
with no seed-to-seed noise between them. Training with `--student_ema_momentum` does the same on
every step, as an exponential moving average. Writes one record per run (keyed by its directory)
into benchmarks/results/weight_average.json.
"""

import argparse
import glob
import hashlib
import json
import os

import numpy as np

import tf_sparsebert  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tf_sparsebert import evaluate as evaluation
from tf_sparsebert import pipeline, run_dir
from tf_sparsebert.config import TrainConfig
from tf_sparsebert.models import saving
from tf_sparsebert.pruning import prune

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "experiments", "results", "weight_average.json")


def _config(run):
  """The run's own `TrainConfig`, from the config.json it wrote."""
  with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
    return TrainConfig.from_dict(json.load(f)["train"])


def _row(model, step, evaluate):
  report = prune.sparsity_report(model)
  digest = hashlib.sha256()
  for w in model.get_weights():
    digest.update(np.ascontiguousarray(w).tobytes())
  return {"step": step, **evaluate(model), "sparsity": report["overall"],
          "zeros_sha256": report["zeros_sha256"], "weights_sha256": digest.hexdigest()}


def average_run(run, snapshots):
  """The record of one run: its snapshots after the ramp, its last weights and their average."""
  config = _config(run)
  p = pipeline.prepare(config)
  data = p.data
  teacher = saving.load_classifier(config.teacher_model or os.path.join(run, "teacher"))
  student, distiller = pipeline.make_distiller(config, p, teacher)  # as training built it
  total = data.student_steps * config.student_optimizer.epochs
  evaluate = lambda m: evaluation.evaluate(m, data.dev_features, data.dev.labels, data.task,  # noqa: E731
                                           config.data.eval_batch_size, config.data.bucket_width)
  ramp_end = p.schedule.get_config()["config"]["end_step"]
  rows, weights = [], []
  for index in sorted(glob.glob(os.path.join(snapshots, "ckpt-*.index"))):
    tf.train.Checkpoint(model=distiller).restore(index[:-len(".index")]).expect_partial()
    step = int(distiller.optimizer.iterations.numpy())
    if step > ramp_end:
      stripped = prune.strip(student)
      rows.append(_row(stripped, step, evaluate))
      weights.append(stripped.get_weights())
  last = saving.load_classifier(os.path.join(run, "student"), "--run")
  rows.append(_row(last, total, evaluate))
  weights.append(last.get_weights())
  if len(rows) < 2:
    raise ValueError(f"--snapshots: no backup in {snapshots} is after the ramp's end (step "
                     f"{ramp_end})")
  if len({r["zeros_sha256"] for r in rows}) != 1:
    raise ValueError("the snapshots do not share one set of masks")
  last.set_weights([np.mean(ws, axis=0) for ws in zip(*weights)])
  average = _row(last, [r["step"] for r in rows], evaluate)
  return {"ramp_end_step": ramp_end, "total_steps": total, "snapshots": rows[:-1],
          "last": rows[-1], "average": average,
          "average_minus_last": {k: average[k] - rows[-1][k] for k in ("accuracy", "f1", "main")
                                 if k in average}}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--run", required=True, help="a finished run's output directory")
  parser.add_argument("--snapshots", required=True, help="copies of its student backups")
  args = parser.parse_args()
  results = {}
  if os.path.exists(RESULT):
    with open(RESULT, encoding="utf-8") as f:
      results = json.load(f)
  record = average_run(args.run, args.snapshots)
  results[os.path.relpath(os.path.abspath(args.run), REPO)] = record
  run_dir.write_json(RESULT, results)
  for row in (*record["snapshots"], record["last"], record["average"]):
    print(row["step"], {k: round(v, 2) for k, v in row.items() if k in ("accuracy", "f1")})


if __name__ == "__main__":
  main()
