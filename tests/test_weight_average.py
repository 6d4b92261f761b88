"""experiments/weight_average.py: a run's backed-up students at the final sparsity, averaged."""

import json
import os
import shutil

import tensorflow as tf

from tf_sparsebert import train
from conftest import benchmark_module
from test_train import _config


class _CopyBackups(tf.keras.callbacks.Callback):
  """Copies each new student backup (a finished run deletes them), as one would by hand."""

  def __init__(self, source, target):
    super().__init__()
    self.source, self.target = source, target

  def on_train_batch_end(self, batch, logs=None):
    os.makedirs(self.target, exist_ok=True)
    for name in os.listdir(self.source) if os.path.isdir(self.source) else []:
      if name.startswith("ckpt-") and not os.path.exists(os.path.join(self.target, name)):
        shutil.copy(os.path.join(self.source, name), self.target)


def test_average_of_the_backups_after_the_ramp(tmp_path, tiny_checkpoint_bert_vocab):
  out, snapshots = str(tmp_path / "run"), str(tmp_path / "snapshots")
  result = train.run(
      _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
               "--pruning_end_step=8",
               "--checkpoint_steps=2"]),
      callbacks=[_CopyBackups(os.path.join(out, "backup", "student", "chief"), snapshots)])
  assert not os.path.exists(os.path.join(out, "backup"))  # the run removed its own
  record = benchmark_module("weight_average").average_run(out, snapshots)
  # 2 epochs of 8 steps, backed up every 2; the ramp ends at step 8.
  steps = [r["step"] for r in record["snapshots"]]
  assert (record["ramp_end_step"], record["total_steps"], steps) == (8, 16, [10, 12, 14, 16])
  last, at_16 = record["last"], record["snapshots"][-1]
  # The backup of the last step, restored and stripped, is the saved student, weight for weight.
  assert at_16["weights_sha256"] == last["weights_sha256"]
  assert last["accuracy"] == result["student"]["accuracy"]
  assert len({r["weights_sha256"] for r in record["snapshots"]}) == 4  # training moved them
  average = record["average"]
  assert average["step"] == [10, 12, 14, 16, 16]
  assert average["zeros_sha256"] == last["zeros_sha256"]  # the same masks: exactly as sparse
  assert abs(average["sparsity"] - 0.9) <= 1 / 1024 and average["sparsity"] == last["sparsity"]
  assert average["weights_sha256"] not in {r["weights_sha256"] for r in record["snapshots"]}
  assert record["average_minus_last"]["accuracy"] == average["accuracy"] - last["accuracy"]
  json.dumps(record)  # what the script writes
