"""Latency of `.tflite` BERT classifiers in LiteRT: batch 1, every thread count and op resolver.

  python -m sparsebert_lite.benchmark --models=a.tflite,b.tflite --output_json=latency.json

Each (model, threads, resolver) is timed as the median of `--runs` invocations after
`--warmup`, on the same random valid inputs, in this process (no TensorFlow loaded). A config
is `correct` when its logits match the reference run given by `--reference` (the dense fp32
model with builtin kernels) to `--fp32_atol` for float models; int8 models under a delegate must
reproduce the same file's builtin kernels to `--int8_delegate_atol`, as `tf_sparsebert.export`
requires (int8 with builtin kernels is the reference semantics; its accuracy is what the
export's dev-set verification checks).
"""

import json
import os
import statistics
import time

import numpy as np
from absl import app, flags

from sparsebert_lite import model_file
from sparsebert_lite.metrics import centered_logits
from sparsebert_lite.runner import SIGNATURE, make_interpreter

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "The .tflite files, all with the same inputs.")
flags.DEFINE_string("reference", None, "Outputs are compared with this model's (builtin kernels).")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("runs", 20, "Timed runs per config (the median is reported).")
flags.DEFINE_integer("warmup", 3, "Untimed runs first.")
flags.DEFINE_float("fp32_atol", 1e-3, "Max abs logit difference of a correct float config.")
flags.DEFINE_float("int8_delegate_atol", 0.02,
                   "Max abs logit difference of a delegate from builtin int8 kernels (as "
                   "tf_sparsebert.export requires).")
flags.DEFINE_bool("interleave", False, "Load every config at once and time them round-robin.")
flags.DEFINE_string("lengths_json", None,
                    "A JSON list of real input lengths (tokens, e.g. a dev set's): also time one "
                    "run per length, each model at what it takes (its own length for a "
                    "dynamic-length file, padded to its fixed length otherwise), round-robin, "
                    "and report the mean (`mean_ms_real_lengths`).")
flags.DEFINE_string("output_json", None, "Where to write the results.")


def random_inputs(sequence_length, vocab_size, seed=0, fill=0.75):
  """Valid BERT inputs: [CLS] tokens... [SEP], then padding (`fill` of the length used)."""
  rng = np.random.default_rng(seed)
  n = int(sequence_length * fill)
  ids = np.zeros([1, sequence_length], np.int32)
  ids[0, :n] = rng.integers(1000, vocab_size, n)
  ids[0, 0], ids[0, n - 1] = 101, 102
  mask = (np.arange(sequence_length) < n).astype(np.int32)[None]
  return {"input_word_ids": ids, "input_mask": mask,
          "input_type_ids": np.zeros_like(ids)}


def inputs_at(length, sequence_length, dynamic, vocab_size, seed=0):
  """Inputs holding `length` real tokens: exactly that long for a dynamic-length file, padded to
  `sequence_length` otherwise."""
  n = max(2, min(length, sequence_length))
  width = n if dynamic else sequence_length
  rng = np.random.default_rng(seed)
  ids = np.zeros([1, width], np.int32)
  ids[0, :n] = rng.integers(1000, vocab_size, n)
  ids[0, 0], ids[0, n - 1] = 101, 102
  mask = (np.arange(width) < n).astype(np.int32)[None]
  return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}


def _prepare(content, resolver, threads, inputs, warmup):
  """(signature runner, logits) after `warmup` runs, or (None, error string)."""
  try:
    interpreter = make_interpreter(content, resolver, threads)
    run = interpreter.get_signature_runner(SIGNATURE)
    for _ in range(max(warmup, 1)):
      out = run(**inputs)
  except (RuntimeError, ValueError) as e:
    return None, f"{type(e).__name__}: {str(e)[:200]}"
  run.interpreter_ref = interpreter  # keep it alive with the runner
  return run, centered_logits(next(iter(out.values())))


def _time_once(run, inputs):
  start = time.perf_counter()
  run(**inputs)
  return 1000 * (time.perf_counter() - start)


def time_real_lengths(prepared, infos, lengths):
  """Mean ms per example over `lengths` for each prepared config (round-robin per length)."""
  totals = {c: 0.0 for c in prepared}
  for i, length in enumerate(lengths):
    for c, run in prepared.items():
      info = infos[c[0]]
      inputs = inputs_at(int(length), info.get("sequence_length", 128),
                         bool(info.get("dynamic_length")), len(info.get("vocab", [])) or 30522,
                         seed=i)
      totals[c] += _time_once(run, inputs)
  return {c: total / len(lengths) for c, total in totals.items()}


def benchmark(paths, reference, threads=(1, 2), runs=20, warmup=3, fp32_atol=1e-3,
              int8_delegate_atol=0.02, interleave=False, lengths=None):
  """Times every model x threads x resolver; returns rows of results.

  With `interleave`, all configs are loaded at once and timed round-robin (one invocation of
  each per round), so slow drifts of the machine hit every config alike; otherwise each config
  is timed in one block (for models too big to hold all at once).
  """
  contents = {p: open(p, "rb").read() for p in paths}
  first = model_file.read_metadata(contents[paths[0]]) or {}
  seq_len = first.get("sequence_length", 128)
  inputs = random_inputs(seq_len, len(first.get("vocab", [])) or 30522)
  ref = None
  if reference:
    with open(reference, "rb") as f:
      _, ref = _prepare(f.read(), "BUILTIN_WITHOUT_DEFAULT_DELEGATES", 1, inputs, 1)
  configs = [(path, resolver, n) for path in paths
             for resolver in ("BUILTIN_WITHOUT_DEFAULT_DELEGATES", "AUTO") for n in threads]
  prepared, times = {}, {}
  real = {}
  if interleave:
    prepared = {c: _prepare(contents[c[0]], c[1], c[2], inputs, warmup) for c in configs}
    live = [c for c in configs if prepared[c][0] is not None]
    times = {c: [] for c in live}
    for _ in range(runs):
      for c in live:
        times[c].append(_time_once(prepared[c][0], inputs))
    if lengths:
      infos = {p: model_file.read_metadata(c) or {} for p, c in contents.items()}
      real = time_real_lengths({c: prepared[c][0] for c in live}, infos, lengths)
  rows = []
  for path, content in contents.items():
    info = model_file.read_metadata(content) or {}
    int8 = "int8" in os.path.basename(path)
    builtin_out = None
    for resolver in ("BUILTIN_WITHOUT_DEFAULT_DELEGATES", "AUTO"):
      for n in threads:
        config = (path, resolver, n)
        run, out = prepared.pop(config, None) or _prepare(content, resolver, n, inputs, warmup)
        if run is not None and config not in times:
          times[config] = [_time_once(run, inputs) for _ in range(runs)]
        del run
        median = statistics.median(times[config]) if config in times else None
        row = {"model": os.path.basename(path), "bytes": len(content), "threads": n,
               "xnnpack": resolver == "AUTO", "resolver": resolver,
               "required_resolver": info.get("op_resolver"), "median_ms": median}
        if median is None:
          row.update(correct=False, error=out)
        else:
          row["runs_ms"] = [round(t, 3) for t in times[config]]
          if config in real:
            row["mean_ms_real_lengths"] = real[config]
          if int8 and resolver == "AUTO" and builtin_out is not None:
            row["max_abs_diff_vs_builtin"] = float(np.max(np.abs(out - builtin_out)))
            row["correct"] = row["max_abs_diff_vs_builtin"] <= int8_delegate_atol
          elif ref is not None:
            row["max_abs_diff_vs_reference"] = float(np.max(np.abs(out - ref)))
            row["correct"] = int8 or row["max_abs_diff_vs_reference"] <= fp32_atol
          else:
            row["correct"] = None
          if resolver != "AUTO" and builtin_out is None:
            builtin_out = out
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "runs_ms"}), flush=True)
  return rows


def main(argv):
  del argv
  lengths = None
  if FLAGS.lengths_json:
    with open(FLAGS.lengths_json, encoding="utf-8") as f:
      lengths = json.load(f)
  rows = benchmark(FLAGS.models, FLAGS.reference, [int(t) for t in FLAGS.threads], FLAGS.runs,
                   FLAGS.warmup, FLAGS.fp32_atol, FLAGS.int8_delegate_atol, FLAGS.interleave,
                   lengths)
  if FLAGS.output_json:
    with open(FLAGS.output_json, "w") as f:
      json.dump(rows, f, indent=2)


if __name__ == "__main__":
  flags.mark_flag_as_required("models")
  app.run(main)
