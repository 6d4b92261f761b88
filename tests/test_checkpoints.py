"""HF BERT import: mapping checked against a NumPy BERT, and bad checkpoints rejected clearly."""

import json
import math
import os

import numpy as np
import pytest
from safetensors.numpy import load_file

import tf_sparsebert
import keras_nlp
from tf_sparsebert.models import checkpoints
from conftest import SMALL_VOCAB, write_tiny_checkpoint


def _layer_norm(x, g, b, eps=1e-12):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu)**2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
  return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def numpy_bert(w, cfg, ids, seg, mask):
  """A from-scratch BERT forward pass (HF conventions: Linear weights are [out, in])."""
  h, n = cfg["hidden_size"], cfg["num_attention_heads"]
  d = h // n
  lin = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]  # noqa: E731
  x = (w["embeddings.word_embeddings.weight"][ids]
       + w["embeddings.position_embeddings.weight"][np.arange(ids.shape[1])]
       + w["embeddings.token_type_embeddings.weight"][seg])
  x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
  bias = (1.0 - mask[:, None, None, :]) * -1e9
  for i in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{i}"
    split = lambda t: t.reshape(t.shape[0], t.shape[1], n, d).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = (split(lin(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)
    x = _layer_norm(lin(ctx, f"{p}.attention.output.dense") + x,
                    w[f"{p}.attention.output.LayerNorm.weight"],
                    w[f"{p}.attention.output.LayerNorm.bias"])
    ff = lin(_gelu(lin(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
    x = _layer_norm(ff + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
  pooled = np.tanh(lin(x[:, 0], "pooler.dense"))
  return x, pooled


def test_hf_import_matches_numpy_bert(tiny_checkpoint):
  backbone, preprocessor = tf_sparsebert.load_bert(tiny_checkpoint, sequence_length=12)
  with open(os.path.join(tiny_checkpoint, "config.json")) as f:
    cfg = json.load(f)
  w = load_file(os.path.join(tiny_checkpoint, "model.safetensors"))
  feats = preprocessor((np.array(["the cat sat on the mat", "he said"]),
                        np.array(["a dog", "she was the cat ."])))
  feats = {k: np.asarray(v) for k, v in feats.items()}
  assert feats["token_ids"][0, 0] == SMALL_VOCAB.index("[CLS]")
  out = backbone(feats)
  seq, pooled = numpy_bert(w, cfg, feats["token_ids"], feats["segment_ids"],
                           feats["padding_mask"].astype(np.float32))
  real = feats["padding_mask"].astype(bool)
  np.testing.assert_allclose(out["sequence_output"].numpy()[real], seq[real], atol=1e-4)
  np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-4)


def test_bert_prefixed_and_legacy_layer_norm_names_load(tmp_path, tiny_checkpoint):
  def rename(t):
    return {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma"): v for k, v in t.items()}
  path = write_tiny_checkpoint(str(tmp_path / "ck"), SMALL_VOCAB, tensors_hook=rename)
  a, _ = tf_sparsebert.load_bert(path)
  b, _ = tf_sparsebert.load_bert(tiny_checkpoint)
  for x, y in zip(a.weights, b.weights):
    np.testing.assert_array_equal(x.numpy(), y.numpy())


def _corrupt(tmp_path, **kw):
  return write_tiny_checkpoint(str(tmp_path / "bad"), SMALL_VOCAB, **kw)


@pytest.mark.parametrize("make, match", [
    (lambda p: _corrupt(p, tensors_hook=lambda t: {**t, "encoder.layer.1.output.dense.weight":
                                                   np.zeros((3, 3), np.float32)}),
     r"encoder\.layer\.1\.output\.dense\.weight.*does not match config\.json"),
    (lambda p: _corrupt(p, tensors_hook=lambda t: {k: v for k, v in t.items()
                                                   if "layer.1.intermediate" not in k}),
     r"has no tensor 'encoder\.layer\.1\.intermediate"),
    (lambda p: _corrupt(p, vocab_size=len(SMALL_VOCAB) + 1),
     r"vocab\.txt has 20 tokens but config\.json says vocab_size=21"),
    (lambda p: _corrupt(p, num_attention_heads=3), r"--num_heads"),
])
def test_bad_checkpoints_name_the_file_and_tensor(tmp_path, make, match):
  with pytest.raises(ValueError, match=match):
    tf_sparsebert.load_bert(make(tmp_path))


def test_pickle_bin_is_never_loaded(tmp_path):
  path = _corrupt(tmp_path)
  os.remove(os.path.join(path, "model.safetensors"))
  with open(os.path.join(path, "pytorch_model.bin"), "wb") as f:
    f.write(b"\x80\x04 not to be unpickled")
  with pytest.raises(FileNotFoundError, match="pytorch_model.bin.*never loaded"):
    tf_sparsebert.load_bert(path)


def test_corrupted_safetensors_header(tmp_path):
  path = _corrupt(tmp_path)
  with open(os.path.join(path, "model.safetensors"), "wb") as f:
    f.write(b"\xff" * 64)
  with pytest.raises(ValueError, match="model.safetensors is not a readable safetensors"):
    tf_sparsebert.load_bert(path)


def test_missing_path_and_non_bert_dir(tmp_path):
  with pytest.raises(FileNotFoundError, match="not a Hugging Face BERT directory"):
    tf_sparsebert.load_bert(str(tmp_path))


def test_keras_nlp_backbone_conversion_keeps_outputs():
  """The preset path: a keras-nlp BertBackbone (here built locally) converts exactly."""
  import keras_nlp
  source = keras_nlp.models.BertBackbone(vocabulary_size=30, num_layers=2, num_heads=2,
                                         hidden_dim=16, intermediate_dim=32,
                                         max_sequence_length=16)
  ours, config = checkpoints.from_keras_nlp_backbone(source)
  assert config.activation == "gelu_approximate"
  x = {"token_ids": np.random.randint(0, 30, (2, 10)).astype("int32"),
       "segment_ids": np.zeros((2, 10), "int32"),
       "padding_mask": np.array([[1] * 10, [1] * 6 + [0] * 4], "int32")}
  a, b = source(x), ours(x)
  for key in ("sequence_output", "pooled_output"):
    np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-5)


def write_keras_nlp_preset(path, backbone, vocab):
  """A local keras-nlp preset directory, as keras-nlp lays it out (metadata, configs, weights)."""
  import tensorflow as tf
  os.makedirs(os.path.join(path, "assets", "tokenizer"), exist_ok=True)
  tokenizer = keras_nlp.models.BertTokenizer(vocabulary=vocab, lowercase=True)
  with open(os.path.join(path, "metadata.json"), "w") as f:
    json.dump({"keras_version": tf.__version__, "keras_nlp_version": keras_nlp.__version__}, f)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(tf.keras.saving.serialize_keras_object(backbone), f)
  backbone.save_weights(os.path.join(path, "model.weights.h5"))
  with open(os.path.join(path, "tokenizer.json"), "w") as f:
    json.dump(tf.keras.saving.serialize_keras_object(tokenizer), f)
  with open(os.path.join(path, "assets", "tokenizer", "vocabulary.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
  return path


def test_local_keras_nlp_preset_directory(tmp_path):
  source = keras_nlp.models.BertBackbone(vocabulary_size=len(SMALL_VOCAB), num_layers=2,
                                         num_heads=2, hidden_dim=16, intermediate_dim=32,
                                         max_sequence_length=32)
  preset = write_keras_nlp_preset(str(tmp_path / "preset"), source, SMALL_VOCAB)
  assert checkpoints.model_config_of(preset) is None
  backbone, preprocessor = tf_sparsebert.load_bert(preset, sequence_length=12)
  x = preprocessor(np.array(["the cat sat on the mat ."]))
  np.testing.assert_allclose(backbone(x)["sequence_output"].numpy(),
                             source(x)["sequence_output"].numpy(), atol=1e-5)
  # A user's keras-nlp model loaded from the same preset directory is accepted as it is.
  theirs = keras_nlp.models.BertBackbone.from_preset(preset)
  student = tf_sparsebert.make_sparse_student(theirs, target_sparsity=0.5)
  np.testing.assert_allclose(student(x)["sequence_output"].numpy(),
                             source(x)["sequence_output"].numpy(), atol=1e-5)
