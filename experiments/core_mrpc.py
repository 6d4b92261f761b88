"""Core benchmark: MiniLM teacher on MRPC and SparseBERT students at 90%, as JSON.

  .venv/bin/python experiments/core_mrpc.py [--only=NAME ...] [--runs_dir=runs/core]

Each variant is `python -m tf_sparsebert.train --flagfile=experiments/configs/mrpc_core.flags` plus
a few flags.
Variants that name a `teacher` reuse that variant's fine-tuned teacher (`--teacher_model`), so
students are compared against the same teacher. A variant whose run directory already holds a
finished run is not trained again; a killed one resumes from its last backup. Each finished
variant is merged into benchmarks/results/core_mrpc.json. Two variants can run at once as
two processes, e.g.
  TF_NUM_INTRAOP_THREADS=1 ... --only sparsebert_90 &
  TF_NUM_INTRAOP_THREADS=1 ... --only sparsebert_90_student_init_teacher &
(the second waits for the first's teacher).
"""

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "experiments", "results", "core_mrpc.json")

LONG = ["--student_epochs=10", "--pruning_end_step=3000"]  # sparsebert_90_long's schedule
BATCH16 = ["--student_epochs=10", "--pruning_end_step=6000", "--batch_size=16"]  # the same at 16

# name -> (extra flags, name of the variant whose teacher is reused or None to fine-tune one)
VARIANTS = {
    # experiments/configs/mrpc_core.flags as committed: student from the pretrained weights (the paper).
    "sparsebert_90": ([], None),
    # The alternative initialisation: the student starts as a copy of the fine-tuned teacher.
    "sparsebert_90_student_init_teacher": (["--student_init=teacher"], "sparsebert_90"),
    # The same recipe at 70%: where the student still holds the teacher's accuracy.
    "sparsebert_70": (["--target_sparsity=0.7"], "sparsebert_90"),
    # 90% in 16x1 blocks of each [in, out] kernel: the shape TFLite's sparse kernels run directly.
    "sparsebert_90_block16": (["--pruning_block_size=16,1"], "sparsebert_90"),
    # Twice the training, and a ramp 2.6x as long (0 -> 90% over 3000 of ~3460 steps): the 5-epoch
    # run lost the teacher's level while crossing 60-85% sparsity within ~360 steps.
    "sparsebert_90_long": (LONG, "sparsebert_90"),
    # The same number of student steps as sparsebert_90_long, but fresh data instead of repeats:
    # 14 teacher-labelled copies per example and 2 epochs (the long run ended at 90% train
    # accuracy, 74.5% dev, with its dev KD loss rising: it was memorising 11k examples).
    "sparsebert_90_aug14": (["--augment_factor=14", "--student_epochs=2",
                             "--pruning_end_step=2800"], "sparsebert_90"),
    # sparsebert_90_long with the attention-score loss at 0.1: at 85-90% it was 7.0 of a total
    # of 8.6 (KD 0.08, CE 0.23), so its gradient, not the task's, decided what the few remaining
    # weights did.
    "sparsebert_90_long_att01": (LONG + ["--alpha_attention=0.1"], "sparsebert_90"),
    # sparsebert_90_long without the gold-label loss, as in the official code (KD + hidden +
    # attention): the long run ended at 90% train accuracy and 74.5% dev, its train CE falling
    # (0.23) while its dev CE rose (0.62).
    "sparsebert_90_long_no_ce": (LONG + ["--alpha_ce=0"], "sparsebert_90"),
    # The long run's ramp (0 -> 90% over 3000 steps) with a third of every epoch real, unlabelled
    # sentence pairs of STS-B's training set (news headlines, MSR paraphrase pairs, captions,
    # forums; 63 sharing a sentence with MRPC dev dropped) instead of more noisy copies: the long
    # run memorised its 11k inputs, and 14 noisy copies per example (aug14) were off the data's
    # distribution. 7 epochs of ~16.7k examples: about the long run's number of steps.
    "sparsebert_90_transfer_stsb": (["--transfer_tasks=stsb", "--student_epochs=7",
                                     "--pruning_end_step=3000"], "sparsebert_90"),
    # Learning-rate rewinding (Renda et al. 2020): the ramp ends at step 2400 (7 epochs), then the
    # warm-up and linear decay start again for 5 epochs at 90%. The long run's last epochs at
    # ~90% trained on the tail of one decay (LR 3e-5 -> 0) and stayed at 73.5-74.5 dev.
    "sparsebert_90_rewind": (["--student_epochs=12", "--pruning_end_step=2400",
                              "--pruning_lr_rewind"], "sparsebert_90"),
    # sparsebert_90_long with twice the student's dropout (0.2 in the embeddings, every encoder
    # layer and the head): at 90% the rewound run reached 94% train accuracy with dev at 73-75,
    # memorising its 11k inputs; dropout is the standard remedy for that.
    "sparsebert_90_long_dropout02": (LONG + ["--student_dropout=0.2"], "sparsebert_90"),
    # sparsebert_90_long's ten epochs with half the batch: twice the optimizer steps (the ramp
    # 0 -> 90% over 6000 of ~6880 steps instead of 3000 of ~3460), the same example-passes and
    # compute. The runs so far lost dev accuracy during the ramp (80 -> 90%) and the longer ramp
    # was the one change that helped; this asks whether it is the steps the ramp is spread over
    # (and, at --pruning_frequency=10, the number of mask updates) or the passes over the data.
    "sparsebert_90_long_batch16": (BATCH16, "sparsebert_90"),
    # sparsebert_90_long_batch16 ended at 76.47, +2 over the long run at the same passes: the
    # same again at batch 8 (the ramp over 12000 of ~13760 steps) asks whether more steps keep
    # paying.
    "sparsebert_90_long_batch8": (["--student_epochs=10", "--pruning_end_step=12000",
                                   "--batch_size=8"], "sparsebert_90"),
    # sparsebert_90_long_batch16 again, against the teacher today's code fine-tunes: the
    # other
    # variants' teacher (79.41) came from earlier code on another machine, and
    # experiments/configs/mrpc_core.flags
    # now gives 77.94. How far does a student of the same recipe move with its teacher?
    "sparsebert_90_long_batch16_rerun": (BATCH16, "sparsebert_90"),
}


def train(extra, run_dir):
  cmd = [sys.executable, "-m", "tf_sparsebert.train", "--flagfile=experiments/configs/mrpc_core.flags",
         f"--output_dir={run_dir}", *extra]  # a killed variant resumes where it was
  start = time.time()
  with open(run_dir + ".log", "a") as log:
    subprocess.run(cmd, cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT,
                   env=dict(os.environ, CI="1"))
  return time.time() - start, cmd


def _steady(seconds):
  """Median epoch time without the first epoch, which includes tf.function tracing."""
  return statistics.median(seconds[1:]) if len(seconds) > 1 else (seconds or [None])[0]


def summarize(run_dir, wall, cmd):
  with open(os.path.join(run_dir, "metrics.json")) as f:
    m = json.load(f)
  with open(os.path.join(run_dir, "sparsity.json")) as f:
    s = json.load(f)
  t = m["timing"]
  return {
      "command": " ".join(["python"] + cmd[1:]), "run_dir": os.path.relpath(run_dir, REPO),
      "wall_seconds": round(wall, 1),  # of this process: a resumed run's earlier part is not in it
      "resumed_at_step": m.get("resumed_at_step"),
      "teacher": m["teacher"], "student": m["student"],
      "student_minus_teacher": {k: m["student"][k] - m["teacher"][k] for k in m["student"]},
      "sparsity": {"overall": s["overall"], "min": s["min"], "max": s["max"],
                   "num_kernels": len(s["kernels"]), "target": s["target_sparsity"]},
      "teacher_epoch_seconds": t["teacher_epoch_seconds"],
      "student_epoch_seconds": t["student_epoch_seconds"],
      "student_epoch_seconds_steady": _steady(t["student_epoch_seconds"]),
      "num_train_examples": t["num_train_examples"],
      "num_student_train_examples": t.get("num_student_train_examples"),
      "student_examples_per_second": (t.get("num_student_train_examples", 0)
                                      / _steady(t["student_epoch_seconds"])),
  }


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs_dir", default="runs/core")
  parser.add_argument("--only", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
  args = parser.parse_args()
  runs = os.path.join(REPO, args.runs_dir)
  os.makedirs(runs, exist_ok=True)
  for name in args.only:
    extra, teacher_of = VARIANTS[name]
    run_dir = os.path.join(runs, name)
    if teacher_of:
      teacher_dir = os.path.join(runs, teacher_of, "teacher")
      _wait_for(os.path.join(teacher_dir, "tokenizer.json"))  # written last by save_classifier
      extra = extra + [f"--teacher_model={teacher_dir}"]
    if os.path.exists(os.path.join(run_dir, "metrics.json")):
      continue
    wall, cmd = train(extra, run_dir)
    entry = summarize(run_dir, wall, cmd)
    if teacher_of:
      entry["teacher_from"] = teacher_of
    _write(name, entry)


def _wait_for(path, timeout=4 * 3600):
  """Variants run as separate processes (`--only`) wait for the teacher they reuse."""
  start = time.time()
  while not os.path.exists(path):
    if time.time() - start > timeout:
      raise TimeoutError(f"{path} did not appear")
    time.sleep(10)


def _write(name, entry):
  """Merges one variant into the JSON file (other processes may write other variants)."""
  os.makedirs(os.path.dirname(RESULT), exist_ok=True)
  with open(RESULT + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    results = {}
    if os.path.exists(RESULT):
      with open(RESULT) as f:
        results = json.load(f)
    results[name] = entry
    with open(RESULT + ".tmp", "w") as f:
      json.dump(results, f, indent=2)
    os.replace(RESULT + ".tmp", RESULT)
  print(json.dumps(entry, indent=2), flush=True)


if __name__ == "__main__":
  main()
