"""The official GLUE metrics of each task, from scikit-learn and SciPy."""

import numpy as np
from scipy import stats
from sklearn import metrics as skm


def centered_logits(probabilities):
  """Logits up to the constant softmax removes, recovered from probabilities (exact in fp32 for
  the logit ranges of classifiers), so that outputs can be compared as logits."""
  logp = np.log(np.maximum(np.asarray(probabilities), 1e-38))
  return logp - logp.mean(axis=-1, keepdims=True)


def predictions_from_logits(logits, regression):
  logits = np.asarray(logits)
  return logits.reshape(-1) if regression else logits.argmax(axis=-1)


def compute_metrics(task, labels, logits):
  """Dict of the task's metrics (in percent, as GLUE reports them) from labels and logits."""
  preds = predictions_from_logits(logits, task.is_regression)
  labels = np.asarray(labels)
  out = {}
  for name in task.metrics:
    if name == "accuracy":
      value = skm.accuracy_score(labels, preds)
    elif name == "f1":
      value = skm.f1_score(labels, preds)
    elif name == "matthews_corrcoef":
      value = skm.matthews_corrcoef(labels, preds)
    elif name == "pearson":
      value = stats.pearsonr(preds, labels)[0]
    elif name == "spearman":
      value = stats.spearmanr(preds, labels)[0]
    else:
      raise ValueError(f"unknown metric {name}")
    out[name] = float(100.0 * value)
  out["main"] = out[task.metrics[0]]
  return out
