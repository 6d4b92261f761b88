"""The SparseBERT run: fine-tune a teacher, prune a student while distilling, strip, save, export.

  python -m tf_sparsebert.train --flagfile=configs/mrpc.flags

`main(argv)` only turns flags into a `TrainConfig`; `run(config)` does the work with the stages
of `tf_sparsebert.pipeline` and the output folder rules of `tf_sparsebert.run_dir`.
"""

import contextlib
import dataclasses
import os
import signal
import sys

from absl import app, flags, logging

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf

from tf_sparsebert import distribute, pipeline, resume, run_dir
from tf_sparsebert import evaluate as evaluation
from tf_sparsebert.models import bert, saving
from tf_sparsebert.pruning import prune

__all__ = ["run", "main"]
FINISHED_MARKER = run_dir.FINISHED_MARKER


def _save_classifier(model, path, checkpoint, task, chief):
  run_dir.save_model(lambda d: saving.save_classifier(model, d, checkpoint.vocabulary,
                                                      checkpoint.lowercase, task=task),
                     path, chief)


def _export(config, out):
  from tf_sparsebert import export  # LiteRT is needed only here
  logging.info("Stage 4/4: TFLite export and verification")
  try:
    with run_dir.atomic_directory(os.path.join(out, "tflite")) as partial:
      export.export_run(export.ExportConfig(
          os.path.join(out, "student"), partial,
          variants=export.default_variants(config.pruning.head_sparsity,
                                           config.pruning.neuron_sparsity),
          mediapipe_python=config.mediapipe_python, block_size=config.pruning.block_size),
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
  with run_dir.exclusive(config.output_dir) if chief else contextlib.nullcontext():
    with strategy.scope():
      return _run(config, strategy, chief, on_start, list(callbacks))


def _run(config, strategy, chief, on_start, callbacks):
  state = run_dir.check_output_dir(config) if chief else "worker"
  p = pipeline.prepare(config)
  teacher = None  # every input is loaded and checked before anything is written
  if config.teacher_model:
    saving.check_task(config.teacher_model, p.data.task, "--teacher_model")
    teacher = saving.load_classifier(config.teacher_model, "--teacher_model")
  out = config.output_dir
  replace = chief and config.overwrite and os.path.isdir(out) and bool(os.listdir(out))
  with run_dir.replacing(out) if replace else contextlib.nullcontext() as commit:
    return _stages(config, strategy, chief, on_start, callbacks, state, p, teacher,
                   commit or (lambda: None))


def _stages(config, strategy, chief, on_start, callbacks, state, p, teacher, commit):
  """The stages, into output_dir; `commit()` once the models and metrics are written."""
  data, checkpoint = p.data, p.checkpoint
  out = config.output_dir
  # Worker 0 writes the run; the others keep only their own record (logs, sparsity, metrics).
  own = run_dir.own_dir(out, chief, distribute.worker_index(strategy))
  os.makedirs(own, exist_ok=True)
  if on_start and chief:
    on_start(out)
  if state != run_dir.RESUME:
    run_dir.write_json(os.path.join(own, run_dir.CONFIG_FILE), {
        "train": config.to_dict(),
        "model": dataclasses.asdict(checkpoint.model_config) if checkpoint.model_config else None,
        "steps_per_epoch": data.steps, "num_train_examples": len(data.train),
        "student_steps_per_epoch": data.student_steps,
        "num_student_train_examples": data.num_student_examples,
        "num_dev_examples": len(data.dev),
        "num_replicas": strategy.num_replicas_in_sync})
  log_dir = os.path.join(own, "logs")
  backups = os.path.join(out, resume.BACKUP_DIR)
  stages = {}  # stage -> pipeline.StageResult

  logging.info("Stage 1/3: teacher")
  teacher_dir = os.path.join(out, "teacher")
  if teacher is not None:
    pass  # --teacher_model, loaded before anything was written
  elif os.path.isdir(teacher_dir):
    logging.info("Resuming: the teacher in %s is finished", teacher_dir)
    teacher = saving.load_classifier(teacher_dir, "--output_dir")
    stages["teacher"] = pipeline.StageResult.finished(os.path.join(backups, "teacher"),
                                                      config.teacher_optimizer.epochs)
  else:
    teacher, stages["teacher"] = pipeline.fine_tune_teacher(
        config, p, log_dir, os.path.join(backups, "teacher"), callbacks)
    _save_classifier(teacher, teacher_dir, checkpoint, data.task, chief)

  logging.info("Stage 2/3: student, pruned while distilling")
  student_dir = os.path.join(out, "student")
  sparsity_path = os.path.join(own, "sparsity.json")
  # Every worker decides from the chief's files, so they all skip or all train (collectives).
  if os.path.isdir(student_dir) and os.path.isfile(os.path.join(out, "sparsity.json")):
    logging.info("Resuming: the student in %s is finished", student_dir)
    stripped = saving.load_classifier(student_dir, "--output_dir")
    sparsity_path = os.path.join(out, "sparsity.json")
    stages["student"] = pipeline.StageResult.finished(os.path.join(backups, "student"),
                                                      config.student_optimizer.epochs)
  else:
    student, stages["student"] = pipeline.distill_student(
        config, p, teacher, log_dir, os.path.join(backups, "student"), callbacks)
    logging.info("Stage 3/3: strip, evaluate, save")
    stripped = prune.strip(student)
    stripped.get_layer(bert.TOKEN_EMBEDDING).trainable = True  # frozen for distillation only
    report = prune.sparsity_report(stripped, block_size=config.pruning.block_size)
    report["target_sparsity"] = config.pruning.target_sparsity
    run_dir.write_json(sparsity_path, report)
    _save_classifier(stripped, student_dir, checkpoint, data.task, chief)
  overall = run_dir.read_json(sparsity_path)["overall"]

  metrics_path = os.path.join(own, run_dir.FINISHED_MARKER)
  if os.path.isfile(metrics_path):  # killed during the export: the evaluation is done
    results = run_dir.read_json(metrics_path)
  else:
    results = _metrics(config, data, strategy, stages, teacher, stripped, overall)
    run_dir.write_json(metrics_path, results)
  commit()  # the new run is safely written: an old one replaced by --overwrite can go
  if chief:
    run_dir.remove(backups)  # every stage's result is saved: the backups are no longer needed
  logging.info("teacher %s | student %s | sparsity %.4f", results["teacher"],
               results["student"], overall)
  if config.export_tflite and chief:
    _export(config, out)
  return results


def _metrics(config, data, strategy, stages, teacher, student, sparsity):
  """The `metrics.json` of a run: dev metrics of both models, per-epoch logs, timing."""
  def evaluate(model):
    return evaluation.evaluate(model, data.dev_features, data.dev.labels, data.task,
                               config.data.eval_batch_size, config.data.bucket_width)

  return {
      "task": data.task.name, "metric": data.task.metrics[0],
      "teacher": evaluate(teacher), "student": evaluate(student),
      "student_sparsity": sparsity,
      "distribution": {"strategy": config.distribute.strategy,
                       "num_replicas": strategy.num_replicas_in_sync},
      "resumed_at_step": {k: v.resumed_at_step for k, v in stages.items()},
      "history": {k: v.history for k, v in stages.items()},
      "timing": {"teacher_epoch_seconds": (stages["teacher"].epoch_seconds
                                           if "teacher" in stages else []),
                 "student_epoch_seconds": stages["student"].epoch_seconds,
                 "num_train_examples": len(data.train), "steps_per_epoch": data.steps,
                 "num_student_train_examples": data.num_student_examples,
                 "student_steps_per_epoch": data.student_steps},
  }


def _write_flags(out):
  """The resolved flags, as a flagfile (replaced whole on a resumed run, never appended to)."""
  tmp = os.path.join(out, "flags.txt.tmp")
  run_dir.remove(tmp)
  flags.FLAGS.append_flags_into_file(tmp)
  os.replace(tmp, os.path.join(out, "flags.txt"))


def _interrupt(signum, frame):
  raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv):
  del argv
  from tf_sparsebert import flags as tsb_flags
  signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: one message, the backups kept
  try:
    config = tsb_flags.train_config_from_flags(flags.FLAGS)
    run(config, on_start=_write_flags)
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt as e:
    print(f"error: interrupted ({e or 'SIGINT'}); rerun the same command to resume from the last "
          "backup", file=sys.stderr)
    sys.exit(130)
  except OSError as e:  # a full or read-only disk, a folder where a file should be, ...
    sys.exit(f"error: {e.filename or ''}: {e.strerror or e}")


if __name__ == "__main__":
  from tf_sparsebert import flags as tsb_flags
  try:
    tsb_flags.check_flagfiles(sys.argv)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  tsb_flags.define_train_flags()
  app.run(main)
