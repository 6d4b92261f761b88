"""Make a prunable student from a BERT model, strip it, and measure its sparsity."""

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tf_sparsebert.models.bert import encoder_layers
from tf_sparsebert.models.encoder import PRUNABLE_KERNELS, PrunableTransformerEncoder

keras = tf.keras


def _unwrap(layer):
  return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


def make_sparse_student(model, target_sparsity=None, schedule=None, block_size=(1, 1)):
  """Returns a trainable copy of `model` whose encoder kernels are pruned while it trains.

  Every `PrunableTransformerEncoder` is rebuilt and wrapped with tfmot's `prune_low_magnitude`,
  so its six kernels (query, key, value, attention output, FFN intermediate, FFN output) are
  magnitude-pruned per matrix; embeddings, biases, LayerNorms, pooler and head stay dense. All
  layers are new objects with copied weights: `model` (e.g. a frozen teacher) is left untouched.

  Usage:
  ```python
  schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, 0.9, begin_step=0, end_step=1000)
  student = make_sparse_student(classifier, schedule=schedule)
  student.fit(..., callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  ```

  Args:
    model: a classifier or backbone built by `bert_classifier`/`bert_backbone`/`load_bert`.
    target_sparsity: constant sparsity from the first step, if `schedule` is not given.
    schedule: a tfmot `PruningSchedule`.
    block_size: tfmot block size; only (1, 1) so far.
  """
  if schedule is None:
    if target_sparsity is None:
      raise ValueError("make_sparse_student needs `schedule` or `target_sparsity`.")
    if not 0.0 <= target_sparsity < 1.0:
      raise ValueError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
    schedule = tfmot.sparsity.keras.ConstantSparsity(target_sparsity, begin_step=0, frequency=1)
  encoder_layers(model)  # raises a clear error if there is nothing to prune

  def clone(layer):
    layer = _unwrap(layer)
    new = layer.__class__.from_config(layer.get_config())
    if isinstance(new, PrunableTransformerEncoder):
      new = tfmot.sparsity.keras.prune_low_magnitude(
          new, pruning_schedule=schedule, block_size=tuple(block_size))
    return new

  student = keras.models.clone_model(model, clone_function=clone)
  for src, dst in zip(model.layers, student.layers):
    _unwrap(dst).set_weights(_unwrap(src).get_weights())
  student.trainable = True
  for layer in student.layers:
    layer.trainable = True
  return student


def apply_masks(model):
  """Writes each wrapper's mask into its kernels (tfmot does this at every epoch end)."""
  for layer in model.layers:
    if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
      layer.pruning_obj.weight_mask_op()


def strip(model):
  """Applies the masks and removes the pruning wrappers: a plain model with zeros in its kernels."""
  apply_masks(model)
  return tfmot.sparsity.keras.strip_pruning(model)


def sparsity_report(model):
  """Measured zero fraction of the six kernels of every encoder layer.

  Returns:
    A dict: `{"kernels": [{"layer", "kernel", "shape", "sparsity"}, ...], "overall": float,
    "min": float, "max": float, "num_weights": int, "num_zeros": int}`.
  """
  rows, zeros, total = [], 0, 0
  for layer in encoder_layers(model):
    for name, weight in zip(PRUNABLE_KERNELS, _unwrap(layer).get_prunable_weights()):
      value = weight.numpy()
      n_zero = int(np.count_nonzero(value == 0))
      rows.append({"layer": _unwrap(layer).name, "kernel": name, "shape": list(value.shape),
                   "sparsity": n_zero / value.size})
      zeros += n_zero
      total += value.size
  sparsities = [r["sparsity"] for r in rows]
  return {"kernels": rows, "overall": zeros / total, "min": min(sparsities),
          "max": max(sparsities), "num_weights": total, "num_zeros": zeros}


def mask_sparsity(model):
  """Current fraction of masked-out weights over all pruning wrappers (a tensor, for metrics)."""
  masks = [mask for layer in model.layers if isinstance(layer, pruning_wrapper.PruneLowMagnitude)
           for _, mask, _ in layer.pruning_vars]
  if not masks:
    return None
  total = float(sum(int(np.prod(m.shape)) for m in masks))
  return lambda: 1.0 - tf.add_n([tf.reduce_sum(m) for m in masks]) / total
