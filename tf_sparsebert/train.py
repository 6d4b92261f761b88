"""The SparseBERT pipeline: fine-tune a teacher, prune a student while distilling, strip, save.

  python -m tf_sparsebert.train --flagfile=configs/mrpc.flags

`main(argv)` only turns flags into a `TrainConfig`; `run(config)` does the work.
"""

import dataclasses
import json
import os
import shutil
import sys
import time

from absl import app, flags, logging

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tf_sparsebert import evaluate as evaluation
from tf_sparsebert.callbacks import DevMetrics
from tf_sparsebert.data import augment, glue, preprocessing
from tf_sparsebert.distill.distiller import Distiller
from tf_sparsebert.models import bert, checkpoints, saving
from tf_sparsebert.optimization import create_optimizer
from tf_sparsebert.pruning import prune, schedules

keras = tf.keras
FINISHED_MARKER = "metrics.json"


@dataclasses.dataclass
class Prepared:
  """Everything the stages need, built and checked before any training starts."""
  task: glue.Task
  model_config: object            # ModelConfig of an HF checkpoint, None for a keras-nlp preset
  backbone: keras.Model
  preprocessor: object
  train: glue.Examples
  dev: glue.Examples
  dev_features: dict
  train_ds: tf.data.Dataset       # original examples (teacher fine-tuning)
  steps: int
  student_ds: tf.data.Dataset     # original + teacher-labelled augmented examples
  student_steps: int
  num_student_examples: int
  dev_ds: tf.data.Dataset
  schedule: object                # the tfmot pruning schedule of the student


class EpochTimer(keras.callbacks.Callback):
  """Records the wall time of every epoch."""

  def __init__(self):
    super().__init__()
    self.seconds = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    self.seconds.append(time.perf_counter() - self._start)


def check_output_dir(config):
  """Refuses to touch an existing, non-empty output_dir unless --overwrite."""
  out = config.output_dir
  if os.path.exists(out) and not os.path.isdir(out):
    raise ValueError(f"--output_dir: {out} exists and is not a directory")
  if os.path.isdir(out) and os.listdir(out) and not config.overwrite:
    finished = os.path.exists(os.path.join(out, FINISHED_MARKER))
    raise ValueError(f"--output_dir: {out} already holds a {'finished ' if finished else ''}run; "
                     "choose another directory or pass --overwrite to replace it.")


def prepare(config):
  """Validates everything that can be checked before training; returns what the stages need."""
  config.validate()
  check_output_dir(config)
  task = glue.get_task(config.data.task)
  model_config = checkpoints.model_config_of(config.init_checkpoint)
  if config.teacher_model:
    saving.check_classifier_files(config.teacher_model, "--teacher_model")
  if model_config is not None:
    if config.data.max_seq_length > model_config.max_sequence_length:
      raise ValueError(f"--max_seq_length={config.data.max_seq_length} is above the model's "
                       f"{model_config.max_sequence_length} positions ({config.init_checkpoint})")
  backbone, preprocessor = checkpoints.load_bert(config.init_checkpoint,
                                                 config.data.max_seq_length)
  train = glue.load_split(config.data, "train")
  dev = glue.load_split(config.data, "dev")
  train_features = preprocessing.tokenize(train, preprocessor)
  dev_features = preprocessing.tokenize(dev, preprocessor)
  batching = dict(batch_size=config.data.batch_size, training=True, seed=config.data.seed,
                  bucket_width=config.data.bucket_width)
  train_ds, steps = preprocessing.make_dataset(train_features, train.labels, **batching)
  # The student also sees teacher-labelled noisy copies of the training set (if asked).
  extra = augment.augment(train, config.data.augment_factor, seed=config.data.seed)
  if len(extra):
    extra_features = preprocessing.tokenize(extra, preprocessor)
    student_ds, student_steps = preprocessing.make_dataset(
        {k: np.concatenate([v, extra_features[k]]) for k, v in train_features.items()},
        np.concatenate([train.labels, extra.labels]), **batching)
  else:
    student_ds, student_steps = train_ds, steps
  dev_ds, _ = preprocessing.make_dataset(dev_features, dev.labels, config.data.eval_batch_size,
                                         training=False, bucket_width=config.data.bucket_width)
  schedule = schedules.cubic_schedule(config.pruning,
                                      student_steps * config.student_optimizer.epochs)
  return Prepared(task=task, model_config=model_config, backbone=backbone,
                  preprocessor=preprocessor, train=train, dev=dev,
                  dev_features=dev_features, train_ds=train_ds, steps=steps,
                  student_ds=student_ds, student_steps=student_steps,
                  num_student_examples=len(train) + len(extra), dev_ds=dev_ds,
                  schedule=schedule)


def _loss_and_metrics(task):
  if task.is_regression:
    return keras.losses.MeanSquaredError(), []
  return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
          [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def fine_tune_teacher(config, p, log_dir):
  teacher = bert.bert_classifier(p.backbone, p.task.num_classes, pooling=config.pooling,
                                 name="teacher")
  loss, metrics = _loss_and_metrics(p.task)
  teacher.compile(optimizer=create_optimizer(config.teacher_optimizer,
                                             p.steps * config.teacher_optimizer.epochs),
                  loss=loss, metrics=metrics)
  timer = EpochTimer()
  teacher.fit(p.train_ds, epochs=config.teacher_optimizer.epochs,
              validation_data=p.dev_ds, verbose=2 if os.environ.get("CI") else 1,
              callbacks=[keras.callbacks.TerminateOnNaN(), timer,
                         keras.callbacks.TensorBoard(os.path.join(log_dir, "teacher")),
                         _dev_metrics(config, p, teacher, os.path.join(log_dir, "teacher", "dev"))])
  _check_finite(teacher, teacher, "stage 1 (teacher)", "--teacher_learning_rate")
  return teacher, timer.seconds


def _dev_metrics(config, p, model, log_dir, sparsity_image=False):
  """TensorBoard: the task's dev metrics per epoch (and the per-kernel sparsity image)."""
  return DevMetrics(model, p.dev_features, p.dev.labels, p.task, log_dir,
                    config.data.eval_batch_size, config.data.bucket_width, sparsity_image)


def make_student(config, p, teacher):
  if config.student_init == "teacher":
    source = teacher
  else:
    backbone, _ = checkpoints.load_bert(config.init_checkpoint, config.data.max_seq_length)
    source = bert.bert_classifier(backbone, p.task.num_classes, pooling=config.pooling,
                                  name="student")
  return prune.make_sparse_student(source, schedule=p.schedule,
                                   block_size=config.pruning.block_size)


def distill_student(config, p, teacher, log_dir):
  student = make_student(config, p, teacher)
  d = config.distill
  distiller = Distiller(student=student, teacher=teacher, alpha_kd=d.alpha_kd,
                        alpha_ce=d.alpha_ce, alpha_hidden=d.alpha_hidden,
                        alpha_attention=d.alpha_attention, temperature=d.temperature,
                        regression=p.task.is_regression)
  distiller.compile(optimizer=create_optimizer(config.student_optimizer,
                                               p.student_steps * config.student_optimizer.epochs))
  timer = EpochTimer()
  distiller.fit(p.student_ds, epochs=config.student_optimizer.epochs,
                validation_data=p.dev_ds, verbose=2 if os.environ.get("CI") else 1,
                callbacks=[keras.callbacks.TerminateOnNaN(),
                           tfmot.sparsity.keras.UpdatePruningStep(),
                           tfmot.sparsity.keras.PruningSummaries(os.path.join(log_dir, "student")),
                           _dev_metrics(config, p, student, os.path.join(log_dir, "student", "dev"),
                                        sparsity_image=True),
                           timer])
  _check_finite(distiller, student, "stage 2 (student)", "--student_learning_rate")
  return student, timer.seconds


def _check_finite(fitted, model, stage, flag):
  """Raises if the loss became NaN/inf (TerminateOnNaN stopped `fitted`) or `model` diverged."""
  if fitted.stop_training or not all(np.isfinite(w.numpy()).all()
                                     for w in model.trainable_weights):
    raise RuntimeError(f"{stage} failed: the loss became NaN/inf and training stopped; lower "
                       f"{flag} (earlier stages' outputs are kept)")


def _write_json(path, data):
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2)
  os.replace(tmp, path)


def run(config, on_start=None):
  """Runs the whole pipeline for `config` (a `TrainConfig`); returns the metrics dict.

  Args:
    config: a `TrainConfig`; validated here, before anything is written or trained.
    on_start: optional callable(output_dir) run once the output directory exists (the CLI writes
      the resolved flags there).
  """
  tf.keras.utils.set_random_seed(config.data.seed)
  p = prepare(config)
  out = config.output_dir
  if config.overwrite and os.path.isdir(out):
    shutil.rmtree(out)
  os.makedirs(out, exist_ok=True)
  if on_start:
    on_start(out)
  vocab = p.preprocessor.tokenizer.get_vocabulary()
  lowercase = p.preprocessor.tokenizer.lowercase
  _write_json(os.path.join(out, "config.json"), {
      "train": config.to_dict(),
      "model": dataclasses.asdict(p.model_config) if p.model_config else None,
      "steps_per_epoch": p.steps, "num_train_examples": len(p.train),
      "student_steps_per_epoch": p.student_steps,
      "num_student_train_examples": p.num_student_examples,
      "num_dev_examples": len(p.dev)})
  log_dir = os.path.join(out, "logs")

  logging.info("Stage 1/3: teacher")
  if config.teacher_model:
    teacher = saving.load_classifier(config.teacher_model, "--teacher_model")
    teacher_seconds = []
  else:
    teacher, teacher_seconds = fine_tune_teacher(config, p, log_dir)
    saving.save_classifier(teacher, os.path.join(out, "teacher"), vocab, lowercase)

  logging.info("Stage 2/3: student, pruned while distilling")
  student, student_seconds = distill_student(config, p, teacher, log_dir)

  logging.info("Stage 3/3: strip, evaluate, save")
  stripped = prune.strip(student)
  report = prune.sparsity_report(stripped, block_size=config.pruning.block_size)
  report["target_sparsity"] = config.pruning.target_sparsity
  _write_json(os.path.join(out, "sparsity.json"), report)
  saving.save_classifier(stripped, os.path.join(out, "student"), vocab, lowercase)
  evaluate = lambda m: evaluation.evaluate(m, p.dev_features, p.dev.labels, p.task,  # noqa: E731
                                           config.data.eval_batch_size, config.data.bucket_width)
  results = {
      "task": p.task.name, "metric": p.task.metrics[0],
      "teacher": evaluate(teacher), "student": evaluate(stripped),
      "student_sparsity": report["overall"],
      "timing": {"teacher_epoch_seconds": teacher_seconds,
                 "student_epoch_seconds": student_seconds,
                 "num_train_examples": len(p.train), "steps_per_epoch": p.steps,
                 "num_student_train_examples": p.num_student_examples,
                 "student_steps_per_epoch": p.student_steps},
  }
  _write_json(os.path.join(out, FINISHED_MARKER), results)
  logging.info("teacher %s | student %s | sparsity %.4f", results["teacher"],
               results["student"], report["overall"])
  if config.export_tflite:
    from tf_sparsebert import export  # LiteRT is needed only here
    logging.info("Stage 4/4: TFLite export and verification")
    try:
      export.export_run(export.ExportConfig(
          os.path.join(out, "student"), os.path.join(out, "tflite"),
          mediapipe_python=config.mediapipe_python), config.data)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
      raise RuntimeError(f"stage 4 (TFLite export) failed; the trained models in {out} are "
                         f"kept: {e}") from None
  return results


def main(argv):
  del argv
  from tf_sparsebert import flags as tsb_flags
  try:
    config = tsb_flags.train_config_from_flags(flags.FLAGS)
    run(config, on_start=lambda out: flags.FLAGS.append_flags_into_file(
        os.path.join(out, "flags.txt")))
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  from tf_sparsebert import flags as tsb_flags
  try:
    tsb_flags.check_flagfiles(sys.argv)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  tsb_flags.define_train_flags()
  app.run(main)
