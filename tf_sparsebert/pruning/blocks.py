"""Block-sparse pruning of the encoder's 2-D and 3-D kernels.

tfmot computes block masks only for 2-D weights, but keras-nlp's attention kernels are 3-D
(`[hidden, heads, head_dim]` for query/key/value, `[heads, head_dim, hidden]` for the output).
Each of them is one matrix to the model and to TFLite (one FULLY_CONNECTED op), so the block mask
is computed on that matrix: the row-major `[in, out]` view. `block_size=(16, 1)` groups 16
consecutive inputs of one output unit, which TFLite stores as a 1x16 block of its `[out, in]`
weights and its sparse FULLY_CONNECTED kernels read directly.
"""

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (pruning_impl,
                                                                       pruning_wrapper)

keras = tf.keras


def matrix_view_shape(shape, input_rank):
  """The `[in, out]` matrix shape of a kernel whose first `input_rank` axes are its inputs."""
  shape = [int(d) for d in shape]
  return [int(np.prod(shape[:input_rank])), int(np.prod(shape[input_rank:]))]


def zero_block_fraction(kernel, input_rank, block_size):
  """Fraction of all-zero `block_size` blocks in the `[in, out]` view of `kernel` (NumPy).

  Edge blocks of a view not divisible by the block shape are padded with zeros, as tfmot does.
  """
  rows, cols = matrix_view_shape(kernel.shape, input_rank)
  bh, bw = block_size
  view = np.reshape(np.asarray(kernel), [rows, cols])
  padded = np.zeros([-(-rows // bh) * bh, -(-cols // bw) * bw], view.dtype)
  padded[:rows, :cols] = view
  blocks = padded.reshape(padded.shape[0] // bh, bh, padded.shape[1] // bw, bw)
  return float(np.mean(np.all(blocks == 0, axis=(1, 3))))


class MatrixViewPruning(pruning_impl.Pruning):
  """tfmot's `Pruning`, with block masks computed on each weight's `[in, out]` view."""

  def __init__(self, input_ranks, **kwargs):
    self._input_ranks = list(input_ranks)
    super().__init__(**kwargs)

  def _validate_block(self):
    if len(self._input_ranks) != len(self._pruning_vars):
      raise ValueError(f"{len(self._pruning_vars)} prunable weights but "
                       f"{len(self._input_ranks)} input ranks")

  def _maybe_update_block_mask(self, weights):
    index = next(i for i, (w, _, _) in enumerate(self._pruning_vars) if w is weights)
    view = tf.reshape(weights, matrix_view_shape(weights.shape, self._input_ranks[index]))
    threshold, mask = super()._maybe_update_block_mask(view)
    return threshold, tf.reshape(mask, tf.shape(weights))


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class PruneKernelBlocks(pruning_wrapper.PruneLowMagnitude):
  """`prune_low_magnitude` with block sparsity for layers with 3-D kernels.

  The wrapped layer provides `kernel_input_ranks()`, one entry per prunable weight: how many
  leading axes of that kernel are its inputs (see `PrunableTransformerEncoder`). Everything else
  (`UpdatePruningStep`, `strip_pruning`, `PruningSummaries`, saving) is tfmot's.
  """

  def build(self, input_shape):
    block_size = self.block_size
    self.block_size = (1, 1)  # tfmot's own Pruning refuses 3-D weights with blocks
    try:
      super().build(input_shape)
    finally:
      self.block_size = block_size
    self.pruning_obj = self.make_pruning(
        block_size,
        input_ranks=self.layer.kernel_input_ranks(),
        training_step_fn=lambda: self.pruning_step,
        pruning_vars=self.pruning_vars,
        pruning_schedule=self.pruning_schedule,
        sparsity_m_by_n=self.sparsity_m_by_n,
        block_pooling_type=self.block_pooling_type)

  def make_pruning(self, block_size, **kwargs):
    """The `Pruning` object that computes this wrapper's masks (subclasses choose another)."""
    return MatrixViewPruning(block_size=block_size, **kwargs)
