"""Teacher-labelled data augmentation (as in TinyBERT and the official SparseBERT recipe).

Each training example yields `factor` copies by TinyBERT's word replacement, with GloVe's role
played by the checkpoint's own word-piece embeddings: every word that is one word piece of the
vocabulary, and not a function word (scikit-learn's English stop words, where TinyBERT's masked LM
would pick by context), is, with probability `p_replace`, replaced by one of its `k` nearest words
(cosine) in that table. The copies stay sentences of the data's distribution (`said` -> `told`,
`monday` -> `tuesday`, `million` -> `billion`). (An earlier policy of masked, random and deleted
words did no better on MRPC: 76.47 vs 76.72 at 90%, 71.81 for both at 95%; it was retired.)

The copies carry no gold label (label -1): the teacher's soft predictions are their targets, and
the hard-label loss skips them. Pure Python + NumPy.
"""

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from tf_sparsebert.data.glue import Examples

NO_LABEL = -1
NEIGHBOURS = 15      # TinyBERT's K
P_NEIGHBOUR = 0.4    # TinyBERT's p_t


def _is_word(piece):
  """One alphabetic word piece that is not a function word (neither replaced nor a replacement)."""
  return piece.isalpha() and piece.lower() not in ENGLISH_STOP_WORDS


def neighbour_table(embeddings, vocabulary, words, k=NEIGHBOURS, lowercase=True):
  """The `k` nearest whole words (cosine of `embeddings`) of each of `words` found in the vocab.

  Args:
    embeddings: `[vocab_size, dim]` word-piece embeddings (e.g. the checkpoint's token embedding).
    vocabulary: the word pieces, in `embeddings`' row order.
    words: the words to find neighbours for (e.g. every word of the training texts).
    k: neighbours per word.
    lowercase: look words up lowercased (an uncased vocabulary).

  Returns:
    dict word (as looked up) -> tuple of `k` neighbour words, nearest first; only words that
    are one alphabetic word piece and not stop words have an entry (others are never replaced).
  """
  embeddings = np.asarray(embeddings, np.float32)
  if embeddings.shape[0] != len(vocabulary):
    raise ValueError(f"{embeddings.shape[0]} embedding rows for {len(vocabulary)} word pieces")
  index = {piece: i for i, piece in enumerate(vocabulary)}
  candidates = np.array([i for i, piece in enumerate(vocabulary) if _is_word(piece)])
  keys = sorted({w.lower() if lowercase else w for w in words})
  queries = [w for w in keys if _is_word(w) and w in index]
  if not queries or len(candidates) <= k:
    return {}
  unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
  pool = unit[candidates]
  table = {}
  for start in range(0, len(queries), 1024):
    chunk = queries[start:start + 1024]
    rows = np.array([index[w] for w in chunk])
    sims = unit[rows] @ pool.T
    sims[candidates[None, :] == rows[:, None]] = -np.inf  # a word is not its own neighbour
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, axis=1)
    for word, ids in zip(chunk, top):
      table[word] = tuple(vocabulary[candidates[j]] for j in ids)
  return table


def _replaced(text, rng, table, p_replace, lowercase):
  out = []
  for word in text.split():
    choices = table.get(word.lower() if lowercase else word)
    if choices and rng.random() < p_replace:
      out.append(choices[rng.integers(len(choices))])
    else:
      out.append(word)
  return " ".join(out)


def augment(examples, factor, neighbours, seed=0, lowercase=True, p_replace=P_NEIGHBOUR):
  """Returns `factor` teacher-labelled copies of every example (not including the originals).

  Args:
    examples: `Examples` of the training split.
    factor: copies per example (0: none).
    neighbours: the table of `neighbour_table`.
    seed: the random seed, an int or a tuple of ints (the copies are a pure function of it).
    lowercase: look words up lowercased.
    p_replace: per-word probability of a replacement (TinyBERT's 0.4).
  """
  if factor < 0:
    raise ValueError(f"--augment_factor must be >= 0, got {factor}")
  if neighbours is None:
    raise ValueError("augment() needs a table of neighbour_table()")
  if not factor:
    return Examples([[] for _ in examples.texts], np.zeros([0], examples.labels.dtype),
                    examples.source)
  rng = np.random.default_rng(seed)
  texts = [[] for _ in examples.texts]
  for _ in range(factor):
    for column, out in zip(examples.texts, texts):
      out.extend(_replaced(t, rng, neighbours, p_replace, lowercase) for t in column)
  labels = np.full([factor * len(examples)], NO_LABEL, dtype=examples.labels.dtype)
  return Examples(texts, labels, f"{examples.source} (neighbours x{factor})")
