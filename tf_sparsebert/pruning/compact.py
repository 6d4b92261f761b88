"""Compaction: remove the FFN neurons that pruning emptied, into smaller dense matrices.

An intermediate neuron `j` whose input weights (column `j` of the FFN intermediate kernel) are all
zero outputs the constant `act(b1[j])` for every token, so its contribution to the FFN output is
the constant `act(b1[j]) * W2[j, :]`. Folding that into the output bias and deleting the neuron
(column `j` of W1 and b1, row `j` of W2) gives the same model, exactly up to float rounding, with
a smaller FFN. Block pruning empties many such neurons (16x1 blocks at 90% emptied ~50% of
MiniLM's); unstructured pruning almost none. Dense kernels (int8 with XNNPACK) then run the
smaller matrices at full speed.
"""

import numpy as np
import tensorflow as tf

from tf_sparsebert.models.bert import encoder_layers
from tf_sparsebert.models.encoder import PrunableTransformerEncoder
from tf_sparsebert.pruning.prune import _unwrap

keras = tf.keras


def empty_ffn_neurons(layer):
  """Boolean mask of the FFN intermediate neurons whose input weights are all zero."""
  return np.all(layer._feedforward_intermediate_dense.kernel.numpy() == 0, axis=0)


def compact(model):
  """Returns `(compacted_model, report)`: `model` (stripped) without its emptied FFN neurons.

  Every encoder block keeps its own number of neurons; the model is a new functional model of
  the same layers, weights copied, outputs equal to `model`'s. `report` lists per layer the
  neurons before and after.
  """
  layers = [_unwrap(layer) for layer in encoder_layers(model)]
  if any(_unwrap(layer) is not layer for layer in encoder_layers(model)):
    raise ValueError("compact() needs a stripped model: call tf_sparsebert.strip(model) first")
  keep = {layer.name: ~empty_ffn_neurons(layer) for layer in layers}
  for name, mask in keep.items():
    if not mask.any():  # keep one neuron so the layer stays valid
      mask[0] = True

  def clone(layer):
    config = layer.get_config()
    if isinstance(layer, PrunableTransformerEncoder):
      config["intermediate_dim"] = int(keep[layer.name].sum())
    return layer.__class__.from_config(config)

  compacted = keras.models.clone_model(model, clone_function=clone)
  report = []
  for old, new in zip(model.layers, compacted.layers):
    if not isinstance(old, PrunableTransformerEncoder):
      new.set_weights(old.get_weights())
      continue
    mask = keep[old.name]
    w1, b1 = (v.numpy() for v in (old._feedforward_intermediate_dense.kernel,
                                  old._feedforward_intermediate_dense.bias))
    w2, b2 = (v.numpy() for v in (old._feedforward_output_dense.kernel,
                                  old._feedforward_output_dense.bias))
    activation = old._feedforward_intermediate_dense.activation
    constant = activation(tf.constant(b1[~mask])).numpy()
    replaced = {
        id(old._feedforward_intermediate_dense.kernel): w1[:, mask],
        id(old._feedforward_intermediate_dense.bias): b1[mask],
        id(old._feedforward_output_dense.kernel): w2[mask],
        id(old._feedforward_output_dense.bias): b2 + constant @ w2[~mask],
    }
    new.set_weights([replaced.get(id(w), w.numpy()) for w in old.weights])
    report.append({"layer": old.name, "ffn_neurons": int(mask.size),
                   "ffn_neurons_kept": int(mask.sum())})
  return compacted, report
