"""Core benchmark: MiniLM teacher on MRPC, SparseBERT students at 90%, epoch times.

  .venv/bin/python benchmarks/core_mrpc.py [--runs_dir=runs/core]

Runs `python -m tf_sparsebert.train --flagfile=configs/mrpc.flags` (teacher + student from the
pretrained weights), then a student initialised from that teacher (`--student_init=teacher`,
reusing the saved teacher), and writes benchmarks/results/core_mrpc.json after each run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "benchmarks", "results", "core_mrpc.json")


def train(args, log_path):
  cmd = [sys.executable, "-m", "tf_sparsebert.train", "--flagfile=configs/mrpc.flags", *args]
  start = time.time()
  with open(log_path, "w") as log:
    subprocess.run(cmd, cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT,
                   env=dict(os.environ, CI="1"))
  return time.time() - start, cmd


def summarize(run_dir, wall, cmd):
  with open(os.path.join(run_dir, "metrics.json")) as f:
    m = json.load(f)
  with open(os.path.join(run_dir, "sparsity.json")) as f:
    s = json.load(f)
  t = m["timing"]
  # Epoch 1 includes tracing; the steady-state figure is the median of the later epochs.
  steady = lambda xs: statistics.median(xs[1:]) if len(xs) > 1 else (xs[0] if xs else None)  # noqa: E731
  out = {"command": " ".join(cmd[1:]), "run_dir": os.path.relpath(run_dir, REPO),
         "wall_seconds": round(wall, 1), "teacher": m["teacher"], "student": m["student"],
         "student_minus_teacher_accuracy": m["student"]["accuracy"] - m["teacher"]["accuracy"],
         "sparsity_overall": s["overall"], "sparsity_min": s["min"], "sparsity_max": s["max"],
         "num_pruned_kernels": len(s["kernels"]),
         "teacher_epoch_seconds": t["teacher_epoch_seconds"],
         "student_epoch_seconds": t["student_epoch_seconds"],
         "teacher_epoch_seconds_steady": steady(t["teacher_epoch_seconds"]),
         "student_epoch_seconds_steady": steady(t["student_epoch_seconds"]),
         "num_train_examples": t["num_train_examples"]}
  if out["teacher_epoch_seconds_steady"] and out["student_epoch_seconds_steady"]:
    out["distill_prune_vs_finetune_epoch_time"] = (out["student_epoch_seconds_steady"]
                                                   / out["teacher_epoch_seconds_steady"])
    n = t["num_train_examples"]
    out["finetune_examples_per_second"] = n / out["teacher_epoch_seconds_steady"]
    out["distill_prune_examples_per_second"] = n / out["student_epoch_seconds_steady"]
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs_dir", default="runs/core")
  args = parser.parse_args()
  runs = os.path.join(REPO, args.runs_dir)
  os.makedirs(runs, exist_ok=True)
  results = {}
  if os.path.exists(RESULT):
    with open(RESULT) as f:
      results = json.load(f)
  base = os.path.join(runs, "mrpc_90_pretrained")
  if not os.path.exists(os.path.join(base, "metrics.json")):
    wall, cmd = train([f"--output_dir={base}", "--overwrite"], base + ".log")
    results["sparsebert_90_student_init_pretrained"] = summarize(base, wall, cmd)
    _write(results)
  other = os.path.join(runs, "mrpc_90_from_teacher")
  if not os.path.exists(os.path.join(other, "metrics.json")):
    wall, cmd = train([f"--output_dir={other}", "--overwrite", f"--teacher_model={base}/teacher",
                       "--student_init=teacher"], other + ".log")
    r = summarize(other, wall, cmd)
    # This run reuses the teacher, so it has no fine-tuning epochs of its own: compare with the
    # teacher epochs measured in the first run (same batch, lengths and machine).
    first = results["sparsebert_90_student_init_pretrained"]
    r["teacher_epoch_seconds_steady"] = first["teacher_epoch_seconds_steady"]
    r["distill_prune_vs_finetune_epoch_time"] = (r["student_epoch_seconds_steady"]
                                                 / first["teacher_epoch_seconds_steady"])
    results["sparsebert_90_student_init_teacher"] = r
    _write(results)


def _write(results):
  os.makedirs(os.path.dirname(RESULT), exist_ok=True)
  with open(RESULT + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
  os.replace(RESULT + ".tmp", RESULT)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
