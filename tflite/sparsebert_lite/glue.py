"""GLUE task registry and the GLUE TSV reader (pure Python: no TensorFlow).

The training side (`tf_sparsebert.data.glue`) adds TensorFlow Datasets on top of this module.
"""

import csv
import dataclasses
import os
import sys
from typing import Optional, Sequence, Tuple

import numpy as np

csv.field_size_limit(sys.maxsize)


@dataclasses.dataclass(frozen=True)
class Task:
  """How one GLUE task is laid out and scored."""
  name: str
  directory: str                      # folder under --glue_dir
  header: Optional[Tuple[str, ...]]   # expected leading column names, None if no header line
  text_columns: Tuple[int, ...]       # 1 (single sentence) or 2 (pair) columns
  label_column: int
  labels: Optional[Tuple[str, ...]]   # None: regression
  metrics: Tuple[str, ...]            # the first is the task's main metric
  tfds_features: Tuple[str, ...]
  splits: Tuple[str, ...] = ("train", "dev")
  columns: Optional[int] = None       # columns of every row, if not the header's

  @property
  def num_columns(self):
    """How many tab-separated columns every row of its train and dev files has."""
    return self.columns or len(self.header)

  @property
  def num_classes(self):
    return 1 if self.labels is None else len(self.labels)

  @property
  def is_regression(self):
    return self.labels is None

  @property
  def is_pair(self):
    return len(self.text_columns) == 2


TASKS = {
    "mrpc": Task("mrpc", "MRPC", ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                 (3, 4), 0, ("0", "1"), ("accuracy", "f1"), ("sentence1", "sentence2")),
    "sst2": Task("sst2", "SST-2", ("sentence", "label"), (0,), 1, ("0", "1"), ("accuracy",),
                 ("sentence",)),
    "rte": Task("rte", "RTE", ("index", "sentence1", "sentence2", "label"), (1, 2), 3,
                ("entailment", "not_entailment"), ("accuracy",), ("sentence1", "sentence2")),
    "qnli": Task("qnli", "QNLI", ("index", "question", "sentence", "label"), (1, 2), 3,
                 ("entailment", "not_entailment"), ("accuracy",), ("question", "sentence")),
    "cola": Task("cola", "CoLA", None, (3,), 1, ("0", "1"), ("matthews_corrcoef", "accuracy"),
                 ("sentence",), columns=4),
    "stsb": Task("stsb", "STS-B", ("index", "genre", "filename", "year", "old_index", "source1",
                                   "source2", "sentence1", "sentence2", "score"),
                 (7, 8), 9, None, ("pearson", "spearman"), ("sentence1", "sentence2")),
}


@dataclasses.dataclass
class Examples:
  """One split of a task: texts (one or two columns) and labels (int ids, or floats)."""
  texts: Sequence[Sequence[str]]
  labels: np.ndarray
  source: str

  def __len__(self):
    return len(self.labels)

  def take(self, n):
    if not n or n >= len(self):
      return self
    return Examples([t[:n] for t in self.texts], self.labels[:n], self.source)


def get_task(name):
  if name not in TASKS:
    raise ValueError(f"--task: unknown task {name!r}; choose one of {sorted(TASKS)}")
  return TASKS[name]


def read_tsv(path, task):
  """Reads a GLUE TSV file (quoting off, BOM tolerated) and checks its columns and labels.

  Every row must have exactly the task's number of columns: a row with a tab too many or too
  few (a tab inside a sentence, a cut line) would otherwise shift its texts, so it is refused,
  naming the file and line.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--glue_dir: {path} does not exist")
  if os.path.getsize(path) == 0:
    raise ValueError(f"--glue_dir: {path} is empty")
  try:
    with open(path, encoding="utf-8-sig", newline="") as f:
      rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  except UnicodeDecodeError as e:
    raise ValueError(f"--glue_dir: {path} is not UTF-8 text ({e})") from None
  start = 0
  if task.header is not None:
    header = tuple(c.strip() for c in rows[0][:len(task.header)])
    if header != task.header:
      raise ValueError(f"--glue_dir: {path} has columns {list(rows[0])}, expected a {task.name} "
                       f"file starting with {list(task.header)}")
    start = 1
  width = task.num_columns
  texts = [[] for _ in task.text_columns]
  labels = []
  for line_no, row in enumerate(rows[start:], start=start + 1):
    if not row:
      continue
    if len(row) != width:
      raise ValueError(f"--glue_dir: {path} line {line_no} has {len(row)} columns, "
                       f"{task.name} needs {width} (a tab inside a text, or a cut line?)")
    for column, out in zip(task.text_columns, texts):
      out.append(row[column])
    raw = row[task.label_column].strip()
    labels.append(_parse_label(raw, task, f"{path} line {line_no}"))
  if not labels:
    raise ValueError(f"--glue_dir: {path} has no examples")
  dtype = np.float32 if task.is_regression else np.int32
  return Examples(texts, np.asarray(labels, dtype=dtype), path)


def _parse_label(raw, task, where):
  if task.is_regression:
    try:
      value = float(raw)
    except ValueError:
      raise ValueError(f"--glue_dir: {where}: label {raw!r} is not a number") from None
    if not np.isfinite(value):
      raise ValueError(f"--glue_dir: {where}: label {raw!r} is not finite")
    return value
  if raw not in task.labels:
    raise ValueError(f"--glue_dir: {where}: label {raw!r} is not one of {list(task.labels)} "
                     f"of task {task.name}")
  return task.labels.index(raw)


def load_tsv(glue_dir, task, split):
  """`<glue_dir>/<TASK>/<split>.tsv` (split: train or dev)."""
  if not os.path.isdir(glue_dir):
    raise FileNotFoundError(f"--glue_dir: {glue_dir} is not a directory")
  return read_tsv(os.path.join(glue_dir, task.directory, f"{split}.tsv"), task)
