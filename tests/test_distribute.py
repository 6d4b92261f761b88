"""tf.distribute in process: MirroredStrategy over two logical CPUs against one device."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

import tf_sparsebert
from tf_sparsebert import config as cfg
from tf_sparsebert import distribute
from test_distiller import _clf, _data

keras = tf.keras


def _distil(strategy):
  """Two epochs of 2 global batches of 8, pruned to 50% at every step, plain SGD (so a wrongly
  scaled gradient would show)."""
  with strategy.scope():
    teacher, source = _clf(seed=0), _clf(seed=1)
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    student = tf_sparsebert.make_sparse_student(source, schedule=schedule)
    distiller = tf_sparsebert.Distiller(student=student, teacher=teacher, alpha_ce=0.5)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5))
  x, y = _data(16)
  history = distiller.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=2,
                          verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  return student, history.history["loss"]


def _wrappers(model):
  return [la for la in model.layers if isinstance(la, pruning_wrapper.PruneLowMagnitude)]


def test_mirrored_training_equals_one_device():
  mirrored = distribute.make_strategy(cfg.DistributeConfig(strategy="mirrored"))
  assert mirrored.num_replicas_in_sync == 2
  single, single_loss = _distil(distribute.make_strategy(cfg.DistributeConfig()))
  replicated, replicated_loss = _distil(mirrored)
  np.testing.assert_allclose(replicated_loss, single_loss, rtol=1e-4)
  for a, b in zip(single.get_weights(), replicated.get_weights()):
    np.testing.assert_allclose(b, a, atol=2e-5)
  for wrapper in _wrappers(replicated):
    assert [int(v.numpy()) for v in wrapper.pruning_step.values] == [4, 4]  # every replica
    for _, mask, _ in wrapper.pruning_vars:
      on_replicas = [v.numpy() for v in mask.values]
      np.testing.assert_array_equal(on_replicas[0], on_replicas[1])
      assert abs(1 - on_replicas[0].mean() - 0.5) < 0.01


@pytest.mark.parametrize("overrides, match", [
    (dict(strategy="multi_worker_mirrored"), "needs the TF_CONFIG"),
    (dict(strategy="one_device", tpu="grpc://10.0.0.2:8470"),
     "TPU_NAME=grpc.* needs --distribution_strategy=tpu"),
    (dict(strategy="ring"), "--distribution_strategy: must be one of"),
])
def test_bad_strategy_settings(overrides, match, monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match=match):
    distribute.make_strategy(cfg.DistributeConfig(**overrides))


def test_tpu_needs_static_shapes():
  config = cfg.TrainConfig(output_dir="o", init_checkpoint="c",
                           data=cfg.DataConfig(glue_dir="g"),
                           distribute=cfg.DistributeConfig(strategy="tpu"))
  with pytest.raises(ValueError, match="--bucket_width: must be 0 with"):
    config.validate()
