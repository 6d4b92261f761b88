"""Verification of an exported file: run it in LiteRT (or MediaPipe) and compare with Keras.

fp32 must match to `FP32_LOGIT_ATOL` (max abs logit difference); int8 must agree on at least
`INT8_MIN_AGREEMENT` of the labels and stay within `INT8_MAX_METRIC_DROP` points of the Keras
metric; a delegate must also reproduce LiteRT's builtin kernels (`DELEGATE_MAX_LOGIT_DIFF`).
"""

import time

import numpy as np
from sparsebert_lite import metrics as lite_metrics
from sparsebert_lite import runner

from tf_sparsebert.export.conversion import output_name
from tf_sparsebert.export.variants import Variant

FP32_LOGIT_ATOL = 1e-4
INT8_MIN_AGREEMENT = 0.99
INT8_MAX_METRIC_DROP = 0.5
# A delegate must compute the same quantized model as LiteRT's reference (builtin) kernels. On the
# MiniLM student XNNPACK's dense int8 differs from them by 0.004 in logits (it quantizes
# activations its own way); its per-channel sparse int8 by 2.4, flipping 81% of MRPC labels.
DELEGATE_MAX_LOGIT_DIFF = 0.02
CRITERIA = {"fp32_max_abs_logit_diff": FP32_LOGIT_ATOL,
            "int8_min_label_agreement": INT8_MIN_AGREEMENT,
            "int8_max_metric_drop": INT8_MAX_METRIC_DROP}


def verify(content, op_resolver, features, reference, labels, task, variant, builtin=None,
           dynamic_length=False):
  """Runs `content` in LiteRT with `op_resolver` on `features` and compares with Keras.

  With `dynamic_length`, every example runs at its own length (its padding cut off), so the
  file is checked at every length the dev set has, as the runner will use it.

  Args:
    reference: the Keras model's outputs (probabilities, or scores) on the same features.
    builtin: for int8 with a delegate, the outputs of the builtin kernels, which the delegate
      must reproduce (`DELEGATE_MAX_LOGIT_DIFF`).

  Returns:
    `(result, outputs)`: a dict of parity figures with `"ok"`, and the outputs (None on error).
  """
  interpreter = runner.make_interpreter(content, op_resolver)
  run = interpreter.get_signature_runner(runner.SIGNATURE)
  out_name = output_name(task.is_regression)
  def length(i):
    return max(int(features["padding_mask"][i].sum()), 1) if dynamic_length else None

  start = time.perf_counter()
  try:
    outputs = np.stack([
        np.asarray(run(input_word_ids=features["token_ids"][i:i + 1, :length(i)],
                       input_mask=features["padding_mask"][i:i + 1, :length(i)],
                       input_type_ids=features["segment_ids"][i:i + 1, :length(i)])[out_name])[0]
        for i in range(len(labels))])
  except (RuntimeError, ValueError) as e:
    return {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}, None
  seconds = time.perf_counter() - start
  result = compare(outputs, reference, labels, task, variant, builtin)
  result["examples_per_second"] = len(labels) / seconds
  return result, outputs


def compare(outputs, reference, labels, task, variant, builtin=None):
  """Parity figures of a runtime's `outputs` against Keras' `reference`, with `"ok"`."""
  center = (lambda x: x) if task.is_regression else lite_metrics.centered_logits
  diff = float(np.max(np.abs(center(outputs) - center(reference))))
  agreement = None if task.is_regression else float(
      np.mean(outputs.argmax(-1) == reference.argmax(-1)))
  ours = lite_metrics.compute_metrics(task, labels, outputs)
  keras_metric = lite_metrics.compute_metrics(task, labels, reference)
  result = {"max_abs_logit_diff" if not task.is_regression else "max_abs_score_diff": diff,
            "max_abs_prob_diff": float(np.max(np.abs(outputs - reference))),
            "label_agreement": agreement, "metrics": ours,
            "metric_drop": keras_metric["main"] - ours["main"]}
  if not Variant.parse(variant).int8:
    result["ok"] = bool(diff <= FP32_LOGIT_ATOL)
  else:
    result["ok"] = bool((agreement is None or agreement >= INT8_MIN_AGREEMENT)
                        and abs(result["metric_drop"]) <= INT8_MAX_METRIC_DROP)
    if builtin is not None:
      result["max_abs_logit_diff_vs_builtin"] = float(np.max(np.abs(center(outputs)
                                                                    - center(builtin))))
      result["ok"] = result["ok"] and result["max_abs_logit_diff_vs_builtin"] <= (
          DELEGATE_MAX_LOGIT_DIFF)
  return result
