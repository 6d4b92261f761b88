"""The learning-rate schedule (BERT's warm-up + linear decay, and its rewound form) and the
optimizer's moving average of the weights."""

import numpy as np
import pytest

import tf_sparsebert  # noqa: F401  (tf_keras before tensorflow)
import tensorflow as tf
from tf_sparsebert.optimization import WarmupLinearDecay, create_optimizer
from tf_sparsebert.config import OptimizerConfig

keras = tf.keras


def _values(schedule, steps):
  return [float(schedule(s)) for s in steps]


def test_warmup_then_linear_decay_by_hand():
  s = WarmupLinearDecay(peak=1.0, total_steps=100, warmup_steps=10)
  np.testing.assert_allclose(_values(s, [0, 5, 10, 55, 100, 120]), [0, .5, 1, .5, 0, 0], atol=1e-6)


def test_rewind_runs_the_same_shape_again_from_the_restart_step():
  s = WarmupLinearDecay(peak=1.0, total_steps=100, warmup_steps=10, restart_step=60)
  # phase 1: steps [0, 60), 6 warm-up steps; phase 2: [60, 100), 4 warm-up steps.
  np.testing.assert_allclose(_values(s, [3, 6, 33, 59]), [.5, 1, .5, 1 / 54], atol=1e-6)
  np.testing.assert_allclose(_values(s, [60, 62, 64, 82, 100]), [0, .5, 1, .5, 0], atol=1e-6)


def test_config_round_trip_and_old_configs_still_load():
  s = WarmupLinearDecay(peak=2e-5, total_steps=50, warmup_steps=5, restart_step=30)
  again = WarmupLinearDecay.from_config(s.get_config())
  assert _values(again, range(0, 51, 7)) == _values(s, range(0, 51, 7))
  old = WarmupLinearDecay.from_config({"peak": 1.0, "total_steps": 100, "warmup_steps": 10})
  assert float(old(55)) == pytest.approx(0.5)


def test_create_optimizer_uses_the_config_and_restart():
  opt = create_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.1), 100,
                         restart_step=60)
  schedule = opt.get_config()["learning_rate"]["config"]
  assert schedule == {"peak": 1e-3, "total_steps": 100, "warmup_steps": 10, "restart_step": 60}


@pytest.mark.parametrize("restart", [-1, 100, 150])
def test_restart_outside_training_is_rejected(restart):
  with pytest.raises(ValueError, match="restart_step must be in"):
    WarmupLinearDecay(peak=1.0, total_steps=100, warmup_steps=10, restart_step=restart)


class _Record(keras.callbacks.Callback):
  """The kernel of `model`'s first layer before training and after every step."""

  def on_train_begin(self, logs=None):
    self.values = [self.model.layers[0].kernel.numpy()]

  def on_train_batch_end(self, batch, logs=None):
    self.values.append(self.model.layers[0].kernel.numpy())


def _dense_fit(ema_momentum, callbacks=()):
  tf.keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
  model.compile(optimizer=create_optimizer(
      OptimizerConfig(learning_rate=0.1, warmup_fraction=0.0, ema_momentum=ema_momentum), 6),
      loss="mse")
  x = np.random.default_rng(1).normal(size=(12, 4)).astype(np.float32)
  model.fit(x, x[:, :3] * 2.0, batch_size=2, epochs=1, shuffle=False, verbose=0,
            callbacks=list(callbacks))
  return model


def test_ema_momentum_ends_with_the_moving_average_of_the_weights_by_hand():
  record = _Record()
  model = _dense_fit(0.8, [record])
  assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(0.8)
  average = record.values[0]  # the average starts at the weights the optimizer is built on
  for value in record.values[1:]:
    average = 0.8 * average + 0.2 * value
  assert len(record.values) == 7
  np.testing.assert_allclose(model.layers[0].kernel.numpy(), average, rtol=1e-5, atol=1e-6)
  assert np.abs(average - record.values[-1]).max() > 1e-3  # not the last weights
  # Off (the default): the last weights, and the same training path.
  plain = _Record()
  last = _dense_fit(0.0, [plain])
  assert not last.optimizer.use_ema
  np.testing.assert_allclose(last.layers[0].kernel.numpy(), plain.values[-1])
  np.testing.assert_allclose(plain.values, record.values, rtol=1e-6)
