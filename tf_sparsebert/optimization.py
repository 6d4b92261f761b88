"""AdamW with linear warm-up and linear decay, as in BERT fine-tuning."""

import tensorflow as tf

keras = tf.keras


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`.

  With `restart_step` (learning-rate rewinding, Renda et al. 2020), the same shape runs twice:
  over steps [0, restart_step) and again over [restart_step, total_steps), each phase with the
  same fraction of warm-up, so the weights left after a pruning ramp retrain at full rate.
  """

  def __init__(self, peak, total_steps, warmup_steps, restart_step=0):
    if not 0 <= restart_step < total_steps:
      raise ValueError(f"restart_step must be in [0, {total_steps}), got {restart_step}")
    self.peak = peak
    self.total_steps = total_steps
    self.warmup_steps = warmup_steps
    self.restart_step = restart_step

  def _phase(self, step, start, end):
    length = end - start
    warmup = int(round(self.warmup_steps * length / self.total_steps))
    step = step - start
    up = self.peak * step / max(warmup, 1)
    down = self.peak * tf.maximum(0.0, (length - step) / max(length - warmup, 1))
    return tf.where(step < warmup, up, down)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    if not self.restart_step:
      return self._phase(step, 0, self.total_steps)
    return tf.where(step < self.restart_step, self._phase(step, 0, self.restart_step),
                    self._phase(step, self.restart_step, self.total_steps))

  def get_config(self):
    return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
            "restart_step": self.restart_step}


def create_optimizer(optimizer_config, total_steps, restart_step=0):
  """AdamW (no decay on biases and LayerNorm) with `WarmupLinearDecay`, from an `OptimizerConfig`.

  `restart_step`: rewind the learning rate there (0: one warm-up and decay over all steps).
  With `optimizer_config.ema_momentum`, the optimizer keeps the weights' moving average and
  `fit` ends by writing it into the weights (pruned kernels need their masks applied again:
  `prune.strip` does).
  """
  schedule = WarmupLinearDecay(optimizer_config.learning_rate, total_steps,
                               int(optimizer_config.warmup_fraction * total_steps), restart_step)
  ema = ({"use_ema": True, "ema_momentum": optimizer_config.ema_momentum}
         if optimizer_config.ema_momentum else {})
  optimizer = keras.optimizers.AdamW(learning_rate=schedule,
                                     weight_decay=optimizer_config.weight_decay, epsilon=1e-6,
                                     **ema)
  optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "layer_norm"])
  return optimizer
