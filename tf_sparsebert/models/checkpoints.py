"""Pretrained BERT weights: Hugging Face BERT directories (safetensors) and keras-nlp presets."""

import json
import os

import keras_nlp
import numpy as np

from sparsebert_lite import tokenizer as lite_tokenizer

from tf_sparsebert.config import ModelConfig
from tf_sparsebert.models import tf_checkpoints
from tf_sparsebert.models.bert import TOKEN_EMBEDDING, bert_backbone, encoder_layers

HF_FILES = ("config.json", "model.safetensors", "vocab.txt")
_HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate",
                   "gelu_pytorch_tanh": "gelu_approximate"}


def is_keras_nlp_preset_dir(path):
  """A local keras-nlp preset (metadata.json, config.json of a serialized backbone, weights)."""
  if not (os.path.isdir(path) and os.path.isfile(os.path.join(path, "metadata.json"))):
    return False
  try:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
      return "class_name" in json.load(f)
  except (OSError, ValueError):
    return False


def is_hf_dir(path):
  return (os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))
          and not is_keras_nlp_preset_dir(path))


def _require_file(path, what):
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{what}: {path} does not exist")
  if os.path.getsize(path) == 0:
    raise ValueError(f"{what}: {path} is empty")


def read_hf_config(path):
  """`ModelConfig` from a Hugging Face BERT `config.json` (in directory `path`)."""
  config_path = os.path.join(path, "config.json")
  _require_file(config_path, "--init_checkpoint")
  try:
    with open(config_path, encoding="utf-8") as f:
      hf = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"--init_checkpoint: {config_path} is not valid JSON: {e}") from None
  if not isinstance(hf, dict):
    raise ValueError(f"--init_checkpoint: {config_path}: is not a JSON object")
  if hf.get("model_type", "bert") != "bert":
    raise ValueError(f"--init_checkpoint: {config_path} has model_type {hf['model_type']!r}; "
                     "only BERT checkpoints are supported.")
  return ModelConfig.from_bert_json(hf, config_path, _HF_ACTIVATIONS)


def read_lowercase(path):
  """Whether the checkpoint's tokenizer lower-cases (tokenizer_config.json; default True)."""
  tok_path = os.path.join(path, "tokenizer_config.json")
  if os.path.isfile(tok_path):
    with open(tok_path, encoding="utf-8") as f:
      settings = json.load(f)
    return bool(settings.get("do_lower_case", True)) if isinstance(settings, dict) else True
  return "cased" not in os.path.basename(os.path.normpath(path)).replace("uncased", "")


def read_vocab(path, vocabulary_size):
  """The WordPiece vocabulary of a checkpoint directory, checked against the model's size."""
  vocab_path = os.path.join(path, "vocab.txt")
  _require_file(vocab_path, "--init_checkpoint vocabulary")
  try:
    vocab = lite_tokenizer.read_vocab(vocab_path)
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError(f"--init_checkpoint: {vocab_path} is unreadable: {e}") from None
  if len(vocab) != vocabulary_size:
    raise ValueError(f"--init_checkpoint: {vocab_path} has {len(vocab)} tokens but config.json "
                     f"says vocab_size={vocabulary_size}: the vocabulary does not match the model.")
  for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
    if token not in vocab:
      raise ValueError(f"--init_checkpoint: {vocab_path} has no {token} token.")
  return vocab


def _read_safetensors(path):
  from safetensors import SafetensorError
  from safetensors.numpy import load_file
  st_path = os.path.join(path, "model.safetensors")
  if not os.path.isfile(st_path):
    bins = [f for f in ("pytorch_model.bin", "tf_model.h5") if os.path.isfile(os.path.join(path, f))]
    hint = (f" It has {bins[0]}: pickled/HDF5 weights are never loaded; convert it to safetensors "
            "(e.g. `transformers` save_pretrained(..., safe_serialization=True)).") if bins else ""
    raise FileNotFoundError(f"--init_checkpoint: {st_path} does not exist.{hint}")
  _require_file(st_path, "--init_checkpoint weights")
  try:
    tensors = load_file(st_path)
  except (SafetensorError, OSError, ValueError) as e:
    raise ValueError(f"--init_checkpoint: {st_path} is not a readable safetensors file: {e}") from None
  # BertForSequenceClassification & co. prefix the encoder with "bert.".
  return {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in tensors.items()}, st_path


def hf_weight_map(config, backbone):
  """Pairs (HF tensor name, target variable, transform) for every weight of `backbone`."""
  h, n = config.hidden_dim, config.num_heads
  d = h // n

  def ln(prefix, layer):
    return [(f"{prefix}.weight", layer.gamma, None), (f"{prefix}.bias", layer.beta, None)]

  pairs = [
      ("embeddings.word_embeddings.weight", backbone.get_layer(TOKEN_EMBEDDING).embeddings, None),
      ("embeddings.position_embeddings.weight",
       backbone.get_layer("position_embedding").position_embeddings, None),
      ("embeddings.token_type_embeddings.weight",
       backbone.get_layer("segment_embedding").embeddings, None),
      *ln("embeddings.LayerNorm", backbone.get_layer("embeddings_layer_norm")),
  ]
  for i, layer in enumerate(encoder_layers(backbone)):
    layer = getattr(layer, "layer", layer)
    att = layer._self_attention_layer
    p = f"encoder.layer.{i}"
    for name, dense in (("query", att._query_dense), ("key", att._key_dense),
                        ("value", att._value_dense)):
      pairs.append((f"{p}.attention.self.{name}.weight", dense.kernel,
                    lambda w: w.T.reshape(h, n, d)))
      pairs.append((f"{p}.attention.self.{name}.bias", dense.bias, lambda b: b.reshape(n, d)))
    pairs += [
        (f"{p}.attention.output.dense.weight", att._output_dense.kernel,
         lambda w: w.T.reshape(n, d, h)),
        (f"{p}.attention.output.dense.bias", att._output_dense.bias, None),
        *ln(f"{p}.attention.output.LayerNorm", layer._self_attention_layer_norm),
        (f"{p}.intermediate.dense.weight", layer._feedforward_intermediate_dense.kernel,
         lambda w: w.T),
        (f"{p}.intermediate.dense.bias", layer._feedforward_intermediate_dense.bias, None),
        (f"{p}.output.dense.weight", layer._feedforward_output_dense.kernel, lambda w: w.T),
        (f"{p}.output.dense.bias", layer._feedforward_output_dense.bias, None),
        *ln(f"{p}.output.LayerNorm", layer._feedforward_layer_norm),
    ]
  if "pooled_dense" in [layer.name for layer in backbone.layers]:  # absent: mean-pooled head
    pooler = backbone.get_layer("pooled_dense")
    pairs += [("pooler.dense.weight", pooler.kernel, lambda w: w.T),
              ("pooler.dense.bias", pooler.bias, None)]
  return pairs


def _legacy_layer_norm_names(tensors):
  """Old TF-converted checkpoints name LayerNorm parameters gamma/beta."""
  out = {}
  for k, v in tensors.items():
    k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    out[k] = v
  return out


def load_hf_weights(backbone, config, path):
  """Assigns every tensor of `<path>/model.safetensors` (or, for a google-research BERT
  directory, of `bert_model.ckpt`) to `backbone`, checking each shape."""
  if tf_checkpoints.is_google_dir(path):
    tensors, st_path = tf_checkpoints.read_google_tensors(path)
  else:
    tensors, st_path = _read_safetensors(path)
  tensors = _legacy_layer_norm_names(tensors)
  values = []
  for name, variable, transform in hf_weight_map(config, backbone):
    if name not in tensors:
      raise ValueError(f"--init_checkpoint: {st_path} has no tensor {name!r} (config.json "
                       f"describes {config.num_layers} layers of width {config.hidden_dim}).")
    value = tensors[name]
    if not np.issubdtype(value.dtype, np.floating):
      raise ValueError(f"--init_checkpoint: {st_path}: tensor {name!r} has dtype {value.dtype}, "
                       "expected floating point.")
    try:
      value = transform(value) if transform else value
    except ValueError:
      value = None
    if value is None or tuple(value.shape) != tuple(variable.shape):
      raise ValueError(f"--init_checkpoint: {st_path}: tensor {name!r} has shape "
                       f"{list(tensors[name].shape)}, which does not match config.json (expected "
                       f"{list(variable.shape)} after conversion).")
    values.append((variable, value.astype(np.float32)))
  deeper = sorted({int(k.split(".")[2]) for k in tensors if k.startswith("encoder.layer.")
                   and k.split(".")[2].isdigit() and int(k.split(".")[2]) >= config.num_layers})
  if deeper:
    raise ValueError(f"--init_checkpoint: {st_path} has tensors of encoder layer {deeper[0]} but "
                     f"config.json says num_hidden_layers={config.num_layers}: the config does "
                     "not describe these weights.")
  for variable, value in values:
    variable.assign(value)


def make_preprocessor(vocab, lowercase, sequence_length):
  """keras-nlp WordPiece `BertTokenizer` + `BertPreprocessor` (packer: [CLS] a [SEP] b [SEP])."""
  tokenizer = keras_nlp.models.BertTokenizer(vocabulary=vocab, lowercase=lowercase)
  return keras_nlp.models.BertPreprocessor(tokenizer, sequence_length=sequence_length)


def load_bert(path, sequence_length=None):
  """Loads a pretrained BERT as a backbone with keras-nlp `BertBackbone`'s interface.

  Usage:
  ```python
  backbone, preprocessor = tf_sparsebert.load_bert("pretrained/all-MiniLM-L6-v2")
  outputs = backbone(preprocessor(["a sentence"]))  # {"sequence_output", "pooled_output"}
  ```

  Args:
    path: a Hugging Face BERT directory (`config.json`, `model.safetensors`, `vocab.txt`;
      `.bin` pickles are never loaded), a google-research/bert TensorFlow checkpoint directory
      (`bert_config.json`, `bert_model.ckpt.*`, `vocab.txt`), or a keras-nlp preset: a name such
      as `"bert_base_en"` (downloaded by keras-nlp; needs internet) or a local preset directory.
    sequence_length: the preprocessor's packed length (default: the model's maximum).

  Returns:
    `(backbone, preprocessor)`: a functional model built from keras-nlp layers whose encoder
    blocks are `PrunableTransformerEncoder`s, and a keras-nlp `BertPreprocessor` with the
    checkpoint's vocabulary and lower-casing.
  """
  config = model_config_of(path)
  if config is None:
    return _load_preset(path, sequence_length)
  vocab = read_vocab(path, config.vocabulary_size)
  backbone = bert_backbone(config)
  load_hf_weights(backbone, config, path)
  preprocessor = make_preprocessor(vocab, read_lowercase(path),
                                   sequence_length or config.max_sequence_length)
  return backbone, preprocessor


def model_config_of(path):
  """The `ModelConfig` of a checkpoint given to `load_bert` (without loading weights).

  Returns None for a keras-nlp preset (a name, or a local preset directory); raises for a path
  that is none of the supported layouts.
  """
  if is_keras_nlp_preset_dir(path):
    return None
  if is_hf_dir(path):
    return read_hf_config(path)
  if tf_checkpoints.is_google_dir(path):
    return tf_checkpoints.read_google_config(path)
  if os.path.exists(path):
    raise FileNotFoundError(f"--init_checkpoint: {path} is not a Hugging Face BERT directory "
                            f"(it needs {', '.join(HF_FILES)}) nor a google-research BERT "
                            f"directory ({tf_checkpoints.GOOGLE_CONFIG}, "
                            f"{tf_checkpoints.GOOGLE_CHECKPOINT}.*, vocab.txt).")
  if "://" not in path and os.sep in path:  # a local path, not a preset name or a hub handle
    raise FileNotFoundError(f"--init_checkpoint: {path} does not exist (expected a Hugging Face "
                            f"or google-research BERT directory, or a keras-nlp preset name "
                            f"such as 'bert_base_en').")
  return None


def from_keras_nlp_backbone(source):
  """Converts a keras-nlp `BertBackbone` into our backbone (same layer names; weights copied)."""
  config = ModelConfig(
      vocabulary_size=source.vocabulary_size, num_layers=source.num_layers,
      num_heads=source.num_heads, hidden_dim=source.hidden_dim,
      intermediate_dim=source.intermediate_dim, max_sequence_length=source.max_sequence_length,
      num_segments=source.num_segments, dropout=source.dropout,
      activation="gelu_approximate").validate()
  backbone = bert_backbone(config)
  for layer in backbone.layers:
    if layer.weights:
      layer.set_weights(source.get_layer(layer.name).get_weights())
  return backbone, config


def _load_preset(name, sequence_length):
  try:
    source = keras_nlp.models.BertBackbone.from_preset(name)
    preprocessor = keras_nlp.models.BertPreprocessor.from_preset(
        name, sequence_length=sequence_length or 512)
  except Exception as e:  # noqa: BLE001 - keras-nlp raises many kinds for a bad name or no network
    raise ValueError(f"--init_checkpoint: {name!r} is neither a Hugging Face BERT directory nor a "
                     f"keras-nlp preset that could be loaded ({type(e).__name__}: {e}).") from None
  backbone, _ = from_keras_nlp_backbone(source)
  return backbone, preprocessor
