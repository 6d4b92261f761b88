"""The SparseBERT pipeline: fine-tune a teacher, prune a student while distilling, strip, save.

  python -m tf_sparsebert.train --flagfile=configs/mrpc.flags

`main(argv)` only turns flags into a `TrainConfig`; `run(config)` does the work.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile

from absl import app, flags, logging

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tf_sparsebert import config as tsb_config
from tf_sparsebert import distribute, resume
from tf_sparsebert import evaluate as evaluation
from tf_sparsebert.callbacks import DevMetrics
from tf_sparsebert.data import augment, glue, preprocessing, transfer
from tf_sparsebert.distill.distiller import Distiller
from tf_sparsebert.models import bert, checkpoints, saving
from tf_sparsebert.optimization import create_optimizer
from tf_sparsebert.pruning import allocation, prune, schedules

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
  student_ds: object              # original + teacher-labelled augmented examples: one epoch's
                                  # tf.data.Dataset, or a list of one per epoch (fresh copies)
  student_steps: int
  num_student_examples: int
  dev_ds: tf.data.Dataset
  schedule: object                # the tfmot pruning schedule of the student
  lr_restart_step: int            # where --pruning_lr_rewind restarts the student's rate (0: none)
  recipe: object                  # the `StudentRecipe` of --strategy
  state: str                      # "new", "resume" (an unfinished run) or "worker" (not chief)


def is_finished(config):
  """True if output_dir holds every output this config asks for."""
  out = config.output_dir
  return (os.path.exists(os.path.join(out, FINISHED_MARKER))
          and (not config.export_tflite or os.path.isdir(os.path.join(out, "tflite"))))


def check_output_dir(config):
  """"new" for an absent or empty output_dir (or --overwrite), "resume" for an unfinished run of
  the same settings; raises for anything else, so nothing the user has is overwritten."""
  out = config.output_dir
  if os.path.exists(out) and not os.path.isdir(out):
    raise ValueError(f"--output_dir: {out} exists and is not a directory")
  if not os.path.isdir(out) or not os.listdir(out) or config.overwrite:
    return "new"
  if is_finished(config):
    raise ValueError(f"--output_dir: {out} already holds a finished run; choose another "
                     "directory or pass --overwrite to replace it.")
  saved_path = os.path.join(out, "config.json")
  if not os.path.isfile(saved_path):
    raise ValueError(f"--output_dir: {out} already holds files that are not a tf_sparsebert run; "
                     "choose another directory or pass --overwrite to replace it.")
  with open(saved_path, encoding="utf-8") as f:
    saved = json.load(f)["train"]
  # a setting added since the run started counts as its default (the old behaviour)
  differ = [d for d in tsb_config.differences(tsb_config.normalized(saved),
                                              tsb_config.normalized(config.to_dict()))
            if d != "overwrite"]
  if differ:
    raise ValueError(f"--output_dir: {out} holds an unfinished run with other settings "
                     f"({', '.join(differ)}); rerun it with its own flags ({out}/flags.txt) to "
                     "resume it, choose another directory, or pass --overwrite to replace it.")
  return "resume"


def _student_data(config, recipe, task, train, dev, train_features, preprocessor, backbone,
                  batching):
  """The student's training data: the task's examples, teacher-labelled augmented copies (fresh
  ones every epoch with --augment_each_epoch) and related tasks' inputs (if asked).

  Returns `(dataset, steps per epoch, examples per epoch)`; the dataset is one epoch (repeated
  by `_fit`) or, with fresh copies each epoch, a list of one dataset per epoch, each cut to the
  shortest epoch's steps (length bucketing varies the count by a few batches).
  """
  data = config.data
  related = None
  if recipe.transfer_tasks:
    related, dropped = transfer.transfer_set(data, recipe.transfer_tasks, exclude=dev)
    logging.info("Transfer set: %d unlabelled examples of %s (%d dropped: they share a sentence "
                 "with %s dev)", len(related), ", ".join(recipe.transfer_tasks), dropped,
                 task.name)
  kwargs = {"policy": data.augment_policy}
  if recipe.augment_factor and data.augment_policy == "neighbours":
    vocabulary = preprocessor.tokenizer.get_vocabulary()
    lowercase = preprocessor.tokenizer.lowercase
    kwargs.update(lowercase=lowercase, neighbours=augment.neighbour_table(
        backbone.get_layer(bert.TOKEN_EMBEDDING).embeddings.numpy(), vocabulary,
        [w for column in train.texts for text in column for w in text.split()],
        lowercase=lowercase))
    logging.info("Augmentation: %d words of the training texts have embedding neighbours",
                 len(kwargs["neighbours"]))

  def epoch(seed, shuffle_seed):
    batches = dict(batching, seed=shuffle_seed)
    extra = augment.augment(train, recipe.augment_factor, seed=seed, **kwargs)
    if related is not None:
      extra = augment.concatenate(extra, related)
    if not len(extra):
      return preprocessing.make_dataset(train_features, train.labels, **batches), 0
    extra_features = preprocessing.tokenize(extra, preprocessor)
    return preprocessing.make_dataset(
        {k: np.concatenate([v, extra_features[k]]) for k, v in train_features.items()},
        np.concatenate([train.labels, extra.labels]), **batches), len(extra)

  if not (recipe.augment_factor and data.augment_each_epoch):
    (dataset, steps), extra = epoch(data.seed, data.seed)
    return dataset, steps, len(train) + extra
  # Each epoch its own copies and its own order.
  epochs = [epoch((data.seed, e), data.seed + e)[0]
            for e in range(config.student_optimizer.epochs)]
  steps = min(s for _, s in epochs)
  return ([d.take(steps) for d, _ in epochs], steps,
          len(train) * (1 + recipe.augment_factor) + (len(related) if related else 0))


def prepare(config, check_dir=True):
  """Validates everything that can be checked before training; returns what the stages need."""
  config.validate()
  state = check_output_dir(config) if check_dir else "worker"
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
  depth = len(bert.encoder_layers(backbone))
  if config.pruning.kernel_sparsity:  # the split, checked before any training
    allocation.layer_kernel_targets(bert.encoder_layers(backbone)[0],
                                    config.pruning.target_sparsity, config.pruning.kernel_sparsity)
  if config.student_layers > depth:
    raise ValueError(f"--student_layers={config.student_layers} is more than the "
                     f"{depth} layers of {config.init_checkpoint}")
  train = glue.load_split(config.data, "train")
  dev = glue.load_split(config.data, "dev")
  train_features = preprocessing.tokenize(train, preprocessor)
  dev_features = preprocessing.tokenize(dev, preprocessor)
  batching = dict(batch_size=config.data.batch_size, training=True, seed=config.data.seed,
                  bucket_width=config.data.bucket_width)
  train_ds, steps = preprocessing.make_dataset(train_features, train.labels, **batching)
  recipe = config.student_recipe()
  student_ds, student_steps, num_student_examples = _student_data(
      config, recipe, task, train, dev, train_features, preprocessor, backbone,
      dict(batching, batch_size=config.data.student_batch_size or config.data.batch_size,
           bucket_width=config.data.student_width))
  dev_ds, _ = preprocessing.make_dataset(dev_features, dev.labels, config.data.eval_batch_size,
                                         training=False, bucket_width=config.data.bucket_width)
  total_student_steps = student_steps * config.student_optimizer.epochs
  end = recipe.distill.intermediate_end_step
  if end >= total_student_steps:
    raise ValueError(f"--intermediate_loss_end_step={end} is not before the last training step "
                     f"({total_student_steps}): no step would train on the prediction losses alone")
  schedule = (schedules.one_shot_schedule(config.pruning) if recipe.one_shot else
              schedules.cubic_schedule(config.pruning, total_student_steps))
  lr_restart_step = schedules.lr_restart_step(config.pruning, schedule, recipe.one_shot,
                                              total_student_steps)
  return Prepared(task=task, model_config=model_config, backbone=backbone,
                  preprocessor=preprocessor, train=train, dev=dev,
                  dev_features=dev_features, train_ds=train_ds, steps=steps,
                  student_ds=student_ds, student_steps=student_steps,
                  num_student_examples=num_student_examples, dev_ds=dev_ds,
                  schedule=schedule, lr_restart_step=lr_restart_step, recipe=recipe, state=state)


def _loss_and_metrics(task):
  if task.is_regression:
    return keras.losses.MeanSquaredError(), []
  return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
          [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def _fit(config, model, dataset, steps, epochs, backup_dir, callbacks, validation_data):
  """`model.fit` over `epochs`, backed up every --checkpoint_steps into `backup_dir`.

  After a kill, the same call restores the last backup and goes on from the batch after it,
  with the data in the order the uninterrupted run would have seen. Returns a dict with the
  epoch times, the global step it resumed at and the per-epoch logs (`resume.EpochLog`: of the
  whole stage, including the epochs that finished before a kill).
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
            callbacks=backup + [keras.callbacks.TerminateOnNaN()] + callbacks + [log])
  return _stage_result(log, start)


def fine_tune_teacher(config, p, log_dir, backup_dir, callbacks=()):
  teacher = bert.bert_classifier(p.backbone, p.task.num_classes, pooling=config.pooling,
                                 name="teacher")
  loss, metrics = _loss_and_metrics(p.task)
  teacher.compile(optimizer=create_optimizer(config.teacher_optimizer,
                                             p.steps * config.teacher_optimizer.epochs),
                  loss=loss, metrics=metrics)
  fitted = _fit(
      config, teacher, p.train_ds, p.steps, config.teacher_optimizer.epochs, backup_dir,
      [keras.callbacks.TensorBoard(os.path.join(log_dir, "teacher")),
       _dev_metrics(config, p, teacher, os.path.join(log_dir, "teacher", "dev")), *callbacks],
      p.dev_ds)
  _check_finite(teacher, teacher, "stage 1 (teacher)", "--teacher_learning_rate")
  return teacher, fitted


def _dev_metrics(config, p, model, log_dir, sparsity_image=False):
  """TensorBoard: the task's dev metrics per epoch (and the per-kernel sparsity image)."""
  return DevMetrics(model, p.dev_features, p.dev.labels, p.task, log_dir,
                    config.data.eval_batch_size, config.data.bucket_width, sparsity_image)


def make_student(config, p, teacher):
  if p.recipe.init == "teacher":
    source = teacher
  else:
    backbone, _ = checkpoints.load_bert(config.init_checkpoint, config.data.max_seq_length)
    source = bert.bert_classifier(backbone, p.task.num_classes, pooling=config.pooling,
                                  name="student")
  if config.student_layers:
    source = bert.shallow_copy(source, config.student_layers)
  student = prune.make_sparse_student(source, schedule=p.schedule,
                                      block_size=config.pruning.block_size,
                                      dropout=config.student_dropout,
                                      kernel_sparsity=config.pruning.kernel_sparsity)
  student.get_layer(bert.TOKEN_EMBEDDING).trainable = not config.student_freeze_token_embedding
  return student


def make_distiller(config, p, teacher):
  """`(student, distiller)`, compiled and built, so a backup of stage 2 restores into it."""
  student = make_student(config, p, teacher)
  distiller = Distiller(student=student, teacher=teacher, regression=p.task.is_regression,
                        **dataclasses.asdict(p.recipe.distill))  # fields are Distiller's args
  distiller.compile(optimizer=create_optimizer(
      config.student_optimizer, p.student_steps * config.student_optimizer.epochs,
      restart_step=p.lr_restart_step))
  distiller(next(iter(p.dev_ds))[0])  # built, so a backup restores into existing variables
  return student, distiller


def distill_student(config, p, teacher, log_dir, backup_dir, callbacks=()):
  student, distiller = make_distiller(config, p, teacher)
  fitted = _fit(
      config, distiller, p.student_ds, p.student_steps, config.student_optimizer.epochs,
      backup_dir, [tfmot.sparsity.keras.UpdatePruningStep(),
                   tfmot.sparsity.keras.PruningSummaries(os.path.join(log_dir, "student")),
                   _dev_metrics(config, p, student, os.path.join(log_dir, "student", "dev"),
                                sparsity_image=True),
                   *callbacks], p.dev_ds)
  _check_finite(distiller, student, "stage 2 (student)", "--student_learning_rate")
  return student, fitted


def _check_finite(fitted, model, stage, flag):
  """Raises if the loss became NaN/inf (TerminateOnNaN stopped `fitted`) or `model` diverged."""
  if fitted.stop_training or not all(np.isfinite(w.numpy()).all()
                                     for w in model.trainable_weights):
    raise RuntimeError(f"{stage} failed: the loss became NaN/inf and training stopped; lower "
                       f"{flag} (earlier stages' outputs are kept)")


def _save(model, path, vocab, lowercase, chief):
  """Saves a classifier atomically to `path` (the chief) or to a throw-away copy (other workers,
  which must take part in saving under a multi-worker strategy)."""
  if chief:
    with resume.atomic_directory(path) as partial:
      saving.save_classifier(model, partial, vocab, lowercase)
  else:
    scratch = tempfile.mkdtemp(prefix="tf_sparsebert_worker_")
    saving.save_classifier(model, scratch, vocab, lowercase)
    shutil.rmtree(scratch, ignore_errors=True)


def _finished(backup_dir, epochs):
  """What `_fit` returned, for a stage that an earlier, killed run finished: its logs are those
  the run kept in `backup_dir` (none if it kept no backups)."""
  return _stage_result(resume.EpochLog(backup_dir, epochs), "finished")


def _stage_result(log, resumed_at_step):
  logs = log.history()
  return {"epoch_seconds": logs.pop("seconds", []), "resumed_at_step": resumed_at_step,
          "history": logs}


def _export(config, out):
  from tf_sparsebert import export  # LiteRT is needed only here
  logging.info("Stage 4/4: TFLite export and verification")
  try:
    with resume.atomic_directory(os.path.join(out, "tflite")) as partial:
      export.export_run(export.ExportConfig(
          os.path.join(out, "student"), partial, mediapipe_python=config.mediapipe_python),
          config.data)
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    raise RuntimeError(f"stage 4 (TFLite export) failed; the trained models in {out} are "
                       f"kept: {e}") from None


def run(config, on_start=None, callbacks=()):
  """Runs the whole pipeline for `config` (a `TrainConfig`); returns the metrics dict.

  Rerunning it on the output_dir of a killed run resumes that run: finished stages are loaded,
  the interrupted one continues from its last backup (--checkpoint_steps).

  Args:
    config: a `TrainConfig`; validated here, before anything is written or trained.
    on_start: optional callable(output_dir) run once the output directory exists (the CLI writes
      the resolved flags there).
    callbacks: extra Keras callbacks for both `fit` calls (teacher and student).
  """
  config.validate()
  strategy = distribute.make_strategy(config.distribute)  # first: multi-worker needs it so
  chief = distribute.is_chief(strategy)
  tf.keras.utils.set_random_seed(config.data.seed)
  # The chief owns output_dir: one process at a time, before anything there is read or written.
  with resume.exclusive(config.output_dir) if chief else contextlib.nullcontext():
    with strategy.scope():
      return _run(config, strategy, chief, on_start, list(callbacks))


def _run(config, strategy, chief, on_start, callbacks):
  p = prepare(config, check_dir=chief)
  out = config.output_dir
  # Worker 0 writes the run; the others keep only their own record (logs, sparsity, metrics).
  own = out if chief else os.path.join(out, "workers", f"worker_{distribute.worker_index(strategy)}")
  if chief and config.overwrite and os.path.isdir(out):
    shutil.rmtree(out)
  os.makedirs(own, exist_ok=True)
  if on_start and chief:
    on_start(out)
  vocab = p.preprocessor.tokenizer.get_vocabulary()
  lowercase = p.preprocessor.tokenizer.lowercase
  if p.state != "resume":
    resume.write_json(os.path.join(own, "config.json"), {
        "train": config.to_dict(),
        "model": dataclasses.asdict(p.model_config) if p.model_config else None,
        "steps_per_epoch": p.steps, "num_train_examples": len(p.train),
        "student_steps_per_epoch": p.student_steps,
        "num_student_train_examples": p.num_student_examples,
        "num_dev_examples": len(p.dev),
        "student_recipe": dataclasses.asdict(p.recipe),
        "num_replicas": strategy.num_replicas_in_sync})
  log_dir = os.path.join(own, "logs")
  backups = os.path.join(out, resume.BACKUP_DIR)
  fits = {}  # stage -> what `_fit` returned (`_finished` for a stage an earlier run finished)

  logging.info("Stage 1/3: teacher")
  teacher_dir = os.path.join(out, "teacher")
  if config.teacher_model:
    teacher = saving.load_classifier(config.teacher_model, "--teacher_model")
  elif os.path.isdir(teacher_dir):
    logging.info("Resuming: the teacher in %s is finished", teacher_dir)
    teacher = saving.load_classifier(teacher_dir, "--output_dir")
    fits["teacher"] = _finished(os.path.join(backups, "teacher"), config.teacher_optimizer.epochs)
  else:
    teacher, fits["teacher"] = fine_tune_teacher(
        config, p, log_dir, os.path.join(backups, "teacher"), callbacks)
    _save(teacher, teacher_dir, vocab, lowercase, chief)

  logging.info("Stage 2/3: student, pruned while distilling")
  student_dir = os.path.join(out, "student")
  sparsity_path = os.path.join(own, "sparsity.json")
  # Every worker decides from the chief's files, so they all skip or all train (collectives).
  if os.path.isdir(student_dir) and os.path.isfile(os.path.join(out, "sparsity.json")):
    logging.info("Resuming: the student in %s is finished", student_dir)
    stripped = saving.load_classifier(student_dir, "--output_dir")
    sparsity_path = os.path.join(out, "sparsity.json")
    fits["student"] = _finished(os.path.join(backups, "student"), config.student_optimizer.epochs)
  else:
    student, fits["student"] = distill_student(
        config, p, teacher, log_dir, os.path.join(backups, "student"), callbacks)
    logging.info("Stage 3/3: strip, evaluate, save")
    stripped = prune.strip(student)
    stripped.get_layer(bert.TOKEN_EMBEDDING).trainable = True  # frozen for distillation only
    report = prune.sparsity_report(stripped, block_size=config.pruning.block_size)
    report["target_sparsity"] = config.pruning.target_sparsity
    resume.write_json(sparsity_path, report)
    _save(stripped, student_dir, vocab, lowercase, chief)
  if chief:
    resume.remove(backups)  # every stage's result is saved: the backups are no longer needed
  with open(sparsity_path, encoding="utf-8") as f:
    overall = json.load(f)["overall"]

  evaluate = lambda m: evaluation.evaluate(m, p.dev_features, p.dev.labels, p.task,  # noqa: E731
                                           config.data.eval_batch_size, config.data.bucket_width)
  metrics_path = os.path.join(own, FINISHED_MARKER)
  if os.path.isfile(metrics_path):  # killed during the export: the evaluation is done
    with open(metrics_path, encoding="utf-8") as f:
      results = json.load(f)
  else:
    results = {
        "task": p.task.name, "metric": p.task.metrics[0],
        "teacher": evaluate(teacher), "student": evaluate(stripped),
        "student_sparsity": overall,
        "distribution": {"strategy": config.distribute.strategy,
                         "num_replicas": strategy.num_replicas_in_sync},
        "resumed_at_step": {k: v["resumed_at_step"] for k, v in fits.items()},
        "history": {k: v["history"] for k, v in fits.items()},
        "timing": {"teacher_epoch_seconds": fits.get("teacher", {}).get("epoch_seconds", []),
                   "student_epoch_seconds": fits["student"]["epoch_seconds"],
                   "num_train_examples": len(p.train), "steps_per_epoch": p.steps,
                   "num_student_train_examples": p.num_student_examples,
                   "student_steps_per_epoch": p.student_steps},
    }
    resume.write_json(metrics_path, results)
  logging.info("teacher %s | student %s | sparsity %.4f", results["teacher"],
               results["student"], overall)
  if config.export_tflite and chief:
    _export(config, out)
  return results


def _write_flags(out):
  """The resolved flags, as a flagfile (replaced whole on a resumed run, never appended to)."""
  tmp = os.path.join(out, "flags.txt.tmp")
  resume.remove(tmp)
  flags.FLAGS.append_flags_into_file(tmp)
  os.replace(tmp, os.path.join(out, "flags.txt"))


def main(argv):
  del argv
  from tf_sparsebert import flags as tsb_flags
  try:
    config = tsb_flags.train_config_from_flags(flags.FLAGS)
    run(config, on_start=_write_flags)
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
