"""tf.distribute and fault tolerance on real data: MiniLM students on MRPC, as JSON.

  .venv/bin/python benchmarks/distribution.py [--teacher_model=runs/core/sparsebert_90/teacher]

Four runs of the same short recipe (experiments/configs/mrpc_core.flags on 2,000 training examples,
2 student
epochs pruned to 50%, the fine-tuned teacher of experiments/core_mrpc.py):
  one_device    the reference;
  mirrored      MirroredStrategy over 2 logical CPU devices (--num_cpu_devices=2);
  two_workers   MultiWorkerMirroredStrategy, two worker processes on 127.0.0.1 (TF_CONFIG);
  killed        SIGKILLed right after student step KILL_STEP (tests/kill_at_step.py), then the
                same command again, which resumes from the last backup (--checkpoint_steps).
This machine has 2 cores: the replicas and workers share them, so no speed-up is expected here;
the figures show what the strategies cost and that they train the same model.
Writes benchmarks/results/distribution.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import tf_sparsebert  # noqa: F401  (before TensorFlow)
from tf_sparsebert import distribute, run_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "benchmarks", "results", "distribution.json")
CHECKPOINT_STEPS = 50
KILL_STEP = 90


def recipe(teacher_model):
  return ["--flagfile=experiments/configs/mrpc_core.flags", f"--teacher_model={teacher_model}",
          "--max_train_examples=2000", "--augment_factor=0", "--student_epochs=2",
          "--target_sparsity=0.5", "--pruning_end_step=-1",
          f"--checkpoint_steps={CHECKPOINT_STEPS}"]


def _start(argv, log, env=None, driver=None):
  cmd = [sys.executable, *(driver or ["-m", "tf_sparsebert.train"]), *argv]
  return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, CI="1", **(env or {})))


def _json(path):
  with open(path) as f:
    return json.load(f)


def summarize(run_dir, wall):
  m, s = _json(os.path.join(run_dir, "metrics.json")), _json(os.path.join(run_dir, "sparsity.json"))
  t = m["timing"]
  seconds = t["student_epoch_seconds"]
  return {"run_dir": os.path.relpath(run_dir, REPO), "wall_seconds": round(wall, 1),
          "distribution": m["distribution"], "student": m["student"],
          "sparsity": {"overall": s["overall"], "min": s["min"], "max": s["max"]},
          "zeros_sha256": s["zeros_sha256"], "resumed_at_step": m["resumed_at_step"],
          "student_epoch_seconds": seconds,
          "student_examples_per_second": t["num_student_train_examples"] / seconds[-1]}


def _timed(procs):
  start = time.time()
  codes = [p.wait() for p in procs]
  return time.time() - start, codes


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--teacher_model", default="runs/core/sparsebert_90/teacher")
  parser.add_argument("--runs_dir", default="runs/distribution")
  args = parser.parse_args()
  runs = os.path.join(REPO, args.runs_dir)
  os.makedirs(runs, exist_ok=True)
  base = recipe(args.teacher_model)
  results = {"recipe": base, "checkpoint_steps": CHECKPOINT_STEPS}

  def single(name, *extra):
    out = os.path.join(runs, name)
    with open(out + ".log", "w") as log:
      wall, codes = _timed([_start([*base, f"--output_dir={out}", "--overwrite", *extra], log)])
    assert codes == [0], f"{name} failed, see {out}.log"
    results[name] = summarize(out, wall)
    _write(results)

  single("one_device")
  single("mirrored", "--distribution_strategy=mirrored", "--num_cpu_devices=2")

  out = os.path.join(runs, "two_workers")
  logs = [open(os.path.join(runs, f"two_workers_{i}.log"), "w") for i in range(2)]
  procs = [_start([*base, f"--output_dir={out}", "--overwrite",
                   "--distribution_strategy=multi_worker_mirrored"], logs[i],
                  env={"TF_CONFIG": tf_config})
           for i, tf_config in enumerate(distribute.local_cluster(2))]
  wall, codes = _timed(procs)
  assert codes == [0, 0], f"two_workers failed, see {runs}/two_workers_*.log"
  entry = summarize(out, wall)
  worker = summarize(os.path.join(out, "workers", "worker_1"), wall)
  entry["worker_1"] = {k: worker[k] for k in ("student", "sparsity", "zeros_sha256")}
  entry["masks_identical_on_both_workers"] = worker["zeros_sha256"] == entry["zeros_sha256"]
  results["two_workers"] = entry
  _write(results)

  out = os.path.join(runs, "killed")
  with open(out + ".log", "w") as log:
    killed_wall, codes = _timed([_start(
        ["student", str(KILL_STEP), *base, f"--output_dir={out}", "--overwrite"], log,
        driver=["tests/kill_at_step.py"])])
  assert codes == [-9], f"the run was not killed, see {out}.log"
  with open(out + ".resume.log", "w") as log:  # the same command again (no --overwrite)
    wall, codes = _timed([_start([*base, f"--output_dir={out}"], log)])
  assert codes == [0], f"the resumed run failed, see {out}.resume.log"
  entry = summarize(out, wall)
  resumed = entry["resumed_at_step"]["student"]
  entry.update(killed_after_step=KILL_STEP, killed_run_wall_seconds=round(killed_wall, 1),
               steps_redone=KILL_STEP - resumed,
               metric_minus_uninterrupted={
                   k: entry["student"][k] - results["one_device"]["student"][k]
                   for k in entry["student"]})
  results["killed"] = entry
  _write(results)


def _write(results):
  os.makedirs(os.path.dirname(RESULT), exist_ok=True)
  run_dir.write_json(RESULT, results)


if __name__ == "__main__":
  main()
