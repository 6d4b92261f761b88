"""absl flag definitions and their conversion to config dataclasses (the only reader of FLAGS)."""

from absl import flags

from tf_sparsebert import config as cfg
from tf_sparsebert.data import glue


def define_data_flags():
  d = cfg.DataConfig()
  flags.DEFINE_enum("task", d.task, sorted(glue.TASKS), "The GLUE task.")
  flags.DEFINE_string("glue_dir", None,
                      "Directory in the GLUE TSV layout (<glue_dir>/MRPC/train.tsv, ...). Takes "
                      "precedence over --tfds_data_dir.")
  flags.DEFINE_string("tfds_data_dir", None,
                      "TensorFlow Datasets directory holding glue/<task>, used when --glue_dir is "
                      "not set.")
  flags.DEFINE_bool("tfds_download", d.tfds_download,
                    "Let TFDS download and prepare glue/<task> (needs internet).")
  flags.DEFINE_integer("max_seq_length", d.max_seq_length,
                       "Maximum number of tokens per example, [CLS] and [SEP]s included.")
  flags.DEFINE_integer("batch_size", d.batch_size, "Training batch size.")
  flags.DEFINE_integer("eval_batch_size", d.eval_batch_size, "Evaluation batch size.")
  flags.DEFINE_integer("bucket_width", d.bucket_width,
                       "Batches group examples of similar length and are padded to a multiple of "
                       "this many tokens (0: always pad to --max_seq_length).")
  flags.DEFINE_integer("max_train_examples", d.max_train_examples,
                       "Use only the first N training examples (0: all).")
  flags.DEFINE_integer("max_eval_examples", d.max_eval_examples,
                       "Use only the first N evaluation examples (0: all).")
  flags.DEFINE_integer("seed", d.seed, "Random seed for initialisation and shuffling.")


def define_train_flags():
  define_data_flags()
  t, p, k, o = cfg.TrainConfig(), cfg.PruningConfig(), cfg.DistillConfig(), cfg.OptimizerConfig()
  flags.DEFINE_string("output_dir", None, "Directory for the run's outputs; must not exist yet "
                      "(or be empty) unless --overwrite.")
  flags.DEFINE_bool("overwrite", t.overwrite, "Replace an existing --output_dir.")
  flags.DEFINE_string("init_checkpoint", None,
                      "Pretrained BERT: a Hugging Face BERT directory (config.json, "
                      "model.safetensors, vocab.txt) or a keras-nlp preset name.")
  flags.DEFINE_string("teacher_model", "", "A fine-tuned classifier saved by an earlier run "
                      "(RUN/teacher or a .keras file); skips fine-tuning the teacher.")
  flags.DEFINE_enum("student_init", t.student_init, list(cfg.STUDENT_INITS),
                    "Initialise the student from the pretrained weights (the paper) or from the "
                    "fine-tuned teacher.")
  for prefix, epochs, lr in (("teacher", 3, 5e-5), ("student", 3, 5e-5)):
    flags.DEFINE_integer(f"{prefix}_epochs", epochs, f"Epochs of {prefix} training.")
    flags.DEFINE_float(f"{prefix}_learning_rate", lr, f"Peak learning rate of the {prefix}.")
    flags.DEFINE_float(f"{prefix}_warmup_fraction", o.warmup_fraction,
                       f"Fraction of {prefix} steps with linear warm-up.")
    flags.DEFINE_float(f"{prefix}_weight_decay", o.weight_decay, f"AdamW weight decay ({prefix}).")
  flags.DEFINE_float("target_sparsity", p.target_sparsity,
                     "Final fraction of zeros in each pruned kernel, in [0, 1).")
  flags.DEFINE_integer("pruning_begin_step", p.begin_step, "Student step where pruning starts.")
  flags.DEFINE_integer("pruning_end_step", p.end_step,
                       "Student step where the target is reached (-1: the end of training).")
  flags.DEFINE_integer("pruning_frequency", p.frequency, "Steps between mask updates.")
  flags.DEFINE_float("pruning_power", p.power, "Exponent of the sparsity schedule (3: cubic).")
  flags.DEFINE_list("pruning_block_size", ["1", "1"], "Pruning block shape (rows,cols).")
  flags.DEFINE_float("alpha_kd", k.alpha_kd, "Weight of the logit (KL) distillation loss.")
  flags.DEFINE_float("alpha_ce", k.alpha_ce, "Weight of the hard-label cross-entropy.")
  flags.DEFINE_float("alpha_hidden", k.alpha_hidden, "Weight of the hidden-state MSE.")
  flags.DEFINE_float("alpha_attention", k.alpha_attention, "Weight of the attention-score MSE.")
  flags.DEFINE_float("temperature", k.temperature, "Softmax temperature of the logit loss.")


def data_config_from_flags(f):
  return cfg.DataConfig(
      task=f.task, glue_dir=f.glue_dir, tfds_data_dir=f.tfds_data_dir,
      tfds_download=f.tfds_download, max_seq_length=f.max_seq_length, batch_size=f.batch_size,
      eval_batch_size=f.eval_batch_size, bucket_width=f.bucket_width,
      max_train_examples=f.max_train_examples, max_eval_examples=f.max_eval_examples, seed=f.seed)


def _block_size(values):
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ValueError(f"--pruning_block_size: expected two integers, got {values}") from None


def train_config_from_flags(f):
  """A validated `TrainConfig` from parsed flags (raises ValueError naming the bad flag)."""
  optimizers = {
      prefix: cfg.OptimizerConfig(
          learning_rate=getattr(f, f"{prefix}_learning_rate"),
          epochs=getattr(f, f"{prefix}_epochs"),
          warmup_fraction=getattr(f, f"{prefix}_warmup_fraction"),
          weight_decay=getattr(f, f"{prefix}_weight_decay"))
      for prefix in ("teacher", "student")}
  config = cfg.TrainConfig(
      output_dir=f.output_dir or "", init_checkpoint=f.init_checkpoint or "",
      teacher_model=f.teacher_model, student_init=f.student_init, overwrite=f.overwrite,
      data=data_config_from_flags(f),
      pruning=cfg.PruningConfig(
          target_sparsity=f.target_sparsity, begin_step=f.pruning_begin_step,
          end_step=f.pruning_end_step, frequency=f.pruning_frequency, power=f.pruning_power,
          block_size=_block_size(f.pruning_block_size)),
      distill=cfg.DistillConfig(alpha_kd=f.alpha_kd, alpha_ce=f.alpha_ce,
                                alpha_hidden=f.alpha_hidden, alpha_attention=f.alpha_attention,
                                temperature=f.temperature),
      teacher_optimizer=optimizers["teacher"], student_optimizer=optimizers["student"])
  return config.validate()
