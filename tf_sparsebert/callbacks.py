"""Keras callbacks that put the task's own figures into TensorBoard."""

import numpy as np
import tensorflow as tf

from tf_sparsebert import plots
from tf_sparsebert.evaluate import evaluate
from tf_sparsebert.pruning import prune

keras = tf.keras


class DevMetrics(keras.callbacks.Callback):
  """After every epoch: the task's official dev metrics of `model` (e.g. MRPC accuracy and F1),
  as TensorBoard scalars `dev/<metric>` under `log_dir`; with `sparsity_image`, also the
  per-kernel sparsity heat map as an image summary `sparsity/per_kernel` and the
  min/max kernel sparsity as scalars.

  `model` is evaluated, not the model being fit: pass the student when fitting a `Distiller`.
  Each epoch's metrics are also kept in `self.history` (a list of dicts).
  """

  def __init__(self, model, features, labels, task, log_dir, batch_size=64, bucket_width=32,
               sparsity_image=False):
    super().__init__()
    self._eval_model = model
    self._data = (features, labels, task, batch_size, bucket_width)
    self._writer = tf.summary.create_file_writer(log_dir)
    self._sparsity_image = sparsity_image
    self.history = []

  def on_epoch_end(self, epoch, logs=None):
    features, labels, task, batch_size, bucket_width = self._data
    result = evaluate(self._eval_model, features, labels, task, batch_size, bucket_width)
    self.history.append(result)
    with self._writer.as_default(step=epoch + 1):
      for name, value in result.items():
        tf.summary.scalar(f"dev/{name}", value)
      if self._sparsity_image:
        report = prune.sparsity_report(self._eval_model)
        tf.summary.scalar("sparsity/overall", report["overall"])
        tf.summary.scalar("sparsity/min_kernel", report["min"])
        tf.summary.scalar("sparsity/max_kernel", report["max"])
        png = plots.to_png(plots.sparsity_heatmap(report, f"Sparsity after epoch {epoch + 1}"))
        tf.summary.image("sparsity/per_kernel", tf.image.decode_png(png, channels=4)[None])
    self._writer.flush()
    if logs is not None:
      logs.update({f"dev_{name}": np.float32(value) for name, value in result.items()})
