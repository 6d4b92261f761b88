"""BERT WordPiece tokenization and packing without TensorFlow, matching keras-nlp's.

The pieces are Hugging Face `tokenizers` (Rust), put together in keras-nlp's order: CJK
characters spaced out, split on whitespace, control and format characters (dropped) and
punctuation (kept), then (uncased checkpoints) each word
case-folded with NFKC_Casefold as `tf_text.case_fold_utf8` does (so "µ" becomes "μ" and "…"
becomes "..." *after* the split), no accent stripping, then WordPiece. Packing follows keras-nlp's
`MultiSegmentPacker` as `BertPreprocessor` uses it: `[CLS] a [SEP] (b [SEP])`, segment ids 0/1,
and `round_robin` truncation (one token from each segment in turn until the length is full).
"""

import unicodedata

import numpy as np
from tokenizers import models, normalizers, pre_tokenizers


def _nfkc_casefold(word):
  """Unicode NFKC_Casefold (what ICU's and so tf_text's `case_fold_utf8` apply)."""
  return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())


def read_vocab(path):
  """A WordPiece `vocab.txt`: line `i` is token `i`, the one rule every reader here uses.

  As Hugging Face's `load_vocab`: a blank line is a token (its position keeps every later id),
  the newline that ends the last line ends it (it starts no token), and a "\r" before "\n" is
  part of the line ending. Raises `OSError`/`UnicodeDecodeError` for an unreadable file.
  """
  with open(path, encoding="utf-8", newline="") as f:
    lines = f.read().split("\n")
  if lines[-1] == "":
    lines.pop()
  return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_vocab(path, vocab):
  """Writes `vocab` so that `read_vocab` gives it back exactly (one token per line)."""
  bad = [t for t in vocab if "\n" in t or "\r" in t]
  if bad:
    raise ValueError(f"vocabulary tokens with line breaks cannot be written: {bad[:3]}")
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("".join(f"{token}\n" for token in vocab))


def round_robin_lengths(lengths, budget):
  """How many tokens of each segment keras-nlp's round-robin truncation keeps."""
  kept = [0] * len(lengths)
  while budget > 0 and any(k < n for k, n in zip(kept, lengths)):
    for i, n in enumerate(lengths):
      if budget > 0 and kept[i] < n:
        kept[i] += 1
        budget -= 1
  return kept


class BertInputEncoder:
  """Text (or a text pair) to the three int32 inputs of an exported BERT classifier.

  Args:
    vocab: the WordPiece vocabulary, a list of tokens (id = position).
    lowercase: whether the checkpoint is uncased.
    sequence_length: the model's fixed input length.
  """

  def __init__(self, vocab, lowercase, sequence_length):
    self.vocab = list(vocab)
    ids = {token: i for i, token in enumerate(self.vocab)}
    for special in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
      if special not in ids:
        raise ValueError(f"the vocabulary has no {special} token")
    self._cjk = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True,
                                           strip_accents=False, lowercase=False)
    self._split = pre_tokenizers.BertPreTokenizer()
    self._wordpiece = models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100)
    self.lowercase = lowercase
    self.cls_id, self.sep_id, self.pad_id = ids["[CLS]"], ids["[SEP]"], ids["[PAD]"]
    self.sequence_length = sequence_length

  def tokenize(self, text):
    """WordPiece ids of `text` (no special tokens)."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
    words = [w for w, _ in self._split.pre_tokenize_str(self._cjk.normalize_str(text))]
    if self.lowercase:
      words = [_nfkc_casefold(w) for w in words]
    return [token.id for w in words for token in self._wordpiece.tokenize(w)]

  def encode(self, text_a, text_b=None):
    """Returns `(input_word_ids, input_mask, input_type_ids)`, int32 arrays of shape [1, S]."""
    segments = [self.tokenize(text_a)] + ([] if text_b is None else [self.tokenize(text_b)])
    budget = self.sequence_length - 1 - len(segments)
    kept = round_robin_lengths([len(s) for s in segments], budget)
    ids, types = [self.cls_id], [0]
    for index, (segment, n) in enumerate(zip(segments, kept)):
      ids += segment[:n] + [self.sep_id]
      types += [index] * (n + 1)
    pad = self.sequence_length - len(ids)
    mask = [1] * len(ids) + [0] * pad
    ids += [self.pad_id] * pad
    types += [0] * pad
    return tuple(np.asarray([x], np.int32) for x in (ids, mask, types))
