"""Time of one distill+prune step (MiniLM teacher and student) under CPU settings, as JSON.

  .venv/bin/python benchmarks/step_time.py [--seq_len=96] [--steps=30]

The step is `Distiller.train_step` of experiments/configs/mrpc_core.flags' models (MiniLM-L6
teacher, pruned
MiniLM-L6 student, KD + CE + hidden + attention losses, mask updates every 10 steps) on
fixed-shape batches of random token ids (the time does not depend on the ids), or, for the
`mrpc_*` settings, on the real training pipeline: the same `--examples` MRPC training pairs (a
seeded sample) in length-bucketed batches cut to `bucket_width` as `tf_sparsebert.train` makes
them, one pass, after one untimed batch of every shape. Each setting runs in its own process,
because TensorFlow reads its thread and oneDNN settings when it starts:

  default            what `python -m tf_sparsebert.train` does at batch 16
  default_batch8     the same at batch 8
  xla                `Distiller.compile(jit_compile=True)`
  mixed_bfloat16     Keras' mixed_bfloat16 policy (the CPU's AVX-512 BF16, where it has it)
  interop_1          TF_NUM_INTEROP_THREADS=1
  onednn_off         TF_ENABLE_ONEDNN_OPTS=0
  frozen_token_embedding_batch8
                     batch 8 with --student_freeze_token_embedding (the student's 30522 x 384
                     word embedding out of the optimizer)
  default_again      `default` once more, last: how much the machine drifted during the run
  default_batch8_again
                     `default_batch8` once more
  mrpc_batch8        real MRPC pairs at batch 8, bucket width 32 (configs/mrpc.flags' student)
  mrpc_batch8_width16, mrpc_batch8_width8
                     the same, batches cut to multiples of 16 or 8 tokens (less padding, more
                     shapes)
  mrpc_batch8_frozen the same at width 32 with the word embedding frozen
  mrpc_batch8_again  `mrpc_batch8` once more

`--settings` times some of them, in the given order; the first is the baseline. The first 5 steps
(tracing; of the mrpc_* settings one batch of each shape) are not timed. Run it on an otherwise
idle machine. Writes `--output` (benchmarks/results/step_time.json): ms per step, examples per
second and that speed as a ratio to the mean of the baseline's measurements in the same run (it
and `<baseline>_again`), and for the mrpc_* settings the padded tokens per example.

  .venv/bin/python benchmarks/step_time.py --settings=mrpc_batch8,mrpc_batch8_width16,\
      mrpc_batch8_width8,mrpc_batch8_frozen,mrpc_batch8_again \
      --output=benchmarks/results/step_time_mrpc.json
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = os.path.join(REPO, "benchmarks", "results", "step_time.json")
WARMUP = 5


@dataclasses.dataclass(frozen=True)
class Setting:
  batch_size: int = 16
  env: dict = dataclasses.field(default_factory=dict)  # extra environment of the process
  jit_compile: bool = False
  policy: str = None                                    # Keras dtype policy
  freeze_token_embedding: bool = False                  # the student's word embedding
  bucket_width: int = 0                                 # >0: real MRPC pairs, this bucketing


SETTINGS = {
    "default": Setting(),
    "default_batch8": Setting(batch_size=8),
    "xla": Setting(jit_compile=True),
    "mixed_bfloat16": Setting(policy="mixed_bfloat16"),
    "interop_1": Setting(env={"TF_NUM_INTEROP_THREADS": "1"}),
    "onednn_off": Setting(env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "frozen_token_embedding_batch8": Setting(batch_size=8, freeze_token_embedding=True),
    "default_again": Setting(),  # the machine's drift over the run
    "default_batch8_again": Setting(batch_size=8),
    "mrpc_batch8": Setting(batch_size=8, bucket_width=32),
    "mrpc_batch8_width16": Setting(batch_size=8, bucket_width=16),
    "mrpc_batch8_width8": Setting(batch_size=8, bucket_width=8),
    "mrpc_batch8_frozen": Setting(batch_size=8, bucket_width=32, freeze_token_embedding=True),
    "mrpc_batch8_again": Setting(batch_size=8, bucket_width=32),
}
DEFAULT_ORDER = ["default", "default_batch8", "xla", "mixed_bfloat16", "interop_1", "onednn_off",
                 "default_again"]

flags.DEFINE_integer("seq_len", 96, "Tokens per example (MRPC's pairs are bucketed to 32-128).")
flags.DEFINE_integer("steps", 30, "Timed steps per setting, after the warm-up steps.")
flags.DEFINE_integer("examples", 800, "MRPC training pairs timed by the mrpc_* settings.")
flags.DEFINE_list("settings", DEFAULT_ORDER, "Settings to time, in this order; the first is the "
                  "baseline of the speed ratios.")
flags.DEFINE_string("output", RESULT, "The JSON file to write.")
flags.DEFINE_string("child", None, "Internal: run one setting and print its ms per step.")


def _batches(setting, config, preprocessor, seq_len, steps, examples):
  """(untimed warm-up batches, timed batches), each a list of (features, labels)."""
  import numpy as np  # noqa: PLC0415
  import tensorflow as tf  # noqa: PLC0415
  from tf_sparsebert.data import glue, preprocessing  # noqa: PLC0415

  if not setting.bucket_width:  # one shape: random ids
    rng = tf.random.Generator.from_seed(0)
    n = setting.batch_size
    batches = [({"token_ids": rng.uniform([n, seq_len], 1000, 30000, tf.int32),
                 "segment_ids": tf.zeros([n, seq_len], tf.int32),
                 "padding_mask": tf.ones([n, seq_len], tf.bool)},
                rng.uniform([n], 0, 2, tf.int32)) for _ in range(WARMUP + steps)]
    return batches[:WARMUP], batches[WARMUP:]
  train = glue.load_split(config.data, "train")
  features = preprocessing.tokenize(train, preprocessor)
  pick = np.random.default_rng(0).permutation(len(train.labels))[:examples]
  ds, _ = preprocessing.make_dataset({k: v[pick] for k, v in features.items()},
                                     train.labels[pick], setting.batch_size, training=True,
                                     seed=0, bucket_width=setting.bucket_width)
  timed = list(ds)  # one pass, as an epoch of tf_sparsebert.train batches it
  first_of_width = {}
  for x, y in timed:
    first_of_width.setdefault(int(x["token_ids"].shape[1]), (x, y))
  return list(first_of_width.values()), timed


def run_setting(name, seq_len, steps, examples):
  """Runs in the child process: builds experiments/configs/mrpc_core.flags' models and times its batches.

  Returns {"seconds", "steps", "examples", "tokens"} of the timed batches (tokens: padded).
  """
  sys.path.insert(0, REPO)
  os.chdir(REPO)  # the flagfiles name paths relative to the repository root
  import tf_sparsebert  # noqa: PLC0415
  import tensorflow as tf  # noqa: PLC0415
  import tensorflow_model_optimization as tfmot  # noqa: PLC0415
  from tf_sparsebert import flags as tsb_flags  # noqa: PLC0415
  from tf_sparsebert.pruning import schedules  # noqa: PLC0415

  recipe = flags.FlagValues()
  tsb_flags.define_train_flags(recipe)
  recipe(["step_time", "--flagfile=experiments/configs/mrpc_core.flags"])
  config = tsb_flags.train_config_from_flags(recipe)
  setting = SETTINGS[name]
  if setting.policy:
    tf.keras.mixed_precision.set_global_policy(setting.policy)

  def classifier(name):
    backbone, preprocessor = tf_sparsebert.load_bert(config.init_checkpoint,
                                                     config.data.max_seq_length)
    return tf_sparsebert.bert_classifier(backbone, 2, pooling=config.pooling,
                                         name=name), preprocessor

  # The recipe's ramp (to --pruning_end_step), of which only the first steps are timed.
  ramp = schedules.cubic_schedule(config.pruning, total_steps=config.pruning.end_step)
  source, preprocessor = classifier("student")
  student = tf_sparsebert.make_sparse_student(source, schedule=ramp)
  student.get_layer("token_embedding").trainable = not setting.freeze_token_embedding
  distiller = tf_sparsebert.Distiller(student=student, teacher=classifier("teacher")[0],
                                      **dataclasses.asdict(config.distill))
  distiller.compile(optimizer=tf.keras.optimizers.Adam(1e-4), jit_compile=setting.jit_compile)
  warm, timed = _batches(setting, config, preprocessor, seq_len, steps, examples)
  batches = warm + timed
  spec = tf.nest.map_structure(lambda t: tf.TensorSpec([None] * t.shape.rank, t.dtype),
                               batches[0])
  data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)
  marks = {}

  class Clock(tf.keras.callbacks.Callback):
    def on_train_batch_end(self, step, logs=None):
      if step in (len(warm) - 1, len(batches) - 1):
        marks[step] = time.perf_counter()

  distiller.fit(data, steps_per_epoch=len(batches), epochs=1, verbose=0,
                callbacks=[Clock(), tfmot.sparsity.keras.UpdatePruningStep()])
  return {"seconds": marks[len(batches) - 1] - marks[len(warm) - 1], "steps": len(timed),
          "examples": sum(int(y.shape[0]) for _, y in timed),
          "tokens": sum(int(x["token_ids"].shape[0] * x["token_ids"].shape[1])
                        for x, _ in timed)}


def main(argv):
  del argv
  f = flags.FLAGS
  if f.child:
    print(json.dumps(run_setting(f.child, f.seq_len, f.steps, f.examples)), flush=True)
    return
  unknown = [n for n in f.settings if n not in SETTINGS]
  if unknown:
    raise app.UsageError(f"--settings: unknown {unknown}; known: {list(SETTINGS)}")
  results, speeds = {}, {}
  for name in f.settings:
    setting = SETTINGS[name]
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={name}",
                          f"--seq_len={f.seq_len}", f"--steps={f.steps}",
                          f"--examples={f.examples}"],
                         env=dict(os.environ, **setting.env), check=True, capture_output=True,
                         text=True)
    timed = json.loads(out.stdout.strip().splitlines()[-1])
    speeds[name] = timed["examples"] / timed["seconds"]
    results[name] = {**dataclasses.asdict(setting),
                     "ms_per_step": round(timed["seconds"] / timed["steps"] * 1000, 1),
                     "examples_per_second": round(speeds[name], 2),
                     "timed_steps": timed["steps"], "timed_examples": timed["examples"],
                     "padded_tokens_per_example": round(timed["tokens"] / timed["examples"], 1)}
    print(name, results[name], flush=True)
  baseline = f.settings[0]
  runs = [speeds[n] for n in (baseline, baseline + "_again") if n in speeds]
  for name, r in results.items():  # > 1: more examples per second than the baseline
    r["speed_vs_baseline"] = round(speeds[name] * len(runs) / sum(runs), 3)
  with open(f.output, "w") as fh:
    json.dump({"seq_len": f.seq_len, "warmup_steps": WARMUP, "mrpc_examples": f.examples,
               "cpu_count": os.cpu_count(), "baseline": baseline, "settings": results},
              fh, indent=1)
    fh.write("\n")


if __name__ == "__main__":
  app.run(main)
