"""Slow tests on the real MiniLM-L6-H384 checkpoint in ../shared (run with `-m slow`)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import tf_sparsebert
from conftest import MINILM, REPO

pytestmark = pytest.mark.slow


def test_minilm_loads_and_prunes_all_36_kernels_to_90_percent():
  backbone, pre = tf_sparsebert.load_bert(MINILM, sequence_length=64)
  assert backbone.count_params() == 22_713_216
  feats = pre((tf.constant(["The cat sat on the mat."]), tf.constant(["A cat was sitting."])))
  clf = tf_sparsebert.bert_classifier(backbone, 2)
  student = tf_sparsebert.make_sparse_student(clf, target_sparsity=0.9)
  student.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  student.fit(feats, np.array([1]), epochs=1, verbose=0,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  report = tf_sparsebert.sparsity_report(tf_sparsebert.strip(student))
  assert len(report["kernels"]) == 36
  assert all(abs(r["sparsity"] - 0.9) <= 0.005 for r in report["kernels"])


@pytest.mark.skipif(not os.path.exists(os.path.join(REPO, ".venv-parity", "bin", "python")),
                    reason="needs .venv-parity (see benchmarks/hf_parity.py)")
def test_hf_parity_with_transformers():
  subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "hf_parity.py")], check=True,
                 cwd=REPO, timeout=900)
  with open(os.path.join(REPO, "benchmarks", "results", "hf_parity.json")) as f:
    result = json.load(f)
  assert result["max_abs_diff_last_hidden"] <= 1e-4
  assert result["tokenization_rows_identical"] == result["num_pairs"]
