"""A transfer set: real, unlabelled inputs of other GLUE tasks for the student to distil on.

Knowledge distillation needs inputs, not labels: the teacher's soft predictions are the targets.
Noisy copies of the training sentences (`augment`) are cheap but drift off the data's
distribution; the training sentences of a related task stay on it (e.g. STS-B's news headlines
and MSR paraphrase pairs for MRPC). The examples carry no gold label (`augment.NO_LABEL`), so the
hard-label loss skips them.

Some GLUE tasks share sentences (STS-B's MSRpar pairs come from the MSR paraphrase corpus, as
MRPC does), so any transfer example with a sentence of the task's evaluation split is dropped:
the student never sees a dev input, not even unlabelled.
"""

import dataclasses
import re

import numpy as np

from tf_sparsebert.data import augment, glue


def normalized(text):
  """Lower-cased letters and digits only: GLUE tasks tokenize the same sentence differently."""
  return re.sub(r"[^0-9a-z]", "", text.lower())


def transfer_set(data_config, tasks, exclude):
  """The training inputs of `tasks`, unlabelled, without any example that shares a sentence with
  `exclude`.

  Args:
    data_config: `DataConfig` of the run: where the GLUE data is, the target task, and
      `max_train_examples`, which limits each transfer task too.
    tasks: names of GLUE tasks with as many text columns as the target task.
    exclude: `Examples` (the target task's dev split) whose sentences must not appear.

  Returns:
    (`Examples` with label `augment.NO_LABEL`, number of examples dropped as overlapping).
  """
  dataclasses.replace(data_config, transfer_tasks=tuple(tasks)).validate()  # the config's checks
  target = glue.get_task(data_config.task)
  held_out = {normalized(t) for column in exclude.texts for t in column}
  texts = [[] for _ in target.text_columns]
  dropped = 0
  for name in tasks:
    source_config = dataclasses.replace(data_config, task=name)  # --max_train_examples applies
    try:
      examples = glue.load_split(source_config, "train")
    except (FileNotFoundError, ValueError) as e:
      raise type(e)(f"--transfer_tasks={name}: {e}") from None
    for row in zip(*examples.texts):
      if any(normalized(t) in held_out for t in row):
        dropped += 1
        continue
      for column, text in zip(texts, row):
        column.append(text)
  labels = np.full([len(texts[0])], augment.NO_LABEL,
                   dtype=np.float32 if target.is_regression else np.int32)
  return glue.Examples(texts, labels, f"transfer set ({', '.join(tasks)})"), dropped
