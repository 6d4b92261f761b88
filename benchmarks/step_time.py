"""Time of one distill+prune step (MiniLM teacher and student) under CPU settings, as JSON.

  .venv/bin/python benchmarks/step_time.py [--seq_len=96] [--steps=30]

The step is `Distiller.train_step` of configs/mrpc_core.flags' models (MiniLM-L6 teacher, pruned
MiniLM-L6 student, KD + CE + hidden + attention losses, mask updates every 10 steps) on
fixed-shape batches of random token ids (the time does not depend on the ids). Each setting runs
in its own process, because TensorFlow reads its thread and oneDNN settings when it starts:

  default            what `python -m tf_sparsebert.train` does (batch 16, and batch 8)
  xla                `Distiller.compile(jit_compile=True)`
  mixed_bfloat16     Keras' mixed_bfloat16 policy (the CPU's AVX-512 BF16, where it has it)
  interop_1          TF_NUM_INTEROP_THREADS=1
  onednn_off         TF_ENABLE_ONEDNN_OPTS=0
  default_again      `default` once more, last: how much the machine drifted during the run

The first 5 steps (tracing) are not timed. Run it on an otherwise idle machine. Writes
benchmarks/results/step_time.json: ms per step, examples per second and that speed as a ratio to
the mean of the two `default` measurements of the same run.
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

# name -> (batch size, extra environment, jit_compile, Keras dtype policy or None)
SETTINGS = {
    "default": (16, {}, False, None),
    "default_batch8": (8, {}, False, None),
    "xla": (16, {}, True, None),
    "mixed_bfloat16": (16, {}, False, "mixed_bfloat16"),
    "interop_1": (16, {"TF_NUM_INTEROP_THREADS": "1"}, False, None),
    "onednn_off": (16, {"TF_ENABLE_ONEDNN_OPTS": "0"}, False, None),
    "default_again": (16, {}, False, None),  # the machine's drift over the run
}

flags.DEFINE_integer("seq_len", 96, "Tokens per example (MRPC's pairs are bucketed to 32-128).")
flags.DEFINE_integer("steps", 30, "Timed steps per setting, after the warm-up steps.")
flags.DEFINE_string("child", None, "Internal: run one setting and print its ms per step.")


def run_setting(name, seq_len, steps):
  """Runs in the child process: builds configs/mrpc_core.flags' models and returns ms per step."""
  sys.path.insert(0, REPO)
  os.chdir(REPO)  # the flagfiles name paths relative to the repository root
  import tf_sparsebert  # noqa: PLC0415
  import tensorflow as tf  # noqa: PLC0415
  import tensorflow_model_optimization as tfmot  # noqa: PLC0415
  from tf_sparsebert import flags as tsb_flags  # noqa: PLC0415
  from tf_sparsebert.pruning import schedules  # noqa: PLC0415

  recipe = flags.FlagValues()
  tsb_flags.define_train_flags(recipe)
  recipe(["step_time", "--flagfile=configs/mrpc_core.flags"])
  config = tsb_flags.train_config_from_flags(recipe)
  batch, _, jit, policy = SETTINGS[name]
  if policy:
    tf.keras.mixed_precision.set_global_policy(policy)

  def classifier(name):
    backbone, _ = tf_sparsebert.load_bert(config.init_checkpoint, config.data.max_seq_length)
    return tf_sparsebert.bert_classifier(backbone, 2, pooling=config.pooling, name=name)

  # The recipe's ramp (to --pruning_end_step), of which only the first steps are timed.
  ramp = schedules.cubic_schedule(config.pruning, total_steps=config.pruning.end_step)
  student = tf_sparsebert.make_sparse_student(classifier("student"), schedule=ramp)
  distiller = tf_sparsebert.Distiller(student=student, teacher=classifier("teacher"),
                                      **dataclasses.asdict(config.distill))
  distiller.compile(optimizer=tf.keras.optimizers.Adam(1e-4), jit_compile=jit)
  rng = tf.random.Generator.from_seed(0)
  n = batch * 8
  x = {"token_ids": rng.uniform([n, seq_len], 1000, 30000, tf.int32),
       "segment_ids": tf.zeros([n, seq_len], tf.int32),
       "padding_mask": tf.ones([n, seq_len], tf.bool)}
  y = rng.uniform([n], 0, 2, tf.int32)
  data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat()
  marks = {}

  class Clock(tf.keras.callbacks.Callback):
    def on_train_batch_end(self, step, logs=None):
      if step in (WARMUP - 1, WARMUP - 1 + steps):
        marks[step] = time.perf_counter()

  distiller.fit(data, steps_per_epoch=WARMUP + steps, epochs=1, verbose=0,
                callbacks=[Clock(), tfmot.sparsity.keras.UpdatePruningStep()])
  return (marks[WARMUP - 1 + steps] - marks[WARMUP - 1]) / steps * 1000


def main(argv):
  del argv
  f = flags.FLAGS
  if f.child:
    print(json.dumps({"ms_per_step": run_setting(f.child, f.seq_len, f.steps)}), flush=True)
    return
  results = {}
  for name, (batch, env, jit, policy) in SETTINGS.items():
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={name}",
                          f"--seq_len={f.seq_len}", f"--steps={f.steps}"],
                         env=dict(os.environ, **env), check=True, capture_output=True, text=True)
    ms = json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"]
    results[name] = {"batch_size": batch, "env": env, "jit_compile": jit, "policy": policy,
                     "ms_per_step": round(ms, 1),
                     "examples_per_second": round(batch / ms * 1000, 2)}
    print(name, results[name], flush=True)
  default = results["default"]
  default_ms = (default["ms_per_step"] + results["default_again"]["ms_per_step"]) / 2
  default_speed = default["batch_size"] / default_ms * 1000
  for r in results.values():  # > 1: more examples per second than `default`
    r["speed_vs_default"] = round(r["examples_per_second"] / default_speed, 3)
  with open(RESULT, "w") as fh:
    json.dump({"seq_len": f.seq_len, "timed_steps": f.steps, "warmup_steps": WARMUP,
               "cpu_count": os.cpu_count(), "settings": results}, fh, indent=1)
    fh.write("\n")


if __name__ == "__main__":
  app.run(main)
