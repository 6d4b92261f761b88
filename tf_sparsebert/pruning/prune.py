"""Make a prunable student from a BERT model, strip it, and measure its sparsity."""

import hashlib

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tf_sparsebert.models.bert import encoder_layers, unwrap
from tf_sparsebert.models.encoder import PRUNABLE_KERNELS, PrunableTransformerEncoder
from tf_sparsebert.pruning.blocks import PruneKernelBlocks, zero_block_fraction
from tf_sparsebert.pruning.structured import PruneStructured, removed_groups

keras = tf.keras


def from_keras_nlp(model):
  """A keras-nlp 0.12 `BertBackbone`/`BertClassifier` as our model (weights copied); else `model`.

  keras-nlp's `TransformerEncoder` is not a tfmot `PrunableLayer`, so its BERTs are rebuilt from
  `PrunableTransformerEncoder`s with the same layer names and weights (outputs are equal).
  """
  import keras_nlp
  from tf_sparsebert.models.bert import bert_classifier
  from tf_sparsebert.models.checkpoints import from_keras_nlp_backbone
  if isinstance(model, keras_nlp.models.BertClassifier):
    if model.activation not in (None, keras.activations.linear):
      raise ValueError("make_sparse_student needs a BertClassifier that outputs logits "
                       f"(activation=None), got activation={model.activation.__name__}")
    backbone, _ = from_keras_nlp_backbone(model.backbone)
    classifier = bert_classifier(backbone, model.num_classes, dropout=model.dropout, pooling="cls")
    classifier.get_layer("logits").set_weights(model.get_layer("logits").get_weights())
    return classifier
  if isinstance(model, keras_nlp.models.BertBackbone):
    return from_keras_nlp_backbone(model)[0]
  return model


def make_sparse_student(model, target_sparsity=None, schedule=None, block_size=(1, 1),
                        head_sparsity=0.0, neuron_sparsity=0.0):
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
    model: a classifier or backbone built by `bert_classifier`/`bert_backbone`/`load_bert`, or a
      keras-nlp 0.12 `BertBackbone`/`BertClassifier` (built from a config or a preset).
    target_sparsity: constant sparsity from the first step, if `schedule` is not given.
    schedule: a tfmot `PruningSchedule`.
    block_size: `(rows, cols)` blocks of each kernel's `[in, out]` matrix view that are kept or
      pruned together; `(1, 1)` is unstructured. `(16, 1)` and `(4, 1)` are the shapes TFLite's
      sparse FULLY_CONNECTED kernels run directly (as 1x16 / 1x4 blocks of `[out, in]`).
    head_sparsity: the fraction of each layer's attention heads removed whole, on the same
      schedule (`pruning.structured`); the schedule's sparsity then applies to the weights of
      the heads that stay.
    neuron_sparsity: the same for each layer's FFN neurons.
  """
  if schedule is None:
    if target_sparsity is None:
      raise ValueError("make_sparse_student needs `schedule` or `target_sparsity`.")
    if not 0.0 <= target_sparsity < 1.0:
      raise ValueError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
    schedule = tfmot.sparsity.keras.ConstantSparsity(target_sparsity, begin_step=0, frequency=1)
  block_size = tuple(int(b) for b in block_size)
  if len(block_size) != 2 or min(block_size) < 1:
    raise ValueError(f"block_size must be two positive integers, got {block_size}")
  model = from_keras_nlp(model)
  encoder_layers(model)  # raises a clear error if there is nothing to prune

  def clone(layer):
    layer = unwrap(layer)
    new = layer.__class__.from_config(layer.get_config())
    if isinstance(new, PrunableTransformerEncoder):
      if head_sparsity or neuron_sparsity:
        new = PruneStructured(new, pruning_schedule=schedule, block_size=block_size,
                              head_sparsity=head_sparsity, neuron_sparsity=neuron_sparsity)
      elif block_size == (1, 1):
        new = tfmot.sparsity.keras.prune_low_magnitude(new, pruning_schedule=schedule)
      else:
        new = PruneKernelBlocks(new, pruning_schedule=schedule, block_size=block_size)
    return new

  student = keras.models.clone_model(model, clone_function=clone)
  for src, dst in zip(model.layers, student.layers):
    unwrap(dst).set_weights(unwrap(src).get_weights())
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


def sparsity_report(model, block_size=(1, 1)):
  """Measured zero fraction of the six kernels of every encoder layer.

  Args:
    model: a (stripped or wrapped) classifier or backbone.
    block_size: if not `(1, 1)`, also report the fraction of all-zero blocks of this shape in
      each kernel's `[in, out]` view (`block_sparsity`).

  Returns:
    A dict: `{"kernels": [{"layer", "kernel", "shape", "sparsity"[, "block_sparsity"]}, ...],
    "overall": float, "min": float, "max": float, "num_weights": int, "num_zeros": int,
    "structure": {heads, heads_removed, neurons, neurons_removed}, "remaining_sparsity": the
    zero fraction of the weights of the heads and neurons that stay}`, plus
    `"block_size"` and `"block_overall"` (mean over kernels) for block sizes other than `(1, 1)`.
  """
  block_size = tuple(int(b) for b in block_size)
  rows, zeros, total = [], 0, 0
  structure = {"heads": 0, "heads_removed": 0, "neurons": 0, "neurons_removed": 0}
  removed_weights = 0
  digest = hashlib.sha256()
  for layer in encoder_layers(model):
    inner = unwrap(layer)
    kernels = [w.numpy() for w in inner.get_prunable_weights()]
    groups = removed_groups(inner)
    heads, neurons = kernels[3].shape[0], kernels[4].shape[1]
    structure["heads"] += heads
    structure["heads_removed"] += len(groups["heads"])
    structure["neurons"] += neurons
    structure["neurons_removed"] += len(groups["neurons"])
    # the weights of removed heads (q, k, v, o slices) and neurons (W1 column, W2 row)
    removed_weights += len(groups["heads"]) * sum(k.size // heads for k in kernels[:4])
    removed_weights += len(groups["neurons"]) * sum(k.size // neurons for k in kernels[4:])
    for name, weight, rank in zip(PRUNABLE_KERNELS, inner.get_prunable_weights(),
                                  inner.kernel_input_ranks()):
      value = weight.numpy()
      digest.update(np.packbits(value == 0).tobytes())
      n_zero = int(np.count_nonzero(value == 0))
      row = {"layer": inner.name, "kernel": name, "shape": list(value.shape),
             "sparsity": n_zero / value.size}
      if block_size != (1, 1):
        row["block_sparsity"] = zero_block_fraction(value, rank, block_size)
      rows.append(row)
      zeros += n_zero
      total += value.size
  sparsities = [r["sparsity"] for r in rows]
  report = {"kernels": rows, "overall": zeros / total, "min": min(sparsities),
            "max": max(sparsities), "num_weights": total, "num_zeros": zeros,
            "zeros_sha256": digest.hexdigest(), "structure": structure,
            # zeros among the weights of the heads and neurons that stay
            "remaining_sparsity": (zeros - removed_weights) / max(total - removed_weights, 1)}
  if block_size != (1, 1):
    report["block_size"] = list(block_size)
    report["block_overall"] = float(np.mean([r["block_sparsity"] for r in rows]))
  return report


def mask_sparsity(model):
  """Current fraction of masked-out weights over all pruning wrappers (a tensor, for metrics)."""
  masks = [mask for layer in model.layers if isinstance(layer, pruning_wrapper.PruneLowMagnitude)
           for _, mask, _ in layer.pruning_vars]
  if not masks:
    return None
  total = float(sum(int(np.prod(m.shape)) for m in masks))
  return lambda: 1.0 - tf.add_n([tf.reduce_sum(m) for m in masks]) / total
