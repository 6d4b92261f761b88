"""TFLite export (tf_sparsebert.export) and the on-device runner (sparsebert_lite), on a tiny run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tf_sparsebert import export
from tf_sparsebert.config import DataConfig
from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.models import saving
from sparsebert_lite import TextClassifier, model_file, tokenizer
from conftest import BERT_VOCAB, GLUE_DIR, REPO
from test_train import _cli, tiny_run  # noqa: F401,F811  (tiny_run: a fixture, an unstructured run)


@pytest.fixture(scope="module")
def block_run(tiny_checkpoint_bert_vocab, tmp_path_factory):
  """A tiny run pruned in 16x1 blocks, exported at the end of training (--export_tflite)."""
  out = str(tmp_path_factory.mktemp("block_run") / "out")
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
              "--pruning_block_size=16,1", "--target_sparsity=0.75", "--export_tflite")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, "tflite", export.REPORT_FILE)) as f:
    return out, json.load(f)


def test_every_variant_is_written_verified_and_documented(block_run):
  out, report = block_run
  assert report["verified_on"]["num_examples"] == 32
  with open(os.path.join(out, "sparsity.json")) as f:
    sparsity = json.load(f)
  assert sparsity["block_size"] == [16, 1]
  assert all(abs(k["block_sparsity"] - 0.75) <= 0.005 for k in sparsity["kernels"])
  for variant in export.VARIANTS:
    entry = report["variants"][variant]
    path = os.path.join(out, "tflite", entry["file"])
    assert os.path.getsize(path) == entry["bytes"]
    run = entry["runs"][entry["op_resolver"]]
    assert run["ok"], (variant, run)
    if variant.endswith("fp32"):
      assert run["max_abs_logit_diff"] <= 1e-4
    else:
      assert run["label_agreement"] >= 0.99 and abs(run["metric_drop"]) <= 0.5
      builtin = entry["runs"]["BUILTIN_WITHOUT_DEFAULT_DELEGATES"]
      assert builtin["ok"]
      if entry["op_resolver"] == "AUTO":  # XNNPACK reproduces the builtin int8 kernels
        assert run["max_abs_logit_diff_vs_builtin"] <= export.DELEGATE_MAX_LOGIT_DIFF
    with open(path, "rb") as f:
      info = model_file.read_metadata(f.read())
    assert info["op_resolver"] == entry["op_resolver"]
    assert info["task"] == "mrpc" and info["is_pair"] and info["sequence_length"] == 32
    assert len(info["vocab"]) == 30522
    weights = entry["fully_connected"]
    assert len(weights) == 2 * 6 + 2  # 6 kernels per layer, pooler, head
    if variant.startswith("sparse"):
      # 16x1 blocks of the [in, out] view are TFLite 1x16 blocks, read by FULLY_CONNECTED itself.
      assert entry["num_sparse_weights"] == 12 and entry["num_read_directly"] == 12, weights
      # The run's block shape reached the export, and the report says what the file buys.
      assert "read the sparse weights directly" in entry["sparse_weights"]
      assert entry["num_densified"] == 0
      # The converter encodes float weights in 1x4 blocks (16x1 blocks are 1x4 blocks too),
      # int8 in 1x16: the block shapes of the float and int8 sparse kernels.
      block = [1, 4] if variant.endswith("fp32") else [1, 16]
      assert all(w["block"] == block for w in weights if w["stored"] == "sparse"), weights
    else:
      assert entry["num_sparse_weights"] == 0 and "sparse_weights" not in entry
  assert report["block_size"] == [16, 1]
  # XNNPACK's per-channel sparse int8 is off (by ~0.08 here, 2.4 on MiniLM): builtin required.
  assert report["variants"]["sparse_int8"]["op_resolver"] == "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
  assert report["variants"]["dense_int8"]["op_resolver"] == "AUTO"
  sizes = report["size_vs_dense_fp32"]
  assert sizes["sparse_fp32"] < 1.0 and sizes["sparse_int8"] < sizes["dense_int8"]


def test_runner_cli_reproduces_the_verified_metrics(block_run, tmp_path):
  out, report = block_run
  for variant in ("sparse_fp32", "sparse_int8"):
    result = tmp_path / f"{variant}.json"
    proc = _cli("sparsebert_lite.classify", f"--model={out}/tflite/{variant}.tflite",
                f"--tsv={GLUE_DIR}/MRPC/dev.tsv", "--max_examples=32", f"--output_json={result}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(result) as f:
      metrics = json.load(f)
    expected = report["variants"][variant]["runs"][report["variants"][variant]["op_resolver"]]
    assert metrics["num_examples"] == 32
    assert metrics["accuracy"] == pytest.approx(expected["metrics"]["accuracy"])
    assert metrics["f1"] == pytest.approx(expected["metrics"]["f1"])
  proc = _cli("sparsebert_lite.classify", f"--model={out}/tflite/sparse_int8.tflite",
              "--text=He said the deal was done.", "--text_b=The deal was done, he said.")
  assert proc.returncode == 0, proc.stderr[-2000:]
  scores = json.loads(proc.stdout)["scores"]
  assert set(scores) == {"0", "1"} and sum(scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_runner_matches_keras_on_real_sentences(block_run):
  out, report = block_run
  model = saving.load_classifier(os.path.join(out, "student"))
  task = glue.get_task("mrpc")
  examples = glue.load_tsv(GLUE_DIR, task, "dev").take(8)
  features = preprocessing.tokenize(examples, saving.load_preprocessor(
      os.path.join(out, "student"), 32))
  probs = model.predict(features, verbose=0)
  probs = np.exp(probs) / np.exp(probs).sum(-1, keepdims=True)
  clf = TextClassifier(os.path.join(out, "tflite", "sparse_fp32.tflite"))
  ours = np.stack([clf.classify(a, b) for a, b in zip(*examples.texts)])
  np.testing.assert_allclose(ours, probs, atol=1e-5)
  # Each pair ran at its own length: the file's sequence dimension is dynamic.
  assert clf.dynamic_length and report["variants"]["sparse_fp32"]["dynamic_length"]
  shapes = {d["name"]: list(d["shape_signature"]) for d in clf.interpreter.get_input_details()}
  assert all(shape == [1, -1] for shape in shapes.values()), shapes
  # A short pair (MRPC's are all cut at 32 here) runs at 6 tokens, as Keras scores it padded.
  short = glue.Examples([["profit rose ."], ["it did ."]], np.zeros(1, np.int32), "short")
  padded = preprocessing.tokenize(short, saving.load_preprocessor(os.path.join(out, "student"),
                                                                  32))
  assert int(padded["padding_mask"].sum()) < 12
  logits = model.predict(padded, verbose=0)
  np.testing.assert_allclose(clf.classify("profit rose .", "it did ."),
                             (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))[0],
                             atol=1e-5)


@pytest.mark.parametrize("task_name,seq_len", [("mrpc", 128), ("sst2", 128), ("rte", 64)])
def test_tokenizer_matches_keras_nlp_on_real_dev_data(task_name, seq_len):
  """sparsebert_lite's WordPiece + packing gives keras-nlp's ids on every dev example."""
  task = glue.get_task(task_name)
  examples = glue.load_tsv(GLUE_DIR, task, "dev")
  with open(BERT_VOCAB, encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
  expected = preprocessing.tokenize(examples, saving.make_preprocessor(vocab, True, seq_len))
  encoder = tokenizer.BertInputEncoder(vocab, True, seq_len)
  for i, texts in enumerate(zip(*examples.texts)):
    ids, mask, types = encoder.encode(*texts)
    np.testing.assert_array_equal(ids[0], expected["token_ids"][i], err_msg=str(texts))
    np.testing.assert_array_equal(mask[0], expected["padding_mask"][i])
    np.testing.assert_array_equal(types[0], expected["segment_ids"][i])


def test_round_robin_truncation():
  assert tokenizer.round_robin_lengths([10, 2], 6) == [4, 2]
  assert tokenizer.round_robin_lengths([10, 10], 5) == [3, 2]
  assert tokenizer.round_robin_lengths([3], 5) == [3]


def test_metadata_is_replaced_not_duplicated(block_run):
  out, _ = block_run
  with open(os.path.join(out, "tflite", "dense_fp32.tflite"), "rb") as f:
    content = f.read()
  updated = model_file.with_metadata(content, {"op_resolver": "X"})
  assert model_file.read_metadata(updated) == {"op_resolver": "X"}
  assert len(updated) < len(content)  # the old entry (with its vocab) was replaced
  assert model_file.op_counts(updated) == model_file.op_counts(content)


def test_wrong_everywhere_is_refused_and_not_written(block_run, tmp_path, monkeypatch):
  out, _ = block_run
  monkeypatch.setattr(export.verification, "FP32_LOGIT_ATOL", -1.0)  # no fp32 file can pass
  data = DataConfig(task="mrpc", glue_dir=GLUE_DIR, max_seq_length=32)
  config = export.ExportConfig(os.path.join(out, "student"), str(tmp_path / "t"),
                               ("dense_fp32",), 4)
  with pytest.raises(RuntimeError, match=r"not exported, wrong in LiteRT: \['dense_fp32'\]"):
    export.export_run(config, data)
  assert not os.path.exists(tmp_path / "t" / "dense_fp32.tflite")
  with open(tmp_path / "t" / export.REPORT_FILE) as f:
    assert "refused" in json.load(f)["variants"]["dense_fp32"]


def test_export_cli_bad_input(tmp_path, block_run):
  out, _ = block_run
  proc = _cli("tf_sparsebert.export", f"--model_dir={tmp_path}/missing",
              f"--output_dir={tmp_path}/o")
  assert proc.returncode != 0 and "--model_dir" in proc.stderr.strip().splitlines()[-1]
  proc = _cli("tf_sparsebert.export", f"--model_dir={out}/student", f"--output_dir={tmp_path}/o",
              "--variants=sparse_int4")
  assert proc.returncode != 0 and "sparse_int4" in proc.stderr.strip().splitlines()[-1]
  assert not os.path.exists(tmp_path / "o")
  proc = _cli("sparsebert_lite.classify", f"--model={out}/student/vocab.txt", "--text=hi")
  assert proc.returncode != 0 and "not a tf_sparsebert export" in proc.stderr


def test_export_cli_refuses_a_finished_export_unless_overwrite(tmp_path, block_run):
  out, _ = block_run
  target = tmp_path / "export"
  args = [f"--model_dir={out}/student", f"--output_dir={target}", "--variants=dense_fp32",
          "--max_verify_examples=4"]
  assert _cli("tf_sparsebert.export", *args).returncode == 0
  (target / "old_variant.tflite").write_bytes(b"stale")
  before = (target / export.REPORT_FILE).read_bytes()
  proc = _cli("tf_sparsebert.export", *args)
  assert proc.returncode != 0 and "already holds an export" in proc.stderr.splitlines()[-1]
  assert (target / export.REPORT_FILE).read_bytes() == before
  proc = _cli("tf_sparsebert.export", *args, "--overwrite")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(os.listdir(target)) == ["dense_fp32.tflite", export.REPORT_FILE]  # no stale file
  # A folder that is not an export, or the model's own folder: refused even with --overwrite.
  proc = _cli("tf_sparsebert.export", f"--model_dir={out}/student", f"--output_dir={out}",
              "--overwrite")
  assert proc.returncode != 0 and "overlap" in proc.stderr.splitlines()[-1]
  assert os.path.isfile(os.path.join(out, "student", "model.keras"))


MEDIAPIPE_PYTHON = os.path.join(REPO, ".venv-mediapipe", "bin", "python")


@pytest.fixture(scope="module")
def sst2_run(tiny_checkpoint_bert_vocab, tmp_path_factory):
  """A tiny single-sentence (SST-2) run exported for LiteRT and MediaPipe at the end of training."""
  assert os.access(MEDIAPIPE_PYTHON, os.X_OK), "run `make .venv-mediapipe/.installed` first"
  out = str(tmp_path_factory.mktemp("sst2_run") / "out")
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags", "--task=sst2",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
              "--pruning_block_size=16,1", "--target_sparsity=0.75", "--export_tflite",
              f"--mediapipe_python={MEDIAPIPE_PYTHON}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, "tflite", export.REPORT_FILE)) as f:
    return out, json.load(f)


def test_mediapipe_text_classifier_matches_keras_on_real_sentences(sst2_run):
  out, report = sst2_run
  assert report["verified_on"]["num_examples"] == 32  # real SST-2 dev sentences
  for variant in ("sparse_fp32", "dense_fp32", "dense_int8"):
    mp = report["variants"][variant]["mediapipe"]
    assert mp["ok"], (variant, mp)
    assert os.path.getsize(os.path.join(out, "tflite", mp["file"])) == mp["bytes"]
    if variant.endswith("fp32"):
      assert mp["max_abs_prob_diff"] <= 1e-5 and mp["max_abs_logit_diff"] <= 1e-4
    else:
      assert mp["max_abs_logit_diff_vs_builtin"] <= export.DELEGATE_MAX_LOGIT_DIFF
  # MediaPipe 0.10.21 runs sparse int8 through XNNPACK, which is off: never shipped silently.
  mp = report["variants"]["sparse_int8"]["mediapipe"]
  assert not mp["ok"] and "refused" in mp
  assert mp["max_abs_logit_diff_vs_builtin"] > export.DELEGATE_MAX_LOGIT_DIFF
  assert not os.path.exists(os.path.join(out, "tflite", "sparse_int8.mediapipe.tflite"))
  # The MediaPipe file still carries our metadata: sparsebert_lite runs it too. MediaPipe pads
  # every input to the model's input length: its files are fixed-length (the LiteRT ones not).
  clf = TextClassifier(os.path.join(out, "tflite", "sparse_fp32.mediapipe.tflite"))
  assert clf.info["task"] == "sst2" and not clf.info["is_pair"] and not clf.dynamic_length
  assert TextClassifier(os.path.join(out, "tflite", "sparse_fp32.tflite")).dynamic_length
  np.testing.assert_allclose(clf.classify("a gripping , funny film .").sum(), 1.0, atol=1e-5)


def test_mediapipe_flag_needs_export_and_an_executable(tmp_path, tiny_checkpoint_bert_vocab):
  for extra, match in ((["--mediapipe_python=" + MEDIAPIPE_PYTHON], "needs --export_tflite"),
                       (["--export_tflite", f"--mediapipe_python={tmp_path}/nope"],
                        "not an executable")):
    proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
                f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={tmp_path}/o",
                *extra)
    assert proc.returncode != 0
    assert "--mediapipe_python" in proc.stderr.strip().splitlines()[-1] and match in proc.stderr
    assert not os.path.exists(tmp_path / "o")


def test_public_export_tflite_on_a_users_model(tmp_path):
  """`tf_sparsebert.export_tflite` on a model built in user code, run by `TextClassifier`."""
  import tensorflow_model_optimization as tfmot
  import tf_sparsebert
  from tf_sparsebert.config import ModelConfig
  from tf_sparsebert.models import bert
  cfg = ModelConfig(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=32,
                    intermediate_dim=64, max_sequence_length=32)
  student = tf_sparsebert.make_sparse_student(
      bert.bert_classifier(bert.bert_backbone(cfg), 2), target_sparsity=0.5, block_size=(4, 1))
  student.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
  x = {"token_ids": np.ones([2, 16], np.int32), "segment_ids": np.zeros([2, 16], np.int32),
       "padding_mask": np.ones([2, 16], np.int32)}
  student.fit(x, np.zeros([2]), verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  with open(BERT_VOCAB, encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
  path = str(tmp_path / "m.tflite")
  tf_sparsebert.export_tflite(student, path, sequence_length=16, variant="sparse_fp32",
                              vocab=vocab, task="sst2")
  clf = TextClassifier(path)
  ids, mask, types = clf.encoder.encode("a gripping film")
  logits = tf_sparsebert.strip(student)({"token_ids": ids, "padding_mask": mask,
                                         "segment_ids": types}).numpy()[0]
  expected = np.exp(logits) / np.exp(logits).sum()
  np.testing.assert_allclose(clf.classify("a gripping film"), expected, atol=1e-5)
  with open(path, "rb") as f:
    weights = model_file.fully_connected_weights(f.read())
  assert sum(w["stored"] == "sparse" and w["read_by"] == "FULLY_CONNECTED" for w in weights) == 12


def test_latency_benchmark_times_and_checks_every_config(block_run):
  from sparsebert_lite import benchmark
  out, _ = block_run
  paths = [os.path.join(out, "tflite", f"{v}.tflite") for v in export.VARIANTS]
  rows = benchmark.benchmark(paths, paths[2], threads=(1, 2), runs=3, warmup=1)
  assert len(rows) == 4 * 2 * 2
  by = {(r["model"], r["resolver"], r["threads"]): r for r in rows}
  for row in rows:
    assert row["median_ms"] > 0 and len(row["runs_ms"]) == 3
  for n in (1, 2):
    assert by[("sparse_fp32.tflite", "AUTO", n)]["correct"]
    assert by[("dense_int8.tflite", "AUTO", n)]["correct"]
    assert by[("sparse_int8.tflite", "BUILTIN_WITHOUT_DEFAULT_DELEGATES", n)]["correct"]
    # XNNPACK's sparse int8 disagrees with the builtin kernels: timed, but not correct.
    assert not by[("sparse_int8.tflite", "AUTO", n)]["correct"]


def test_compact_variant_through_export_run(block_run, tmp_path):
  out, _ = block_run
  data = DataConfig(task="mrpc", glue_dir=GLUE_DIR, max_seq_length=32, max_eval_examples=8)
  config = export.ExportConfig(os.path.join(out, "student"), str(tmp_path / "c"),
                               ("dense_fp32", "compact_dense_fp32"))
  report = export.export_run(config, data)
  assert [r["ffn_neurons"] for r in report["compaction"]] == [64, 64]
  entry = report["variants"]["compact_dense_fp32"]
  assert entry["runs"]["AUTO"]["ok"] and entry["runs"]["AUTO"]["max_abs_logit_diff"] <= 1e-4
  with open(tmp_path / "c" / entry["file"], "rb") as f:
    assert model_file.read_metadata(f.read())["variant"] == "compact_dense_fp32"


def test_an_unstructured_student_exported_sparse_is_told_it_buys_size_not_speed(tiny_run,  # noqa: F811
                                                                                tmp_path):
  data = DataConfig(task="mrpc", glue_dir=GLUE_DIR, max_seq_length=32, max_eval_examples=8)
  config = export.ExportConfig(os.path.join(tiny_run, "student"), str(tmp_path / "u"),
                               ("sparse_fp32", "sparse_int8"))
  report = export.export_run(config, data)
  assert report["block_size"] == [1, 1]
  for variant in ("sparse_fp32", "sparse_int8"):
    entry = report["variants"][variant]
    assert entry["num_sparse_weights"] and not entry["num_read_directly"]
    assert "buys size, not speed" in entry["sparse_weights"], entry["sparse_weights"]


def test_a_variant_is_parsed_once_into_what_it_asks():
  v = export.Variant.parse("compact_sparse_int8_per_tensor")
  assert (v.compact, v.sparse, v.int8, v.per_tensor) == (True, True, True, True)
  assert v.uncompacted.name == "sparse_int8_per_tensor" and export.Variant.parse(v) is v
  assert export.Variant.parse("dense_fp32").sparse_weights_note((16, 1)) is None
  assert "directly" in export.Variant.parse("sparse_fp32").sparse_weights_note((4, 1))
  assert "not speed" in export.Variant.parse("sparse_int8").sparse_weights_note((4, 1))
  with pytest.raises(ValueError, match="--variants: unknown variant 'sparse_int4'"):
    export.Variant.parse("sparse_int4")


def test_import_tf_sparsebert_does_not_import_litert():
  code = ("import sys, tf_sparsebert; "
          "assert 'ai_edge_litert' not in sys.modules, 'LiteRT imported'; "
          "tf_sparsebert.export_tflite; assert 'ai_edge_litert' in sys.modules")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def structured_run(tiny_checkpoint_bert_vocab, tmp_path_factory):
  """A tiny run with half its heads and FFN neurons pruned whole, exported at the end."""
  out = str(tmp_path_factory.mktemp("structured_run") / "out")
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
              "--head_sparsity=0.5", "--neuron_sparsity=0.5", "--target_sparsity=0.5",
              "--export_tflite")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, "tflite", export.REPORT_FILE)) as f:
    return out, json.load(f)


def test_a_structured_student_exports_compacted_files_verified(structured_run):
  out, report = structured_run
  with open(os.path.join(out, "sparsity.json")) as f:
    sparsity = json.load(f)
  # 1 of 2 heads and 32 of 64 neurons per layer; the rest at 50%: 75% of the encoder overall.
  assert sparsity["structure"] == {"heads": 4, "heads_removed": 2, "neurons": 128,
                                   "neurons_removed": 64}
  assert sparsity["remaining_sparsity"] == pytest.approx(0.5, abs=0.01)
  assert sparsity["overall"] == pytest.approx(0.75, abs=0.01)
  assert [(r["heads_kept"], r["ffn_neurons_kept"]) for r in report["compaction"]] == [(1, 32)] * 2
  assert set(report["variants"]) == set(export.default_variants(0.5, 0.5))
  for variant, entry in report["variants"].items():
    run = entry["runs"][entry["op_resolver"]]
    assert run["ok"], (variant, run)
  # The compacted dense int8 file holds half the attention and FFN weights of the dense one.
  sizes = {v: sum(w["shape"][0] * w["shape"][1] for w in e["fully_connected"])
           for v, e in report["variants"].items()}
  head = 32 * 32 + 2 * 32  # the pooler and the classifier, never pruned
  assert sizes["dense_int8"] == 2 * (4 * 32 * 32 + 2 * 32 * 64) + head
  assert sizes["compact_dense_int8"] - head == (sizes["dense_int8"] - head) // 2
  assert report["variants"]["compact_dense_int8"]["bytes"] < report["variants"]["dense_int8"][
      "bytes"]


def test_a_flipped_byte_is_caught_by_the_reports_checksum(block_run, tmp_path):
  import hashlib
  import shutil
  out, report = block_run
  for entry in report["variants"].values():
    with open(os.path.join(out, "tflite", entry["file"]), "rb") as f:
      assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"]
  copy = tmp_path / "tflite"
  shutil.copytree(os.path.join(out, "tflite"), copy)
  TextClassifier(str(copy / "dense_fp32.tflite"))  # intact: loads
  data = bytearray((copy / "dense_fp32.tflite").read_bytes())
  data[len(data) // 2] ^= 0x01  # one bit of a weight
  (copy / "dense_fp32.tflite").write_bytes(bytes(data))
  with pytest.raises(ValueError, match="does not match the checksum export_report.json"):
    TextClassifier(str(copy / "dense_fp32.tflite"))
  proc = _cli("sparsebert_lite.classify", f"--model={copy}/dense_fp32.tflite", "--text=hi")
  assert proc.returncode != 0 and "checksum" in proc.stderr.strip().splitlines()[-1]
