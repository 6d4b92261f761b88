"""Parity check: our Hugging Face BERT import vs transformers' `BertModel` on the same tokens.

Set-up (once; torch/transformers stay out of .venv):

  python3 -m venv .venv-parity
  .venv-parity/bin/pip install torch==2.13.0 transformers numpy

Run:

  .venv/bin/python benchmarks/hf_parity.py [--checkpoint=DIR] [--hf_python=PYTHON]

Encodes the first 32 MRPC dev pairs with our preprocessor, runs our backbone, then runs this
file again with the parity venv's python (`--hf_side NPZ`, importing only numpy, torch and
transformers) to feed the same token ids to `BertModel` and to re-tokenize the pairs with
transformers' `BertTokenizer`. Writes benchmarks/results/hf_parity.json.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
DEFAULT_CHECKPOINT = os.path.join(DATA, "pretrained", "all-MiniLM-L6-v2")
MRPC_DEV = os.path.join(DATA, "glue", "MRPC", "dev.tsv")
RESULT = os.path.join(REPO, "benchmarks", "results", "hf_parity.json")
NUM_PAIRS = 32
SEQ_LEN = 128
TOLERANCE = 1e-4


def read_pairs(path, n):
  with open(path, encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:n + 1]
  return [row[3] for row in rows], [row[4] for row in rows]


def our_side(checkpoint, npz_path):
  """Runs our backbone; saves tokens, sentences and outputs to `npz_path`. Returns tf version."""
  import tf_sparsebert  # First: sets TF_USE_LEGACY_KERAS before TensorFlow is imported.
  import numpy as np
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(1)  # Shared 2-core machine.
  backbone, preprocessor = tf_sparsebert.load_bert(checkpoint, sequence_length=SEQ_LEN)
  first, second = read_pairs(MRPC_DEV, NUM_PAIRS)
  features = preprocessor((tf.constant(first), tf.constant(second)))
  outputs = backbone(features, training=False)
  np.savez(npz_path, first=np.array(first), second=np.array(second),
           **{k: v.numpy() for k, v in features.items()},
           **{k: v.numpy() for k, v in outputs.items()})
  return tf.__version__


def hf_side(checkpoint, npz_path):
  """Compares the saved outputs and tokens with transformers'; returns the numbers as a dict."""
  import numpy as np
  import torch
  import transformers
  torch.set_num_threads(1)  # Shared 2-core machine.
  data = np.load(npz_path)
  model = transformers.BertModel.from_pretrained(checkpoint).eval()
  with torch.no_grad():
    out = model(input_ids=torch.from_numpy(data["token_ids"].astype(np.int64)),
                token_type_ids=torch.from_numpy(data["segment_ids"].astype(np.int64)),
                attention_mask=torch.from_numpy(data["padding_mask"].astype(np.int64)))
  hidden_diff = np.abs(data["sequence_output"] - out.last_hidden_state.numpy())
  hidden_diff = hidden_diff[data["padding_mask"].astype(bool)]
  pooled_diff = np.abs(data["pooled_output"] - out.pooler_output.numpy())
  tokenizer = transformers.BertTokenizer.from_pretrained(checkpoint)
  enc = tokenizer(data["first"].tolist(), data["second"].tolist(), max_length=SEQ_LEN,
                  truncation=True, padding="max_length", return_tensors="np")
  same = np.ones(len(data["token_ids"]), dtype=bool)
  for hf_key, our_key in (("input_ids", "token_ids"), ("token_type_ids", "segment_ids"),
                          ("attention_mask", "padding_mask")):
    same &= np.all(enc[hf_key] == data[our_key], axis=1)
  return {"max_abs_diff_last_hidden": float(hidden_diff.max()),
          "mean_abs_diff_last_hidden": float(hidden_diff.mean()),
          "max_abs_diff_pooled": float(pooled_diff.max()),
          "tokenization_rows_identical": int(same.sum()),
          "torch_version": torch.__version__, "transformers_version": transformers.__version__}


def run_hf_side(hf_python, checkpoint, npz_path):
  if not os.path.isfile(hf_python):
    sys.exit(f"--hf_python: {hf_python} does not exist; create the parity venv first "
             "(see this file's docstring).")
  cmd = [hf_python, os.path.abspath(__file__), "--hf_side", npz_path, "--checkpoint", checkpoint]
  out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                      help="Hugging Face BERT directory")
  parser.add_argument("--hf_python", default=os.path.join(REPO, ".venv-parity", "bin", "python"),
                      help="python of the venv holding torch and transformers")
  parser.add_argument("--hf_side", metavar="NPZ",
                      help="internal: compare with transformers (run by --hf_python)")
  args = parser.parse_args()
  checkpoint = os.path.abspath(args.checkpoint)
  if args.hf_side:
    print(json.dumps(hf_side(checkpoint, args.hf_side)))
    return
  with tempfile.TemporaryDirectory() as tmp:
    npz_path = os.path.join(tmp, "ours.npz")
    tf_version = our_side(checkpoint, npz_path)
    hf = run_hf_side(args.hf_python, checkpoint, npz_path)
  result = {"checkpoint": checkpoint, "num_pairs": NUM_PAIRS, "seq_len": SEQ_LEN, **hf,
            "tf_version": tf_version,
            "pass": hf["max_abs_diff_last_hidden"] <= TOLERANCE}
  os.makedirs(os.path.dirname(RESULT), exist_ok=True)
  with open(RESULT, "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
