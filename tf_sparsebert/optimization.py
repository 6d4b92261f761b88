"""AdamW with linear warm-up and linear decay, as in BERT fine-tuning."""

import tensorflow as tf

keras = tf.keras


@keras.utils.register_keras_serializable(package="tf_sparsebert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`."""

  def __init__(self, peak, total_steps, warmup_steps):
    self.peak = peak
    self.total_steps = total_steps
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    up = self.peak * step / max(self.warmup_steps, 1)
    down = self.peak * tf.maximum(0.0, (self.total_steps - step)
                                  / max(self.total_steps - self.warmup_steps, 1))
    return tf.where(step < self.warmup_steps, up, down)

  def get_config(self):
    return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def create_optimizer(optimizer_config, total_steps):
  """AdamW (no decay on biases and LayerNorm) with `WarmupLinearDecay`, from an `OptimizerConfig`."""
  schedule = WarmupLinearDecay(optimizer_config.learning_rate, total_steps,
                               int(optimizer_config.warmup_fraction * total_steps))
  optimizer = keras.optimizers.AdamW(learning_rate=schedule,
                                     weight_decay=optimizer_config.weight_decay, epsilon=1e-6)
  optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "layer_norm"])
  return optimizer
