"""The cubic sparsity schedule of Zhu & Gupta (2017), as used by SparseBERT."""

import tensorflow_model_optimization as tfmot


def resolve_end_step(pruning_config, total_steps):
  """The step at which the schedule reaches its target, checked against the training length.

  tfmot's `PolynomialDecay` only updates masks at steps `begin + k * frequency` (the wrapper
  prunes at step k during the k-th training batch), so the end step must be one of those, and
  must come before training ends, or the target sparsity is never reached.
  """
  begin, freq = pruning_config.begin_step, pruning_config.frequency
  if pruning_config.end_step == -1:
    end = begin + ((total_steps - begin) // freq) * freq
    if end <= begin:
      raise ValueError(
          f"--pruning_frequency={freq} from step {begin} leaves no pruning step "
          f"in {total_steps} training steps; lower them or train longer.")
    return end
  end = pruning_config.end_step
  if end > total_steps:
    raise ValueError(f"--pruning_end_step={end} is after the last training step ({total_steps}): "
                     "the target sparsity would never be reached.")
  if (end - begin) % freq:
    raise ValueError(f"--pruning_end_step={end} must be the ramp's begin step ({begin}) plus a "
                     f"multiple of --pruning_frequency ({freq}); masks are only updated then.")
  return end


def cubic_schedule(pruning_config, total_steps):
  """tfmot `PolynomialDecay` from 0 to the target sparsity, cubic (power 3).

  Args:
    pruning_config: a `PruningConfig`.
    total_steps: the number of training steps of the pruning stage.

  Returns:
    A `tfmot.sparsity.keras.PolynomialDecay`.
  """
  pruning_config.validate()
  return tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=0.0,
      final_sparsity=pruning_config.target_sparsity,
      begin_step=pruning_config.begin_step,
      end_step=resolve_end_step(pruning_config, total_steps),
      power=3,
      frequency=pruning_config.frequency)


def one_shot_schedule(pruning_config):
  """Magnitude pruning to the target once, at `begin_step`; the mask is then fixed.

  tfmot `ConstantSparsity` limited to one step: with `begin_step=0` the mask is computed from the
  weights the student starts with (prune-then-fine-tune), and afterwards only applied.
  """
  pruning_config.validate()
  begin = pruning_config.begin_step
  return tfmot.sparsity.keras.ConstantSparsity(pruning_config.target_sparsity, begin_step=begin,
                                               end_step=begin + 1, frequency=1)


def make_schedule(pruning_config, total_steps):
  """The student's schedule: one-shot if `end_step == begin_step`, else the cubic ramp."""
  if pruning_config.one_shot:
    if pruning_config.begin_step >= total_steps:
      raise ValueError(f"--pruning_end_step={pruning_config.end_step}: the one-shot pruning step "
                       f"is not before the last training step ({total_steps}): the student would "
                       "never be pruned.")
    return one_shot_schedule(pruning_config)
  return cubic_schedule(pruning_config, total_steps)
