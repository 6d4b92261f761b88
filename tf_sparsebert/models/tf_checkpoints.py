"""Google's original TensorFlow BERT checkpoints (`bert_config.json`, `bert_model.ckpt.*`,
`vocab.txt`, as released with google-research/bert), read as Hugging Face-named tensors so that
`checkpoints.load_bert` imports them with the same mapping and checks.
"""

import json
import os
import re

from tf_sparsebert.config import ModelConfig


GOOGLE_CONFIG = "bert_config.json"
GOOGLE_CHECKPOINT = "bert_model.ckpt"
# google-research/bert's "gelu" is the tanh approximation.
_ACTIVATIONS = {"gelu": "gelu_approximate", "gelu_new": "gelu_approximate"}
_SKIP = re.compile(r"(adam_[mv]|global_step|^cls/|bad_steps|good_steps|loss_scale)")


def is_google_dir(path):
  return os.path.isdir(path) and os.path.isfile(os.path.join(path, GOOGLE_CONFIG))


def read_google_config(path):
  """`ModelConfig` from `<path>/bert_config.json`."""
  config_path = os.path.join(path, GOOGLE_CONFIG)
  try:
    with open(config_path, encoding="utf-8") as f:
      g = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"--init_checkpoint: {config_path} is not valid JSON: {e}") from None
  return ModelConfig.from_bert_json(g, config_path, _ACTIVATIONS)


def hf_name(google_name):
  """The Hugging Face name of a google-research/bert variable, or None for non-model variables."""
  if _SKIP.search(google_name) or not google_name.startswith("bert/"):
    return None
  parts = re.sub(r"layer_(\d+)", r"layer.\1", google_name[len("bert/"):]).split("/")
  last = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(parts[-1], parts[-1])
  if parts[-1].endswith("_embeddings"):
    return ".".join(parts) + ".weight"
  return ".".join(parts[:-1] + [last])


def read_google_tensors(path):
  """All model tensors of `<path>/bert_model.ckpt`, HF-named and in HF (torch) layout."""
  import tensorflow as tf
  prefix = os.path.join(path, GOOGLE_CHECKPOINT)
  if not os.path.isfile(prefix + ".index"):
    raise FileNotFoundError(f"--init_checkpoint: {prefix}.index does not exist (a google-research "
                            "BERT directory has bert_config.json, bert_model.ckpt.* and vocab.txt)")
  try:
    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError) as e:
    raise ValueError(f"--init_checkpoint: {prefix} is not a readable TensorFlow checkpoint: "
                     f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
  tensors = {}
  for name in names:
    target = hf_name(name)
    if target is None:
      continue
    value = reader.get_tensor(name)
    tensors[target] = value.T if name.endswith("/kernel") else value  # [in, out] -> [out, in]
  return tensors, prefix
