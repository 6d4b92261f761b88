"""Collects exploratory runs (finished or stopped early) into benchmarks/results/exploration.json.

  .venv/bin/python experiments/exploration.py NAME=RUN_DIR:LOG [NAME=RUN_DIR:LOG ...]

For each run: its resolved flags (RUN_DIR/flags.txt, as the train CLI wrote them, so the run can be
repeated with `--flagfile=RUN_DIR/flags.txt`), the per-epoch teacher and student metrics Keras
printed in LOG, and metrics.json if the run finished.
"""

import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "experiments", "results", "exploration.json")
KEYS = ("accuracy", "sparsity", "val_sparsity", "kd_loss", "ce_loss", "hidden_loss",
        "attention_loss", "val_accuracy")  # sparsity: the epoch's mean; val_sparsity: at its end


def epochs(log_path, stage="student"):
  """Per-epoch metrics Keras printed for one stage: the Distiller's fit (its lines report a
  sparsity) or the teacher's fine-tune (the other lines with validation metrics)."""
  found = []
  with open(log_path, errors="replace") as f:  # text mode splits progress bars' "\r" too
    for line in f:
      if "val_accuracy" not in line or (" - sparsity: " in line) != (stage == "student"):
        continue
      values = dict(re.findall(r"(\w+): ([0-9.e+-]+)", line))
      found.append({k: float(v) for k, v in values.items()
                    if k in KEYS or k.startswith("dev_")})
  return found


def collect(run_dir, log_path):
  with open(os.path.join(run_dir, "flags.txt")) as f:
    flags = [line.strip() for line in f if line.strip() and not line.startswith("--helpfull")]
  keep = ("--task", "--teacher_epochs", "--teacher_learning_rate", "--pooling", "--student_init",
          "--student_epochs", "--student_learning_rate",
          "--augment_factor", "--transfer_tasks", "--target_sparsity", "--pruning_end_step",
          "--pruning_frequency", "--alpha_", "--temperature", "--teacher_model",
          "--max_seq_length", "--batch_size")
  entry = {"flags": [f for f in flags if f.startswith(keep)],
           "flagfile": os.path.relpath(os.path.join(run_dir, "flags.txt"), REPO),
           "teacher_epochs": epochs(log_path, "teacher"),
           "student_epochs": epochs(log_path, "student")}
  metrics = os.path.join(run_dir, "metrics.json")
  if os.path.exists(metrics):
    with open(metrics) as f:
      m = json.load(f)
    entry.update({"teacher": m["teacher"], "student": m["student"]})
  else:
    entry["note"] = "stopped early (see the per-epoch metrics)"
  return entry


def main(args):
  results = {}
  if os.path.exists(RESULT):
    with open(RESULT) as f:
      results = json.load(f)
  for arg in args:
    name, spec = arg.split("=", 1)
    run_dir, log = spec.split(":", 1)
    results[name] = collect(run_dir, log)
  with open(RESULT, "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main(sys.argv[1:])
