"""BERT backbone and classifier built from keras-nlp 0.12 layers on tf_keras.

The backbone has keras-nlp `BertBackbone`'s interface (inputs `token_ids`, `segment_ids`,
`padding_mask`; outputs `sequence_output`, `pooled_output`) and its layer names, but each encoder
block is a `PrunableTransformerEncoder`, optionally wrapped (e.g. by tfmot's
`prune_low_magnitude`) as it is placed in the graph. The classifier is built on the backbone's own
graph (not as a nested model), so `distillation_view()` can expose the hidden states and attention
scores of any classifier, including one loaded from a `.keras` file.
"""

import keras_nlp
import tensorflow as tf
from keras_nlp.src.utils.keras_utils import gelu_approximate
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tf_sparsebert.models.encoder import PrunableTransformerEncoder

keras = tf.keras

TOKEN_EMBEDDING = "token_embedding"  # the vocabulary x hidden matrix (keras-nlp's layer name)


def unwrap(layer):
  """The layer a tfmot pruning wrapper holds, or `layer` itself if it is not wrapped."""
  return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


def _initializer(config):
  return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def _activation(name):
  # HF "gelu" is the exact (erf) GELU; Google's BERT (and keras-nlp presets) use the tanh form.
  return gelu_approximate if name == "gelu_approximate" else keras.activations.get("gelu")


def make_encoder_layer(config, index):
  """Creates encoder block `index` of a BERT with `config` (a `ModelConfig`)."""
  return PrunableTransformerEncoder(
      num_heads=config.num_heads,
      intermediate_dim=config.intermediate_dim,
      activation=_activation(config.activation),
      dropout=config.dropout,
      layer_norm_epsilon=config.layer_norm_epsilon,
      kernel_initializer=_initializer(config),
      name=f"transformer_layer_{index}",
  )


def bert_backbone(config, wrap_encoder=None, name="bert_backbone", encoders=None):
  """Builds a BERT encoder as a functional tf_keras model.

  Args:
    config: a `ModelConfig`.
    wrap_encoder: optional function applied to each `PrunableTransformerEncoder` before it is
      placed in the graph, e.g. `lambda l: tfmot.sparsity.keras.prune_low_magnitude(l, ...)`.
    name: the model's name.
    encoders: optional, the `config.num_layers` encoder blocks to use (default: new ones).

  Returns:
    A `keras.Model` mapping `{"token_ids", "segment_ids", "padding_mask"}` (int32 [batch, seq])
    to `{"sequence_output": [batch, seq, hidden], "pooled_output": [batch, hidden]}`.
  """
  config.validate()
  # === Layers ===
  token_embedding = keras_nlp.layers.ReversibleEmbedding(
      input_dim=config.vocabulary_size, output_dim=config.hidden_dim,
      embeddings_initializer=_initializer(config), name=TOKEN_EMBEDDING)
  position_embedding = keras_nlp.layers.PositionEmbedding(
      sequence_length=config.max_sequence_length, initializer=_initializer(config),
      name="position_embedding")
  segment_embedding = keras.layers.Embedding(
      input_dim=config.num_segments, output_dim=config.hidden_dim,
      embeddings_initializer=_initializer(config), name="segment_embedding")
  embeddings_add = keras.layers.Add(name="embeddings_add")
  embeddings_layer_norm = keras.layers.LayerNormalization(
      epsilon=config.layer_norm_epsilon, name="embeddings_layer_norm")
  embeddings_dropout = keras.layers.Dropout(config.dropout, name="embeddings_dropout")
  if encoders is None:
    encoders = [make_encoder_layer(config, i) for i in range(config.num_layers)]
  if len(encoders) != config.num_layers:
    raise ValueError(f"{len(encoders)} encoders for a {config.num_layers}-layer config")
  if wrap_encoder is not None:
    encoders = [wrap_encoder(layer) for layer in encoders]
  pooled_dense = keras.layers.Dense(config.hidden_dim, activation="tanh",
                                    kernel_initializer=_initializer(config), name="pooled_dense")

  # === Functional Model ===
  token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
  segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
  padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
  tokens = token_embedding(token_ids)
  x = embeddings_add((tokens, position_embedding(tokens), segment_embedding(segment_ids)))
  x = embeddings_dropout(embeddings_layer_norm(x))
  for encoder in encoders:
    x, _ = encoder(x, padding_mask=padding_mask, return_attention_scores=True)
  pooled = pooled_dense(x[:, 0, :])
  return keras.Model(
      inputs={"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
      outputs={"sequence_output": x, "pooled_output": pooled},
      name=name)


POOLINGS = ("cls", "mean")


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class MaskedMeanPooling(keras.layers.Layer):
  """Mean of the token vectors `[batch, seq, hidden]` over the real tokens (`padding_mask` 1)."""

  def call(self, sequence, padding_mask):
    mask = tf.cast(padding_mask, sequence.dtype)[:, :, None]
    return tf.reduce_sum(sequence * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def bert_classifier(backbone, num_classes, dropout=0.1, pooling="cls", name="bert_classifier"):
  """Adds dropout and a dense task head on a pooled representation of `backbone`'s output.

  The head is built on the backbone's own inputs, so the classifier is one flat functional graph
  that shares (not copies) the backbone's layers. Outputs logits `[batch, num_classes]`
  (`num_classes=1` for regression).

  Args:
    backbone: a model from `bert_backbone` / `load_bert`.
    num_classes: outputs of the head.
    dropout: dropout rate before the head.
    pooling: "cls" (BERT's tanh pooler on [CLS], as keras-nlp's `BertClassifier`) or "mean"
      (masked mean over tokens, for checkpoints trained that way, e.g. sentence-transformers).
  """
  if pooling not in POOLINGS:
    raise ValueError(f"--pooling must be one of {POOLINGS}, got {pooling!r}")
  config_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
  if pooling == "cls":
    pooled = backbone.output["pooled_output"]
  else:
    pooled = MaskedMeanPooling(name="mean_pooling")(backbone.output["sequence_output"],
                                                    backbone.input["padding_mask"])
  x = keras.layers.Dropout(dropout, name="classifier_dropout")(pooled)
  logits = keras.layers.Dense(num_classes, kernel_initializer=config_initializer,
                              name="logits")(x)
  return keras.Model(inputs=backbone.input, outputs=logits, name=name)


def shallow_copy(classifier, num_layers, name="student"):
  """A copy of `classifier` with only its first `num_layers` encoder blocks (weights copied).

  Embeddings, pooler and head are copied too; the result is a plain (unwrapped) classifier of
  the same width, e.g. the dense shallow student the paper compares SparseBERT with.
  """
  from tf_sparsebert.config import ModelConfig
  source = [unwrap(la) for la in encoder_layers(classifier)]
  if not 0 < num_layers <= len(source):
    raise ValueError(f"--student_layers must be in [1, {len(source)}] for this "
                     f"{len(source)}-layer model, got {num_layers}")
  token = classifier.get_layer(TOKEN_EMBEDDING)
  config = ModelConfig(
      vocabulary_size=token.input_dim, num_layers=num_layers, num_heads=source[0].num_heads,
      hidden_dim=token.output_dim, intermediate_dim=source[0].intermediate_dim,
      max_sequence_length=classifier.get_layer("position_embedding").sequence_length,
      num_segments=classifier.get_layer("segment_embedding").input_dim,
      dropout=classifier.get_layer("embeddings_dropout").rate,
      layer_norm_epsilon=classifier.get_layer("embeddings_layer_norm").epsilon)
  encoders = [PrunableTransformerEncoder.from_config(layer.get_config())
              for layer in source[:num_layers]]
  pooling = "mean" if any(la.name == "mean_pooling" for la in classifier.layers) else "cls"
  copy = bert_classifier(bert_backbone(config, encoders=encoders),
                         classifier.get_layer("logits").units,
                         dropout=classifier.get_layer("classifier_dropout").rate,
                         pooling=pooling, name=name)
  for layer in copy.layers:
    if layer.weights:
      layer.set_weights(unwrap(classifier.get_layer(layer.name)).get_weights())
  return copy


def encoder_layers(model):
  """The encoder blocks of a backbone or classifier, in order (wrapped or not)."""
  found = []
  for layer in model.layers:
    inner = unwrap(layer)
    if isinstance(inner, PrunableTransformerEncoder):
      found.append(layer)
  if not found:
    raise ValueError(f"Model {model.name!r} has no PrunableTransformerEncoder layers; build it "
                     "with tf_sparsebert.bert_backbone() or load it with tf_sparsebert.load_bert().")
  return found


def distillation_view(classifier):
  """A model on the same layers as `classifier` that also outputs what distillation needs.

  Returns a `keras.Model` with outputs `{"logits", "hidden_states", "attention_scores"}`:
  `hidden_states` is the embedding output (after LayerNorm) followed by the output of every
  encoder block (L + 1 tensors `[batch, seq, hidden]`), `attention_scores` the pre-softmax
  attention logits of every block (L tensors `[batch, heads, seq, seq]`). Weights are shared with
  `classifier`: training the view trains the classifier.
  """
  encoders = encoder_layers(classifier)
  hidden = [classifier.get_layer("embeddings_layer_norm").output]
  scores = []
  for layer in encoders:
    x, s = layer.output
    hidden.append(x)
    scores.append(s)
  return keras.Model(
      inputs=classifier.input,
      outputs={"logits": classifier.output, "hidden_states": hidden, "attention_scores": scores},
      name=f"{classifier.name}_distillation_view")
