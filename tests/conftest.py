"""Shared fixtures: tiny BERT checkpoints written by the tests, paths to ../shared data."""

import importlib.util
import json
import os

import numpy as np
import pytest

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from tf_sparsebert import distribute
import tensorflow as tf  # noqa: E402  (after tf_sparsebert)
from tf_sparsebert.models.encoder import PrunableTransformerEncoder  # noqa: E402
from tf_sparsebert.models.bert import unwrap  # noqa: E402

# Two logical CPU devices, so MirroredStrategy has two replicas (test_distribute.py). This must
# happen before TensorFlow initialises its runtime; other tests run on the first one.
distribute.split_cpu(2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def benchmark_module(name):
  """benchmarks/<name>.py or experiments/<name>.py, imported (the scripts are not a package)."""
  path = os.path.join(REPO, "benchmarks", name + ".py")
  if not os.path.isfile(path):
    path = os.path.join(REPO, "experiments", name + ".py")
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
def tiny_inputs(n=8, seq=16, seed=0, vocab=40):
  """Random token ids for a tiny BERT; every other example padded from the middle on."""
  rng = np.random.default_rng(seed)
  mask = np.ones((n, seq), np.int32)
  mask[::2, seq // 2:] = 0
  return {"token_ids": rng.integers(0, vocab, (n, seq)).astype(np.int32),
          "segment_ids": np.zeros((n, seq), np.int32), "padding_mask": mask}


SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
GLUE_DIR = os.path.join(SHARED, "glue")
BERT_VOCAB = os.path.join(SHARED, "bert", "uncased_vocab.txt")
MINILM = os.path.join(SHARED, "pretrained", "all-MiniLM-L6-v2")

TINY = dict(vocab_size=None, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)


def pytest_collection_modifyitems(config, items):
  if config.getoption("-m"):
    return
  skip = pytest.mark.skip(reason="slow: run with `-m slow`")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip)


def dropout_rates(model):
  """Every dropout rate a training-mode call of `model` uses, by layer (a set per encoder)."""
  rates = {}
  for layer in model.layers:
    inner = unwrap(layer)
    if isinstance(inner, tf.keras.layers.Dropout):
      rates[inner.name] = inner.rate
    elif isinstance(inner, PrunableTransformerEncoder):
      rates[inner.name] = {inner._self_attention_dropout.rate, inner._feedforward_dropout.rate,
                           inner._self_attention_layer._dropout}
  return rates


def hf_tensors(cfg, rng):
  """Random tensors named and shaped like a Hugging Face BertModel with config `cfg`."""
  h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
  t = lambda *shape: rng.normal(0, 0.2, shape).astype(np.float32)  # noqa: E731
  out = {"embeddings.word_embeddings.weight": t(v, h),
         "embeddings.position_embeddings.weight": t(cfg["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": t(cfg["type_vocab_size"], h),
         "embeddings.LayerNorm.weight": 1 + t(h), "embeddings.LayerNorm.bias": t(h),
         "embeddings.position_ids": np.arange(cfg["max_position_embeddings"])[None],
         "pooler.dense.weight": t(h, h), "pooler.dense.bias": t(h)}
  for n in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{n}"
    for name in ("query", "key", "value"):
      out[f"{p}.attention.self.{name}.weight"] = t(h, h)
      out[f"{p}.attention.self.{name}.bias"] = t(h)
    out.update({
        f"{p}.attention.output.dense.weight": t(h, h), f"{p}.attention.output.dense.bias": t(h),
        f"{p}.attention.output.LayerNorm.weight": 1 + t(h),
        f"{p}.attention.output.LayerNorm.bias": t(h),
        f"{p}.intermediate.dense.weight": t(i, h), f"{p}.intermediate.dense.bias": t(i),
        f"{p}.output.dense.weight": t(h, i), f"{p}.output.dense.bias": t(h),
        f"{p}.output.LayerNorm.weight": 1 + t(h), f"{p}.output.LayerNorm.bias": t(h)})
  return out


def write_tiny_checkpoint(path, vocab, seed=0, tensors_hook=None, **overrides):
  """Writes a tiny HF BERT directory (config.json, model.safetensors, vocab.txt) to `path`."""
  from safetensors.numpy import save_file
  os.makedirs(path, exist_ok=True)
  cfg = dict(TINY, vocab_size=len(vocab), model_type="bert", hidden_act="gelu",
             layer_norm_eps=1e-12, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
  cfg.update(overrides)
  tensors = hf_tensors(cfg, np.random.default_rng(seed))
  if tensors_hook:
    tensors = tensors_hook(tensors)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(cfg, f)
  save_file(tensors, os.path.join(path, "model.safetensors"))
  with open(os.path.join(path, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
  with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
    json.dump({"do_lower_case": True}, f)
  return path


SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat",
               "on", "mat", "he", "she", "said", "##s", ".", ",", "is", "was"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
  """Tiny BERT checkpoint with a 20-token vocabulary (unit tests)."""
  return write_tiny_checkpoint(str(tmp_path_factory.mktemp("tiny_bert")), SMALL_VOCAB)


@pytest.fixture(scope="session")
def tiny_checkpoint_bert_vocab(tmp_path_factory):
  """Tiny BERT checkpoint with the real uncased BERT vocabulary (end-to-end tests on MRPC)."""
  with open(BERT_VOCAB, encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
  return write_tiny_checkpoint(str(tmp_path_factory.mktemp("tiny_bert_vocab")), vocab)
