"""TrainConfig.student_recipe: what each --strategy makes of the student flags."""

import pytest

from tf_sparsebert import config as cfg


def _config(strategy, **kw):
  return cfg.TrainConfig(output_dir="o", init_checkpoint="c", strategy=strategy,
                         data=cfg.DataConfig(glue_dir="g", augment_factor=2,
                                             transfer_tasks=("stsb",)),
                         distill=cfg.DistillConfig(alpha_kd=0.5, alpha_ce=0.2, alpha_hidden=3.0),
                         **kw).validate()


def test_sparsebert_uses_the_flags_as_given():
  r = _config("sparsebert", student_init="teacher").student_recipe()
  assert (r.init, r.augment_factor, r.transfer_tasks, r.one_shot) == (
      "teacher", 2, ("stsb",), False)
  assert r.distill == cfg.DistillConfig(alpha_kd=0.5, alpha_ce=0.2, alpha_hidden=3.0)


@pytest.mark.parametrize("strategy, init, one_shot", [
    ("finetune_then_prune", "teacher", False), ("prune_then_finetune", "pretrained", True)])
def test_baselines_use_hard_labels_only(strategy, init, one_shot):
  r = _config(strategy, student_init="pretrained" if init == "teacher" else "teacher"
              ).student_recipe()
  assert (r.init, r.augment_factor, r.transfer_tasks, r.one_shot) == (init, 0, (), one_shot)
  assert (r.distill.alpha_kd, r.distill.alpha_ce, r.distill.alpha_hidden,
          r.distill.alpha_attention) == (0.0, 1.0, 0.0, 0.0)


def test_unknown_strategy_and_negative_layers():
  with pytest.raises(ValueError, match="--strategy: must be one of"):
    _config("lottery")
  with pytest.raises(ValueError, match="--student_layers: must be >= 0"):
    _config("sparsebert", student_layers=-1)


def test_json_round_trip_keeps_tuples():
  import json
  c = _config("sparsebert", pruning=cfg.PruningConfig(block_size=(16, 1),
                                                      kernel_sparsity={"query": 0.8, "key": 0.8}))
  back = cfg.TrainConfig.from_dict(json.loads(c.to_json()))
  assert back == c and back.data.transfer_tasks == ("stsb",) and back.pruning.block_size == (16, 1)
  assert back.pruning.kernel_sparsity == {"query": 0.8, "key": 0.8}
