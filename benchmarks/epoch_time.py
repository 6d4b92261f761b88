"""Wall time of one epoch of distill+prune vs one epoch of plain fine-tuning, same batches.

  .venv/bin/python benchmarks/epoch_time.py [--flagfile=experiments/configs/mrpc_core.flags]
  [--repeats=1]


Both use MRPC train as experiments/configs/mrpc_core.flags prepares it (same batch size, length
bucketing and
shapes) and the MiniLM checkpoint. Each model trains 2 epochs; the first includes tf.function
tracing, so the second is the steady-state epoch. With --repeats=2 the order is reversed in the
second round to cancel drift. Run it on an otherwise idle machine. Writes
benchmarks/results/epoch_time.json.
"""

import dataclasses
import json
import os
import statistics
import sys
import time

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.chdir(REPO)  # flagfiles name paths relative to the repository root

import tf_sparsebert  # noqa: E402,F401
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

from tf_sparsebert import flags as tsb_flags  # noqa: E402
from tf_sparsebert import pipeline, resume  # noqa: E402
from tf_sparsebert.distill.distiller import Distiller  # noqa: E402
from tf_sparsebert.models import bert, checkpoints  # noqa: E402
from tf_sparsebert.optimization import create_optimizer  # noqa: E402
from tf_sparsebert.pruning import prune  # noqa: E402

RESULT = os.path.join(REPO, "benchmarks", "results", "epoch_time.json")
flags.DEFINE_integer("repeats", 1, "Rounds of (fine-tune, distill+prune) measurements.")


def _classifier(config, num_classes):
  backbone, _ = checkpoints.load_bert(config.init_checkpoint, config.data.max_seq_length)
  return bert.bert_classifier(backbone, num_classes)


def time_finetune(config, p):
  model = _classifier(config, p.data.task.num_classes)
  model.compile(optimizer=create_optimizer(config.teacher_optimizer, p.data.steps * 2),
                loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  log = resume.EpochLog()
  model.fit(p.data.train_ds, epochs=2, verbose=0, callbacks=[log])
  return log.history()["seconds"][1]


def time_distill_prune(config, p):
  teacher = _classifier(config, p.data.task.num_classes)
  student = prune.make_sparse_student(_classifier(config, p.data.task.num_classes),
                                      schedule=p.schedule)
  distiller = Distiller(student=student, teacher=teacher, **dataclasses.asdict(config.distill))
  distiller.compile(optimizer=create_optimizer(config.student_optimizer, p.data.steps * 2))
  log = resume.EpochLog()
  distiller.fit(p.data.train_ds, epochs=2, verbose=0, callbacks=[log,
                                                              tfmot.sparsity.keras.UpdatePruningStep()])
  return log.history()["seconds"][1]


def main(argv):
  del argv
  config = tsb_flags.train_config_from_flags(flags.FLAGS)
  config.output_dir = "/nonexistent-unused"
  p = pipeline.prepare(config)
  rounds = []
  for r in range(flags.FLAGS.repeats):
    order = [("finetune", time_finetune), ("distill_prune", time_distill_prune)]
    if r % 2:
      order.reverse()
    rounds.append({name: fn(config, p) for name, fn in order})
    print(rounds[-1], flush=True)
  ft = statistics.median(r["finetune"] for r in rounds)
  dp = statistics.median(r["distill_prune"] for r in rounds)
  n = len(p.data.train)
  result = {"flags": [a for a in sys.argv[1:] if a.startswith("--")], "num_train_examples": n,
            "steps_per_epoch": p.data.steps, "batch_size": config.data.batch_size,
            "max_seq_length": config.data.max_seq_length,
            "bucket_width": config.data.bucket_width, "rounds": rounds,
            "finetune_epoch_seconds": ft, "distill_prune_epoch_seconds": dp,
            "ratio_distill_prune_over_finetune": dp / ft,
            "finetune_examples_per_second": n / ft, "distill_prune_examples_per_second": n / dp,
            "cpu_count": os.cpu_count(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
  with open(RESULT, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  tsb_flags.define_train_flags()
  sys.argv += [] if any(a.startswith("--flagfile") for a in sys.argv) else [
      "--flagfile=configs/mrpc.flags"]
  app.run(main)
