"""TFLite export of a (pruned) classifier, verified in LiteRT before any file is kept.

  python -m tf_sparsebert.export --model_dir=RUN/student --output_dir=RUN/tflite

Modules: `variants` (what a variant name asks for, parsed once), `conversion` (Keras -> flatbuffer
with metadata), `verification` (LiteRT against Keras), `mediapipe` (MediaPipe TextClassifier files),
`report` (`export_run` and `export_report.json`); the CLI is `__main__`.

Variants: `sparse_fp32`, `sparse_int8` (dynamic-range int8 weights) and their dense references
`dense_fp32`, `dense_int8` (plus `compact_` and `_per_tensor` forms). Inputs are three
fixed-length int32 `[1, S]` tensors (`input_word_ids`, `input_mask`, `input_type_ids`, signature
`serving_default`); the output is `probabilities` (softmax; the raw regression score for STS-B).
Importing this package imports LiteRT (`ai_edge_litert`); `import tf_sparsebert` does not.
"""

from tf_sparsebert.export.conversion import configure, convert, export_tflite
from tf_sparsebert.export.report import REPORT_FILE, ExportConfig, export_run
from tf_sparsebert.export.variants import (ALL_VARIANTS, COMPACT_VARIANTS, VARIANTS, Variant,
                                           default_variants)
from tf_sparsebert.export.verification import (DELEGATE_MAX_LOGIT_DIFF, FP32_LOGIT_ATOL,
                                         INT8_MAX_METRIC_DROP, INT8_MIN_AGREEMENT, compare,
                                         verify)

__all__ = ["ALL_VARIANTS", "COMPACT_VARIANTS", "DELEGATE_MAX_LOGIT_DIFF", "ExportConfig",
           "FP32_LOGIT_ATOL", "INT8_MAX_METRIC_DROP", "INT8_MIN_AGREEMENT", "REPORT_FILE",
           "VARIANTS", "Variant", "compare", "configure", "convert", "default_variants",
           "export_run", "export_tflite", "verify"]
