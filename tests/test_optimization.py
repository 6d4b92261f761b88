"""The learning-rate schedule (BERT's warm-up + linear decay) and the optimizer built from it."""

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


def test_config_round_trip():
  s = WarmupLinearDecay(peak=2e-5, total_steps=50, warmup_steps=5)
  again = WarmupLinearDecay.from_config(s.get_config())
  assert _values(again, range(0, 51, 7)) == _values(s, range(0, 51, 7))
  assert float(again(30)) == pytest.approx(2e-5 * 20 / 45)


def test_create_optimizer_uses_the_config():
  opt = create_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.1,
                                         weight_decay=0.02), 100)
  schedule = opt.get_config()["learning_rate"]["config"]
  assert schedule == {"peak": 1e-3, "total_steps": 100, "warmup_steps": 10}
  assert opt.get_config()["weight_decay"] == pytest.approx(0.02)
