"""Teacher recipe search: which fine-tuning settings make the best teacher, picked on held-out
training data (never on dev), then reported on dev.

  .venv/bin/python experiments/teacher_search.py --task=mrpc [--settings=base,lr3e-5] [--seeds=42,1,2]
  .venv/bin/python experiments/teacher_search.py --task=mrpc --summary   # table, choice, JSON

Each setting is `configs/base.flags` plus the task's teacher flags, changed in one factor at a
time from the current recipe (`BASE`). The task's training file is split once, by a fixed seed,
into a training part and a held-out part (`--holdout`, 10%), written as a GLUE folder under
`--runs_dir`; each teacher fine-tunes on the first, is scored after every epoch on the second
(the selection data) and, at the end, on the real dev set (the figure reported). Each run's
record (per-epoch training accuracy and held-out metrics, dev metrics, wall time) goes to
`experiments/results/teacher_search/<task>_<setting>_seed<seed>.json` as soon as it finishes;
finished runs are skipped, so a search spread over several sessions resumes where it stopped.
Uses only the public `tf_sparsebert.pipeline` API.
"""

import argparse
import dataclasses
import glob
import json
import os
import statistics
import sys
import time

import numpy as np

import tf_sparsebert  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tf_sparsebert import evaluate as evaluation
from tf_sparsebert import pipeline
from tf_sparsebert.config import DataConfig, OptimizerConfig, TrainConfig
from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.run_dir import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "experiments", "results", "teacher_search")
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
# The current recipe (configs/mrpc.flags' teacher), and one change each.
BASE = dict(learning_rate=5e-5, epochs=3, batch_size=32, pooling="mean", warmup_fraction=0.1,
            max_seq_length=128)
SETTINGS = {
    "base": {},
    "lr3e-5": dict(learning_rate=3e-5),
    "lr2e-5": dict(learning_rate=2e-5),
    "lr1e-4": dict(learning_rate=1e-4),
    "epochs5": dict(epochs=5),
    "epochs10": dict(epochs=10),
    "batch16": dict(batch_size=16),
    "cls": dict(pooling="cls"),
    "warmup0": dict(warmup_fraction=0.0),
    "len64": dict(max_seq_length=64),
}
HOLDOUT_SEED = 0


def holdout_glue_dir(task, glue_dir, fraction, runs_dir):
  """A GLUE folder whose train.tsv is `task`'s training rows but a held-out `fraction`, and whose
  dev.tsv is that held-out part (the rows are copied as they are, header included)."""
  spec = glue.get_task(task)
  out = os.path.join(runs_dir, f"glue_holdout{round(fraction * 100)}")
  target = os.path.join(out, spec.directory)
  if os.path.isfile(os.path.join(target, "dev.tsv")):
    return out
  with open(os.path.join(glue_dir, spec.directory, "train.tsv"), encoding="utf-8-sig") as f:
    lines = f.read().splitlines(keepends=True)
  header = lines[:1] if spec.header is not None else []
  rows = lines[len(header):]
  order = np.random.default_rng(HOLDOUT_SEED).permutation(len(rows))
  held = set(order[:int(round(fraction * len(rows)))].tolist())
  os.makedirs(target, exist_ok=True)
  for name, keep in (("train.tsv", lambda i: i not in held), ("dev.tsv", lambda i: i in held)):
    with open(os.path.join(target, name + ".tmp"), "w", encoding="utf-8") as f:
      f.writelines(header + [r if r.endswith("\n") else r + "\n"
                             for i, r in enumerate(rows) if keep(i)])
    os.replace(os.path.join(target, name + ".tmp"), os.path.join(target, name))
  return out


def _config(task, setting, seed, glue_dir, output_dir):
  s = dict(BASE, **SETTINGS[setting])
  return TrainConfig(
      output_dir=output_dir, init_checkpoint=os.path.join(SHARED, "pretrained", "all-MiniLM-L6-v2"),
      pooling=s["pooling"], checkpoint_steps=0,
      data=DataConfig(task=task, glue_dir=glue_dir, max_seq_length=s["max_seq_length"],
                      batch_size=s["batch_size"], seed=seed),
      teacher_optimizer=OptimizerConfig(learning_rate=s["learning_rate"], epochs=s["epochs"],
                                        warmup_fraction=s["warmup_fraction"])).validate()


def run_one(task, setting, seed, holdout_dir, runs_dir):
  """Fine-tunes one teacher; returns its record (held-out curve, dev metrics)."""
  name = f"{task}_{setting}_seed{seed}"
  out = os.path.join(runs_dir, name)
  config = _config(task, setting, seed, holdout_dir, out)
  tf.keras.utils.set_random_seed(seed)
  start = time.time()
  prepared = pipeline.prepare(config)
  teacher, stage = pipeline.fine_tune_teacher(config, prepared, os.path.join(out, "logs"),
                                              os.path.join(out, "backup"))
  dev_config = dataclasses.replace(config.data, glue_dir=os.path.join(SHARED, "glue"))
  dev = glue.load_split(dev_config, "dev")
  features = preprocessing.tokenize(dev, prepared.checkpoint.preprocessor)
  task_spec = prepared.data.task
  dev_metrics = evaluation.evaluate(teacher, features, dev.labels, task_spec)
  history = stage.history
  return {
      "name": name, "task": task, "setting": setting, "seed": seed,
      "settings": dict(BASE, **SETTINGS[setting]), "metric": task_spec.metrics[0],
      "holdout": {"fraction_of_train": None, "num_train": len(prepared.data.train),
                  "num_heldout": len(prepared.data.dev), "split_seed": HOLDOUT_SEED},
      "train_accuracy": history.get("accuracy"), "train_loss": history.get("loss"),
      "heldout_per_epoch": {k[len("dev_"):]: v for k, v in history.items()
                            if k.startswith("dev_")},
      "heldout_final": evaluation.evaluate(teacher, prepared.data.dev_features,
                                           prepared.data.dev.labels, task_spec),
      "dev": dev_metrics, "wall_seconds": round(time.time() - start, 1),
  }


def summary(task):
  """Per setting: mean +- stdev over seeds of held-out and dev main metric; the choice."""
  rows = {}
  for path in sorted(glob.glob(os.path.join(RESULTS, f"{task}_*.json"))):
    with open(path) as f:
      r = json.load(f)
    rows.setdefault(r["setting"], []).append(r)
  table = {}
  for setting, runs in rows.items():
    held = [r["heldout_final"]["main"] for r in runs]
    dev = [r["dev"]["main"] for r in runs]
    table[setting] = {"seeds": sorted(r["seed"] for r in runs),
                      "heldout_mean": statistics.mean(held),
                      "heldout_stdev": statistics.stdev(held) if len(held) > 1 else 0.0,
                      "dev_mean": statistics.mean(dev),
                      "dev_stdev": statistics.stdev(dev) if len(dev) > 1 else 0.0,
                      "train_accuracy_last": statistics.mean(
                          r["train_accuracy"][-1] for r in runs if r["train_accuracy"])}
  complete = {k: v for k, v in table.items() if len(v["seeds"]) >= 3}
  choice = max(complete, key=lambda k: complete[k]["heldout_mean"]) if complete else None
  return {"task": task, "settings": table, "chosen_on_heldout": choice,
          "rule": "highest held-out mean over >= 3 seeds; dev is reported, never used to pick"}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--task", default="mrpc")
  parser.add_argument("--settings", default=",".join(SETTINGS))
  parser.add_argument("--seeds", default="42,1,2")
  parser.add_argument("--holdout", type=float, default=0.1)
  parser.add_argument("--runs_dir", default=os.path.join(REPO, "runs", "teacher_search"))
  parser.add_argument("--summary", action="store_true")
  args = parser.parse_args()
  if args.summary:
    result = summary(args.task)
    write_json(os.path.join(RESULTS, f"summary_{args.task}.json"), result)
    print(json.dumps(result, indent=2))
    return
  unknown = set(args.settings.split(",")) - set(SETTINGS)
  if unknown:
    sys.exit(f"error: --settings: unknown {sorted(unknown)}; choose from {sorted(SETTINGS)}")
  os.makedirs(RESULTS, exist_ok=True)
  holdout = holdout_glue_dir(args.task, os.path.join(SHARED, "glue"), args.holdout, args.runs_dir)
  for setting in args.settings.split(","):
    for seed in (int(s) for s in args.seeds.split(",")):
      path = os.path.join(RESULTS, f"{args.task}_{setting}_seed{seed}.json")
      if os.path.exists(path):
        continue
      record = run_one(args.task, setting, seed, holdout, args.runs_dir)
      record["holdout"]["fraction_of_train"] = args.holdout
      write_json(path, record)
      print(json.dumps({k: record[k] for k in ("name", "heldout_final", "dev", "wall_seconds")}),
            flush=True)


if __name__ == "__main__":
  main()
