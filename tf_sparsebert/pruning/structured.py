"""Structured pruning: whole attention heads and FFN neurons, on the same schedule as the weights.

What a phone runs fast is smaller dense matrices (LiteRT's XNNPACK has no sparse
FULLY_CONNECTED), so a student that is to be faster must lose whole rows and columns. Inside one
tfmot wrapper per encoder layer, `PruneStructured` removes

* attention heads: head `h` is the `h`-th slice of the query, key and value kernels
  (`[hidden, heads, head_dim]`, axis 1) and of the attention-output kernel (`[heads, head_dim,
  hidden]`, axis 0); once its output slice is zero the head adds nothing to the layer's output;
* FFN neurons: neuron `j` is column `j` of the intermediate kernel and row `j` of the output
  kernel; once that row is zero the neuron adds nothing;

and prunes the weights that remain by magnitude (or in blocks) to the schedule's sparsity, so
`target_sparsity` keeps its meaning for the remaining weights. Heads and neurons are ranked per
layer by the squared L2 norm of all their weights (the group's magnitude: the same criterion
tfmot applies to single weights, and the one the masks can recompute at every pruning step with
no gradients); the fraction removed follows the schedule's cubic ramp,
`fraction(step) = head_sparsity * (1 - (1 - progress)**3)`, and at least one head and one neuron
per layer stay. A removed group has zero weights, so it ranks last at every later step: removal
is permanent, and the masks survive saving, resuming and `strip` like any tfmot mask.
`tf_sparsebert.pruning.compact` then removes them exactly for export.
"""

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule

from tf_sparsebert.models.encoder import PRUNABLE_KERNELS
from tf_sparsebert.pruning.blocks import MatrixViewPruning, PruneKernelBlocks, matrix_view_shape

keras = tf.keras

# (group, axis of the kernel that indexes it), in PRUNABLE_KERNELS order.
GROUP_AXES = {"query": ("heads", 1), "key": ("heads", 1), "value": ("heads", 1),
              "attention_output": ("heads", 0), "intermediate": ("neurons", 1),
              "output": ("neurons", 0)}


def group_scores(kernels, group):
  """Squared L2 norm of each head's or neuron's weights over the kernels that hold it."""
  total = 0.0
  for name, kernel in zip(PRUNABLE_KERNELS, kernels):
    g, axis = GROUP_AXES[name]
    if g == group:
      other = [a for a in range(len(kernel.shape)) if a != axis]
      total = total + tf.reduce_sum(tf.square(kernel), axis=other)
  return total


def keep_mask(scores, fraction):
  """1.0 for the groups to keep: all but the `floor(fraction * n)` lowest scores (at least one
  kept; ties go to the lower index)."""
  n = int(scores.shape[0])
  remove = tf.minimum(tf.cast(tf.floor(fraction * n + 1e-6), tf.int32), n - 1)
  _, kept = tf.math.top_k(scores, k=n)  # descending, stable
  order = tf.scatter_nd(kept[:, None], tf.range(n), [n])  # rank of each group
  return tf.cast(order < n - remove, scores.dtype)


def ramp_progress(schedule, step):
  """Where the schedule's ramp is at `step`, in [0, 1]: its cubic shape for `PolynomialDecay`,
  1 for a one-shot or constant schedule."""
  if not isinstance(schedule, pruning_schedule.PolynomialDecay):  # at once, like the weights
    return tf.constant(1.0)
  config = schedule.get_config()["config"]
  begin, end, power = config["begin_step"], config["end_step"], config["power"]
  p = tf.clip_by_value((tf.cast(step, tf.float32) - begin) / max(end - begin, 1), 0.0, 1.0)
  return 1.0 - (1.0 - p) ** power


def removed_groups(layer):
  """`{"heads": [...], "neurons": [...]}`: indices of the heads whose attention-output slice and
  the neurons whose output row are all zero (NumPy, on a stripped or wrapped layer)."""
  kernels = dict(zip(PRUNABLE_KERNELS, (w.numpy() for w in layer.get_prunable_weights())))
  o, w2 = kernels["attention_output"], kernels["output"]
  return {"heads": np.flatnonzero(np.all(o == 0, axis=(1, 2))).tolist(),
          "neurons": np.flatnonzero(np.all(w2 == 0, axis=1)).tolist()}


class StructuredPruning(MatrixViewPruning):
  """tfmot's `Pruning` with whole heads and neurons removed first, then the remaining weights
  pruned to the schedule's sparsity (on each kernel's `[in, out]` view, in blocks if asked)."""

  def __init__(self, head_sparsity, neuron_sparsity, **kwargs):
    self._fractions = {"heads": float(head_sparsity), "neurons": float(neuron_sparsity)}
    super().__init__(**kwargs)

  def _group_mask(self, index):
    name = PRUNABLE_KERNELS[index]
    group, axis = GROUP_AXES[name]
    kernels = [w for w, _, _ in self._pruning_vars]
    fraction = self._fractions[group] * ramp_progress(self._pruning_schedule, self._step_fn())
    keep = keep_mask(group_scores(kernels, group), fraction)
    shape = [1] * len(kernels[index].shape)
    shape[axis] = -1
    return tf.broadcast_to(tf.reshape(keep, shape), tf.shape(kernels[index]))

  def _maybe_update_block_mask(self, weights):
    index = next(i for i, (w, _, _) in enumerate(self._pruning_vars) if w is weights)
    groups = self._group_mask(index)
    view_shape = matrix_view_shape(weights.shape, self._input_ranks[index])
    view = tf.reshape(weights * groups, view_shape)
    kept = tf.reshape(groups, view_shape)
    if self._block_size != [1, 1]:  # the fraction of blocks that touch a kept group
      kept = tf.cast(tf.nn.max_pool2d(kept[None, :, :, None], self._block_size, self._block_size,
                                      "SAME")[0, :, :, 0] > 0, kept.dtype)
    self._kept_fraction = tf.reduce_mean(kept)
    threshold, mask = super(MatrixViewPruning, self)._maybe_update_block_mask(view)
    return threshold, tf.reshape(mask, tf.shape(weights)) * groups

  def _update_mask(self, weights):
    """tfmot's magnitude mask, with the sparsity counted over the kept groups' weights only."""
    sparsity = self._pruning_schedule(self._step_fn())[1]
    abs_weights = tf.math.abs(weights)
    size = tf.cast(tf.size(abs_weights), tf.float32)
    k = tf.cast(tf.math.maximum(tf.math.round(size * self._kept_fraction * (1 - sparsity)), 1),
                tf.int32)
    values, _ = tf.math.top_k(tf.reshape(abs_weights, [-1]), k=tf.size(abs_weights))
    threshold = tf.gather(values, k - 1)
    mask = tf.math.greater_equal(abs_weights, threshold) & tf.math.greater(abs_weights, 0.0)
    return tf.cast(threshold, weights.dtype), tf.cast(mask, weights.dtype)


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class PruneStructured(PruneKernelBlocks):
  """`prune_low_magnitude` of an encoder layer that also removes whole heads and FFN neurons.

  Usage:
  ```python
  wrapped = PruneStructured(encoder_layer, pruning_schedule=schedule, head_sparsity=0.5,
                            neuron_sparsity=0.5)   # block_size=(16, 1) for block sparsity too
  ```

  Args:
    layer: a `PrunableTransformerEncoder`.
    head_sparsity: the fraction of its attention heads removed at the end of the ramp.
    neuron_sparsity: the fraction of its FFN neurons removed at the end of the ramp.
    **kwargs: `prune_low_magnitude`'s (`pruning_schedule`, `block_size`, ...); the schedule's
      sparsity applies to the weights of the heads and neurons that stay.
  """

  def __init__(self, layer, head_sparsity=0.0, neuron_sparsity=0.0, **kwargs):
    super().__init__(layer, **kwargs)
    for name, value in (("head_sparsity", head_sparsity), ("neuron_sparsity", neuron_sparsity)):
      if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    self.head_sparsity = float(head_sparsity)
    self.neuron_sparsity = float(neuron_sparsity)

  def get_config(self):
    return {**super().get_config(), "head_sparsity": self.head_sparsity,
            "neuron_sparsity": self.neuron_sparsity}

  def make_pruning(self, block_size, **kwargs):
    return StructuredPruning(self.head_sparsity, self.neuron_sparsity, block_size=block_size,
                             **kwargs)
