"""Tokenization (keras-nlp WordPiece + packer) and length-bucketed tf.data pipelines."""

import math

import numpy as np
import tensorflow as tf

_TOKENIZE_BATCH = 2048


def tokenize(examples, preprocessor):
  """Packs every example into `[CLS] a [SEP] (b [SEP])`: int32 arrays `[n, sequence_length]`."""
  out = {"token_ids": [], "segment_ids": [], "padding_mask": []}
  n = len(examples)
  for start in range(0, n, _TOKENIZE_BATCH):
    batch = tuple(tf.constant(column[start:start + _TOKENIZE_BATCH]) for column in examples.texts)
    packed = preprocessor(batch if len(batch) > 1 else batch[0])
    for key in out:
      out[key].append(np.asarray(packed[key], dtype=np.int32))
  return {key: np.concatenate(value) for key, value in out.items()}


def _bucketed(features, labels, batch_size, width, seq_len, shuffle, seed):
  """Batches of similar lengths, each padded to a multiple of `width` (few distinct shapes)."""
  lengths = features["padding_mask"].sum(axis=1)
  boundaries = list(range(width + 1, seq_len + 1, width))
  bucket_of = np.searchsorted(boundaries, lengths, side="right")
  steps = sum(math.ceil(np.count_nonzero(bucket_of == b) / batch_size)
              for b in range(len(boundaries) + 1))
  ds = tf.data.Dataset.from_tensor_slices((features, labels))
  if shuffle:
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
  ds = ds.bucket_by_sequence_length(
      element_length_func=lambda x, y: tf.reduce_sum(x["padding_mask"]),
      bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
      padded_shapes=({k: [seq_len] for k in features}, []))
  return ds, steps


def _trim(width, seq_len):
  def trim(x, y):
    longest = tf.reduce_max(tf.reduce_sum(x["padding_mask"], axis=1))
    length = tf.minimum(seq_len, ((longest + width - 1) // width) * width)
    return {k: v[:, :length] for k, v in x.items()}, y
  return trim


def make_dataset(features, labels, batch_size, training, seed=0, bucket_width=32):
  """A `tf.data.Dataset` of `(features, label)` batches and its number of steps.

  Training data are reshuffled every epoch (seeded) and grouped by length; evaluation data keep
  their order. Each batch is cut to its longest example rounded up to `bucket_width` tokens, so
  the model sees at most `sequence_length / bucket_width` shapes (one retrace each).
  """
  seq_len = features["token_ids"].shape[1]
  width = bucket_width or seq_len
  if training and bucket_width:
    ds, steps = _bucketed(features, labels, batch_size, width, seq_len, True, seed)
  else:
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if training:
      ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    steps = math.ceil(len(labels) / batch_size)
  ds = ds.map(_trim(width, seq_len), num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
  return ds.prefetch(tf.data.AUTOTUNE), steps
