"""GLUE data for training: the task registry and TSV reader of `sparsebert_lite.glue` (shared
with the on-device runner), plus TensorFlow Datasets `glue/<task>`.
"""

import numpy as np
from sparsebert_lite.glue import (TASKS, Examples, Task, get_task, load_tsv,  # noqa: F401
                                  read_tsv)

__all__ = ["TASKS", "Examples", "Task", "get_task", "load_split", "load_tfds", "load_tsv",
           "read_tsv"]


_TFDS_SPLITS = {"train": "train", "dev": "validation"}


def load_tfds(data_dir, task, split, download=False):
  """TFDS `glue/<task>` as `Examples`. Offline, use `download=False` with a prepared data_dir."""
  import tensorflow_datasets as tfds
  name = f"glue/{task.name}"
  try:
    ds = tfds.load(name, split=_TFDS_SPLITS[split], data_dir=data_dir, download=download)
  except Exception as e:  # noqa: BLE001 - tfds raises many kinds for a missing or broken dir
    if not download:
      raise FileNotFoundError(
          f"--tfds_data_dir: {name} is not prepared under {data_dir or 'the TFDS default dir'} "
          "(pass --tfds_download to download it, which needs internet, or use --glue_dir with "
          f"the GLUE TSV files): {type(e).__name__}: {str(e)[:300]}") from None
    raise ValueError(f"--tfds_data_dir: could not download or load {name} into {data_dir}: "
                     f"{type(e).__name__}: {str(e)[:300]}") from None
  texts = [[] for _ in task.tfds_features]
  labels = []
  for ex in tfds.as_numpy(ds):
    for feature, out in zip(task.tfds_features, texts):
      out.append(ex[feature].decode("utf-8"))
    labels.append(ex["label"])
  if not labels:
    raise ValueError(f"--tfds_data_dir: {name} split {split} has no examples")
  labels = np.asarray(labels, dtype=np.float32 if task.is_regression else np.int32)
  if not task.is_regression and (labels.min() < 0 or labels.max() >= task.num_classes):
    raise ValueError(f"--tfds_data_dir: {name} {split} has labels outside 0..{task.num_classes - 1}")
  return Examples(texts, labels, f"tfds:{name}/{split}")


def load_split(data_config, split):
  """The `split` ("train" or "dev") of `data_config.task`, from --glue_dir or TFDS."""
  task = get_task(data_config.task)
  if data_config.glue_dir:
    examples = load_tsv(data_config.glue_dir, task, split)
  else:
    examples = load_tfds(data_config.tfds_data_dir, task, split, data_config.tfds_download)
  limit = data_config.max_train_examples if split == "train" else data_config.max_eval_examples
  return examples.take(limit)
