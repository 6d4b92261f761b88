"""Distiller: loss parts, metrics, pruning inside plain model.fit with user callbacks."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import tf_sparsebert
from tf_sparsebert.config import ModelConfig
from tf_sparsebert.distill import losses
from tf_sparsebert.models import bert

keras = tf.keras


def _clf(layers=2, dropout=0.0, seed=0):
  keras.utils.set_random_seed(seed)
  cfg = ModelConfig(vocabulary_size=40, num_layers=layers, num_heads=2, hidden_dim=32,
                    intermediate_dim=64, max_sequence_length=32, dropout=dropout,
                    attention_dropout=dropout)
  return bert.bert_classifier(bert.bert_backbone(cfg), 2, dropout=dropout)


def _data(n=16, seq=12):
  rng = np.random.default_rng(0)
  mask = np.ones((n, seq), np.int32)
  mask[1::2, 8:] = 0
  x = {"token_ids": rng.integers(0, 40, (n, seq)).astype(np.int32),
       "segment_ids": np.zeros((n, seq), np.int32), "padding_mask": mask}
  return x, (np.arange(n) % 2).astype(np.int32)


def test_loss_parts_equal_hand_combination():
  teacher, student = _clf(seed=0), _clf(seed=1)
  d = tf_sparsebert.Distiller(student=student, teacher=teacher, alpha_kd=0.7, alpha_ce=0.3,
                              alpha_hidden=2.0, alpha_attention=0.5, temperature=2.0)
  x, y = _data()
  t_out = bert.distillation_view(teacher)(x)
  s_out = bert.distillation_view(student)(x)
  parts = d.compute_losses(x, y, t_out, s_out)
  np.testing.assert_allclose(parts["kd_loss"], losses.kd_loss(t_out["logits"], s_out["logits"], 2.0))
  np.testing.assert_allclose(parts["ce_loss"], losses.ce_loss(y, s_out["logits"]))
  np.testing.assert_allclose(parts["hidden_loss"], losses.hidden_loss(
      t_out["hidden_states"], s_out["hidden_states"], x["padding_mask"]))
  expected = (0.7 * parts["kd_loss"] + 0.3 * parts["ce_loss"] + 2.0 * parts["hidden_loss"]
              + 0.5 * parts["attention_loss"])
  np.testing.assert_allclose(parts["loss"], expected, rtol=1e-6)
  assert float(parts["hidden_loss"]) > 0 and float(parts["attention_loss"]) > 0


def test_identical_student_has_zero_distillation_loss():
  teacher = _clf(seed=0)
  student = tf_sparsebert.make_sparse_student(teacher, target_sparsity=0.0)
  d = tf_sparsebert.Distiller(student=student, teacher=teacher)
  d.compile(optimizer=keras.optimizers.SGD(0.0))
  x, y = _data()
  result = d.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
  for key in ("kd_loss", "hidden_loss", "attention_loss", "loss"):
    assert abs(result[key]) < 1e-6, (key, result[key])


class Recorder(keras.callbacks.Callback):
  def __init__(self):
    super().__init__()
    self.logs = []

  def on_train_batch_end(self, batch, logs=None):
    self.logs.append(dict(logs))


def test_fit_prunes_with_user_callbacks_and_reports_metrics():
  teacher = _clf(dropout=0.1, seed=0)
  sched = tfmot.sparsity.keras.PolynomialDecay(0.0, 0.75, begin_step=0, end_step=8, frequency=2)
  student = tf_sparsebert.make_sparse_student(teacher, schedule=sched)
  d = tf_sparsebert.Distiller(student=student, teacher=teacher, alpha_ce=1.0)
  d.compile(optimizer=keras.optimizers.Adam(1e-3))
  x, y = _data()
  rec = Recorder()
  hist = d.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y),
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep(), rec,
                          keras.callbacks.EarlyStopping(patience=5)])
  assert {"loss", "kd_loss", "ce_loss", "hidden_loss", "attention_loss", "accuracy", "sparsity",
          "val_loss", "val_accuracy"} <= set(hist.history)
  assert len(rec.logs) == 8
  assert rec.logs[0]["sparsity"] < 0.1  # the mean over the epoch so far, from 0
  assert hist.history["sparsity"][-1] > 0.7
  report = tf_sparsebert.sparsity_report(tf_sparsebert.strip(student))
  assert all(abs(r["sparsity"] - 0.75) <= 0.005 for r in report["kernels"])
  assert not teacher.trainable


def test_shallow_student_learns_from_uniformly_mapped_teacher_layers():
  teacher = _clf(layers=4, seed=0)
  student = _clf(layers=2, seed=1)
  d = tf_sparsebert.Distiller(student=student, teacher=teacher, alpha_hidden=1.0,
                              alpha_attention=1.0)
  x, y = _data()
  t_out, s_out = d._forward(x, training=False)
  full = bert.distillation_view(teacher)(x)
  s_ref = bert.distillation_view(student)(x)
  # student layers 1, 2 <- teacher layers 2, 4; embeddings <- embeddings
  for got, want in zip(t_out["hidden_states"], [full["hidden_states"][k] for k in (0, 2, 4)]):
    np.testing.assert_array_equal(got, want)
  parts = d.compute_losses(x, y, t_out, s_out)
  np.testing.assert_allclose(parts["hidden_loss"], losses.hidden_loss(
      [full["hidden_states"][k] for k in (0, 2, 4)], s_ref["hidden_states"], x["padding_mask"]),
      rtol=1e-6)
  np.testing.assert_allclose(parts["attention_loss"], losses.attention_loss(
      [full["attention_scores"][k] for k in (1, 3)], s_ref["attention_scores"],
      x["padding_mask"]), rtol=1e-6)
  with pytest.raises(ValueError, match="at least as deep as the student"):
    tf_sparsebert.Distiller(student=teacher, teacher=student)
  # Logit-only distillation works across any depths.
  tf_sparsebert.Distiller(student=teacher, teacher=student, alpha_hidden=0.0,
                          alpha_attention=0.0)


def test_hard_labels_only_needs_no_teacher_forward():
  teacher, student = _clf(seed=0), _clf(seed=1)
  d = tf_sparsebert.Distiller(student=student, teacher=teacher, alpha_kd=0.0, alpha_ce=1.0,
                              alpha_hidden=0.0, alpha_attention=0.0)
  calls = []
  teacher.call = lambda *a, **k: calls.append(1)  # would break the forward pass if used
  x, y = _data()
  t_out, s_out = d._forward(x, training=False)
  parts = d.compute_losses(x, y, t_out, s_out)
  assert not calls and float(parts["kd_loss"]) == 0.0
  np.testing.assert_allclose(parts["loss"], losses.ce_loss(y, s_out["logits"]), rtol=1e-6)
