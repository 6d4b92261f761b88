"""The SparseBERT stages as public functions: data, teacher, student, distiller, and each `fit`.

`tf_sparsebert.train.run` strings them together with an output folder (`run_dir`); benchmarks,
experiments and your own scripts can call them one by one:

```python
config = tf_sparsebert.TrainConfig(...).validate()
prepared = pipeline.prepare(config)
teacher, _ = pipeline.fine_tune_teacher(config, prepared, log_dir, backup_dir)
student, _ = pipeline.distill_student(config, prepared, teacher, log_dir, backup_dir)
```
"""

import dataclasses
import os
from typing import List, Optional, Union

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tf_sparsebert import distribute, resume
from tf_sparsebert.callbacks import DevMetrics
from tf_sparsebert.config import ModelConfig, TrainConfig
from tf_sparsebert.data import augment, glue, preprocessing
from tf_sparsebert.distill.distiller import Distiller
from tf_sparsebert.models import bert, checkpoints
from tf_sparsebert.optimization import create_optimizer
from tf_sparsebert.pruning import prune, schedules

keras = tf.keras

__all__ = ["Checkpoint", "TaskData", "Prepared", "StageResult", "load_checkpoint",
           "load_task_data", "prepare", "build_teacher", "fine_tune_teacher", "make_student",
           "make_distiller", "distill_student", "fit_stage"]


@dataclasses.dataclass
class Checkpoint:
  """The pretrained model a run starts from."""
  backbone: keras.Model
  preprocessor: keras.layers.Layer
  model_config: Optional[ModelConfig]   # None for a keras-nlp preset

  @property
  def vocabulary(self) -> List[str]:
    return self.preprocessor.tokenizer.get_vocabulary()

  @property
  def lowercase(self) -> bool:
    return bool(self.preprocessor.tokenizer.lowercase)


@dataclasses.dataclass
class TaskData:
  """A task's examples, tokenized dev features and the batched datasets of each stage."""
  task: glue.Task
  train: glue.Examples
  dev: glue.Examples
  dev_features: dict
  train_ds: tf.data.Dataset              # the training examples (teacher fine-tuning), one epoch
  steps: int                             # teacher steps per epoch
  # The student's: the training examples plus teacher-labelled copies, as one epoch's dataset
  # (no copies) or one dataset per epoch (fresh copies every epoch), each `student_steps` long.
  student_ds: Union[tf.data.Dataset, List[tf.data.Dataset]]
  student_steps: int
  num_student_examples: int              # per epoch
  dev_ds: tf.data.Dataset


@dataclasses.dataclass
class Prepared:
  """Everything the stages need, built and checked before any training starts."""
  checkpoint: Checkpoint
  data: TaskData
  schedule: tfmot.sparsity.keras.PruningSchedule   # the student's


@dataclasses.dataclass
class StageResult:
  """What one training stage did: per-epoch logs and wall times, and where it resumed."""
  history: dict                          # {name: [value per logged epoch]}, with 1-based `epoch`
  epoch_seconds: list
  resumed_at_step: Union[int, str]      # 0, the step of a backup, or "finished" (earlier run)

  @classmethod
  def from_log(cls, log, resumed_at_step):
    logs = log.history()
    return cls(history=logs, epoch_seconds=logs.pop("seconds", []),
               resumed_at_step=resumed_at_step)

  @classmethod
  def finished(cls, backup_dir, epochs):
    """A stage an earlier, killed run finished: its logs are those kept in `backup_dir`."""
    return cls.from_log(resume.EpochLog(backup_dir, epochs), "finished")


def load_checkpoint(config: TrainConfig) -> Checkpoint:
  """The backbone and preprocessor of `--init_checkpoint`, checked against the data flags."""
  model_config = checkpoints.model_config_of(config.init_checkpoint)
  if model_config is not None and config.data.max_seq_length > model_config.max_sequence_length:
    raise ValueError(f"--max_seq_length={config.data.max_seq_length} is above the model's "
                     f"{model_config.max_sequence_length} positions ({config.init_checkpoint})")
  backbone, preprocessor = checkpoints.load_bert(config.init_checkpoint,
                                                 config.data.max_seq_length)
  depth = len(bert.encoder_layers(backbone))
  if config.student_layers > depth:
    raise ValueError(f"--student_layers={config.student_layers} is more than the "
                     f"{depth} layers of {config.init_checkpoint}")
  return Checkpoint(backbone, preprocessor, model_config)


def _neighbours(checkpoint, train):
  """TinyBERT's word-replacement table from the checkpoint's own word embeddings."""
  lowercase = checkpoint.lowercase
  table = augment.neighbour_table(
      checkpoint.backbone.get_layer(bert.TOKEN_EMBEDDING).embeddings.numpy(),
      checkpoint.vocabulary, [w for column in train.texts for text in column for w in text.split()],
      lowercase=lowercase)
  logging.info("Augmentation: %d words of the training texts have embedding neighbours",
               len(table))
  return {"neighbours": table, "lowercase": lowercase}


def _student_data(config, checkpoint, train, train_features, batching):
  """The student's training data: the task's examples plus `augment_factor` teacher-labelled
  copies of each, made afresh every epoch. Returns `(dataset(s), steps per epoch, examples per
  epoch)`: one dataset (no copies, repeated by `fit_stage`) or one per epoch, each cut to the
  shortest epoch's steps (length bucketing varies the count by a few batches)."""
  data = config.data
  if not data.augment_factor:
    dataset, steps = preprocessing.make_dataset(train_features, train.labels, **batching)
    return dataset, steps, len(train)
  table = _neighbours(checkpoint, train)

  def epoch(e):
    extra = augment.augment(train, data.augment_factor, seed=(data.seed, e), **table)
    extra_features = preprocessing.tokenize(extra, checkpoint.preprocessor)
    return preprocessing.make_dataset(
        {k: np.concatenate([v, extra_features[k]]) for k, v in train_features.items()},
        np.concatenate([train.labels, extra.labels]), **dict(batching, seed=data.seed + e))

  epochs = [epoch(e) for e in range(config.student_optimizer.epochs)]
  steps = min(s for _, s in epochs)
  return [d.take(steps) for d, _ in epochs], steps, len(train) * (1 + data.augment_factor)


def load_task_data(config: TrainConfig, checkpoint: Checkpoint) -> TaskData:
  """Reads, tokenizes and batches the task's train and dev splits for every stage."""
  data = config.data
  task = glue.get_task(data.task)
  train = glue.load_split(data, "train")
  dev = glue.load_split(data, "dev")
  train_features = preprocessing.tokenize(train, checkpoint.preprocessor)
  dev_features = preprocessing.tokenize(dev, checkpoint.preprocessor)
  batching = dict(batch_size=data.batch_size, training=True, seed=data.seed,
                  bucket_width=data.bucket_width)
  train_ds, steps = preprocessing.make_dataset(train_features, train.labels, **batching)
  student_ds, student_steps, num_student_examples = _student_data(
      config, checkpoint, train, train_features,
      dict(batching, batch_size=data.student_batch_size or data.batch_size,
           bucket_width=data.student_width))
  dev_ds, _ = preprocessing.make_dataset(dev_features, dev.labels, data.eval_batch_size,
                                         training=False, bucket_width=data.bucket_width)
  return TaskData(task=task, train=train, dev=dev, dev_features=dev_features, train_ds=train_ds,
                  steps=steps, student_ds=student_ds, student_steps=student_steps,
                  num_student_examples=num_student_examples, dev_ds=dev_ds)


def prepare(config: TrainConfig) -> Prepared:
  """Validates `config`, loads the checkpoint and the data, and builds the pruning schedule."""
  config.validate()
  checkpoint = load_checkpoint(config)
  data = load_task_data(config, checkpoint)
  schedule = schedules.make_schedule(config.pruning,
                                     data.student_steps * config.student_optimizer.epochs)
  return Prepared(checkpoint=checkpoint, data=data, schedule=schedule)


def _loss_and_metrics(task):
  if task.is_regression:
    return keras.losses.MeanSquaredError(), []
  return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
          [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def fit_stage(config, model, dataset, steps, epochs, backup_dir, callbacks, validation_data):
  """`model.fit` over `epochs`, backed up every --checkpoint_steps into `backup_dir`.

  After a kill, the same call restores the last backup and goes on from the batch after it,
  with the data in the order the uninterrupted run would have seen. Returns a `StageResult`
  whose logs cover the whole stage, including the epochs that finished before a kill.
  """
  start = resume.resume_step(backup_dir, steps) if config.checkpoint_steps else 0
  if start:
    logging.info("Resuming from the backup in %s at step %d of %d", backup_dir, start,
                 steps * epochs)
  log = resume.EpochLog(backup_dir if config.checkpoint_steps else None, start // steps,
                        write=distribute.is_chief(tf.distribute.get_strategy()))
  backup = ([resume.backup_callback(backup_dir, config.checkpoint_steps)]
            if config.checkpoint_steps else [])
  model.fit(resume.resumable_dataset(dataset, epochs, start), epochs=epochs,
            steps_per_epoch=steps, validation_data=validation_data,
            verbose=2 if os.environ.get("CI") else 1,
            callbacks=backup + [keras.callbacks.TerminateOnNaN()] + list(callbacks) + [log])
  return StageResult.from_log(log, start)


def _dev_metrics(config, data, model, log_dir, sparsity_image=False):
  """TensorBoard: the task's dev metrics per epoch (and the per-kernel sparsity image)."""
  return DevMetrics(model, data.dev_features, data.dev.labels, data.task, log_dir,
                    config.data.eval_batch_size, config.data.bucket_width, sparsity_image)


def build_teacher(config, prepared, name="teacher"):
  """A classifier on the pretrained backbone, with the task's head (not yet fine-tuned)."""
  return bert.bert_classifier(prepared.checkpoint.backbone, prepared.data.task.num_classes,
                              pooling=config.pooling, name=name)


def fine_tune_teacher(config, prepared, log_dir, backup_dir, callbacks=()):
  """Stage 1: fine-tunes the teacher on the task's gold labels; returns `(teacher, StageResult)`."""
  data = prepared.data
  teacher = build_teacher(config, prepared)
  loss, metrics = _loss_and_metrics(data.task)
  teacher.compile(optimizer=create_optimizer(config.teacher_optimizer,
                                             data.steps * config.teacher_optimizer.epochs),
                  loss=loss, metrics=metrics)
  result = fit_stage(
      config, teacher, data.train_ds, data.steps, config.teacher_optimizer.epochs, backup_dir,
      [keras.callbacks.TensorBoard(os.path.join(log_dir, "teacher")),
       _dev_metrics(config, data, teacher, os.path.join(log_dir, "teacher", "dev")), *callbacks],
      data.dev_ds)
  _check_finite(teacher, teacher, "stage 1 (teacher)", "--teacher_learning_rate")
  return teacher, result


def make_student(config, prepared, teacher):
  """The prunable student: from the pretrained checkpoint or the teacher (--student_init), the
  first --student_layers layers of it if set, its six encoder kernels wrapped by tfmot."""
  if config.student_init == "teacher":
    source = teacher
  else:
    backbone, _ = checkpoints.load_bert(config.init_checkpoint, config.data.max_seq_length)
    source = bert.bert_classifier(backbone, prepared.data.task.num_classes,
                                  pooling=config.pooling, name="student")
  if config.student_layers:
    source = bert.shallow_copy(source, config.student_layers)
  student = prune.make_sparse_student(source, schedule=prepared.schedule,
                                      block_size=config.pruning.block_size,
                                      head_sparsity=config.pruning.head_sparsity,
                                      neuron_sparsity=config.pruning.neuron_sparsity)
  student.get_layer(bert.TOKEN_EMBEDDING).trainable = not config.student_freeze_token_embedding
  return student


def make_distiller(config, prepared, teacher):
  """`(student, distiller)`, compiled and built, so a backup of stage 2 restores into it."""
  data = prepared.data
  student = make_student(config, prepared, teacher)
  distiller = Distiller(student=student, teacher=teacher, regression=data.task.is_regression,
                        **dataclasses.asdict(config.distill))  # fields are Distiller's args
  distiller.compile(optimizer=create_optimizer(
      config.student_optimizer, data.student_steps * config.student_optimizer.epochs))
  distiller(next(iter(data.dev_ds))[0])  # built, so a backup restores into existing variables
  return student, distiller


def distill_student(config, prepared, teacher, log_dir, backup_dir, callbacks=()):
  """Stage 2: prunes the student while it distils `teacher`; returns `(student, StageResult)`.

  The student is still wrapped (masks and pruning step inside): `prune.strip` it to save it.
  """
  data = prepared.data
  student, distiller = make_distiller(config, prepared, teacher)
  result = fit_stage(
      config, distiller, data.student_ds, data.student_steps, config.student_optimizer.epochs,
      backup_dir, [tfmot.sparsity.keras.UpdatePruningStep(),
                   tfmot.sparsity.keras.PruningSummaries(os.path.join(log_dir, "student")),
                   _dev_metrics(config, data, student, os.path.join(log_dir, "student", "dev"),
                                sparsity_image=True),
                   *callbacks], data.dev_ds)
  _check_finite(distiller, student, "stage 2 (student)", "--student_learning_rate")
  return student, result


def _check_finite(fitted, model, stage, flag):
  """Raises if the loss became NaN/inf (TerminateOnNaN stopped `fitted`) or `model` diverged."""
  if fitted.stop_training or not all(np.isfinite(w.numpy()).all()
                                     for w in model.trainable_weights):
    raise RuntimeError(f"{stage} failed: the loss became NaN/inf and training stopped; lower "
                       f"{flag} (earlier stages' outputs are kept)")
