"""One vocabulary rule everywhere (checkpoint, saved model, TFLite runner): line i is token i."""

import numpy as np

import tf_sparsebert
from tf_sparsebert.models import bert, saving
from sparsebert_lite.tokenizer import BertInputEncoder, read_vocab, write_vocab
from conftest import BERT_VOCAB, write_tiny_checkpoint


def test_read_vocab_keeps_blank_lines_and_line_endings(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes(b"[PAD]\r\n\nhello\nworld\n")
  assert read_vocab(str(path)) == ["[PAD]", "", "hello", "world"]
  path.write_bytes(b"[PAD]\nhello")  # no final newline
  assert read_vocab(str(path)) == ["[PAD]", "hello"]
  write_vocab(str(path), ["a", "", "b"])
  assert read_vocab(str(path)) == ["a", "", "b"]


def test_a_blank_line_shifts_no_id_from_checkpoint_to_saved_model_to_runner(tmp_path):
  vocab = read_vocab(BERT_VOCAB)
  vocab.insert(1000, "")  # a blank line before "the" (1996 -> 1997) and every later token
  ckpt = write_tiny_checkpoint(str(tmp_path / "ckpt"), vocab)
  backbone, preprocessor = tf_sparsebert.load_bert(ckpt, sequence_length=16)
  assert preprocessor.tokenizer.get_vocabulary() == vocab
  text = ["the quick brown fox"]
  ids = preprocessor(np.array(text))["token_ids"].numpy()[0]
  assert ids[1] == vocab.index("the") == 1997
  classifier = bert.bert_classifier(backbone, 2)
  saving.save_classifier(classifier, str(tmp_path / "model"), vocab, True, saved_model=False)
  saved, lowercase = saving.load_tokenizer_files(str(tmp_path / "model"))
  assert saved == vocab and lowercase
  again = saving.load_preprocessor(str(tmp_path / "model"), 16)(np.array(text))["token_ids"]
  np.testing.assert_array_equal(again.numpy()[0], ids)
  lite = BertInputEncoder(saved, True, 16).encode(text[0])[0][0]
  np.testing.assert_array_equal(lite, ids)
