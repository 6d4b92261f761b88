"""Distillation losses against values computed by hand with NumPy."""

import numpy as np
import tensorflow as tf

from tf_sparsebert.distill import losses


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_kd_loss_matches_hand_computed_kl_times_t_squared():
  t = np.array([[2.0, 0.5], [0.1, 1.0]], np.float32)
  s = np.array([[1.0, 1.0], [-1.0, 0.3]], np.float32)
  for temp in (1.0, 2.0):
    pt, ps = _softmax(t / temp), _softmax(s / temp)
    expected = np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), -1)) * temp**2
    np.testing.assert_allclose(losses.kd_loss(t, s, temp).numpy(), expected, rtol=1e-5)
  assert abs(float(losses.kd_loss(t, t, 3.0))) < 1e-6


def test_ce_loss_is_mean_negative_log_likelihood():
  logits = np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)
  labels = np.array([0, 0])
  p = _softmax(logits)
  expected = -np.mean(np.log(p[[0, 1], labels]))
  np.testing.assert_allclose(losses.ce_loss(labels, logits).numpy(), expected, rtol=1e-6)


def test_hidden_loss_ignores_padding_and_sums_layers():
  rng = np.random.default_rng(0)
  t = [rng.normal(size=(2, 3, 4)).astype(np.float32) for _ in range(2)]
  s = [rng.normal(size=(2, 3, 4)).astype(np.float32) for _ in range(2)]
  mask = np.array([[1, 1, 0], [1, 0, 0]], np.int32)
  expected = 0.0
  for a, b in zip(t, s):
    diffs = [np.mean((a[i, j] - b[i, j])**2) for i in range(2) for j in range(3) if mask[i, j]]
    expected += np.mean(diffs)
  np.testing.assert_allclose(losses.hidden_loss(t, s, mask).numpy(), expected, rtol=1e-5)
  # Changing padded positions changes nothing.
  s2 = [x.copy() for x in s]
  s2[0][0, 2] += 100.0
  np.testing.assert_allclose(losses.hidden_loss(t, s2, mask).numpy(), expected, rtol=1e-5)


def test_attention_loss_uses_only_real_query_key_pairs():
  rng = np.random.default_rng(1)
  t = [rng.normal(size=(2, 2, 3, 3)).astype(np.float32)]
  s = [rng.normal(size=(2, 2, 3, 3)).astype(np.float32)]
  mask = np.array([[1, 1, 0], [1, 1, 1]], np.int32)
  vals = [(t[0][b, h, q, k] - s[0][b, h, q, k])**2 for b in range(2) for h in range(2)
          for q in range(3) for k in range(3) if mask[b, q] and mask[b, k]]
  np.testing.assert_allclose(losses.attention_loss(t, s, mask).numpy(), np.mean(vals), rtol=1e-5)


def test_mse_loss_for_regression():
  np.testing.assert_allclose(
      losses.mse_loss(np.array([1.0, 2.0]), tf.constant([[1.5], [1.0]])).numpy(),
      (0.25 + 1.0) / 2, rtol=1e-6)


def test_unlabelled_examples_are_skipped_by_the_hard_label_losses():
  logits = np.array([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]], np.float32)
  labels = np.array([0, 0, -1])
  weights = (labels >= 0).astype(np.float32)
  np.testing.assert_allclose(losses.ce_loss(labels, logits, weights).numpy(),
                             losses.ce_loss(labels[:2], logits[:2]).numpy(), rtol=1e-6)
  assert float(losses.ce_loss(labels, logits, np.zeros(3))) == 0.0
  np.testing.assert_allclose(
      losses.mse_loss(np.array([1.0, -1.0]), tf.constant([[2.0], [7.0]]), np.array([1.0, 0.0])),
      1.0)
