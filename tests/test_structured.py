"""Structured pruning (whole heads and FFN neurons) inside tfmot's wrapper, and its exact compaction."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import tf_sparsebert
from tf_sparsebert.config import ModelConfig
from tf_sparsebert.models import bert, saving
from conftest import tiny_inputs
from tf_sparsebert.pruning import compact, structured

keras = tf.keras
CFG = ModelConfig(vocabulary_size=40, num_layers=2, num_heads=4, hidden_dim=32,
                  intermediate_dim=64, max_sequence_length=32)


_inputs = tiny_inputs


def _student(heads=0.5, neurons=0.5, sparsity=0.8, end_step=8, block_size=(1, 1), seed=0):
  keras.utils.set_random_seed(seed)
  teacher = bert.bert_classifier(bert.bert_backbone(CFG), 2)
  schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=end_step,
                                                  frequency=2)
  return tf_sparsebert.make_sparse_student(teacher, schedule=schedule, block_size=block_size,
                                           head_sparsity=heads, neuron_sparsity=neurons)


def _fit(student, steps):
  student.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x = _inputs(n=8 * steps)
  y = np.arange(8 * steps) % 2
  student.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])


def test_keep_mask_removes_the_lowest_groups_and_keeps_one():
  scores = tf.constant([3.0, 1.0, 4.0, 2.0])
  np.testing.assert_array_equal(structured.keep_mask(scores, 0.5), [1, 0, 1, 0])
  np.testing.assert_array_equal(structured.keep_mask(scores, 0.0), [1, 1, 1, 1])
  np.testing.assert_array_equal(structured.keep_mask(scores, 0.99), [0, 0, 1, 0])  # one stays


def test_group_scores_are_the_squared_norms_of_a_groups_weights():
  rng = np.random.default_rng(0)
  q, k, v = (rng.normal(size=(8, 2, 4)).astype(np.float32) for _ in range(3))
  o = rng.normal(size=(2, 4, 8)).astype(np.float32)
  w1, w2 = rng.normal(size=(8, 6)).astype(np.float32), rng.normal(size=(6, 8)).astype(np.float32)
  kernels = [tf.constant(a) for a in (q, k, v, o, w1, w2)]
  heads = sum((a ** 2).sum(axis=(0, 2)) for a in (q, k, v)) + (o ** 2).sum(axis=(1, 2))
  np.testing.assert_allclose(structured.group_scores(kernels, "heads"), heads, rtol=1e-5)
  np.testing.assert_allclose(structured.group_scores(kernels, "neurons"),
                             (w1 ** 2).sum(0) + (w2 ** 2).sum(1), rtol=1e-5)


def test_ramp_follows_the_cubic_schedule():
  schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, 0.9, begin_step=10, end_step=50)
  for step, want in ((0, 0.0), (10, 0.0), (30, 1 - 0.5 ** 3), (50, 1.0), (90, 1.0)):
    assert float(structured.ramp_progress(schedule, step)) == pytest.approx(want)
  assert float(structured.ramp_progress(
      tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0), 0)) == 1.0


@pytest.mark.parametrize("block_size", [(1, 1), (16, 1)])
def test_heads_and_neurons_removed_whole_and_the_rest_at_the_target(block_size, tmp_path):
  student = _student(block_size=block_size)
  _fit(student, 10)
  stripped = tf_sparsebert.strip(student)
  for layer in bert.encoder_layers(stripped):
    removed = structured.removed_groups(layer)
    if block_size == (1, 1):
      assert len(removed["heads"]) == 2 and len(removed["neurons"]) == 32, removed
    else:  # 16x1 blocks of the [ffn, hidden] output kernel may empty a few more neurons
      assert len(removed["heads"]) >= 2 and len(removed["neurons"]) >= 32, removed
    q, k, v, o, w1, w2 = (w.numpy() for w in layer.get_prunable_weights())
    whole_heads = [h for h in range(4) if not (q[:, h].any() or k[:, h].any() or v[:, h].any()
                                               or o[h].any())]
    whole_neurons = [j for j in range(64) if not (w1[:, j].any() or w2[j].any())]
    # every weight of the group (16x1 blocks may empty a few more neurons whole)
    assert len(whole_heads) == 2 and len(whole_neurons) >= 32
    assert len(whole_neurons) == 32 or block_size != (1, 1)
  report = tf_sparsebert.sparsity_report(stripped, block_size=block_size)
  # The weights that stay are at the schedule's 80%; overall 1 - 0.5 * 0.2 = 90%.
  # (Blocks that straddle a removed and a kept neuron count as kept: a little below, in blocks.)
  assert report["overall"] == pytest.approx(0.9, abs=0.01 if block_size == (1, 1) else 0.02)
  if block_size == (1, 1):
    assert report["structure"] == {"heads": 8, "heads_removed": 4, "neurons": 128,
                                   "neurons_removed": 64}
    assert report["remaining_sparsity"] == pytest.approx(0.8, abs=0.02)
  else:
    assert report["block_overall"] == pytest.approx(0.9, abs=0.02)
  # The wrapped model saves and loads with its masks and settings.
  saving.save_classifier(student, str(tmp_path / "w"), ["[PAD]"], True, saved_model=False)
  loaded = saving.load_classifier(str(tmp_path / "w"))
  x = _inputs(seed=3)
  np.testing.assert_allclose(loaded(x).numpy(), student(x).numpy(), atol=1e-6)
  wrapper = bert.encoder_layers(loaded)[0]
  assert (wrapper.head_sparsity, wrapper.neuron_sparsity) == (0.5, 0.5)


def test_halfway_up_the_ramp_fewer_groups_are_removed():
  student = _student(end_step=40, heads=0.75, neurons=0.5)
  _fit(student, 20)  # step 20 of a 0-40 ramp: progress 1 - 0.5^3 = 0.875
  stripped = tf_sparsebert.strip(student)
  report = tf_sparsebert.sparsity_report(stripped)["structure"]
  assert report["heads_removed"] == 2 * int(np.floor(0.75 * 0.875 * 4))  # 2 of 4 per layer
  assert report["neurons_removed"] == 2 * int(np.floor(0.5 * 0.875 * 64))  # 28 of 64


def test_compaction_removes_heads_and_neurons_exactly():
  student = _student()
  _fit(student, 10)
  stripped = tf_sparsebert.strip(student)
  compacted, report = compact.compact(stripped)
  assert [(r["heads_kept"], r["ffn_neurons_kept"]) for r in report] == [(2, 32), (2, 32)]
  for layer in bert.encoder_layers(compacted):
    q, _, _, o, w1, w2 = layer.get_prunable_weights()
    assert q.shape == (32, 2, 8) and o.shape == (2, 8, 32)  # heads of the same size, fewer
    assert w1.shape == (32, 32) and w2.shape == (32, 32)
  x = _inputs(seed=5)
  np.testing.assert_allclose(compacted(x).numpy(), stripped(x).numpy(), atol=1e-5)
  assert compacted.count_params() < stripped.count_params()
