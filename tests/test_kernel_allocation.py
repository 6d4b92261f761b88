"""Per-kernel sparsity targets (--kernel_sparsity) that keep the overall target."""

import numpy as np
import pytest
import tensorflow as tf

import tf_sparsebert
from tf_sparsebert.config import PruningConfig
from tf_sparsebert.models import saving
from tf_sparsebert.pruning import schedules
from tf_sparsebert.pruning.allocation import kernel_targets
from test_model_and_pruning import _classifier, _inputs, _train_pruned

# The tiny encoder layer: query/key/value/attention_output 32x32, FFN 32x64 and 64x32.
SIZES = [1024, 1024, 1024, 1024, 2048, 2048]


def test_kernel_targets_keep_the_overall_sparsity():
  targets = kernel_targets(SIZES, 0.9, {"query": 0.8, "key": 0.8})
  # (0.9 * 8192 - 2 * 1024 * 0.8) / 6144 = 5734.4 / 6144
  np.testing.assert_allclose(targets, [0.8, 0.8] + [5734.4 / 6144] * 4)
  np.testing.assert_allclose(np.dot(SIZES, targets) / sum(SIZES), 0.9)
  np.testing.assert_allclose(kernel_targets(SIZES, 0.5, {"intermediate": 0.5}), [0.5] * 6)


@pytest.mark.parametrize("overrides,match", [
    ({"queries": 0.5}, r"unknown kernel\(s\) \['queries'\]"),
    ({"query": 1.0}, r"query=1.0 must be in \[0, 1\)"),
    ({k: 0.9 for k in ("query", "key", "value", "attention_output", "intermediate", "output")},
     "at most five"),
    ({"query": 0.0, "key": 0.0}, r"other kernels at sparsity 1\.2667"),
])
def test_kernel_targets_reject_bad_splits(overrides, match):
  with pytest.raises(ValueError, match="--kernel_sparsity.*" + match):
    kernel_targets(SIZES, 0.95, overrides)


def test_student_ramps_each_kernel_to_its_own_target_and_round_trips(tmp_path):
  schedule = schedules.cubic_schedule(PruningConfig(target_sparsity=0.9, frequency=2), 10)
  student = tf_sparsebert.make_sparse_student(_classifier(), schedule=schedule,
                                              kernel_sparsity={"query": 0.8, "key": 0.8})
  _train_pruned(student, 4)  # halfway: each kernel at its own share of the schedule's 0.9 * 7/8
  midway = float(schedule(tf.constant(4, tf.int64))[1]) / 0.9
  rest = 5734.4 / 6144
  report = tf_sparsebert.sparsity_report(student)
  for row in report["kernels"]:
    want = (0.8 if row["kernel"] in ("query", "key") else rest) * midway
    assert abs(row["sparsity"] - want) <= 1 / 1024, row
  _train_pruned(student, 6)
  x = _inputs(seed=3)
  path = str(tmp_path / "wrapped")
  saving.save_classifier(student, path, ["[PAD]"], True, saved_model=False)
  loaded = saving.load_classifier(path)
  np.testing.assert_array_equal(student(x).numpy(), loaded(x).numpy())
  assert [layer.kernel_scales for layer in loaded.layers if hasattr(layer, "kernel_scales")] == \
      [[0.8 / 0.9, 0.8 / 0.9] + [rest / 0.9] * 4] * 2
  report = tf_sparsebert.sparsity_report(tf_sparsebert.strip(student))
  for row in report["kernels"]:
    want = 0.8 if row["kernel"] in ("query", "key") else rest
    assert abs(row["sparsity"] - want) <= 1 / 1024, row
  assert abs(report["overall"] - 0.9) <= 1 / 1024


def test_kernel_sparsity_with_blocks():
  schedule = schedules.cubic_schedule(PruningConfig(target_sparsity=0.75, frequency=2), 6)
  student = tf_sparsebert.make_sparse_student(_classifier(), schedule=schedule, block_size=(16, 1),
                                              kernel_sparsity={"intermediate": 0.5})
  _train_pruned(student, 6)
  report = tf_sparsebert.sparsity_report(tf_sparsebert.strip(student), block_size=(16, 1))
  rest = (0.75 * 8192 - 0.5 * 2048) / 6144
  for row in report["kernels"]:
    want = 0.5 if row["kernel"] == "intermediate" else rest
    assert abs(row["block_sparsity"] - want) <= 1 / 64, row
  assert abs(report["overall"] - 0.75) <= 0.01
