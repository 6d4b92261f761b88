"""Reading and annotating `.tflite` files without TensorFlow.

An export carries one metadata entry of its own, `sparsebert` (JSON): the task, labels, input
and output names, sequence length, tokenizer (vocab and lower-casing) and how the file must be
run (`op_resolver`). The runner reads it, so a `.tflite` is self-describing. Other metadata (the
converter's, MediaPipe's `TFLITE_METADATA`) is left as it is.
"""

import collections
import hashlib
import json
import os

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

METADATA_NAME = "sparsebert"

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


REPORT_FILE = "export_report.json"


def check_against_report(path, content):
  """Raises if `tf_sparsebert.export`'s report sits beside `path` and records another checksum
  for this file: a flipped byte in a weight would otherwise run, silently wrong."""
  report_path = os.path.join(os.path.dirname(os.path.abspath(path)), REPORT_FILE)
  if not os.path.isfile(report_path):
    return
  try:
    with open(report_path, encoding="utf-8") as f:
      variants = json.load(f).get("variants", {})
  except (OSError, ValueError, AttributeError):
    return  # not a report this runner can read: nothing to check against
  name = os.path.basename(path)
  for entry in variants.values():
    if isinstance(entry, dict) and entry.get("file") == name and entry.get("sha256"):
      if hashlib.sha256(content).hexdigest() != entry["sha256"]:
        raise ValueError(f"--model: {path} does not match the checksum {REPORT_FILE} beside it "
                         "records: the file changed after it was exported and verified (a "
                         "partial copy, or a corrupted byte); export it again")
      return


def read_metadata(content):
  """The `sparsebert` metadata of a .tflite file's bytes, or None if it has none."""
  model = schema.Model.GetRootAsModel(content, 0)
  for i in range(model.MetadataLength()):
    entry = model.Metadata(i)
    if entry.Name() and entry.Name().decode() == METADATA_NAME:
      return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
  return None


def with_metadata(content, info):
  """Returns `content` with its `sparsebert` metadata set to `info` (a JSON-able dict).

  Apply it before MediaPipe's metadata writer: that one appends the associated files (vocab,
  labels) as a zip after the flatbuffer, which re-serializing the flatbuffer would drop.
  """
  model = flatbuffer_utils.convert_bytearray_to_object(content)
  data = np.frombuffer(json.dumps(info, sort_keys=True).encode("utf-8"), np.uint8)
  entries = [m for m in (model.metadata or []) if m.name == METADATA_NAME.encode()]
  if entries:
    model.buffers[entries[0].buffer].data = data
  else:
    buffer = schema.BufferT()
    buffer.data = data
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
  return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _block_shape(sparsity):
  """The dense block shape `[rows, cols]` of a tensor's TFLite sparsity parameters ([1, 1]: none)."""
  dims = sparsity.dimMetadata or []
  block = [1, 1]
  for i, original_dim in enumerate(sparsity.blockMap if sparsity.blockMap is not None else []):
    block[int(original_dim)] = int(dims[2 + i].denseSize)
  return block


def fully_connected_weights(content):
  """How the weights of every FULLY_CONNECTED op are stored and read.

  Returns a list of dicts, one per FULLY_CONNECTED op in execution order: `name` (the weight
  tensor's name), `shape` (`[out, in]`), `dtype`, `stored` ("sparse" or "dense"), `block`
  (TFLite block shape of the sparse encoding) and `read_by`: "FULLY_CONNECTED" when the op reads
  the (sparse or dense) constant directly, "DENSIFY" when a DENSIFY op rebuilds the dense matrix
  at load time (no speed-up), or the name of another producing op.
  """
  model = flatbuffer_utils.convert_bytearray_to_object(content)
  graph = model.subgraphs[0]
  codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
  producer = {}
  for op in graph.operators:
    for t in op.outputs:
      producer[int(t)] = op
  rows = []
  for op in graph.operators:
    if _OP_NAMES.get(codes[op.opcodeIndex]) != "FULLY_CONNECTED":
      continue
    index = int(op.inputs[1])
    source, read_by = index, "FULLY_CONNECTED"
    if index in producer:
      prod = producer[index]
      read_by = _OP_NAMES.get(codes[prod.opcodeIndex], str(codes[prod.opcodeIndex]))
      source = int(prod.inputs[0])
    tensor = graph.tensors[source]
    rows.append({
        "name": tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name,
        "shape": [int(d) for d in graph.tensors[index].shape],
        "dtype": _TYPE_NAMES.get(tensor.type, str(tensor.type)),
        "stored": "sparse" if tensor.sparsity is not None else "dense",
        "block": _block_shape(tensor.sparsity) if tensor.sparsity is not None else None,
        "read_by": read_by,
    })
  return rows


def op_counts(content):
  """Number of ops of each builtin type in the main subgraph."""
  model = schema.Model.GetRootAsModel(content, 0)
  graph = model.Subgraphs(0)
  codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
  counts = collections.Counter()
  for i in range(graph.OperatorsLength()):
    code = codes[graph.Operators(i).OpcodeIndex()]
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    counts[_OP_NAMES.get(builtin, str(builtin))] += 1
  return dict(sorted(counts.items()))
