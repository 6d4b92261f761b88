"""tf_sparsebert: SparseBERT knowledge-aware pruning on TensorFlow/Keras.

tfmot only prunes Keras 2 (`tf_keras`) layers, and keras-nlp 0.12 builds Keras 2 layers only when
`TF_USE_LEGACY_KERAS=1` is set before TensorFlow is first imported. This module sets it before
anything else and checks that it took effect.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["TF_USE_LEGACY_KERAS"] != "1":
  raise ImportError("tf_sparsebert needs TF_USE_LEGACY_KERAS=1 (tfmot prunes Keras 2 layers only); "
                    f"the environment has TF_USE_LEGACY_KERAS={os.environ['TF_USE_LEGACY_KERAS']!r}.")

import tensorflow as tf  # noqa: E402

if not tf.keras.layers.Layer.__module__.startswith("tf_keras"):
  raise ImportError("tf.keras is Keras 3: TensorFlow was imported before tf_sparsebert set "
                    "TF_USE_LEGACY_KERAS=1. Import tf_sparsebert first, or set it in the environment.")

from tf_sparsebert.config import (DataConfig, DistillConfig, DistributeConfig,  # noqa: E402
                                  ModelConfig, OptimizerConfig, PruningConfig, TrainConfig)
from tf_sparsebert.distribute import make_strategy  # noqa: E402
from tf_sparsebert.distill.distiller import Distiller  # noqa: E402
from tf_sparsebert.models.bert import (bert_backbone, bert_classifier,  # noqa: E402
                                       distillation_view)
from tf_sparsebert.models.checkpoints import load_bert  # noqa: E402
from tf_sparsebert.models.encoder import PrunableTransformerEncoder  # noqa: E402
from tf_sparsebert.models.hf_export import save_hf  # noqa: E402
from tf_sparsebert.pruning.prune import (make_sparse_student, sparsity_report,  # noqa: E402
                                         strip)

__all__ = [
    "DataConfig", "DistillConfig", "Distiller", "DistributeConfig", "ModelConfig",
    "OptimizerConfig", "PrunableTransformerEncoder", "PruningConfig", "TrainConfig",
    "bert_backbone", "bert_classifier", "distillation_view", "export_tflite", "load_bert",
    "make_sparse_student", "make_strategy", "run", "save_hf", "sparsity_report", "strip",
]


def __getattr__(name):
  """`export_tflite` and `run` are imported on first use: the first needs LiteRT, which training
  does not, and `python -m tf_sparsebert.train` must not find its module imported already."""
  if name == "export_tflite":
    from tf_sparsebert.export import export_tflite
    return export_tflite
  if name == "run":
    from tf_sparsebert.train import run
    return run
  raise AttributeError(f"module 'tf_sparsebert' has no attribute {name!r}")
