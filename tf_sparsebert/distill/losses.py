"""Distillation losses of SparseBERT/TinyBERT, as pure functions of tensors."""

import tensorflow as tf


def kd_loss(teacher_logits, student_logits, temperature=1.0):
  """KL(teacher || student) of the temperature-softened distributions, times T^2, batch mean."""
  t = tf.nn.softmax(teacher_logits / temperature, axis=-1)
  log_t = tf.nn.log_softmax(teacher_logits / temperature, axis=-1)
  log_s = tf.nn.log_softmax(student_logits / temperature, axis=-1)
  kl = tf.reduce_sum(t * (log_t - log_s), axis=-1)
  return tf.reduce_mean(kl) * temperature**2


def _weighted_mean(values, weights):
  if weights is None:
    return tf.reduce_mean(values)
  weights = tf.cast(weights, values.dtype)
  return tf.math.divide_no_nan(tf.reduce_sum(values * weights), tf.reduce_sum(weights))


def ce_loss(labels, logits, weights=None):
  """Hard-label cross-entropy from logits: mean over the batch, or over examples with weight."""
  labels = tf.maximum(tf.cast(labels, tf.int32), 0)
  return _weighted_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits), weights)


def mse_loss(targets, predictions, weights=None):
  """Mean squared error (regression tasks: KD on the prediction, or the hard label)."""
  targets = tf.reshape(tf.cast(targets, predictions.dtype), [-1])
  return _weighted_mean(tf.square(targets - tf.reshape(predictions, [-1])), weights)


def hidden_loss(teacher_hidden, student_hidden, padding_mask):
  """Sum over layers of the MSE between hidden states, over the non-padded tokens only.

  Args:
    teacher_hidden, student_hidden: lists of `[batch, seq, hidden]` tensors (embeddings, then
      every encoder layer).
    padding_mask: `[batch, seq]`, 1 for real tokens.
  """
  mask = tf.cast(padding_mask, teacher_hidden[0].dtype)[:, :, None]
  denom = tf.reduce_sum(mask) * tf.cast(tf.shape(teacher_hidden[0])[-1], mask.dtype)
  total = 0.0
  for t, s in zip(teacher_hidden, student_hidden, strict=True):
    total += tf.reduce_sum(tf.square(t - s) * mask) / denom
  return total


def attention_loss(teacher_scores, student_scores, padding_mask):
  """Sum over layers of the MSE between pre-softmax attention scores (TinyBERT's attention loss).

  Only (query, key) pairs where both tokens are real count. Scores are `[batch, heads, q, k]`.
  """
  mask = tf.cast(padding_mask, teacher_scores[0].dtype)
  pair = mask[:, None, :, None] * mask[:, None, None, :]
  denom = tf.reduce_sum(pair) * tf.cast(tf.shape(teacher_scores[0])[1], mask.dtype)
  total = 0.0
  for t, s in zip(teacher_scores, student_scores, strict=True):
    total += tf.reduce_sum(tf.square(t - s) * pair) / denom
  return total
