"""Fault tolerance: training backups and resuming at the exact batch.

A training stage is `fit` on `resumable_dataset(...)` with `backup_callback(...)` first among
the callbacks. Keras' `BackupAndRestore` saves the model being fit (weights, pruning masks and
steps, optimizer state) every `save_freq` steps and restores it when `fit` starts again; the
dataset is all epochs in one deterministic sequence, so skipping the batches already trained
on puts the data position exactly where the killed run was.
"""

import json
import os
import time

import tensorflow as tf

keras = tf.keras
BACKUP_DIR = "backup"
HISTORY_FILE = "history.json"


def backup_callback(directory, save_freq):
  """Keras `BackupAndRestore` into `directory` every `save_freq` steps (kept until removed).

  It must come first among the callbacks, so the state is restored before tfmot's
  `UpdatePruningStep` and the learning-rate schedule read the step.
  """
  return keras.callbacks.BackupAndRestore(directory, save_freq=save_freq,
                                          delete_checkpoint=False)


def _saved_counter(reader, name):
  for key in reader.get_variable_to_shape_map():
    if key.startswith(name + "/"):
      return int(reader.get_tensor(key))
  raise ValueError(f"{name} is missing from the backup")


def resume_step(directory, steps_per_epoch):
  """The global step a stage backed up in `directory` resumes at (0 if there is no backup).

  The same arithmetic as Keras' `WorkerTrainingState.maybe_load_initial_counters_from_ckpt`.
  """
  latest = tf.train.latest_checkpoint(os.path.join(directory, "chief"))
  if latest is None:
    return 0
  try:
    reader = tf.train.load_checkpoint(latest)
    epoch = _saved_counter(reader, "ckpt_saved_epoch")
    batch = _saved_counter(reader, "ckpt_saved_batch")
  except (tf.errors.OpError, ValueError) as e:
    raise ValueError(f"the training backup {latest} is unreadable ({e}); delete "
                     f"{directory} to restart this stage") from None
  if batch < 0:
    return 0
  return (epoch + 1) * steps_per_epoch if batch == steps_per_epoch - 1 else (
      epoch * steps_per_epoch + batch + 1)


class EpochLog(keras.callbacks.Callback):
  """Every finished epoch's logs and wall time, also written to `directory/history.json`.

  Put it last among the callbacks, so the logs include what earlier callbacks add (dev metrics).
  A stage resumed from a backup in `directory` starts from the logs of the `completed_epochs`
  that finished before its resume step, so its history covers the whole stage, not only what
  the last process ran. The epoch the backup was taken in is logged by the resumed process: its
  training metrics and wall time cover only the batches after the resume. An epoch backed up at
  its last batch but killed before its logs were written has no entry: `epoch` (1-based) in
  `history()` says which epochs the lists hold. With no `directory` nothing is read or written;
  with `write=False` (the other workers of a multi-worker run) it is only read.
  """

  def __init__(self, directory=None, completed_epochs=0, write=True):
    super().__init__()
    self._path = directory and os.path.join(directory, HISTORY_FILE)
    self._write = write
    self.epochs = []
    if self._path and completed_epochs and os.path.isfile(self._path):
      with open(self._path, encoding="utf-8") as f:
        self.epochs = [e for e in json.load(f) if e["epoch"] <= completed_epochs]

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    entry = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._start}
    entry.update({k: float(v) for k, v in (logs or {}).items()})
    self.epochs.append(entry)
    if self._path and self._write:
      os.makedirs(os.path.dirname(self._path), exist_ok=True)
      tmp = self._path + ".tmp"
      with open(tmp, "w", encoding="utf-8") as f:
        json.dump(self.epochs, f, indent=2)
      os.replace(tmp, self._path)

  def history(self):
    """{name: [value per logged epoch]}: the logs' metrics, `epoch` and `seconds`."""
    names = dict.fromkeys(name for e in self.epochs for name in e)
    return {name: [e.get(name) for e in self.epochs] for name in names}


def resumable_dataset(dataset, epochs, start_step):
  """All `epochs` of `dataset` (reshuffled each epoch, seeded) as one sequence, from `start_step`.

  `dataset` is one epoch, repeated, or a list of `epochs` datasets, one per epoch, concatenated.
  Fit it with `steps_per_epoch` set: Keras then keeps one iterator for all epochs.
  """
  if isinstance(dataset, (list, tuple)):
    if len(dataset) != epochs:
      raise ValueError(f"{len(dataset)} epoch datasets for {epochs} epochs")
    sequence = dataset[0]
    for later in dataset[1:]:
      sequence = sequence.concatenate(later)
    return sequence.skip(start_step)
  return dataset.repeat(epochs).skip(start_step)
