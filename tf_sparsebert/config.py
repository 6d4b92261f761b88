"""Configuration dataclasses. Pure Python: no TensorFlow, no flags.

Each dataclass validates itself with `validate()`, which raises `ValueError` naming the flag
(field) that is wrong, so bad input is reported before any model is built or trained.
"""

import dataclasses
import json
import os
from typing import Dict, Optional, Tuple

# How the student is made and trained (the paper's comparison, Section 4):
#   sparsebert          from --student_init, pruned on the cubic schedule while it distils
#                       (--alpha_* losses, --augment_factor copies): knowledge-aware pruning;
#   finetune_then_prune from the fine-tuned teacher, pruned on the same schedule with the
#                       hard-label cross-entropy only;
#   prune_then_finetune the pretrained weights pruned once by magnitude to the target, then
#                       fine-tuned with that mask fixed, hard-label cross-entropy only.
STRATEGIES = ("sparsebert", "finetune_then_prune", "prune_then_finetune")
DISTRIBUTION_STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
STUDENT_INITS = ("pretrained", "teacher")
AUGMENT_POLICIES = ("noise", "neighbours")  # tf_sparsebert.data.augment.POLICIES


def differences(saved, current, prefix=""):
  """Dotted names of the settings in which two `TrainConfig.to_dict()`s (or JSON of them) differ."""
  out = []
  for k in sorted(set(saved) | set(current)):
    a, b = saved.get(k), current.get(k)
    if isinstance(a, dict) and isinstance(b, dict):
      out += differences(a, b, f"{prefix}{k}.")
    elif a != b:
      out.append(f"{prefix}{k}")
  return out


# Settings that say where a run writes or what it reads, not what it trains.
NOT_THE_RECIPE = ("output_dir", "teacher_model", "checkpoint_steps", "overwrite")


def normalized(d):
  """A `TrainConfig.to_dict()` as JSON holds it, settings added since it was written at their
  defaults (if it has one this version no longer has, as it is)."""
  try:
    d = TrainConfig.from_dict(d).to_dict()
  except TypeError:
    pass
  return json.loads(json.dumps(d))


def recipe(d):
  """What a run with config `d` trains: `normalized(d)` without the `NOT_THE_RECIPE` settings."""
  return {k: v for k, v in normalized(d).items() if k not in NOT_THE_RECIPE}


def recipe_differences(saved, current):
  """`differences` between two runs' configs in what they train (not where they write or read)."""
  return differences(recipe(saved), recipe(current))


def _check(condition, field, message):
  if not condition:
    raise ValueError(f"--{field}: {message}")


@dataclasses.dataclass
class ModelConfig:
  """BERT architecture (the fields of a Hugging Face BERT `config.json`)."""

  vocabulary_size: int = 30522
  num_layers: int = 12
  num_heads: int = 12
  hidden_dim: int = 768
  intermediate_dim: int = 3072
  max_sequence_length: int = 512
  num_segments: int = 2
  dropout: float = 0.1
  attention_dropout: float = 0.1
  layer_norm_epsilon: float = 1e-12
  initializer_range: float = 0.02
  activation: str = "gelu"  # "gelu" (exact, erf; HF BERT) or "gelu_approximate" (tanh; Google BERT)

  def validate(self):
    for name in ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                 "intermediate_dim", "max_sequence_length", "num_segments"):
      _check(getattr(self, name) > 0, name, f"must be positive, got {getattr(self, name)}")
    _check(self.hidden_dim % self.num_heads == 0, "num_heads",
           f"hidden_dim {self.hidden_dim} is not divisible by num_heads {self.num_heads}")
    _check(self.activation in ("gelu", "gelu_approximate"), "activation",
           f"must be gelu or gelu_approximate, got {self.activation!r}")
    for name in ("dropout", "attention_dropout"):
      _check(0.0 <= getattr(self, name) < 1.0, name, "must be in [0, 1)")
    return self

  @classmethod
  def from_bert_json(cls, fields, config_path, activations):
    """From the fields HF `config.json` and Google's `bert_config.json` share.

    `activations` maps the file's `hidden_act` names to ours (the two files mean different GELUs
    by "gelu"). Errors name `config_path` and `--init_checkpoint`.
    """
    where = f"--init_checkpoint: {config_path}"
    act = fields.get("hidden_act", "gelu")
    if act not in activations:
      raise ValueError(f"{where}: unsupported hidden_act {act!r}")
    if fields.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError(f"{where}: only absolute position embeddings.")
    try:
      config = cls(
          vocabulary_size=int(fields["vocab_size"]), num_layers=int(fields["num_hidden_layers"]),
          num_heads=int(fields["num_attention_heads"]), hidden_dim=int(fields["hidden_size"]),
          intermediate_dim=int(fields["intermediate_size"]),
          max_sequence_length=int(fields.get("max_position_embeddings", 512)),
          num_segments=int(fields.get("type_vocab_size", 2)),
          dropout=float(fields.get("hidden_dropout_prob", 0.1)),
          attention_dropout=float(fields.get("attention_probs_dropout_prob", 0.1)),
          layer_norm_epsilon=float(fields.get("layer_norm_eps", 1e-12)),
          initializer_range=float(fields.get("initializer_range", 0.02)),
          activation=activations[act])
    except KeyError as e:
      raise ValueError(f"--init_checkpoint: {config_path} lacks the field {e}") from None
    try:
      return config.validate()
    except ValueError as e:
      raise ValueError(f"{where}: {e}") from None


@dataclasses.dataclass
class DataConfig:
  """Where the GLUE task comes from and how it is tokenized and batched."""

  task: str = "mrpc"
  glue_dir: Optional[str] = None        # GLUE TSV layout: <glue_dir>/<TASK>/{train,dev}.tsv
  tfds_data_dir: Optional[str] = None   # TFDS glue/<task>, used when glue_dir is not set
  tfds_download: bool = False
  max_seq_length: int = 128
  batch_size: int = 32
  student_batch_size: int = 0           # the student's training batch (0: batch_size)
  eval_batch_size: int = 64
  bucket_width: int = 32                # batches are padded to a multiple of this (0: no bucketing)
  student_bucket_width: int = -1        # the student's training batches' (-1: bucket_width)
  max_train_examples: int = 0           # 0: all
  max_eval_examples: int = 0            # 0: all
  augment_factor: int = 0               # teacher-labelled noisy copies per training example
  augment_policy: str = "noise"         # noise: mask/random word/delete; neighbours: TinyBERT's
                                        # word replacement by nearest words of the embeddings
  augment_each_epoch: bool = False      # fresh copies every student epoch (else one fixed set)
  transfer_tasks: Tuple[str, ...] = ()  # unlabelled training inputs of these GLUE tasks (transfer)
  seed: int = 42

  @property
  def student_width(self):
    """The bucket width of the student's training batches."""
    return self.bucket_width if self.student_bucket_width < 0 else self.student_bucket_width

  def validate(self):
    from tf_sparsebert.data import glue  # pure Python registry
    _check(self.task in glue.TASKS, "task",
           f"unknown task {self.task!r}; choose one of {sorted(glue.TASKS)}")
    _check(bool(self.glue_dir) or bool(self.tfds_data_dir) or self.tfds_download, "glue_dir",
           "set --glue_dir (GLUE TSV files) or --tfds_data_dir (TFDS glue data)")
    _check(self.max_seq_length >= 8, "max_seq_length", f"must be >= 8, got {self.max_seq_length}")
    _check(self.batch_size > 0, "batch_size", "must be positive")
    _check(self.student_batch_size >= 0, "student_batch_size",
           f"must be >= 0 (0: --batch_size), got {self.student_batch_size}")
    _check(self.eval_batch_size > 0, "eval_batch_size", "must be positive")
    _check(self.bucket_width >= 0, "bucket_width", "must be >= 0")
    _check(self.student_bucket_width >= -1, "student_bucket_width",
           f"must be >= -1 (-1: --bucket_width), got {self.student_bucket_width}")
    _check(self.max_train_examples >= 0, "max_train_examples", "must be >= 0")
    _check(self.max_eval_examples >= 0, "max_eval_examples", "must be >= 0")
    _check(self.augment_factor >= 0, "augment_factor", "must be >= 0")
    _check(self.augment_policy in AUGMENT_POLICIES, "augment_policy",
           f"must be one of {AUGMENT_POLICIES}, got {self.augment_policy!r}")
    for name in self.transfer_tasks:
      _check(name in glue.TASKS and name != self.task, "transfer_tasks",
             f"{name!r} is not a GLUE task other than {self.task}; choose from "
             f"{sorted(set(glue.TASKS) - {self.task})}")
      _check(glue.TASKS[name].is_pair == glue.TASKS[self.task].is_pair, "transfer_tasks",
             f"{name} has {len(glue.TASKS[name].text_columns)} text column(s), "
             f"{self.task} has {len(glue.TASKS[self.task].text_columns)}")
    return self


@dataclasses.dataclass
class PruningConfig:
  """Magnitude pruning of the six encoder kernels with tfmot's cubic schedule."""

  target_sparsity: float = 0.9
  begin_step: int = 0
  end_step: int = -1          # -1: the last training step (the paper prunes over all of training)
  frequency: int = 10
  power: float = 3.0
  block_size: Tuple[int, int] = (1, 1)
  lr_rewind: bool = False     # restart the student's learning-rate schedule at end_step
  # {kernel: sparsity} for some of the six kernels; the others then end at the sparsity that
  # keeps the overall target (tf_sparsebert.pruning.allocation). Empty: all six alike.
  kernel_sparsity: Dict[str, float] = dataclasses.field(default_factory=dict)

  def validate(self):
    _check(0.0 <= self.target_sparsity < 1.0, "target_sparsity",
           f"must be in [0, 1), got {self.target_sparsity}")
    _check(self.begin_step >= 0, "pruning_begin_step", "must be >= 0")
    _check(self.end_step == -1 or self.end_step > self.begin_step, "pruning_end_step",
           f"must be > --pruning_begin_step ({self.begin_step}) or -1, got {self.end_step}")
    _check(self.frequency > 0, "pruning_frequency", "must be positive")
    _check(self.power > 0, "pruning_power", "must be positive")
    _check(len(self.block_size) == 2 and all(b >= 1 for b in self.block_size),
           "pruning_block_size", f"must be two positive integers, got {self.block_size}")
    return self  # kernel_sparsity is checked against the model's kernels (pruning.allocation)


@dataclasses.dataclass
class DistillConfig:
  """Loss weights of the knowledge-aware distillation (SparseBERT / TinyBERT losses)."""

  alpha_kd: float = 1.0
  alpha_ce: float = 0.0
  alpha_hidden: float = 1.0
  alpha_attention: float = 1.0
  temperature: float = 1.0
  # From this student step on, only the prediction-layer losses (KD, CE) train the student, as in
  # TinyBERT's second stage; -1: the hidden and attention losses count to the end.
  intermediate_end_step: int = -1

  def validate(self):
    for name in ("alpha_kd", "alpha_ce", "alpha_hidden", "alpha_attention"):
      _check(getattr(self, name) >= 0, name, "must be >= 0")
    _check(self.intermediate_end_step == -1 or self.intermediate_end_step > 0,
           "intermediate_loss_end_step", f"must be -1 or > 0, got {self.intermediate_end_step}")
    _check(self.intermediate_end_step == -1 or self.alpha_kd + self.alpha_ce > 0,
           "intermediate_loss_end_step", "needs --alpha_kd or --alpha_ce > 0 to train on after it")
    _check(self.alpha_kd + self.alpha_ce + self.alpha_hidden + self.alpha_attention > 0,
           "alpha_kd", "at least one loss weight must be positive")
    _check(self.temperature > 0, "temperature", "must be positive")
    return self


@dataclasses.dataclass
class OptimizerConfig:
  """AdamW with linear warm-up and linear decay (BERT fine-tuning)."""

  learning_rate: float = 5e-5
  epochs: int = 3
  warmup_fraction: float = 0.1
  weight_decay: float = 0.01
  # Keras' `use_ema`: the weights a stage ends with are the exponential moving average of its
  # weights over the optimizer steps, with this momentum per step (0: off, the last weights).
  ema_momentum: float = 0.0

  def validate(self, prefix):
    _check(self.learning_rate > 0, f"{prefix}_learning_rate", "must be positive")
    _check(self.epochs > 0, f"{prefix}_epochs", "must be positive")
    _check(0.0 <= self.warmup_fraction < 1.0, f"{prefix}_warmup_fraction", "must be in [0, 1)")
    _check(self.weight_decay >= 0, f"{prefix}_weight_decay", "must be >= 0")
    _check(0.0 <= self.ema_momentum < 1.0, f"{prefix}_ema_momentum", "must be in [0, 1)")
    return self


@dataclasses.dataclass
class DistributeConfig:
  """Which `tf.distribute` strategy trains the models (and on which devices)."""

  strategy: str = "one_device"
  tpu: str = ""                 # TPU name or grpc:// address for TPUClusterResolver ("": local)
  num_cpu_devices: int = 0      # split the CPU into N logical devices (tf.distribute on a CPU)

  def validate(self):
    _check(self.strategy in DISTRIBUTION_STRATEGIES, "distribution_strategy",
           f"must be one of {DISTRIBUTION_STRATEGIES}, got {self.strategy!r}")
    _check(not self.tpu or self.strategy == "tpu", "tpu", "needs --distribution_strategy=tpu")
    _check(self.num_cpu_devices >= 0, "num_cpu_devices", "must be >= 0")
    return self


@dataclasses.dataclass
class StudentRecipe:
  """What `TrainConfig.strategy` makes of the student flags (see STRATEGIES)."""
  init: str                    # "pretrained" or "teacher"
  distill: DistillConfig       # loss weights
  augment_factor: int          # teacher-labelled copies per training example
  transfer_tasks: Tuple[str, ...]  # GLUE tasks whose unlabelled training inputs are distilled on
  one_shot: bool               # prune once at the first step and keep the mask (else the schedule)


@dataclasses.dataclass
class TrainConfig:
  """One run of the SparseBERT pipeline: teacher, pruned student, export of both."""

  output_dir: str = ""
  init_checkpoint: str = ""     # HF BERT directory or keras-nlp preset name
  teacher_model: str = ""       # a saved fine-tuned classifier (.keras or directory): skips stage 1
  student_init: str = "pretrained"
  strategy: str = "sparsebert"
  student_layers: int = 0       # >0: a shallower student made of the source's first N layers
  pooling: str = "cls"          # classifier input: "cls" (BERT pooler) or "mean" over tokens
  student_dropout: Optional[float] = None  # the student's dropout rate (None: its source's)
  student_freeze_token_embedding: bool = False  # the student's token embedding stays as initialised
  overwrite: bool = False
  export_tflite: bool = False   # stage 4: tf_sparsebert.export into output_dir/tflite
  mediapipe_python: str = ""    # with export_tflite: also MediaPipe TextClassifier models
  checkpoint_steps: int = 100   # training backups (resume after a kill) every N steps; 0: never
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  pruning: PruningConfig = dataclasses.field(default_factory=PruningConfig)
  distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)
  teacher_optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  student_optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)

  def validate(self):
    _check(bool(self.output_dir), "output_dir", "is required")
    _check(bool(self.init_checkpoint), "init_checkpoint", "is required")
    _check(self.student_init in STUDENT_INITS, "student_init",
           f"must be one of {STUDENT_INITS}, got {self.student_init!r}")
    _check(self.strategy in STRATEGIES, "strategy",
           f"must be one of {STRATEGIES}, got {self.strategy!r}")
    _check(self.student_layers >= 0, "student_layers", "must be >= 0")
    _check(self.pooling in ("cls", "mean"), "pooling",
           f"must be cls or mean, got {self.pooling!r}")
    _check(self.student_dropout is None or 0.0 <= self.student_dropout < 1.0, "student_dropout",
           f"must be in [0, 1), got {self.student_dropout}")
    _check(not self.mediapipe_python or self.export_tflite, "mediapipe_python",
           "needs --export_tflite")
    _check(not self.mediapipe_python or os.access(self.mediapipe_python, os.X_OK),
           "mediapipe_python", f"{self.mediapipe_python} is not an executable (make .venv-mediapipe)")
    _check(self.checkpoint_steps >= 0, "checkpoint_steps", "must be >= 0")
    self.data.validate()
    self.distribute.validate()
    for name in ("bucket_width", "student_bucket_width"):
      _check(self.distribute.strategy != "tpu" or getattr(self.data, name) <= 0, name,
             "must be 0 with --distribution_strategy=tpu (a TPU compiles one static input shape)")
    self.pruning.validate()
    self.distill.validate()
    self.teacher_optimizer.validate("teacher")
    self.student_optimizer.validate("student")
    return self

  def student_recipe(self):
    """The student's initialisation, losses, data and pruning mode under `strategy`."""
    if self.strategy == "sparsebert":
      return StudentRecipe(self.student_init, self.distill, self.data.augment_factor,
                           tuple(self.data.transfer_tasks), False)
    hard_labels = DistillConfig(alpha_kd=0.0, alpha_ce=1.0, alpha_hidden=0.0, alpha_attention=0.0)
    if self.strategy == "finetune_then_prune":
      return StudentRecipe("teacher", hard_labels, 0, (), False)
    return StudentRecipe("pretrained", hard_labels, 0, (), True)

  def to_dict(self):
    return dataclasses.asdict(self)

  def to_json(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, d):
    d = dict(d)
    nested = {"data": DataConfig, "pruning": PruningConfig, "distill": DistillConfig,
              "teacher_optimizer": OptimizerConfig, "student_optimizer": OptimizerConfig,
              "distribute": DistributeConfig}
    for key, klass in nested.items():
      if key in d:
        d[key] = klass(**d[key])
    if "pruning" in d:
      d["pruning"].block_size = tuple(d["pruning"].block_size)
    if "data" in d:
      d["data"].transfer_tasks = tuple(d["data"].transfer_tasks)
    return cls(**d)
