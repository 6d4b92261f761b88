"""absl flag definitions and their conversion to config dataclasses (the only reader of FLAGS)."""

import os

from absl import flags

from tf_sparsebert import config as cfg
from tf_sparsebert.data import glue


def _define(flag_values, kind, *args, **kwargs):
  getattr(flags, f"DEFINE_{kind}")(*args, flag_values=flag_values, **kwargs)


def define_data_flags(flag_values=flags.FLAGS):
  """Defines the data flags (shared by train and evaluate) on `flag_values`."""
  fv = flag_values
  d = cfg.DataConfig()
  _define(fv, "enum", "task", d.task, sorted(glue.TASKS), "The GLUE task.")
  _define(fv, "string", "glue_dir", None,
          "Directory in the GLUE TSV layout (<glue_dir>/MRPC/train.tsv, ...). Takes "
          "precedence over --tfds_data_dir.")
  _define(fv, "string", "tfds_data_dir", None,
          "TensorFlow Datasets directory holding glue/<task>, used when --glue_dir is "
          "not set.")
  _define(fv, "bool", "tfds_download", d.tfds_download,
          "Let TFDS download and prepare glue/<task> (needs internet).")
  _define(fv, "integer", "max_seq_length", d.max_seq_length,
          "Maximum number of tokens per example, [CLS] and [SEP]s included.")
  _define(fv, "integer", "batch_size", d.batch_size,
          "Training batch size (the teacher's, and the student's unless --student_batch_size).")
  _define(fv, "integer", "student_batch_size", d.student_batch_size,
          "The student's training batch size, if not --batch_size (0).")
  _define(fv, "integer", "bucket_width", d.bucket_width,
          "Batches group examples of similar length and are padded to a multiple of "
          "this many tokens (0: always pad to --max_seq_length).")
  _define(fv, "integer", "student_bucket_width", d.student_bucket_width,
          "The student's training batches' --bucket_width, if not --bucket_width (-1).")
  _define(fv, "integer", "max_train_examples", d.max_train_examples,
          "Use only the first N training examples (0: all).")
  _define(fv, "integer", "max_eval_examples", d.max_eval_examples,
          "Use only the first N evaluation examples (0: all).")
  _define(fv, "integer", "augment_factor", d.augment_factor,
          "Distil the student also on this many teacher-labelled copies of each training "
          "example, made afresh every student epoch (0: none).")
  _define(fv, "integer", "seed", d.seed, "Random seed for initialisation and shuffling.")


def define_train_flags(flag_values=flags.FLAGS):
  """Defines every flag of `python -m tf_sparsebert.train` on `flag_values`."""
  fv = flag_values
  define_data_flags(fv)
  t, p, k = cfg.TrainConfig(), cfg.PruningConfig(), cfg.DistillConfig()
  _define(fv, "string", "output_dir", None, "Directory for the run's outputs; must not exist yet "
          "(or be empty) unless --overwrite.")
  _define(fv, "bool", "overwrite", t.overwrite, "Replace an existing --output_dir.")
  _define(fv, "bool", "export_tflite", t.export_tflite,
          "After training, export the student to verified TFLite files in output_dir/tflite.")
  _define(fv, "string", "mediapipe_python", t.mediapipe_python,
          "With --export_tflite: python of a mediapipe venv (make .venv-mediapipe); also write "
          "and verify MediaPipe TextClassifier models (single-sentence tasks).")
  _define(fv, "string", "init_checkpoint", None,
          "Pretrained BERT: a Hugging Face BERT directory (config.json, "
          "model.safetensors, vocab.txt) or a keras-nlp preset name.")
  _define(fv, "string", "teacher_model", "", "A fine-tuned classifier saved by an earlier run "
          "(RUN/teacher or a .keras file); skips fine-tuning the teacher.")
  _define(fv, "enum", "student_init", t.student_init, list(cfg.STUDENT_INITS),
          "Initialise the student from the pretrained weights (the paper) or from the "
          "fine-tuned teacher (the fine-tune-then-prune baseline, with --alpha_ce=1 and the "
          "other --alpha_* 0).")
  _define(fv, "integer", "student_layers", t.student_layers,
          "A shallower student: the first N encoder layers of its source (0: all). Its hidden "
          "and attention losses then follow the teacher's layers N/L, 2N/L, ... (TinyBERT's "
          "uniform mapping).")
  _define(fv, "enum", "pooling", t.pooling, ["cls", "mean"],
          "Classifier input: cls (BERT's tanh pooler on [CLS], as keras-nlp's BertClassifier) "
          "or mean (masked mean over tokens; right for checkpoints trained with mean pooling, "
          "such as sentence-transformers' MiniLM).")
  _define(fv, "bool", "student_freeze_token_embedding", t.student_freeze_token_embedding,
          "Keep the student's token (word) embedding as it starts (it is never pruned): its "
          "vocabulary x hidden matrix, half of MiniLM-L6's weights, leaves the optimizer, so "
          "each step is faster. The saved student is trainable as usual.")
  for prefix, epochs, lr in (("teacher", 3, 5e-5), ("student", 3, 5e-5)):
    _define(fv, "integer", f"{prefix}_epochs", epochs, f"Epochs of {prefix} training.")
    _define(fv, "float", f"{prefix}_learning_rate", lr, f"Peak learning rate of the {prefix}.")
  _define(fv, "float", "target_sparsity", p.target_sparsity,
          "Final fraction of zeros in each pruned kernel, in [0, 1).")
  _define(fv, "integer", "pruning_end_step", p.end_step,
          "Student step where the target is reached, the ramp starting at step 0 (-1: the end "
          "of training; 0: pruned once at the first step, the mask then fixed, as in the "
          "prune-then-fine-tune baseline).")
  _define(fv, "integer", "pruning_frequency", p.frequency, "Steps between mask updates.")
  _define(fv, "list", "pruning_block_size", ["1", "1"],
          "Pruning block shape (rows,cols) of each kernel's [in, out] matrix: 1,1 is "
          "unstructured (smallest file, no speed-up in LiteRT); 16,1 is what LiteRT's sparse "
          "int8 kernels read directly.")
  _define(fv, "float", "head_sparsity", p.head_sparsity,
          "Fraction of each layer's attention heads removed whole, on the same ramp (smaller "
          "dense matrices: what makes a file faster on a phone); --target_sparsity then applies "
          "to the weights of the heads that stay.")
  _define(fv, "float", "neuron_sparsity", p.neuron_sparsity,
          "Fraction of each layer's FFN neurons removed whole, on the same ramp (as "
          "--head_sparsity).")
  _define(fv, "float", "alpha_kd", k.alpha_kd, "Weight of the logit (KL) distillation loss.")
  _define(fv, "float", "alpha_ce", k.alpha_ce, "Weight of the hard-label cross-entropy.")
  _define(fv, "float", "alpha_hidden", k.alpha_hidden, "Weight of the hidden-state MSE.")
  _define(fv, "float", "alpha_attention", k.alpha_attention, "Weight of the attention-score MSE.")
  _define(fv, "integer", "checkpoint_steps", t.checkpoint_steps,
          "Back up the training state (weights, masks, optimizer, data position) every N steps "
          "into output_dir/backup; rerunning the same command after a crash or kill resumes "
          "there (0: no backups).")
  dist = cfg.DistributeConfig()
  _define(fv, "enum", "distribution_strategy", dist.strategy, list(cfg.DISTRIBUTION_STRATEGIES),
          "tf.distribute strategy: one_device, mirrored (all local GPUs, or all logical CPUs), "
          "multi_worker_mirrored (workers from TF_CONFIG) or tpu (the TPU named by the TPU_NAME "
          "environment variable, or a TPU VM's own). --batch_size is the "
          "global batch, split over the replicas.")
  _define(fv, "integer", "num_cpu_devices", dist.num_cpu_devices,
          "Split the CPU into N logical devices (0: no split), e.g. to run "
          "--distribution_strategy=mirrored on a machine without accelerators.")


def data_config_from_flags(f):
  return cfg.DataConfig(
      task=f.task, glue_dir=f.glue_dir, tfds_data_dir=f.tfds_data_dir,
      tfds_download=f.tfds_download, max_seq_length=f.max_seq_length, batch_size=f.batch_size,
      student_batch_size=f.student_batch_size,
      bucket_width=f.bucket_width, student_bucket_width=f.student_bucket_width,
      max_train_examples=f.max_train_examples, max_eval_examples=f.max_eval_examples,
      augment_factor=f.augment_factor, seed=f.seed)


def block_size(values):
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ValueError(f"--pruning_block_size: expected two integers, got {values}") from None


def train_config_from_flags(f):
  """A validated `TrainConfig` from parsed flags (raises ValueError naming the bad flag)."""
  optimizers = {
      prefix: cfg.OptimizerConfig(
          learning_rate=getattr(f, f"{prefix}_learning_rate"),
          epochs=getattr(f, f"{prefix}_epochs"))
      for prefix in ("teacher", "student")}
  config = cfg.TrainConfig(
      output_dir=f.output_dir or "", init_checkpoint=f.init_checkpoint or "",
      teacher_model=f.teacher_model, student_init=f.student_init,
      student_layers=f.student_layers, pooling=f.pooling,
      student_freeze_token_embedding=f.student_freeze_token_embedding,
      overwrite=f.overwrite, export_tflite=f.export_tflite,
      mediapipe_python=f.mediapipe_python or "",
      data=data_config_from_flags(f),
      pruning=cfg.PruningConfig(
          target_sparsity=f.target_sparsity, end_step=f.pruning_end_step,
          frequency=f.pruning_frequency, block_size=block_size(f.pruning_block_size),
          head_sparsity=f.head_sparsity, neuron_sparsity=f.neuron_sparsity),
      distill=cfg.DistillConfig(alpha_kd=f.alpha_kd, alpha_ce=f.alpha_ce,
                                alpha_hidden=f.alpha_hidden, alpha_attention=f.alpha_attention),
      teacher_optimizer=optimizers["teacher"], student_optimizer=optimizers["student"],
      checkpoint_steps=f.checkpoint_steps,
      distribute=cfg.DistributeConfig(
          strategy=f.distribution_strategy, num_cpu_devices=f.num_cpu_devices,
          tpu=os.environ.get("TPU_NAME", "") if f.distribution_strategy == "tpu" else ""))
  return config.validate()


def check_flagfiles(argv):
  """Raises a clear error for a missing or self-including `--flagfile` in `argv`.

  absl warns about a circular flagfile and silently skips it; a run must not start with half
  of its flags missing.
  """
  def visit(path, chain):
    real = os.path.realpath(path)
    if real in chain:
      raise ValueError(f"--flagfile: {path} includes itself (via {' -> '.join(chain)})")
    if not os.path.isfile(path):
      raise FileNotFoundError(f"--flagfile: {path} does not exist")
    with open(path, encoding="utf-8") as f:
      for line in f:
        line = line.strip()
        if line.startswith("--flagfile="):  # absl reads nested paths as given (from the cwd)
          visit(line.split("=", 1)[1], chain + [real])

  for arg in argv[1:]:
    if arg.startswith("--flagfile="):
      visit(arg.split("=", 1)[1], [])
