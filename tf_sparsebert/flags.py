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
  _define(fv, "integer", "eval_batch_size", d.eval_batch_size, "Evaluation batch size.")
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
          "Distil the student also on this many teacher-labelled noisy copies (words masked, "
          "replaced or deleted) of each training example (0: none).")
  _define(fv, "enum", "augment_policy", d.augment_policy, list(cfg.AUGMENT_POLICIES),
          "How the copies are made: noise (10% of words masked, 10% replaced by random words "
          "of the corpus, 5% deleted) or neighbours (TinyBERT's word replacement: 40% of the "
          "words replaced by one of their 15 nearest words in the checkpoint's word embeddings).")
  _define(fv, "bool", "augment_each_epoch", d.augment_each_epoch,
          "Make fresh copies for every student epoch instead of one set seen every epoch.")
  _define(fv, "list", "transfer_tasks", list(d.transfer_tasks),
          "Distil the student also on the training inputs (not the labels) of these GLUE tasks "
          "with the same number of text columns, e.g. stsb for mrpc; examples sharing a sentence "
          "with the task's dev split are dropped.")
  _define(fv, "integer", "seed", d.seed, "Random seed for initialisation and shuffling.")


def define_train_flags(flag_values=flags.FLAGS):
  """Defines every flag of `python -m tf_sparsebert.train` on `flag_values`."""
  fv = flag_values
  define_data_flags(fv)
  t, p, k, o = cfg.TrainConfig(), cfg.PruningConfig(), cfg.DistillConfig(), cfg.OptimizerConfig()
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
          "fine-tuned teacher.")
  _define(fv, "enum", "strategy", t.strategy, list(cfg.STRATEGIES),
          "How the student is pruned: sparsebert (prune while distilling, the paper's method), "
          "finetune_then_prune (from the fine-tuned teacher, pruned on the same schedule with "
          "hard labels only) or prune_then_finetune (pretrained weights pruned once to the "
          "target, then fine-tuned with the mask fixed). The last two ignore --alpha_*, "
          "--augment_factor and --student_init.")
  _define(fv, "integer", "student_layers", t.student_layers,
          "A shallower student: the first N encoder layers of its source (0: all). Its hidden "
          "and attention losses then follow the teacher's layers N/L, 2N/L, ... (TinyBERT's "
          "uniform mapping).")
  _define(fv, "enum", "pooling", t.pooling, ["cls", "mean"],
          "Classifier input: cls (BERT's tanh pooler on [CLS], as keras-nlp's BertClassifier) "
          "or mean (masked mean over tokens; right for checkpoints trained with mean pooling, "
          "such as sentence-transformers' MiniLM).")
  _define(fv, "float", "student_dropout", None,
          "The student's dropout rate (embeddings, every encoder layer, classifier head); "
          "unset: the rates of the model it starts from (0.1 for BERT checkpoints).")
  _define(fv, "bool", "student_freeze_token_embedding", t.student_freeze_token_embedding,
          "Keep the student's token (word) embedding as it starts (it is never pruned): its "
          "vocabulary x hidden matrix, half of MiniLM-L6's weights, leaves the optimizer, so "
          "each step is faster. The saved student is trainable as usual.")
  for prefix, epochs, lr in (("teacher", 3, 5e-5), ("student", 3, 5e-5)):
    _define(fv, "integer", f"{prefix}_epochs", epochs, f"Epochs of {prefix} training.")
    _define(fv, "float", f"{prefix}_learning_rate", lr, f"Peak learning rate of the {prefix}.")
    _define(fv, "float", f"{prefix}_warmup_fraction", o.warmup_fraction,
            f"Fraction of {prefix} steps with linear warm-up.")
    _define(fv, "float", f"{prefix}_weight_decay", o.weight_decay, f"AdamW weight decay ({prefix}).")
    _define(fv, "float", f"{prefix}_ema_momentum", o.ema_momentum,
            f"If > 0, the {prefix} ends with the exponential moving average of its weights over "
            "the steps, with this momentum per step (Keras' use_ema); 0: its last weights.")
  _define(fv, "float", "target_sparsity", p.target_sparsity,
          "Final fraction of zeros in each pruned kernel, in [0, 1).")
  _define(fv, "integer", "pruning_begin_step", p.begin_step, "Student step where pruning starts.")
  _define(fv, "integer", "pruning_end_step", p.end_step,
          "Student step where the target is reached (-1: the end of training).")
  _define(fv, "integer", "pruning_frequency", p.frequency, "Steps between mask updates.")
  _define(fv, "float", "pruning_power", p.power, "Exponent of the sparsity schedule (3: cubic).")
  _define(fv, "list", "pruning_block_size", ["1", "1"], "Pruning block shape (rows,cols).")
  _define(fv, "list", "kernel_sparsity", [],
          "Per-kernel final sparsity for some of query, key, value, attention_output, "
          "intermediate, output, e.g. query=0.8,key=0.8; the other kernels then end at the "
          "sparsity that keeps --target_sparsity overall (same schedule, scaled). Empty: all "
          "six at --target_sparsity, as in the paper.")
  _define(fv, "bool", "pruning_lr_rewind", p.lr_rewind,
          "Learning-rate rewinding (Renda et al. 2020): when the ramp ends at "
          "--pruning_end_step, restart the student's warm-up and linear decay, so the steps at "
          "the final sparsity train at full rate instead of the tail of one decay.")
  _define(fv, "float", "alpha_kd", k.alpha_kd, "Weight of the logit (KL) distillation loss.")
  _define(fv, "float", "alpha_ce", k.alpha_ce, "Weight of the hard-label cross-entropy.")
  _define(fv, "float", "alpha_hidden", k.alpha_hidden, "Weight of the hidden-state MSE.")
  _define(fv, "float", "alpha_attention", k.alpha_attention, "Weight of the attention-score MSE.")
  _define(fv, "float", "temperature", k.temperature, "Softmax temperature of the logit loss.")
  _define(fv, "integer", "intermediate_loss_end_step", k.intermediate_end_step,
          "From this student step on, train on the prediction-layer losses (KD, CE) only, as in "
          "TinyBERT's second stage (-1: the hidden and attention losses count to the end).")
  _define(fv, "integer", "checkpoint_steps", t.checkpoint_steps,
          "Back up the training state (weights, masks, optimizer, data position) every N steps "
          "into output_dir/backup; rerunning the same command after a crash or kill resumes "
          "there (0: no backups).")
  dist = cfg.DistributeConfig()
  _define(fv, "enum", "distribution_strategy", dist.strategy, list(cfg.DISTRIBUTION_STRATEGIES),
          "tf.distribute strategy: one_device, mirrored (all local GPUs, or all logical CPUs), "
          "multi_worker_mirrored (workers from TF_CONFIG) or tpu (--tpu). --batch_size is the "
          "global batch, split over the replicas.")
  _define(fv, "string", "tpu", dist.tpu, "With --distribution_strategy=tpu: the TPU name or "
          "grpc:// address (empty: a TPU VM's local TPU).")
  _define(fv, "integer", "num_cpu_devices", dist.num_cpu_devices,
          "Split the CPU into N logical devices (0: no split), e.g. to run "
          "--distribution_strategy=mirrored on a machine without accelerators.")


def data_config_from_flags(f):
  return cfg.DataConfig(
      task=f.task, glue_dir=f.glue_dir, tfds_data_dir=f.tfds_data_dir,
      tfds_download=f.tfds_download, max_seq_length=f.max_seq_length, batch_size=f.batch_size,
      student_batch_size=f.student_batch_size, eval_batch_size=f.eval_batch_size,
      bucket_width=f.bucket_width, student_bucket_width=f.student_bucket_width,
      max_train_examples=f.max_train_examples, max_eval_examples=f.max_eval_examples,
      augment_factor=f.augment_factor, augment_policy=f.augment_policy,
      augment_each_epoch=f.augment_each_epoch, transfer_tasks=tuple(f.transfer_tasks or ()),
      seed=f.seed)


def _block_size(values):
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ValueError(f"--pruning_block_size: expected two integers, got {values}") from None


def _kernel_sparsity(values):
  out = {}
  for item in values or ():
    name, _, value = item.partition("=")
    try:
      out[name.strip()] = float(value)
    except ValueError:
      raise ValueError(f"--kernel_sparsity: expected kernel=sparsity items, got {item!r}") from None
  return out


def train_config_from_flags(f):
  """A validated `TrainConfig` from parsed flags (raises ValueError naming the bad flag)."""
  optimizers = {
      prefix: cfg.OptimizerConfig(
          learning_rate=getattr(f, f"{prefix}_learning_rate"),
          epochs=getattr(f, f"{prefix}_epochs"),
          warmup_fraction=getattr(f, f"{prefix}_warmup_fraction"),
          weight_decay=getattr(f, f"{prefix}_weight_decay"),
          ema_momentum=getattr(f, f"{prefix}_ema_momentum"))
      for prefix in ("teacher", "student")}
  config = cfg.TrainConfig(
      output_dir=f.output_dir or "", init_checkpoint=f.init_checkpoint or "",
      teacher_model=f.teacher_model, student_init=f.student_init, strategy=f.strategy,
      student_layers=f.student_layers, pooling=f.pooling, student_dropout=f.student_dropout,
      student_freeze_token_embedding=f.student_freeze_token_embedding,
      overwrite=f.overwrite, export_tflite=f.export_tflite,
      mediapipe_python=f.mediapipe_python or "",
      data=data_config_from_flags(f),
      pruning=cfg.PruningConfig(
          target_sparsity=f.target_sparsity, begin_step=f.pruning_begin_step,
          end_step=f.pruning_end_step, frequency=f.pruning_frequency, power=f.pruning_power,
          block_size=_block_size(f.pruning_block_size), lr_rewind=f.pruning_lr_rewind,
          kernel_sparsity=_kernel_sparsity(f.kernel_sparsity)),
      distill=cfg.DistillConfig(alpha_kd=f.alpha_kd, alpha_ce=f.alpha_ce,
                                alpha_hidden=f.alpha_hidden, alpha_attention=f.alpha_attention,
                                temperature=f.temperature,
                                intermediate_end_step=f.intermediate_loss_end_step),
      teacher_optimizer=optimizers["teacher"], student_optimizer=optimizers["student"],
      checkpoint_steps=f.checkpoint_steps,
      distribute=cfg.DistributeConfig(strategy=f.distribution_strategy, tpu=f.tpu or "",
                                      num_cpu_devices=f.num_cpu_devices))
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
