"""What a run trains, as opposed to where it writes or what it reads: for grouping experiment
runs into series and for checking that a run is the one its flagfile describes."""

from tf_sparsebert import run_dir

# Settings that say where a run writes or what it reads, not what it trains.
NOT_THE_RECIPE = ("output_dir", "teacher_model", "checkpoint_steps", "overwrite")


def recipe(config_dict):
  """What a run with `config_dict` (a `TrainConfig.to_dict()`) trains."""
  return {k: v for k, v in run_dir.normalized(config_dict).items() if k not in NOT_THE_RECIPE}


def recipe_differences(saved, current):
  """`run_dir.differences` between two runs' configs in what they train."""
  return run_dir.differences(recipe(saved), recipe(current))
