"""Compaction: remove the attention heads and FFN neurons pruning emptied, exactly, into smaller
dense matrices (for export: dense int8 on XNNPACK runs smaller matrices at full speed).

* An FFN neuron `j` whose input weights (column `j` of the intermediate kernel) are all zero
  outputs the constant `act(b1[j])` for every token, and one whose output weights (row `j` of the
  output kernel) are all zero adds nothing; either way its contribution to the FFN output is the
  constant `act(b1[j]) * W2[j, :]`. Folding that into the output bias and deleting the neuron
  (column `j` of W1 and b1, row `j` of W2) gives the same model, exactly up to float rounding.
* An attention head `h` whose attention-output slice (`[h, :, :]` of the `[heads, head_dim,
  hidden]` kernel) is all zero adds nothing to the layer's output, whatever its queries, keys and
  values: deleting its query, key and value slices (kernels and biases) and its output slice gives
  the same model with fewer heads of the same size.

Structured pruning (`pruning.structured`) empties whole heads and neurons by design; block pruning
empties many neurons (16x1 blocks at 90% emptied ~50% of MiniLM's); unstructured pruning almost
none. Every encoder layer keeps its own numbers of heads and neurons (at least one of each).
"""

import numpy as np
import tensorflow as tf

from tf_sparsebert.models.bert import encoder_layers, unwrap
from tf_sparsebert.models.encoder import PrunableTransformerEncoder

keras = tf.keras


def empty_ffn_neurons(layer):
  """Boolean mask of the FFN neurons whose input weights or output weights are all zero."""
  w1 = layer._feedforward_intermediate_dense.kernel.numpy()
  w2 = layer._feedforward_output_dense.kernel.numpy()
  return np.all(w1 == 0, axis=0) | np.all(w2 == 0, axis=1)


def empty_heads(layer):
  """Boolean mask of the attention heads whose attention-output slice is all zero."""
  return np.all(layer._self_attention_layer._output_dense.kernel.numpy() == 0, axis=(1, 2))


def _keep(empty):
  keep = ~empty
  if not keep.any():  # keep one so the layer stays valid
    keep[0] = True
  return keep


def _copy_encoder(old, new, heads, neurons):
  """Sets `new`'s weights from `old`'s without the removed heads and neurons (fold included)."""
  a_old, a_new = old._self_attention_layer, new._self_attention_layer
  for name in ("_query_dense", "_key_dense", "_value_dense"):
    src, dst = getattr(a_old, name), getattr(a_new, name)
    dst.kernel.assign(src.kernel.numpy()[:, heads, :])
    dst.bias.assign(src.bias.numpy()[heads, :])
  a_new._output_dense.kernel.assign(a_old._output_dense.kernel.numpy()[heads])
  a_new._output_dense.bias.assign(a_old._output_dense.bias.numpy())
  for name in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
    getattr(new, name).set_weights(getattr(old, name).get_weights())
  f1_old, f2_old = old._feedforward_intermediate_dense, old._feedforward_output_dense
  w1, b1, w2, b2 = (v.numpy() for v in (f1_old.kernel, f1_old.bias, f2_old.kernel, f2_old.bias))
  constant = f1_old.activation(tf.constant(b1[~neurons])).numpy()
  new._feedforward_intermediate_dense.kernel.assign(w1[:, neurons])
  new._feedforward_intermediate_dense.bias.assign(b1[neurons])
  new._feedforward_output_dense.kernel.assign(w2[neurons])
  new._feedforward_output_dense.bias.assign(b2 + constant @ w2[~neurons])


def compact(model):
  """Returns `(compacted_model, report)`: `model` (stripped) without its emptied heads and neurons.

  The model is a new functional model of the same layers, weights copied, outputs equal to
  `model`'s. `report` lists per layer the heads and neurons before and after.
  """
  if any(unwrap(layer) is not layer for layer in encoder_layers(model)):
    raise ValueError("compact() needs a stripped model: call tf_sparsebert.strip(model) first")
  layers = encoder_layers(model)
  heads = {layer.name: _keep(empty_heads(layer)) for layer in layers}
  neurons = {layer.name: _keep(empty_ffn_neurons(layer)) for layer in layers}

  def clone(layer):
    config = layer.get_config()
    if isinstance(layer, PrunableTransformerEncoder):
      config["intermediate_dim"] = int(neurons[layer.name].sum())
      config["key_dim"] = int(layer._self_attention_layer._key_dim)
      config["num_heads"] = int(heads[layer.name].sum())
    return layer.__class__.from_config(config)

  compacted = keras.models.clone_model(model, clone_function=clone)
  report = []
  for old, new in zip(model.layers, compacted.layers):
    if not isinstance(old, PrunableTransformerEncoder):
      new.set_weights(old.get_weights())
      continue
    _copy_encoder(old, new, heads[old.name], neurons[old.name])
    report.append({"layer": old.name,
                   "heads": int(heads[old.name].size),
                   "heads_kept": int(heads[old.name].sum()),
                   "ffn_neurons": int(neurons[old.name].size),
                   "ffn_neurons_kept": int(neurons[old.name].sum())})
  return compacted, report
