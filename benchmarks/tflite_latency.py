"""TFLite size and latency: dense/sparse x fp32/int8, 1-2 threads, XNNPACK on/off (issue 6).

  .venv/bin/python benchmarks/tflite_latency.py --minilm_student=runs/core/sparsebert_90_block16/student

Models: the trained MiniLM-L6 student (real weights), and a BERT-base-size classifier (random
weights) pruned one-shot to the same sparsity in the same blocks. Each is converted by
`tf_sparsebert.export.conversion` into the four variants; `sparsebert_lite.benchmark` times them in
a separate process (no TensorFlow loaded there), batch 1, seq 128. A per-op view: single
FULLY_CONNECTED models with the FFN kernel shape, timed the same way, show how much of the
whole model's time the linear layers take in each variant.
Writes benchmarks/results/tflite_latency.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

import tf_sparsebert
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from sparsebert_lite import model_file
from tf_sparsebert.export import conversion, variants
from tf_sparsebert.config import ModelConfig
from tf_sparsebert.models import bert, saving
from tf_sparsebert.pruning import compact

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
keras = tf.keras
# The four of issue 6, per-tensor sparse int8 (XNNPACK-correct), and the compacted forms.
VARIANTS = variants.VARIANTS + ("sparse_int8_per_tensor", "compact_dense_fp32", "compact_dense_int8",
                              "compact_sparse_int8", "compact_sparse_int8_per_tensor")
BERT_BASE = ModelConfig(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                        intermediate_dim=3072, max_sequence_length=512)


def _random_bert_base():
  keras.utils.set_random_seed(0)
  return bert.bert_classifier(bert.bert_backbone(BERT_BASE), 2)


def one_shot_prune(model, sparsity, block_size):
  """Magnitude-prunes the six encoder kernels once (tfmot, one zero-learning-rate step)."""
  student = tf_sparsebert.make_sparse_student(model, target_sparsity=sparsity,
                                              block_size=block_size)
  student.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x = {"token_ids": np.ones([1, 8], np.int32), "segment_ids": np.zeros([1, 8], np.int32),
       "padding_mask": np.ones([1, 8], np.int32)}
  student.fit(x, np.zeros([1]), epochs=1, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  return tf_sparsebert.strip(student)


def write_variants(model, directory, seq_len):
  os.makedirs(directory, exist_ok=True)
  model = conversion.stripped(model)
  compacted, _ = compact.compact(model)
  paths = {}
  for variant in VARIANTS:
    path = os.path.join(directory, f"{variant}.tflite")
    content = conversion.convert(model, seq_len, variant, compacted=compacted)
    content = model_file.with_metadata(content, {"sequence_length": seq_len, "variant": variant})
    conversion.write_atomically(path, content)
    paths[variant] = path
  return paths


def fc_models(directory, rows, in_dim, out_dim, sparsity, block_size):
  """One FULLY_CONNECTED op `[rows, in] x [in, out]`, its kernel pruned like the encoder's."""
  os.makedirs(directory, exist_ok=True)
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=[in_dim, out_dim]).astype(np.float32) * 0.02
  bh, bw = block_size
  blocks = np.abs(kernel).reshape(in_dim // bh, bh, out_dim // bw, bw).sum(axis=(1, 3))
  keep = blocks > np.quantile(blocks, sparsity)
  kernel *= np.repeat(np.repeat(keep, bh, 0), bw, 1)
  paths = {}
  for variant in ("dense_fp32", "sparse_fp32", "dense_int8", "sparse_int8",
                  "sparse_int8_per_tensor"):
    path = os.path.join(directory, f"{variant}.tflite")
    spec = tf.TensorSpec([rows, in_dim], tf.float32, name="x")
    fn = tf.function(lambda x: {"y": tf.matmul(x, kernel)}, input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    conversion.configure(converter, variant)
    with open(path, "wb") as f:
      f.write(converter.convert())
    paths[variant] = path
  return paths


def time_fc(paths, threads, runs):
  """Median ms of the single-FC models in a subprocess with LiteRT only."""
  code = f"""
import json, numpy as np, statistics, time
from sparsebert_lite.runner import make_interpreter
out = []
for variant, path in {paths!r}.items():
  content = open(path, "rb").read()
  for resolver in ("BUILTIN_WITHOUT_DEFAULT_DELEGATES", "AUTO"):
    for n in {threads!r}:
      try:
        it = make_interpreter(content, resolver, n)
        it.allocate_tensors()
        detail = it.get_input_details()[0]
        x = np.random.default_rng(0).normal(size=detail["shape"]).astype(np.float32)
        it.set_tensor(detail["index"], x)
        for _ in range(3): it.invoke()
        t = []
        for _ in range({runs}):
          s = time.perf_counter(); it.invoke(); t.append(1000 * (time.perf_counter() - s))
        out.append(dict(variant=variant, resolver=resolver, threads=n, median_ms=statistics.median(t)))
      except Exception as e:
        out.append(dict(variant=variant, resolver=resolver, threads=n, error=str(e)[:200]))
print(json.dumps(out))
"""
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  return json.loads(proc.stdout.strip().splitlines()[-1])


def run_benchmark(paths, threads, runs, interleave):
  out = os.path.join(os.path.dirname(paths["dense_fp32"]), "latency.json")
  cmd = [sys.executable, "-m", "sparsebert_lite.benchmark",
         f"--models={','.join(paths.values())}", f"--reference={paths['dense_fp32']}",
         f"--threads={','.join(map(str, threads))}", f"--runs={runs}", f"--output_json={out}",
         f"--interleave={interleave}"]
  subprocess.run(cmd, check=True, stdout=sys.stderr)
  with open(out) as f:
    return json.load(f)


def summarize(rows):
  """Ratios to dense fp32 XNNPACK and dense int8 XNNPACK at the same thread count."""
  base = {(r["model"].split(".")[0], r["threads"]): r["median_ms"] for r in rows if r["xnnpack"]}
  table, best = [], {}
  for r in rows:
    variant = r["model"].split(".")[0]
    entry = {"variant": variant, "threads": r["threads"], "xnnpack": r["xnnpack"],
             "median_ms": r["median_ms"], "correct": r.get("correct"), "bytes": r["bytes"]}
    if r["median_ms"] is not None:
      for ref in ("dense_fp32", "dense_int8"):
        if base.get((ref, r["threads"])):
          entry[f"vs_{ref}_xnnpack"] = r["median_ms"] / base[(ref, r["threads"])]
    if "error" in r:
      entry["error"] = r["error"]
    table.append(entry)
    if variant != "dense_fp32" and variant != "dense_int8" and r.get("correct") and \
        r["median_ms"] is not None:
      key = r["threads"]
      if key not in best or r["median_ms"] < best[key]["median_ms"]:
        best[key] = entry
  return table, {f"{t}_threads": b for t, b in best.items()}


def real_weight_correctness(results, real, random="bert_base_random"):
  """Random weights make near-constant outputs, which hide wrong kernels (XNNPACK's sparse int8
  passes on them and flips 81% of labels on the real student): a random-weight config counts as
  correct only if the same variant/resolver/threads is correct on the real-weight `real` model."""
  if real not in results["models"] or random not in results["models"]:
    return
  ok = {(e["variant"], e["xnnpack"], e["threads"]): e["correct"]
        for e in results["models"][real]["latency"]}
  best = {}
  for e in results["models"][random]["latency"]:
    e["correct_on_random_weights"] = e.pop("correct_on_random_weights", e["correct"])
    e["correct"] = bool(e["correct_on_random_weights"]
                        and ok.get((e["variant"], e["xnnpack"], e["threads"])))
    if e["variant"] not in ("dense_fp32", "dense_int8") and e["correct"] and e["median_ms"]:
      key = f"{e['threads']}_threads"
      if key not in best or e["median_ms"] < best[key]["median_ms"]:
        best[key] = e
  results["models"][random]["fastest_correct_sparse"] = best
  results["models"][random]["correctness_from"] = real


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--minilm_student", required=True, help="A trained student directory.")
  parser.add_argument("--minilm_name", default="minilm_l6_student",
                      help="Its key in the results (to compare students, e.g. unstructured).")
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "latency"))
  parser.add_argument("--sequence_length", type=int, default=128)
  parser.add_argument("--runs", type=int, default=20)
  parser.add_argument("--threads", default="1,2")
  parser.add_argument("--models", default="MINILM,bert_base_random",
                      help="Which models to (re)measure; the others' results are kept.")
  parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results",
                                                       "tflite_latency.json"))
  args = parser.parse_args()
  threads = [int(t) for t in args.threads.split(",")]
  with open(os.path.join(os.path.dirname(os.path.abspath(args.minilm_student)),
                         "sparsity.json")) as f:
    sparsity = json.load(f)
  block = tuple(sparsity.get("block_size", [1, 1]))
  target = sparsity["target_sparsity"]
  results = {"models": {}}
  if os.path.exists(args.output):
    with open(args.output) as f:
      results = json.load(f)
  results.update({"sequence_length": args.sequence_length, "batch": 1, "runs": args.runs,
                  "cpu": os.cpu_count()})
  results.pop("target_sparsity", None)
  results.pop("block_size", None)
  models = {args.minilm_name: lambda: saving.load_classifier(args.minilm_student),
            "bert_base_random": lambda: one_shot_prune(_random_bert_base(), target, block)}
  for name in args.models.replace("MINILM", args.minilm_name).split(","):
    make = models[name]
    directory = os.path.join(args.work_dir, name)
    if os.path.isdir(directory):  # every variant must come from the same weights
      shutil.rmtree(directory)
    paths = write_variants(make(), directory, args.sequence_length)
    # MiniLM's 36 configs fit in memory together: time them round-robin (BERT-base's do not).
    rows = run_benchmark(paths, threads, args.runs, interleave=name != "bert_base_random")
    table, best = summarize(rows)
    sizes = {v: os.path.getsize(p) for v, p in paths.items()}
    with open(paths["sparse_int8"], "rb") as f:
      fc = model_file.fully_connected_weights(f.read())
    results["models"][name] = {
        "source": args.minilm_student if name == args.minilm_name else "random weights",
        "target_sparsity": target, "block_size": list(block),
        "bytes": sizes, "size_vs_dense_fp32": {v: s / sizes["dense_fp32"] for v, s in sizes.items()},
        "sparse_int8_kernels_read_directly": sum(w["read_by"] == "FULLY_CONNECTED"
                                                 and w["stored"] == "sparse" for w in fc),
        "sparse_int8_kernels_densified": sum(w["read_by"] == "DENSIFY" for w in fc),
        "latency": table, "fastest_correct_sparse": best}
    if name == "bert_base_random":
      fc_paths = fc_models(os.path.join(args.work_dir, "fc_768x3072"), args.sequence_length,
                           768, 3072, target, block)
      results["models"][name]["single_fc_768x3072"] = {
          "note": "one FFN-shaped FULLY_CONNECTED; the encoder's 72 FC ops (per layer 4 of "
                  "768x768, 2 of 768x3072) are 36 of these in FLOPs",
          "timings": time_fc(fc_paths, threads, args.runs)}
    real_weight_correctness(results, "minilm_l6_student")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
      json.dump(results, f, indent=2)
    print(json.dumps({name: results["models"][name]["fastest_correct_sparse"]}, indent=2))


if __name__ == "__main__":
  main()
