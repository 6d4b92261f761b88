"""Teacher-labelled data augmentation (as in TinyBERT and the official SparseBERT recipe).

Each training example yields `factor` noisy copies: every word is, independently, masked (replaced
by `[MASK]`), replaced by a random word of the training corpus, or deleted. The copies carry no
gold label (label -1): the teacher's soft predictions are their targets, and the hard-label loss
skips them. Pure Python + NumPy.
"""

import numpy as np

from tf_sparsebert.data.glue import Examples

NO_LABEL = -1


def _corpus_words(examples):
  words = sorted({w for column in examples.texts for text in column for w in text.split()})
  return np.array(words or ["[UNK]"])


def _noisy(text, rng, words, p_mask, p_replace, p_delete):
  out = []
  for word in text.split():
    r = rng.random()
    if r < p_mask:
      out.append("[MASK]")
    elif r < p_mask + p_replace:
      out.append(words[rng.integers(len(words))])
    elif r < p_mask + p_replace + p_delete:
      continue
    else:
      out.append(word)
  return " ".join(out) if out else text


def augment(examples, factor, seed=0, p_mask=0.1, p_replace=0.1, p_delete=0.05):
  """Returns `factor` noisy, unlabelled copies of every example (not including the originals).

  Args:
    examples: `Examples` of the training split.
    factor: copies per example (0: none).
    seed: the random seed (the copies are a pure function of it).
    p_mask, p_replace, p_delete: per-word probabilities of each edit.
  """
  if factor < 0:
    raise ValueError(f"--augment_factor must be >= 0, got {factor}")
  if not factor:
    return Examples([[] for _ in examples.texts], np.zeros([0], examples.labels.dtype),
                    examples.source)
  rng = np.random.default_rng(seed)
  words = _corpus_words(examples)
  texts = [[] for _ in examples.texts]
  for _ in range(factor):
    for column, out in zip(examples.texts, texts):
      out.extend(_noisy(t, rng, words, p_mask, p_replace, p_delete) for t in column)
  labels = np.full([factor * len(examples)], NO_LABEL, dtype=examples.labels.dtype)
  return Examples(texts, labels, f"{examples.source} (augmented x{factor})")


def concatenate(a, b):
  """The examples of `a` followed by those of `b`."""
  return Examples([list(x) + list(y) for x, y in zip(a.texts, b.texts)],
                  np.concatenate([a.labels, b.labels]), a.source)
