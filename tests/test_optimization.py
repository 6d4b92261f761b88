"""The learning-rate schedule: BERT's warm-up + linear decay, and its rewound form."""

import numpy as np
import pytest

import tf_sparsebert  # noqa: F401  (tf_keras before tensorflow)
from tf_sparsebert.optimization import WarmupLinearDecay, create_optimizer
from tf_sparsebert.config import OptimizerConfig


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
