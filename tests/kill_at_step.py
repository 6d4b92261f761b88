"""Runs `tf_sparsebert.train` and SIGKILLs itself right after training step N of one stage.

  python tests/kill_at_step.py STAGE STEP TRAIN_FLAGS...   (STAGE: teacher or student)

Used by test_fault_tolerance.py to kill a run at a known step (STEP 0: never kill).
"""

import os
import signal
import sys

from absl import flags, logging

import tf_sparsebert  # noqa: F401
import tensorflow as tf

from tf_sparsebert import flags as tsb_flags
from tf_sparsebert import train
from tf_sparsebert.distill.distiller import Distiller


class KillAt(tf.keras.callbacks.Callback):
  """SIGKILL (no clean-up, no atexit) once `stage`'s optimizer has taken `step` steps."""

  def __init__(self, stage, step):
    super().__init__()
    self.stage, self.step = stage, step

  def on_train_batch_end(self, batch, logs=None):
    stage = "student" if isinstance(self.model, Distiller) else "teacher"
    if stage == self.stage and int(self.model.optimizer.iterations.numpy()) == self.step:
      os.kill(os.getpid(), signal.SIGKILL)


def main():
  stage, step, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
  tsb_flags.define_train_flags()
  flags.FLAGS(["train", *argv])
  logging.set_verbosity(logging.INFO)  # "Resuming from the backup ... at step N" on stderr
  config = tsb_flags.train_config_from_flags(flags.FLAGS)
  train.run(config, callbacks=[KillAt(stage, step)] if step else [])


if __name__ == "__main__":
  main()
