"""The official GLUE metrics of each task (shared with the on-device runner)."""

from sparsebert_lite.metrics import compute_metrics, predictions_from_logits  # noqa: F401

__all__ = ["compute_metrics", "predictions_from_logits"]
