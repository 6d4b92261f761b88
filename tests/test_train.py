"""End to end: `python -m tf_sparsebert.train` on configs/tiny.flags, evaluate, and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

import tf_sparsebert
import tensorflow as tf  # after tf_sparsebert: Keras 2
from tf_sparsebert import flags as tsb_flags
from tf_sparsebert import pipeline, run_dir, train
from tf_sparsebert.models import saving
from conftest import REPO, SMALL_VOCAB, dropout_rates, write_tiny_checkpoint


def _config(argv):
  fv = flags.FlagValues()
  tsb_flags.define_train_flags(fv)
  fv(["train", "--flagfile=configs/tiny.flags", *argv])
  return tsb_flags.train_config_from_flags(fv)


def _cli(module, *argv):
  return subprocess.run([sys.executable, "-m", module, *argv], cwd=REPO, capture_output=True,
                        text=True, timeout=600, env=dict(os.environ, CI="1"))


@pytest.fixture(scope="module")
def tiny_run(tiny_checkpoint_bert_vocab, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("run") / "out")
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def test_run_writes_every_output(tiny_run):
  for name in ("flags.txt", "config.json", "metrics.json", "sparsity.json", "logs",
               "teacher/model.keras", "teacher/saved_model", "student/model.keras",
               "student/saved_model", "student/vocab.txt", "student/tokenizer.json"):
    assert os.path.exists(os.path.join(tiny_run, name)), name
  with open(os.path.join(tiny_run, "flags.txt")) as f:
    assert "--target_sparsity=0.9" in f.read()
  with open(os.path.join(tiny_run, "metrics.json")) as f:
    m = json.load(f)
  assert set(m["teacher"]) >= {"accuracy", "f1", "main"}
  assert len(m["timing"]["student_epoch_seconds"]) == 2
  assert os.listdir(os.path.join(tiny_run, "logs", "student"))


def test_every_kernel_reaches_the_target(tiny_run):
  with open(os.path.join(tiny_run, "sparsity.json")) as f:
    report = json.load(f)
  assert len(report["kernels"]) == 6 * 2
  assert {r["kernel"] for r in report["kernels"]} == {
      "query", "key", "value", "attention_output", "intermediate", "output"}
  for row in report["kernels"]:
    assert abs(row["sparsity"] - 0.9) <= 0.005, row


def test_evaluate_cli_reproduces_the_run_metrics(tiny_run, tmp_path):
  out_json = str(tmp_path / "eval.json")
  proc = _cli("tf_sparsebert.evaluate", f"--model_dir={tiny_run}/student", "--task=mrpc",
              "--split=dev", "--glue_dir=../shared/data/glue", "--max_seq_length=32",
              "--max_eval_examples=32", f"--output_json={out_json}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out_json) as f:
    evaluated = json.load(f)
  with open(os.path.join(tiny_run, "metrics.json")) as f:
    recorded = json.load(f)["student"]
  assert evaluated["num_examples"] == 32
  np.testing.assert_allclose(evaluated["accuracy"], recorded["accuracy"])
  np.testing.assert_allclose(evaluated["f1"], recorded["f1"])


def test_evaluate_refuses_another_task_and_defaults_to_the_models(tiny_run, tmp_path):
  with open(os.path.join(tiny_run, "student", "task.json")) as f:
    assert json.load(f) == {"task": "mrpc", "labels": ["0", "1"]}
  proc = _cli("tf_sparsebert.evaluate", f"--model_dir={tiny_run}/student", "--task=sst2",
              "--glue_dir=../shared/data/glue", "--max_seq_length=32", "--max_eval_examples=8")
  assert proc.returncode != 0
  assert proc.stderr.strip().splitlines()[-1] == (
      f"error: --task=sst2: the model in {tiny_run}/student was trained for mrpc (its task.json);"
      " pass --task=mrpc")
  out_json = str(tmp_path / "eval.json")
  proc = _cli("tf_sparsebert.evaluate", f"--model_dir={tiny_run}/student",  # no --task
              "--glue_dir=../shared/data/glue", "--max_seq_length=32", "--max_eval_examples=8",
              f"--output_json={out_json}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(out_json) as f:
    assert json.load(f)["task"] == "mrpc"


def test_finished_run_is_never_overwritten(tiny_run, tiny_checkpoint_bert_vocab):
  before = os.path.getmtime(os.path.join(tiny_run, "metrics.json"))
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={tiny_run}")
  assert proc.returncode != 0
  assert "--output_dir" in proc.stderr and "already holds a finished run" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert os.path.getmtime(os.path.join(tiny_run, "metrics.json")) == before


def test_teacher_model_student_init_teacher_and_augmentation(
    tiny_run, tmp_path, tiny_checkpoint_bert_vocab):
  out = str(tmp_path / "second")
  config = _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                    f"--teacher_model={tiny_run}/teacher", "--student_init=teacher",
                    "--student_epochs=1", "--augment_factor=1"])
  result = train.run(config)
  assert not os.path.exists(os.path.join(out, "teacher"))
  # 64 MRPC examples and 64 teacher-labelled copies.
  assert result["timing"]["num_student_train_examples"] == 2 * 64
  assert result["timing"]["student_steps_per_epoch"] >= 2 * 64 // 8
  with open(os.path.join(tiny_run, "metrics.json")) as f:
    assert result["teacher"] == json.load(f)["teacher"]


def test_student_batch_size_batches_only_the_student(tiny_checkpoint_bert_vocab, tmp_path):
  argv = [f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={tmp_path}/out",
          "--batch_size=8", "--bucket_width=0"]
  same = pipeline.prepare(_config(argv))
  split = pipeline.prepare(_config([*argv, "--student_batch_size=4"]))
  sizes = lambda ds: {int(y.shape[0]) for _, y in ds}  # noqa: E731
  assert sizes(split.data.train_ds) == sizes(same.data.train_ds) == {8}
  assert sizes(same.data.student_ds) == {8}
  assert sizes(split.data.student_ds) == {4}
  # configs/tiny.flags: 64 examples
  assert split.data.steps == same.data.steps == same.data.student_steps == 64 // 8
  assert split.data.student_steps == 64 // 4
  # The ramp (to the last step by default; --student_epochs=2) counts the student's own steps.
  assert (same.schedule.end_step, split.schedule.end_step) == (16, 32)


def test_student_bucket_width_pads_only_the_student(tiny_checkpoint_bert_vocab, tmp_path):
  argv = [f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={tmp_path}/out",
          "--batch_size=8", "--bucket_width=32", "--max_seq_length=64"]  # MRPC: ~50 tokens
  split = pipeline.prepare(_config([*argv, "--student_bucket_width=8"]))
  same = pipeline.prepare(_config(argv))
  # The first epoch of each (a dataset reshuffles every time it is read).
  teacher, teacher_same = list(split.data.train_ds), list(same.data.train_ds)
  student = list(split.data.student_ds)
  widths = lambda batches: {int(x["token_ids"].shape[1]) for x, _ in batches}  # noqa: E731
  # The teacher fine-tunes on the same batches with and without the student's width: same pairs,
  # same order, padded to --bucket_width.
  assert len(teacher) == len(teacher_same) and widths(teacher) <= {32, 64}
  for (a, y), (b, z) in zip(teacher, teacher_same):
    np.testing.assert_array_equal(a["token_ids"].numpy(), b["token_ids"].numpy())
    np.testing.assert_array_equal(y.numpy(), z.numpy())
  # The student's batches are each cut to their longest pair rounded up to 8 tokens.
  assert widths(student) - {32, 64}  # 40, 48 or 56 occur
  for x, _ in student:
    longest = int(tf.reduce_max(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=1)))
    assert x["token_ids"].shape[1] == -(-longest // 8) * 8
  assert sum(int(y.shape[0]) for _, y in student) == sum(int(y.shape[0]) for _, y in teacher)
  assert widths(split.data.dev_ds) == widths(same.data.dev_ds)  # evaluation keeps --bucket_width


def test_a_run_in_progress_is_never_joined(tiny_checkpoint_bert_vocab, tmp_path):
  out = str(tmp_path / "busy")
  config = _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}"])
  with run_dir.exclusive(out):  # as another `python -m tf_sparsebert.train` on it would
    with pytest.raises(ValueError, match="--output_dir: .* is in use by another training"):
      train.run(config)
    with pytest.raises(ValueError, match="is in use"):
      train.run(_config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
                         f"--output_dir={out}", "--overwrite"]))
  assert not os.path.exists(out)


def test_fresh_neighbour_copies_every_epoch(tiny_run, tmp_path, tiny_checkpoint_bert_vocab):
  out = str(tmp_path / "fresh")
  config = _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                    f"--teacher_model={tiny_run}/teacher", "--augment_factor=2"])
  p = pipeline.prepare(config)
  assert isinstance(p.data.student_ds, list) and len(p.data.student_ds) == 2  # --student_epochs=2
  epochs = [[(x["token_ids"].numpy(), y.numpy()) for x, y in d] for d in p.data.student_ds]
  assert [len(e) for e in epochs] == [p.data.student_steps] * 2
  labels = [np.concatenate([y for _, y in e]) for e in epochs]
  for y in labels:  # each epoch: the 64 originals (a few may fall in a cut last batch) + copies
    assert 60 <= np.count_nonzero(y >= 0) <= 64 and np.count_nonzero(y < 0) > 100
  ids = [sorted(map(tuple, np.concatenate([t[:, :8] for t, _ in e]).tolist())) for e in epochs]
  assert ids[0] != ids[1]  # other copies in the second epoch
  assert p.data.num_student_examples == 3 * 64
  result = train.run(config)
  assert len(result["timing"]["student_epoch_seconds"]) == 2
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f)["train"]["data"]["augment_factor"] == 2


@pytest.mark.parametrize("argv, match", [
    (["--target_sparsity=1.0"], r"--target_sparsity: must be in \[0, 1\)"),
    (["--target_sparsity=-0.1"], r"--target_sparsity"),
    (["--pruning_end_step=-2"], r"--pruning_end_step: must be >="),
    (["--head_sparsity=1.0"], r"--head_sparsity: must be in \[0, 1\)"),
    (["--pruning_end_step=1000"], r"--pruning_end_step=1000 is after the last training step"),
    (["--pruning_end_step=7"], r"multiple of --pruning_frequency"),
    (["--max_seq_length=100"], r"--max_seq_length=100 is above the model's 64 positions"),
    (["--glue_dir=/nonexistent"], r"--glue_dir: /nonexistent is not a directory"),
    (["--init_checkpoint=/nonexistent/dir"], r"--init_checkpoint: /nonexistent/dir does not exist"),
    (["--teacher_model=/nonexistent"], r"--teacher_model: /nonexistent"),
    (["--student_epochs=0"], r"--student_epochs: must be positive"),
    (["--pruning_block_size=a,b"], r"--pruning_block_size"),
    (["--batch_size=0"], r"--batch_size"),
    (["--student_batch_size=-1"], r"--student_batch_size: must be >= 0"),
    (["--student_bucket_width=-2"], r"--student_bucket_width: must be >= -1"),
])
def test_bad_input_fails_before_anything_is_written(argv, match, tmp_path,
                                                    tiny_checkpoint_bert_vocab):
  out = str(tmp_path / "out")
  with pytest.raises((ValueError, FileNotFoundError), match=match):
    config = _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                      *argv])
    train.run(config)
  assert not os.path.exists(out)


def test_vocab_that_does_not_match_the_checkpoint(tmp_path):
  path = write_tiny_checkpoint(str(tmp_path / "ck"), SMALL_VOCAB)
  with open(os.path.join(path, "vocab.txt"), "a") as f:
    f.write("extra\n")
  with pytest.raises(ValueError, match="vocab.txt has 21 tokens but config.json says"):
    train.run(_config([f"--init_checkpoint={path}", f"--output_dir={tmp_path / 'out'}"]))
  assert not os.path.exists(tmp_path / "out")


def test_cli_error_is_one_clear_line(tmp_path, tiny_checkpoint_bert_vocab):
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
              f"--output_dir={tmp_path / 'out'}", "--target_sparsity=1.5")
  assert proc.returncode != 0
  assert "error: --target_sparsity: must be in [0, 1), got 1.5" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_regression_task_end_to_end(tmp_path, tiny_checkpoint_bert_vocab):
  """STS-B: one-output head, MSE instead of KL, Pearson/Spearman in metrics.json."""
  out = str(tmp_path / "stsb")
  result = train.run(_config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
                              f"--output_dir={out}", "--task=stsb", "--student_epochs=1",
                              "--pooling=mean", "--student_init=teacher",
                              "--target_sparsity=0.5"]))
  assert set(result["student"]) >= {"pearson", "spearman", "main"}
  assert np.isfinite(result["student"]["pearson"])
  with open(os.path.join(out, "sparsity.json")) as f:
    assert all(abs(r["sparsity"] - 0.5) <= 0.005 for r in json.load(f)["kernels"])


def _summaries(directory):
  """{tag: [(step, value or image bytes)]} of every event file under `directory`."""
  import glob
  import tensorflow as tf
  out = {}
  for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tensor = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
        out.setdefault(value.tag, []).append((event.step, tensor))
  return out


def test_tensorboard_has_loss_parts_sparsity_lr_dev_metrics_and_image(tiny_run):
  student = _summaries(os.path.join(tiny_run, "logs", "student"))
  for tag in ("epoch_kd_loss", "epoch_ce_loss", "epoch_hidden_loss", "epoch_attention_loss",
              "epoch_sparsity", "epoch_learning_rate", "dev/accuracy", "dev/f1",
              "sparsity/overall", "sparsity/per_kernel"):
    assert tag in student, (tag, sorted(student))
  assert [step for step, _ in student["dev/f1"]] == [1, 2]
  with open(os.path.join(tiny_run, "metrics.json")) as f:
    final = json.load(f)["student"]
  # The last epoch's dev metric is the stripped student's (stripping changes nothing).
  assert float(student["dev/f1"][-1][1]) == pytest.approx(final["f1"], abs=1e-4)
  assert float(student["sparsity/overall"][-1][1]) == pytest.approx(0.9, abs=0.005)
  image = student["sparsity/per_kernel"][-1][1]  # [width, height, encoded png]
  assert image[2][:8] == b"\x89PNG\r\n\x1a\n"
  teacher = _summaries(os.path.join(tiny_run, "logs", "teacher"))
  assert "dev/f1" in teacher and "epoch_learning_rate" in teacher


def test_report_cli_writes_markdown_html_and_figures(tiny_run, tmp_path):
  out = tmp_path / "report"
  proc = _cli("tf_sparsebert.report", tiny_run, f"--output_dir={out}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  files = set(os.listdir(out))
  assert {"report.md", "report.html", "sparsity.png", "student_losses.png", "student_dev.png",
          "teacher_dev.png"} <= files, files
  for name in files - {"report.md", "report.html"}:
    assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with open(os.path.join(tiny_run, "metrics.json")) as f:
    metrics = json.load(f)
  md = (out / "report.md").read_text()
  assert f"| student | {metrics['student']['accuracy']:.2f} | {metrics['student']['f1']:.2f} |" in md
  assert "<table" in (out / "report.html").read_text()
  proc = _cli("tf_sparsebert.report", str(tmp_path), f"--output_dir={tmp_path}/r2")
  assert proc.returncode != 0 and "not a finished tf_sparsebert run" in proc.stderr


def test_same_seed_and_flags_give_the_same_masks_and_metrics(tiny_run, tiny_checkpoint_bert_vocab,
                                                             tmp_path):
  out = str(tmp_path / "again")
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  for name in ("metrics.json", "sparsity.json"):
    with open(os.path.join(tiny_run, name)) as f, open(os.path.join(out, name)) as g:
      first, second = json.load(f), json.load(g)
    first.pop("timing", None)
    second.pop("timing", None)
    assert first == second, name
  from tf_sparsebert.models import saving
  a = saving.load_classifier(os.path.join(tiny_run, "student"))
  b = saving.load_classifier(os.path.join(out, "student"))
  for wa, wb in zip(a.weights, b.weights):
    np.testing.assert_array_equal(wa.numpy() == 0, wb.numpy() == 0, err_msg=wa.name)  # masks
    np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.name)


HARD_LABELS = ["--augment_factor=0", "--alpha_kd=0", "--alpha_ce=1", "--alpha_hidden=0",
               "--alpha_attention=0"]


@pytest.mark.parametrize("argv, init, kernel_sparsity, layers", [
    # fine-tune-then-prune (experiments/configs/mrpc_finetune_then_prune.flags): from the
    # fine-tuned teacher, the cubic schedule, hard labels only
    (["--student_init=teacher", *HARD_LABELS], "teacher", 0.9, 2),
    # prune-then-fine-tune: one-shot magnitude pruning of the pretrained weights (a ramp of no
    # length), then the mask is kept
    ([*HARD_LABELS, "--pruning_end_step=0", "--target_sparsity=0.5"], "pretrained", 0.5, 2),
    # a dense 1-layer student distilled from the 2-layer teacher (shallow baseline)
    (["--student_layers=1", "--target_sparsity=0.0"], "pretrained", 0.0, 1),
])
def test_baselines_and_shallow_students_end_to_end(argv, init, kernel_sparsity, layers, tiny_run,
                                                   tmp_path, tiny_checkpoint_bert_vocab):
  out = str(tmp_path / "s")
  result = train.run(_config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
                              f"--output_dir={out}", f"--teacher_model={tiny_run}/teacher",
                              "--augment_factor=1", "--alpha_hidden=1", *argv]))
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f)["train"]["student_init"] == init
  history = result["history"]["student"]
  if "--alpha_kd=0" in argv:  # hard labels only, no augmented copies, no teacher losses
    assert result["timing"]["num_student_train_examples"] == 64
    assert history["kd_loss"] == [0.0, 0.0] and history["hidden_loss"] == [0.0, 0.0]
  else:
    assert result["timing"]["num_student_train_examples"] == 128
    assert all(v > 0 for v in history["hidden_loss"])
  with open(os.path.join(out, "sparsity.json")) as f:
    report = json.load(f)
  assert len(report["kernels"]) == 6 * layers
  assert all(abs(r["sparsity"] - kernel_sparsity) <= 0.005 for r in report["kernels"])
  student = saving.load_classifier(os.path.join(out, "student"))
  rates = dropout_rates(student)
  assert len(rates) == 2 + layers
  assert all(v in (0.1, {0.1}) for v in rates.values()), rates


def test_student_layers_above_the_checkpoint_depth(tmp_path, tiny_checkpoint_bert_vocab):
  with pytest.raises(ValueError, match="--student_layers=3 is more than the 2 layers"):
    train.run(_config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
                       f"--output_dir={tmp_path / 'out'}", "--student_layers=3"]))
  assert not os.path.exists(tmp_path / "out")


def test_student_freeze_token_embedding_keeps_it_and_saves_it_trainable(
    tiny_run, tmp_path, tiny_checkpoint_bert_vocab):
  out = str(tmp_path / "frozen")
  train.run(_config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
                     f"--teacher_model={tiny_run}/teacher", "--student_freeze_token_embedding"]))
  backbone, _ = tf_sparsebert.load_bert(tiny_checkpoint_bert_vocab, sequence_length=32)

  def embeddings(run):
    model = saving.load_classifier(os.path.join(run, "student"))
    return model, {name: model.get_layer(name).get_weights()[0]
                   for name in ("token_embedding", "position_embedding")}

  frozen, kept = embeddings(out)
  _, trained = embeddings(tiny_run)  # the same recipe without the flag
  np.testing.assert_array_equal(kept["token_embedding"], backbone.get_layer(
      "token_embedding").get_weights()[0])
  assert np.abs(trained["token_embedding"] - kept["token_embedding"]).max() > 1e-4
  assert np.abs(kept["position_embedding"] - backbone.get_layer(
      "position_embedding").get_weights()[0]).max() > 1e-4  # the rest trains
  assert frozen.get_layer("token_embedding").trainable  # frozen for distillation only
  with open(os.path.join(out, "sparsity.json")) as f:
    assert all(abs(r["sparsity"] - 0.9) <= 1 / 1024 for r in json.load(f)["kernels"])
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f)["train"]["student_freeze_token_embedding"] is True
