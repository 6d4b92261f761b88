"""Write a (sparse) classifier or backbone as a Hugging Face BERT directory.

The inverse of `checkpoints.load_bert`: `config.json`, `model.safetensors`, `vocab.txt`, with the
encoder under `bert.` and, for a classifier, the task head as `classifier.*`
(`BertForSequenceClassification`'s layout). Pruned zeros are kept as zeros.
"""

import json
import os

import numpy as np

from sparsebert_lite.tokenizer import write_vocab
from tf_sparsebert.models.checkpoints import hf_weight_map
from tf_sparsebert.models.encoder import PrunableTransformerEncoder
from tf_sparsebert.models.bert import unwrap

_ACTIVATIONS = {"gelu": "gelu", "gelu_approximate": "gelu_new"}


def _to_hf(name, value, num_heads):
  """Undoes the layout change `hf_weight_map` applies when importing tensor `name`."""
  if "embeddings" in name or "LayerNorm" in name:
    return value
  if value.ndim == 3:  # attention kernels [h, n, d] (q/k/v) or [n, d, h] (output)
    if "attention.output" in name:
      return value.reshape(-1, value.shape[-1]).T
    return value.reshape(value.shape[0], -1).T
  if value.ndim == 2 and name.endswith(".bias"):  # q/k/v biases [n, d]
    return value.reshape(-1)
  if value.ndim == 2:  # dense kernels [in, out] -> torch [out, in]
    return value.T
  return value


def save_hf(model, directory, config, vocab, lowercase=True):
  """Writes `model` (our backbone or classifier, wrapped or stripped) as an HF BERT directory.

  Args:
    model: from `bert_backbone`, `bert_classifier`, `make_sparse_student` or `strip`.
    directory: created if missing; existing files of the same names are replaced.
    config: the model's `ModelConfig`.
    vocab: its WordPiece vocabulary (list of tokens).
    lowercase: the tokenizer's lower-casing (written to tokenizer_config.json).
  """
  from safetensors.numpy import save_file
  layers = [unwrap(layer) for layer in model.layers]
  if not any(isinstance(layer, PrunableTransformerEncoder) for layer in layers):
    raise ValueError("save_hf needs a model built by tf_sparsebert (no encoder layers found)")
  if any(isinstance(layer, PrunableTransformerEncoder)
         and layer._feedforward_intermediate_dense.kernel.shape[-1] != config.intermediate_dim
         for layer in layers):
    raise ValueError("save_hf cannot write a compacted model: HF BERT has one FFN width")
  tensors = {}
  for name, variable, _ in hf_weight_map(config, model):
    tensors[f"bert.{name}"] = np.ascontiguousarray(
        _to_hf(name, variable.numpy(), config.num_heads), dtype=np.float32)
  names = [layer.name for layer in model.layers]
  if "pooled_dense" not in names:  # a mean-pooled classifier has no pooler; HF BertModel does
    tensors["bert.pooler.dense.weight"] = np.zeros([config.hidden_dim] * 2, np.float32)
    tensors["bert.pooler.dense.bias"] = np.zeros([config.hidden_dim], np.float32)
  hf_config = {
      "architectures": ["BertModel"], "model_type": "bert", "vocab_size": config.vocabulary_size,
      "hidden_size": config.hidden_dim, "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads, "intermediate_size": config.intermediate_dim,
      "hidden_act": _ACTIVATIONS[config.activation],
      "max_position_embeddings": config.max_sequence_length,
      "type_vocab_size": config.num_segments, "hidden_dropout_prob": config.dropout,
      "attention_probs_dropout_prob": config.attention_dropout,
      "layer_norm_eps": config.layer_norm_epsilon, "initializer_range": config.initializer_range,
      "position_embedding_type": "absolute",
  }
  if "logits" in names:
    head = model.get_layer("logits")
    tensors["classifier.weight"] = np.ascontiguousarray(head.kernel.numpy().T)
    tensors["classifier.bias"] = head.bias.numpy()
    hf_config.update(architectures=["BertForSequenceClassification"],
                     num_labels=int(head.units),
                     # BertForSequenceClassification classifies the pooled [CLS]; a mean-pooled
                     # student needs mean pooling over tokens instead (not an HF option).
                     tf_sparsebert_pooling="mean" if "mean_pooling" in names else "cls")
  os.makedirs(directory, exist_ok=True)
  save_file(tensors, os.path.join(directory, "model.safetensors"))
  with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
    json.dump(hf_config, f, indent=2)
  write_vocab(os.path.join(directory, "vocab.txt"), vocab)
  with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump({"do_lower_case": bool(lowercase), "tokenizer_class": "BertTokenizer"}, f, indent=2)
  return directory
