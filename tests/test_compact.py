"""Compaction of emptied FFN neurons: exact, per layer, saveable, and exported."""

import numpy as np

import tf_sparsebert
from tf_sparsebert import export
from tf_sparsebert.config import ModelConfig
from tf_sparsebert.models import bert, saving
from tf_sparsebert.pruning import compact
from sparsebert_lite import model_file, runner

CFG = ModelConfig(vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=32,
                  intermediate_dim=64, max_sequence_length=32)


def _inputs(n=4, seq=16):
  rng = np.random.default_rng(1)
  mask = np.ones([n, seq], np.int32)
  mask[:, 12:] = 0
  return {"token_ids": rng.integers(1, 60, [n, seq]).astype(np.int32),
          "segment_ids": np.zeros([n, seq], np.int32), "padding_mask": mask}


def test_compaction_removes_emptied_neurons_exactly(tmp_path):
  model = bert.bert_classifier(bert.bert_backbone(CFG), 2, pooling="mean")
  rng = np.random.default_rng(0)
  emptied = {}
  for layer, n_empty in zip(bert.encoder_layers(model), (40, 7)):
    dense = layer._feedforward_intermediate_dense
    cols = rng.choice(64, n_empty, replace=False)
    kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
    kernel[:, cols] = 0
    bias[:] = rng.normal(size=64)  # non-zero biases: their constant output must be folded in
    dense.kernel.assign(kernel)
    dense.bias.assign(bias)
    emptied[layer.name] = n_empty
  compacted, report = compact.compact(model)
  assert [r["ffn_neurons_kept"] for r in report] == [64 - 40, 64 - 7]
  for layer in bert.encoder_layers(compacted):
    assert layer._feedforward_intermediate_dense.kernel.shape == (32, 64 - emptied[layer.name])
  x = _inputs()
  np.testing.assert_allclose(compacted(x).numpy(), model(x).numpy(), atol=1e-5)
  saving.save_classifier(compacted, str(tmp_path / "c"), ["[PAD]"], True, saved_model=False)
  np.testing.assert_array_equal(saving.load_classifier(str(tmp_path / "c"))(x).numpy(),
                                compacted(x).numpy())


def test_compact_variant_is_smaller_and_matches(tmp_path):
  model = bert.bert_classifier(bert.bert_backbone(CFG), 2)
  for layer in bert.encoder_layers(model):
    kernel = layer._feedforward_intermediate_dense.kernel.numpy()
    kernel[:, ::2] = 0
    layer._feedforward_intermediate_dense.kernel.assign(kernel)
  x = _inputs(n=1, seq=16)
  expected = model(x).numpy()[0]
  sizes = {}
  for variant in ("dense_fp32", "compact_dense_fp32"):
    path = str(tmp_path / f"{variant}.tflite")
    content = tf_sparsebert.export_tflite(model, path, sequence_length=16, variant=variant)
    sizes[variant] = len(content)
    interpreter = runner.make_interpreter(content)
    out = interpreter.get_signature_runner(runner.SIGNATURE)(
        input_word_ids=x["token_ids"], input_mask=x["padding_mask"],
        input_type_ids=x["segment_ids"])["probabilities"][0]
    np.testing.assert_allclose(out, np.exp(expected) / np.exp(expected).sum(), atol=1e-5)
    shapes = [w["shape"] for w in model_file.fully_connected_weights(content)]
    full_ffn = [s for s in shapes if s in ([64, 32], [32, 64])]  # TFLite weights are [out, in]
    assert len(full_ffn) == (4 if variant == "dense_fp32" else 0), shapes
  assert sizes["compact_dense_fp32"] < sizes["dense_fp32"]
  assert "compact_sparse_int8" in export.COMPACT_VARIANTS


def test_variant_names():
  v = export.Variant.parse("compact_sparse_int8_per_tensor")
  assert (v.compact, v.sparse, v.int8, v.per_tensor) == (True, True, True, True)
  v = export.Variant.parse("dense_fp32")
  assert (v.compact, v.sparse, v.int8, v.per_tensor) == (False, False, False, False)
  assert len(export.ALL_VARIANTS) == 12 and set(export.VARIANTS) <= set(export.ALL_VARIANTS)
  import pytest
  with pytest.raises(ValueError, match="--variants: unknown variant 'sparse_int4'"):
    export.Variant.parse("sparse_int4")
