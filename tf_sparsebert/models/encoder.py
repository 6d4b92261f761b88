"""PrunableTransformerEncoder: keras-nlp's TransformerEncoder that tfmot can prune."""

import math

import keras_nlp
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from keras_nlp.src.layers.modeling.transformer_layer_utils import merge_padding_and_attention_mask

keras = tf.keras

PRUNABLE_KERNELS = ("query", "key", "value", "attention_output", "intermediate", "output")


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class PrunableTransformerEncoder(keras_nlp.layers.TransformerEncoder,
                                 tfmot.sparsity.keras.PrunableLayer):
  """A keras-nlp `TransformerEncoder` whose six linear kernels are prunable by tfmot.

  `get_prunable_weights()` returns exactly the query, key, value, attention-output, FFN
  intermediate and FFN output kernels; biases and LayerNorms stay dense. The attention is
  computed here (same math as `MultiHeadAttention`) so that the layer can also return the
  pre-softmax attention scores, which the attention-map distillation loss needs.
  `build()` creates the attention kernels (tf_keras `MultiHeadAttention` would create them only
  on its first call), so `get_prunable_weights()` works on a freshly built layer.

  Usage:
  ```python
  layer = PrunableTransformerEncoder(intermediate_dim=64, num_heads=2)
  pruned = tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
  y, scores = pruned(x, padding_mask=mask, return_attention_scores=True)
  ```
  """

  def __init__(self, *args, key_dim=None, **kwargs):
    """Takes keras-nlp `TransformerEncoder`'s arguments, and `key_dim`: the size of each
    attention head, if not `hidden_dim // num_heads` (a layer whose heads were pruned away)."""
    super().__init__(*args, **kwargs)
    self.key_dim = key_dim

  def get_config(self):
    config = super().get_config()
    if self.key_dim is not None:
      config["key_dim"] = self.key_dim
    return config

  def build(self, inputs_shape):
    super().build(inputs_shape)
    hidden_dim = int(tf.TensorShape(inputs_shape)[-1])
    if self.key_dim is not None and self.key_dim != hidden_dim // self.num_heads:
      # keras-nlp sizes the heads as hidden_dim // num_heads: replace its attention layer.
      del self._self_attention_layer
      self._self_attention_layer = keras.layers.MultiHeadAttention(
          num_heads=self.num_heads, key_dim=self.key_dim, dropout=self.dropout,
          kernel_initializer=keras.initializers.get(
              keras.initializers.serialize(self.kernel_initializer)),
          bias_initializer=keras.initializers.get(
              keras.initializers.serialize(self.bias_initializer)),
          dtype=self.dtype_policy, name="self_attention_layer")
      self._self_attention_layer._build_from_signature(query=inputs_shape, value=inputs_shape)
    # tf_keras MultiHeadAttention creates its q/k/v/o kernels only on its first call; tfmot's
    # wrapper asks for them before that, so build them here. (keras-nlp builds the FFN and
    # LayerNorm sublayers without name scopes, so their variables are all named `kernel:0` etc.;
    # .keras and SavedModel track variables by object path, so only .h5 minds.)
    attention = self._self_attention_layer
    shape = tf.TensorShape(inputs_shape)
    head_shape = shape[:-1].concatenate([self.num_heads, attention._key_dim])
    with tf.name_scope(attention.name):
      for dense, input_shape in ((attention._query_dense, shape), (attention._key_dense, shape),
                                 (attention._value_dense, shape),
                                 (attention._output_dense, head_shape)):
        if not dense.built:
          with tf.name_scope(dense.name):
            dense.build(input_shape)
    attention.built = True

  def get_prunable_weights(self):
    attention = self._self_attention_layer
    return [
        attention._query_dense.kernel,
        attention._key_dense.kernel,
        attention._value_dense.kernel,
        attention._output_dense.kernel,
        self._feedforward_intermediate_dense.kernel,
        self._feedforward_output_dense.kernel,
    ]

  def kernel_input_ranks(self):
    """For each prunable kernel, how many leading axes are its inputs (the rest are outputs).

    Query/key/value are `[hidden, heads, head_dim]` (1), the attention output is
    `[heads, head_dim, hidden]` (2), the FFN kernels are `[in, out]` (1).
    """
    return [1, 1, 1, 2, 1, 1]

  def call(self, inputs, padding_mask=None, attention_mask=None, training=None,
           return_attention_scores=False):
    """Runs the post-LayerNorm (BERT) encoder block.

    Returns the block's output, or `(output, scores)` with `return_attention_scores=True`, where
    `scores` are the scaled pre-softmax attention logits `[batch, heads, query, key]`.
    """
    if self.normalize_first:
      raise ValueError("PrunableTransformerEncoder implements BERT's post-LayerNorm block only.")
    attention = self._self_attention_layer
    self_attention_mask = merge_padding_and_attention_mask(inputs, padding_mask, attention_mask)

    query = attention._query_dense(inputs)
    key = attention._key_dense(inputs)
    value = attention._value_dense(inputs)
    query = query * (1.0 / math.sqrt(float(attention._key_dim)))
    scores = tf.einsum(attention._dot_product_equation, key, query)
    probs = attention._masked_softmax(scores, self_attention_mask)
    probs = attention._dropout_layer(probs, training=training)
    x = tf.einsum(attention._combine_equation, probs, value)
    x = attention._output_dense(x)
    x = self._self_attention_dropout(x, training=training)
    x = self._self_attention_layer_norm(x + inputs)

    residual = x
    x = self._feedforward_intermediate_dense(x)
    x = self._feedforward_output_dense(x)
    x = self._feedforward_dropout(x, training=training)
    x = self._feedforward_layer_norm(x + residual)
    if return_attention_scores:
      return x, scores
    return x
