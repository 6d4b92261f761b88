"""google-research/bert TensorFlow checkpoints: the same model as the HF directory of its weights."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import tf_sparsebert
from tf_sparsebert.models import tf_checkpoints
from conftest import SMALL_VOCAB, TINY, hf_tensors


def _google_name(hf):
  """Inverse of `tf_checkpoints.hf_name`, written out for the test."""
  name = "bert/" + hf.replace("encoder.layer.", "encoder/layer_").replace(".", "/")
  name = name.replace("LayerNorm/weight", "LayerNorm/gamma").replace("LayerNorm/bias",
                                                                      "LayerNorm/beta")
  if name.endswith("_embeddings/weight"):
    return name[:-len("/weight")]
  return name[:-len("/weight")] + "/kernel" if name.endswith("/weight") else name


def write_google_checkpoint(path, tensors, cfg):
  """Writes bert_config.json, bert_model.ckpt.* (TF1 name-based, as Google released) and vocab."""
  os.makedirs(path, exist_ok=True)
  names, values = [], []
  for hf, value in tensors.items():
    if hf == "embeddings.position_ids":
      continue
    google = _google_name(hf)
    names.append(google)
    values.append(tf.constant(value.T if google.endswith("/kernel") else value))
  names += ["global_step", "bert/embeddings/word_embeddings/adam_m"]  # skipped on import
  values += [tf.constant(7, tf.int64), values[0]]
  tf.raw_ops.SaveV2(prefix=os.path.join(path, "bert_model.ckpt"), tensor_names=names,
                    shape_and_slices=[""] * len(names), tensors=values)
  with open(os.path.join(path, "bert_config.json"), "w") as f:
    json.dump({k: cfg[k] for k in TINY} | {"hidden_act": "gelu", "vocab_size": len(SMALL_VOCAB),
                                          "hidden_dropout_prob": 0.1,
                                          "attention_probs_dropout_prob": 0.1}, f)
  with open(os.path.join(path, "vocab.txt"), "w") as f:
    f.write("\n".join(SMALL_VOCAB) + "\n")
  return path


def test_google_checkpoint_loads_as_the_same_model(tmp_path):
  from conftest import write_tiny_checkpoint
  cfg = dict(TINY, vocab_size=len(SMALL_VOCAB))
  tensors = hf_tensors(cfg, np.random.default_rng(3))
  google = write_google_checkpoint(str(tmp_path / "uncased_L-2_H-32"), tensors, cfg)
  # The HF directory of the same tensors, with Google's tanh GELU.
  hf = write_tiny_checkpoint(str(tmp_path / "hf"), SMALL_VOCAB, seed=3, hidden_act="gelu_new")
  g_backbone, g_pre = tf_sparsebert.load_bert(google, sequence_length=16)
  h_backbone, _ = tf_sparsebert.load_bert(hf, sequence_length=16)
  x = g_pre(tf.constant(["the cat sat on the mat .", "a dog was on a mat"]))
  for key in ("sequence_output", "pooled_output"):
    np.testing.assert_allclose(g_backbone(x)[key].numpy(), h_backbone(x)[key].numpy(), atol=1e-6)
  assert g_pre.tokenizer.lowercase  # "uncased" in the directory name, as Google names them


def test_google_names_and_bad_checkpoints(tmp_path):
  assert tf_checkpoints.hf_name("bert/encoder/layer_11/attention/self/query/kernel") == \
      "encoder.layer.11.attention.self.query.weight"
  assert tf_checkpoints.hf_name("bert/embeddings/LayerNorm/gamma") == "embeddings.LayerNorm.weight"
  assert tf_checkpoints.hf_name("bert/embeddings/word_embeddings") == \
      "embeddings.word_embeddings.weight"
  assert tf_checkpoints.hf_name("cls/predictions/output_bias") is None
  assert tf_checkpoints.hf_name("bert/pooler/dense/kernel/adam_v") is None
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "bert_config.json").write_text(json.dumps({"vocab_size": 20}))
  with pytest.raises(ValueError, match=r"bert_config.json lacks the field"):
    tf_sparsebert.load_bert(str(bad))
  cfg = dict(TINY, vocab_size=len(SMALL_VOCAB))
  google = write_google_checkpoint(str(tmp_path / "g"), hf_tensors(cfg, np.random.default_rng(0)),
                                   cfg)
  with open(os.path.join(google, "bert_model.ckpt.index"), "wb") as f:
    f.write(b"not an index")
  with pytest.raises(ValueError, match=r"bert_model.ckpt is not a readable TensorFlow checkpoint"):
    tf_sparsebert.load_bert(google)
