"""Distiller: a keras.Model whose train_step distils a frozen teacher into a (pruned) student."""

import tensorflow as tf

from tf_sparsebert.distill import losses
from tf_sparsebert.models.bert import distillation_view
from tf_sparsebert.pruning.prune import mask_sparsity

keras = tf.keras


def _labelled(y):
  """1.0 for examples with a gold label, 0.0 for teacher-labelled ones (label < 0)."""
  return tf.cast(tf.reshape(y, [-1]) >= 0, tf.float32)


class Distiller(keras.Model):
  """Knowledge-aware distillation of `teacher` into `student`, usable in plain `model.fit`.

  loss = alpha_kd * KL(teacher || student, T) * T^2  (MSE on the prediction for regression)
       + alpha_ce * hard-label cross-entropy        (MSE to the label for regression)
       + alpha_hidden * sum over layers of hidden-state MSE (embeddings + every layer)
       + alpha_attention * sum over layers of pre-softmax attention-score MSE

  Examples whose label is negative (teacher-labelled augmentation) count in every loss but the
  hard-label one and in no accuracy. The teacher is frozen and run in inference mode; the
  student is called with `training=True`, which is what advances tfmot's pruning step. Each
  loss part, the student's accuracy and its current (mask) sparsity are reported as metrics.

  Usage:
  ```python
  distiller = Distiller(student=student, teacher=teacher, alpha_ce=0.5)
  distiller.compile(optimizer=keras.optimizers.AdamW(3e-5))
  distiller.fit(train_ds, validation_data=dev_ds,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  ```

  The Distiller itself is a training harness and is not saved; save `student` (after `strip`).

  Args:
    student: a classifier (logits output) built with `bert_classifier`, usually made prunable by
      `make_sparse_student`.
    teacher: a fine-tuned classifier of the same width and number of heads (for the
      hidden/attention losses), as deep as the student or deeper; it is set to
      `trainable=False`. A student of N layers under a teacher of L layers matches the teacher's
      layers L/N, 2L/N, ..., L (TinyBERT's uniform mapping; the embeddings match the embeddings).
    alpha_kd, alpha_ce, alpha_hidden, alpha_attention: loss weights.
    temperature: softmax temperature of the logit loss.
    regression: True for a one-output regression head (STS-B).
  """

  def __init__(self, student, teacher, alpha_kd=1.0, alpha_ce=0.0, alpha_hidden=1.0,
               alpha_attention=1.0, temperature=1.0, regression=False,
               **kwargs):
    super().__init__(**kwargs)
    self.student = student
    self.teacher = teacher
    self.teacher.trainable = False
    self.alpha_kd = alpha_kd
    self.alpha_ce = alpha_ce
    self.alpha_hidden = alpha_hidden
    self.alpha_attention = alpha_attention
    self.temperature = temperature
    self.regression = regression
    self._needs_internals = alpha_hidden > 0 or alpha_attention > 0
    self._needs_teacher = self._needs_internals or alpha_kd > 0
    if self._needs_internals:
      self._student_view = distillation_view(student)
      self._teacher_view = distillation_view(teacher)
      self._layer_map = self._check_compatible()
    self._sparsity = mask_sparsity(student)
    names = ["loss", "kd_loss", "ce_loss", "hidden_loss", "attention_loss"]
    self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
    if not regression:
      self._trackers["accuracy"] = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    if self._sparsity is not None:
      self._trackers["sparsity"] = keras.metrics.Mean(name="sparsity")

  def _check_compatible(self):
    """Checks the shapes; returns the teacher layer (1-based) each student layer learns from."""
    s, t = self._student_view.output, self._teacher_view.output
    n, depth = len(s["hidden_states"]) - 1, len(t["hidden_states"]) - 1
    if n > depth:
      raise ValueError(
          f"The hidden-state and attention losses need a teacher at least as deep as the "
          f"student: teacher has {depth} layers, student {n}. Set "
          "alpha_hidden=alpha_attention=0 otherwise.")
    if s["hidden_states"][0].shape[-1] != t["hidden_states"][0].shape[-1]:
      raise ValueError("The hidden-state loss needs teacher and student of the same hidden size.")
    if s["attention_scores"][0].shape[1] != t["attention_scores"][0].shape[1]:
      raise ValueError("The attention loss needs teacher and student with as many heads.")
    return [(i + 1) * depth // n for i in range(n)]

  @property
  def metrics(self):
    return list(self._trackers.values())

  def call(self, inputs, training=False):
    return self.student(inputs, training=training)

  def _forward(self, x, training):
    if self._needs_internals:
      t = self._teacher_view(x, training=False)
      mapped = {"logits": t["logits"],
                "hidden_states": [t["hidden_states"][0]] + [t["hidden_states"][k]
                                                           for k in self._layer_map],
                "attention_scores": [t["attention_scores"][k - 1] for k in self._layer_map]}
      return mapped, self._student_view(x, training=training)
    student = {"logits": self.student(x, training=training)}
    if not self._needs_teacher:  # hard labels only: the teacher's forward pass is not needed
      return {"logits": tf.zeros_like(student["logits"])}, student
    return {"logits": self.teacher(x, training=False)}, student

  def compute_losses(self, x, y, teacher_out, student_out):
    """The weighted loss and its parts (a dict of scalars) for one batch."""
    t_logits = tf.stop_gradient(teacher_out["logits"])
    s_logits = student_out["logits"]
    labelled = _labelled(y)
    zero = tf.constant(0.0)
    parts = {}
    if self.regression:
      parts["kd_loss"] = losses.mse_loss(t_logits, s_logits) if self.alpha_kd else zero
      parts["ce_loss"] = losses.mse_loss(y, s_logits, labelled) if self.alpha_ce else zero
    else:
      parts["kd_loss"] = (losses.kd_loss(t_logits, s_logits, self.temperature)
                          if self.alpha_kd else zero)
      parts["ce_loss"] = losses.ce_loss(y, s_logits, labelled) if self.alpha_ce else zero
    mask = x["padding_mask"]
    parts["hidden_loss"] = (losses.hidden_loss(
        [tf.stop_gradient(h) for h in teacher_out["hidden_states"]],
        student_out["hidden_states"], mask) if self.alpha_hidden else zero)
    parts["attention_loss"] = (losses.attention_loss(
        [tf.stop_gradient(a) for a in teacher_out["attention_scores"]],
        student_out["attention_scores"], mask) if self.alpha_attention else zero)
    parts["loss"] = (self.alpha_kd * parts["kd_loss"] + self.alpha_ce * parts["ce_loss"]
                     + self.alpha_hidden * parts["hidden_loss"]
                     + self.alpha_attention * parts["attention_loss"])
    return parts

  def _update_metrics(self, y, parts, s_logits):
    for name, value in parts.items():
      self._trackers[name].update_state(value)
    if "accuracy" in self._trackers:
      self._trackers["accuracy"].update_state(tf.maximum(y, 0), s_logits,
                                              sample_weight=_labelled(y))
    if self._sparsity is not None:
      self._trackers["sparsity"].update_state(self._sparsity())
    return {name: tracker.result() for name, tracker in self._trackers.items()}

  def train_step(self, data):
    x, y = data
    with tf.GradientTape() as tape:
      teacher_out, student_out = self._forward(x, training=True)
      parts = self.compute_losses(x, y, teacher_out, student_out)
      # Under a tf.distribute strategy the optimizer sums the replicas' gradients: scale each
      # replica's mean loss so the sum is the mean over the global batch.
      scaled = parts["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
    variables = self.student.trainable_variables
    gradients = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._update_metrics(y, parts, student_out["logits"])

  def test_step(self, data):
    x, y = data
    teacher_out, student_out = self._forward(x, training=False)
    parts = self.compute_losses(x, y, teacher_out, student_out)
    return self._update_metrics(y, parts, student_out["logits"])
