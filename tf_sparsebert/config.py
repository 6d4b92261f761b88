"""Configuration dataclasses. Pure Python: no TensorFlow, no flags.

Each dataclass validates itself with `validate()`, which raises `ValueError` naming the flag
(field) that is wrong, so bad input is reported before any model is built or trained.
"""

import dataclasses
import json
import os
from typing import Optional, Tuple

DISTRIBUTION_STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
STUDENT_INITS = ("pretrained", "teacher")


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
    for name in ("layer_norm_epsilon", "initializer_range"):
      _check(getattr(self, name) > 0, name, f"must be positive, got {getattr(self, name)}")
    return self

  @classmethod
  def from_bert_json(cls, fields, config_path, activations):
    """From the fields HF `config.json` and Google's `bert_config.json` share.

    `activations` maps the file's `hidden_act` names to ours (the two files mean different GELUs
    by "gelu"). Errors name `config_path` and `--init_checkpoint`.
    """
    where = f"--init_checkpoint: {config_path}"
    if not isinstance(fields, dict):
      raise ValueError(f"{where}: is not a JSON object")

    def integer(key, default=None):
      value = fields[key] if default is None else fields.get(key, default)
      if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
      return value

    def number(key, default):
      value = fields.get(key, default)
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
      return float(value)

    act = fields.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in activations:
      raise ValueError(f"{where}: unsupported hidden_act {act!r}")
    if fields.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError(f"{where}: only absolute position embeddings.")
    try:
      config = cls(
          vocabulary_size=integer("vocab_size"), num_layers=integer("num_hidden_layers"),
          num_heads=integer("num_attention_heads"), hidden_dim=integer("hidden_size"),
          intermediate_dim=integer("intermediate_size"),
          max_sequence_length=integer("max_position_embeddings", 512),
          num_segments=integer("type_vocab_size", 2),
          dropout=number("hidden_dropout_prob", 0.1),
          attention_dropout=number("attention_probs_dropout_prob", 0.1),
          layer_norm_epsilon=number("layer_norm_eps", 1e-12),
          initializer_range=number("initializer_range", 0.02),
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
  eval_batch_size: int = 64             # no flag: speed only
  bucket_width: int = 32                # batches are padded to a multiple of this (0: no bucketing)
  student_bucket_width: int = -1        # the student's training batches' (-1: bucket_width)
  max_train_examples: int = 0           # 0: all
  max_eval_examples: int = 0            # 0: all
  augment_factor: int = 0               # teacher-labelled copies per training example, made
                                        # afresh every student epoch (data.augment)
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
    return self


@dataclasses.dataclass
class PruningConfig:
  """Magnitude pruning of the six encoder kernels with tfmot's cubic schedule.

  `end_step == begin_step` prunes once, at that step, to the target and keeps the mask fixed
  afterwards (prune-then-fine-tune); otherwise the sparsity ramps from 0 at `begin_step` to the
  target at `end_step` (-1: the last training step, as in the paper). `head_sparsity` and
  `neuron_sparsity` remove that fraction of each layer's attention heads and FFN neurons whole,
  on the same ramp (`pruning.structured`); `target_sparsity` then applies to the weights of the
  heads and neurons that stay. `begin_step` has no flag: every recipe starts at 0.
  """

  target_sparsity: float = 0.9
  begin_step: int = 0
  end_step: int = -1
  frequency: int = 10
  block_size: Tuple[int, int] = (1, 1)
  head_sparsity: float = 0.0
  neuron_sparsity: float = 0.0

  @property
  def one_shot(self):
    return self.end_step == self.begin_step

  def validate(self):
    _check(0.0 <= self.target_sparsity < 1.0, "target_sparsity",
           f"must be in [0, 1), got {self.target_sparsity}")
    _check(self.begin_step >= 0, "pruning_end_step", f"the ramp's begin step must be >= 0, got "
           f"{self.begin_step}")
    _check(self.end_step == -1 or self.end_step >= self.begin_step, "pruning_end_step",
           f"must be >= the ramp's begin step ({self.begin_step}) or -1, got {self.end_step}")
    _check(self.frequency > 0, "pruning_frequency", "must be positive")
    for name in ("head_sparsity", "neuron_sparsity"):
      _check(0.0 <= getattr(self, name) < 1.0, name,
             f"must be in [0, 1), got {getattr(self, name)}")
    _check(len(self.block_size) == 2 and all(b >= 1 for b in self.block_size),
           "pruning_block_size", f"must be two positive integers, got {self.block_size}")
    return self


@dataclasses.dataclass
class DistillConfig:
  """Loss weights of the knowledge-aware distillation (SparseBERT / TinyBERT losses)."""

  alpha_kd: float = 1.0
  alpha_ce: float = 0.0
  alpha_hidden: float = 1.0
  alpha_attention: float = 1.0
  temperature: float = 1.0  # no flag: every recipe uses the paper's 1

  def validate(self):
    for name in ("alpha_kd", "alpha_ce", "alpha_hidden", "alpha_attention"):
      _check(getattr(self, name) >= 0, name, "must be >= 0")
    _check(self.alpha_kd + self.alpha_ce + self.alpha_hidden + self.alpha_attention > 0,
           "alpha_kd", "at least one loss weight must be positive")
    _check(self.temperature > 0, "temperature", "must be positive")
    return self


@dataclasses.dataclass
class OptimizerConfig:
  """AdamW with linear warm-up and linear decay (BERT fine-tuning).

  `warmup_fraction` and `weight_decay` have no flags: every recipe uses BERT's 0.1 and 0.01.
  """

  learning_rate: float = 5e-5
  epochs: int = 3
  warmup_fraction: float = 0.1
  weight_decay: float = 0.01

  def validate(self, prefix):
    _check(self.learning_rate > 0, f"{prefix}_learning_rate", "must be positive")
    _check(self.epochs > 0, f"{prefix}_epochs", "must be positive")
    _check(0.0 <= self.warmup_fraction < 1.0, f"{prefix}_optimizer.warmup_fraction",
           "must be in [0, 1)")
    _check(self.weight_decay >= 0, f"{prefix}_optimizer.weight_decay", "must be >= 0")
    return self


@dataclasses.dataclass
class DistributeConfig:
  """Which `tf.distribute` strategy trains the models (and on which devices)."""

  strategy: str = "one_device"
  # TPU name or grpc:// address for TPUClusterResolver; no flag: the CLI takes the TPU_NAME
  # environment variable, as TensorFlow's TPU tools do ("": a TPU VM's own TPU).
  tpu: str = ""
  num_cpu_devices: int = 0      # split the CPU into N logical devices (tf.distribute on a CPU)

  def validate(self):
    _check(self.strategy in DISTRIBUTION_STRATEGIES, "distribution_strategy",
           f"must be one of {DISTRIBUTION_STRATEGIES}, got {self.strategy!r}")
    _check(not self.tpu or self.strategy == "tpu", "distribution_strategy",
           f"TPU_NAME={self.tpu} is set; it needs --distribution_strategy=tpu")
    _check(self.num_cpu_devices >= 0, "num_cpu_devices", "must be >= 0")
    return self


@dataclasses.dataclass
class TrainConfig:
  """One run of the SparseBERT pipeline: teacher, pruned student, export of both."""

  output_dir: str = ""
  init_checkpoint: str = ""     # HF BERT directory or keras-nlp preset name
  teacher_model: str = ""       # a saved fine-tuned classifier (.keras or directory): skips stage 1
  student_init: str = "pretrained"  # or "teacher" (fine-tune-then-prune starts there)
  student_layers: int = 0       # >0: a shallower student made of the source's first N layers
  pooling: str = "cls"          # classifier input: "cls" (BERT pooler) or "mean" over tokens
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
    _check(self.student_layers >= 0, "student_layers", "must be >= 0")
    _check(self.pooling in ("cls", "mean"), "pooling",
           f"must be cls or mean, got {self.pooling!r}")
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
    return cls(**d)
