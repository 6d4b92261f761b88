"""How fragile is a fine-tuned classifier under one-shot magnitude pruning (no retraining)?

  .venv/bin/python experiments/oneshot_pruning.py --model_dir=runs/core/sparsebert_90/teacher \
      [--name=mean_pooling]

Prunes the six encoder kernels (or one group of them) of a saved classifier per matrix by
magnitude, evaluates MRPC dev, and also reports how much the [CLS] vector of each layer varies
across examples (a [CLS]-pooled classifier needs it to). Appends to
benchmarks/results/oneshot_pruning.json under --name.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import tf_sparsebert  # noqa: E402,F401
from tf_sparsebert import evaluate as evaluation  # noqa: E402
from tf_sparsebert.config import DataConfig  # noqa: E402
from tf_sparsebert.data import glue, preprocessing  # noqa: E402
from tf_sparsebert.models import bert, saving  # noqa: E402

RESULT = os.path.join(REPO, "experiments", "results", "oneshot_pruning.json")
GROUPS = {"all": range(6), "query_key": (0, 1), "value_output": (2, 3), "ffn": (4, 5)}


def prune_in_place(model, originals, sparsity, group):
  for w, o in zip(model.weights, originals):
    w.assign(o)
  for layer in bert.encoder_layers(model):
    kernels = layer.get_prunable_weights()
    for i in GROUPS[group]:
      v = kernels[i].numpy()
      kernels[i].assign(np.where(np.abs(v) >= np.quantile(np.abs(v), sparsity), v, 0.0))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--name", required=True)
  parser.add_argument("--glue_dir", default=os.path.join(REPO, "..", "shared", "data", "glue"))
  args = parser.parse_args()
  model = saving.load_classifier(args.model_dir)
  task = glue.TASKS["mrpc"]
  dev = glue.load_split(DataConfig(glue_dir=args.glue_dir), "dev")
  features = preprocessing.tokenize(dev, saving.load_preprocessor(args.model_dir, 128))
  originals = [w.numpy().copy() for w in model.weights]
  hidden = bert.distillation_view(model)({k: v[:128] for k, v in features.items()})
  cls_std = [float(h.numpy()[:, 0].std(0).mean()) for h in hidden["hidden_states"]]
  rows = []
  for group, sparsities in (("all", (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)),
                            ("query_key", (0.7,)), ("value_output", (0.7,)), ("ffn", (0.7,))):
    for sparsity in sparsities:
      prune_in_place(model, originals, sparsity, group)
      metrics = evaluation.evaluate(model, features, dev.labels, task)
      rows.append({"kernels": group, "sparsity": sparsity, **metrics})
      print(rows[-1], flush=True)
  results = {}
  if os.path.exists(RESULT):
    with open(RESULT) as f:
      results = json.load(f)
  results[args.name] = {"model_dir": args.model_dir, "cls_std_across_examples_per_layer": cls_std,
                        "dev": rows}
  with open(RESULT, "w") as f:
    json.dump(results, f, indent=2)


if __name__ == "__main__":
  main()
