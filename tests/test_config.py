"""TrainConfig: validation names the flag; JSON round trips; one-shot pruning is end == begin."""

import json

import pytest

from tf_sparsebert import config as cfg


def _config(**kw):
  return cfg.TrainConfig(output_dir="o", init_checkpoint="c",
                         data=cfg.DataConfig(glue_dir="g", augment_factor=2),
                         distill=cfg.DistillConfig(alpha_kd=0.5, alpha_ce=0.2, alpha_hidden=3.0),
                         **kw).validate()


def test_negative_layers_and_unknown_init_name_their_flag():
  with pytest.raises(ValueError, match="--student_layers: must be >= 0"):
    _config(student_layers=-1)
  with pytest.raises(ValueError, match="--student_init: must be one of"):
    _config(student_init="lottery")


@pytest.mark.parametrize("begin, end, one_shot", [(0, 0, True), (5, 5, True), (0, -1, False),
                                                  (0, 10, False)])
def test_one_shot_is_a_ramp_of_no_length(begin, end, one_shot):
  assert cfg.PruningConfig(begin_step=begin, end_step=end).validate().one_shot == one_shot


def test_end_before_begin_is_refused():
  with pytest.raises(ValueError, match=r"--pruning_end_step: must be >= the ramp's begin step"):
    cfg.PruningConfig(begin_step=10, end_step=5).validate()


def test_json_round_trip_keeps_tuples():
  c = _config(pruning=cfg.PruningConfig(block_size=(16, 1)))
  back = cfg.TrainConfig.from_dict(json.loads(c.to_json()))
  assert back == c and back.pruning.block_size == (16, 1)
  c = _config(pruning=cfg.PruningConfig(head_sparsity=0.5, neuron_sparsity=0.25))
  back = cfg.TrainConfig.from_dict(json.loads(c.to_json()))
  assert (back.pruning.head_sparsity, back.pruning.neuron_sparsity) == (0.5, 0.25)
  with pytest.raises(ValueError, match=r"--neuron_sparsity: must be in \[0, 1\), got 1.0"):
    cfg.PruningConfig(neuron_sparsity=1.0).validate()
