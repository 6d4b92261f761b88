"""Export to a Hugging Face BERT directory: the tensors round-trip exactly, zeros included."""

import json
import os

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from safetensors.numpy import load_file

import tf_sparsebert
from tf_sparsebert.models import bert, checkpoints, hf_export
from conftest import SMALL_VOCAB


def _inputs():
  rng = np.random.default_rng(0)
  mask = np.ones([3, 12], np.int32)
  mask[1, 8:] = 0
  return {"token_ids": rng.integers(1, 20, [3, 12]).astype(np.int32),
          "segment_ids": (np.arange(12) >= 6).astype(np.int32)[None].repeat(3, 0),
          "padding_mask": mask}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sparse_classifier_round_trips_through_an_hf_directory(tiny_checkpoint, tmp_path, pooling):
  backbone, _ = tf_sparsebert.load_bert(tiny_checkpoint)
  config = checkpoints.model_config_of(tiny_checkpoint)
  student = tf_sparsebert.make_sparse_student(
      bert.bert_classifier(backbone, 3, pooling=pooling), target_sparsity=0.8)
  student.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
  student.fit(_inputs(), np.zeros([3]), verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  sparse = tf_sparsebert.strip(student)
  out = str(tmp_path / "hf")
  hf_export.save_hf(sparse, out, config, SMALL_VOCAB, lowercase=True)
  assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "tokenizer_config.json",
                                     "vocab.txt"]
  with open(os.path.join(out, "config.json")) as f:
    hf = json.load(f)
  assert hf["architectures"] == ["BertForSequenceClassification"] and hf["num_labels"] == 3
  assert hf["tf_sparsebert_pooling"] == pooling
  # Importing the directory gives back the same encoder, exactly, with its zeros.
  reloaded, preprocessor = tf_sparsebert.load_bert(out)
  x = _inputs()
  np.testing.assert_array_equal(
      reloaded(x)["sequence_output"].numpy(),
      _backbone_of(sparse, config)(x)["sequence_output"].numpy())
  assert (tf_sparsebert.sparsity_report(reloaded)["overall"]
          == tf_sparsebert.sparsity_report(sparse)["overall"])
  tensors = load_file(os.path.join(out, "model.safetensors"))
  np.testing.assert_array_equal(tensors["classifier.weight"],
                                sparse.get_layer("logits").kernel.numpy().T)
  # HF layout: torch Linear weights are [out, in].
  assert tensors["bert.encoder.layer.0.intermediate.dense.weight"].shape == (
      config.intermediate_dim, config.hidden_dim)
  assert preprocessor.tokenizer.get_vocabulary() == SMALL_VOCAB


def _backbone_of(classifier, config):
  """A backbone with `classifier`'s encoder weights (same layer names)."""
  backbone = bert.bert_backbone(config)
  names = {layer.name for layer in classifier.layers}
  for layer in backbone.layers:
    if layer.weights and layer.name in names:  # a mean-pooled classifier has no pooler
      layer.set_weights(classifier.get_layer(layer.name).get_weights())
  return backbone


def test_compacted_models_are_refused(tmp_path):
  from tf_sparsebert.config import ModelConfig
  from tf_sparsebert.pruning import compact
  config = ModelConfig(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=16,
                       intermediate_dim=32, max_sequence_length=16)
  model = bert.bert_classifier(bert.bert_backbone(config), 2)
  layer = bert.encoder_layers(model)[0]
  kernel = layer._feedforward_intermediate_dense.kernel.numpy()
  kernel[:, :8] = 0
  layer._feedforward_intermediate_dense.kernel.assign(kernel)
  compacted, _ = compact.compact(model)
  with pytest.raises(ValueError, match="compacted"):
    hf_export.save_hf(compacted, str(tmp_path / "x"), config, SMALL_VOCAB)
