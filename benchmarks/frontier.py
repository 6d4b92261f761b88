"""The accuracy-latency frontier on a phone-class CPU runtime: every verified file of each student
against the dense int8 file of its teacher's architecture, timed in one run.

  .venv/bin/python benchmarks/frontier.py --teacher=runs/mrpc_fast/teacher \
      --point=unstructured_90=runs/mrpc --point=hybrid_h50_n50=runs/mrpc_fast \
      [--bert_base_structure=0.5,0.5] --output=benchmarks/results/frontier_mrpc.json

Each `--point` is a finished run exported with `--export_tflite` (its `tflite/` holds verified
files and `export_report.json`); its accuracy is the run's dev metric (`metrics.json`) and, per
file, the metric LiteRT reproduced in verification. The teacher is exported to dense fp32 and
dense int8 here (verified the same way) if `<teacher>/../teacher_tflite` does not exist. All files
are timed by `sparsebert_lite.benchmark` in one process, round-robin (`--interleave`), batch 1,
sequence length 128, 1 and 2 threads, each in the op resolver its export chose; and once per dev
example at that example's own length (a dynamic-length file runs it unpadded, a fixed one pads
it to 128). Ratios are to the teacher's dense int8 on XNNPACK at 128 tokens and the same thread
count, sizes to its dense fp32 file.
`--bert_base_structure=HEADS,NEURONS` adds the sanity check: a random BERT-base-size classifier
(12 x 768) with those fractions of heads and neurons removed one-shot, compacted, dense int8,
against the unpruned one's dense int8 (the speed-up is not a MiniLM artefact).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import tf_sparsebert  # noqa: F401  (before TensorFlow)
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tf_sparsebert.config import DataConfig, ModelConfig
from tf_sparsebert.export import ExportConfig, conversion, export_run
from tf_sparsebert.models import bert
from tf_sparsebert.pruning import compact

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
keras = tf.keras
BERT_BASE = ModelConfig(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                        intermediate_dim=3072, max_sequence_length=512)


def _json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _run_data(run_dir):
  fields = {f for f in DataConfig.__dataclass_fields__}
  saved = _json(os.path.join(run_dir, "config.json"))["train"]["data"]
  return DataConfig(**{k: v for k, v in saved.items() if k in fields})


def teacher_files(teacher_dir):
  """The teacher's dense fp32 and dense int8 files at 128 tokens (exported here once). A file
  the export's gate refuses (int8 that moves the metric by more than 0.5) is still written, as
  the latency baseline only, on XNNPACK; its verification figures stay in the report."""
  out = os.path.join(os.path.dirname(os.path.abspath(teacher_dir)), "teacher_tflite")
  if not os.path.isfile(os.path.join(out, "export_report.json")):
    try:
      export_run(ExportConfig(teacher_dir, out, ("dense_fp32", "dense_int8"),
                              dynamic_length=False),  # the baseline: 128 tokens, every input
                 _run_data(os.path.dirname(os.path.abspath(teacher_dir))))
    except RuntimeError:
      pass
  report = _json(os.path.join(out, "export_report.json"))
  for variant, entry in report["variants"].items():
    if "file" not in entry:  # refused by the gate: written for timing, marked unverified
      from sparsebert_lite import model_file
      from tf_sparsebert.models import saving
      model = saving.load_classifier(teacher_dir)
      vocab, lowercase = saving.load_tokenizer_files(teacher_dir)
      content = model_file.with_metadata(
          conversion.convert(model, report["sequence_length"], variant),
          conversion.metadata(None, variant, report["sequence_length"], vocab, lowercase, "AUTO"))
      conversion.write_atomically(os.path.join(out, f"{variant}.tflite"), content)
      entry.update(file=f"{variant}.tflite", bytes=len(content), op_resolver="AUTO",
                   unverified="refused by the export's gate; written for timing only")
  return out, report


def bert_base_files(heads, neurons, directory):
  """Dense int8 of a random BERT-base classifier, and of the same with heads and neurons
  removed one-shot and compacted."""
  keras.utils.set_random_seed(0)
  model = bert.bert_classifier(bert.bert_backbone(BERT_BASE), 2)
  student = tf_sparsebert.make_sparse_student(model, target_sparsity=0.0, head_sparsity=heads,
                                              neuron_sparsity=neurons)
  student.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x = {"token_ids": np.ones([1, 8], np.int32), "segment_ids": np.zeros([1, 8], np.int32),
       "padding_mask": np.ones([1, 8], np.int32)}
  student.fit(x, np.zeros([1]), epochs=1, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  compacted, report = compact.compact(tf_sparsebert.strip(student))
  paths = {}
  for name, m in (("bert_base_dense_int8", model), ("bert_base_compact_dense_int8", compacted)):
    path = os.path.join(directory, f"{name}.tflite")
    conversion.write_atomically(path, conversion.convert(m, 128, "dense_int8"))
    paths[name] = path
  return paths, report


def dev_lengths(run_dir, vocab):
  """Tokens per dev example of the run's task (what a runner at its own length pays for)."""
  from sparsebert_lite import glue as lite_glue
  from sparsebert_lite.tokenizer import BertInputEncoder
  data = _run_data(run_dir)
  task = lite_glue.get_task(data.task)
  examples = lite_glue.load_tsv(data.glue_dir, task, "dev")
  encoder = BertInputEncoder(vocab, True, data.max_seq_length)
  return [int(encoder.encode(*texts)[1].sum()) for texts in zip(*examples.texts)]


def time_files(paths, threads, runs, lengths=None):
  """Rows of `sparsebert_lite.benchmark` for `paths`, timed round-robin in one process."""
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "rows.json")
    extra = []
    if lengths:
      with open(os.path.join(tmp, "lengths.json"), "w", encoding="utf-8") as f:
        json.dump(lengths, f)
      extra = [f"--lengths_json={tmp}/lengths.json"]
    subprocess.run([sys.executable, "-m", "sparsebert_lite.benchmark",
                    f"--models={','.join(paths)}", f"--threads={','.join(map(str, threads))}",
                    f"--runs={runs}", "--interleave", f"--output_json={out}", *extra],
                   check=True, cwd=REPO)
    return _json(out)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--teacher", required=True, help="a run's teacher/ folder")
  parser.add_argument("--point", action="append", default=[], help="name=RUN_DIR")
  parser.add_argument("--bert_base_structure", default="", help="HEADS,NEURONS fractions")
  parser.add_argument("--threads", default="1,2")
  parser.add_argument("--runs", type=int, default=30)
  parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results",
                                                       "frontier_mrpc.json"))
  args = parser.parse_args()
  threads = [int(t) for t in args.threads.split(",")]
  teacher_dir, teacher_report = teacher_files(args.teacher)
  files = {"teacher/" + e["file"]: (os.path.join(teacher_dir, e["file"]), "teacher", v, e)
           for v, e in teacher_report["variants"].items()}
  points = {"teacher": {"dev": teacher_report["keras_metrics"], "run": args.teacher}}
  for item in args.point:
    name, run = item.split("=", 1)
    report = _json(os.path.join(run, "tflite", "export_report.json"))
    points[name] = {"run": run, "dev": _json(os.path.join(run, "metrics.json"))["student"],
                    "sparsity": {k: v for k, v in _json(os.path.join(run, "sparsity.json")).items()
                                 if k in ("overall", "structure", "remaining_sparsity")},
                    "compaction": report.get("compaction")}
    for variant, e in report["variants"].items():
      if "file" in e:
        files[f"{name}/{e['file']}"] = (os.path.join(run, "tflite", e["file"]), name, variant, e)
  base_rows = {}
  with tempfile.TemporaryDirectory() as tmp:
    if args.bert_base_structure:
      heads, neurons = (float(v) for v in args.bert_base_structure.split(","))
      base_paths, base_report = bert_base_files(heads, neurons, tmp)
      for row in time_files(list(base_paths.values()), threads, max(args.runs // 3, 5)):
        if row["resolver"] == "AUTO":
          base_rows[(row["model"], row["threads"])] = row["median_ms"]
    unique = {}  # every file under a name of its own: point__file
    for key, (path, *_) in files.items():
      unique[key] = os.path.join(tmp, key.replace("/", "__"))
      with open(path, "rb") as f, open(unique[key], "wb") as g:
        g.write(f.read())
    from sparsebert_lite import model_file
    with open(files["teacher/dense_int8.tflite"][0], "rb") as f:
      vocab = model_file.read_metadata(f.read())["vocab"]
    lengths = dev_lengths(os.path.dirname(os.path.abspath(args.teacher)), vocab)
    rows = time_files(list(unique.values()), threads, args.runs, lengths)
  by = {(r["model"], r["threads"], r["resolver"]): r for r in rows}
  baseline = {n: by[("teacher__dense_int8.tflite", n, "AUTO")]["median_ms"] for n in threads}
  fp32_bytes = teacher_report["variants"]["dense_fp32"]["bytes"]
  table = []
  for key, (path, point, variant, entry) in files.items():
    resolver = entry["op_resolver"]
    row = {"point": point, "file": key, "variant": variant, "op_resolver": resolver,
           "bytes": entry["bytes"], "size_vs_teacher_dense_fp32": entry["bytes"] / fp32_bytes,
           "verified_metrics": entry["runs"][resolver]["metrics"],
           "unverified": entry.get("unverified")}
    for n in threads:
      timed = by.get((key.replace("/", "__"), n, resolver), {})
      t = timed.get("median_ms")
      row[f"ms_{n}_threads"] = t
      row[f"latency_vs_teacher_dense_int8_{n}_threads"] = t / baseline[n] if t else None
      real = timed.get("mean_ms_real_lengths")
      row[f"real_lengths_ms_{n}_threads"] = real
      row[f"real_lengths_vs_teacher_dense_int8_at_128_{n}_threads"] = (
          real / baseline[n] if real else None)
    table.append(row)
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                      if k != "verified_metrics"}), flush=True)
  result = {"sequence_length": 128, "threads": threads, "runs": args.runs,
            "real_lengths": {"source": "the task's dev set, tokenized", "count": len(lengths),
                             "mean_tokens": float(np.mean(lengths))},
            "baseline": "the teacher's dense_int8.tflite on XNNPACK (AUTO), same run",
            "baseline_ms": baseline, "points": points, "files": table}
  if base_rows:
    result["bert_base"] = {
        "structure": {"head_sparsity": heads, "neuron_sparsity": neurons},
        "compaction": base_report[:1],
        "ms": {f"{m}_{n}": v for (m, n), v in base_rows.items()},
        "latency_ratio": {n: base_rows[("bert_base_compact_dense_int8.tflite", n)]
                          / base_rows[("bert_base_dense_int8.tflite", n)] for n in threads}}
  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
