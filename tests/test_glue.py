"""GLUE readers: the real TSVs in ../shared, fixture files, TFDS, and bad data rejected clearly."""

import time

import numpy as np
import pytest

from tf_sparsebert import metrics
from tf_sparsebert.config import DataConfig
from tf_sparsebert.data import glue, preprocessing
from tf_sparsebert.models.checkpoints import make_preprocessor
from conftest import GLUE_DIR, SMALL_VOCAB


@pytest.mark.parametrize("task, split, rows, classes", [
    ("mrpc", "train", 3668, (1194, 2474)), ("mrpc", "dev", 408, (129, 279)),
    ("sst2", "dev", 872, (428, 444)), ("rte", "dev", 277, (146, 131)),
    ("qnli", "dev", 5463, (2702, 2761)), ("cola", "dev", 1043, (322, 721))])
def test_real_glue_files(task, split, rows, classes):
  ex = glue.load_tsv(GLUE_DIR, glue.TASKS[task], split)
  assert len(ex) == rows
  assert tuple(np.bincount(ex.labels)) == classes
  assert len(ex.texts) == (2 if glue.TASKS[task].is_pair else 1)


def test_stsb_is_regression():
  ex = glue.load_tsv(GLUE_DIR, glue.TASKS["stsb"], "dev")
  assert len(ex) == 1500 and ex.labels.dtype == np.float32
  assert 0.0 <= ex.labels.min() and ex.labels.max() <= 5.0


def _write(tmp_path, task_dir, text, name="train.tsv", mode="w"):
  d = tmp_path / task_dir
  d.mkdir(exist_ok=True)
  path = d / name
  if mode == "wb":
    path.write_bytes(text)
  else:
    path.write_text(text, encoding="utf-8")
  return str(tmp_path)


def test_fixture_with_quotes_and_bom(tmp_path):
  glue_dir = _write(tmp_path, "RTE", '\ufeffindex\tsentence1\tsentence2\tlabel\n'
                    '0\t"He said\tit rains.\tentailment\n1\ta\tb\tnot_entailment\n')
  ex = glue.load_tsv(glue_dir, glue.TASKS["rte"], "train")
  assert ex.texts[0][0] == '"He said' and list(ex.labels) == [0, 1]


@pytest.mark.parametrize("task_dir, task, text, match", [
    ("MRPC", "mrpc", "a\tb\n1\t2\n", r"has columns \['a', 'b'\], expected a mrpc file"),
    ("SST-2", "sst2", "sentence\tlabel\ngood\t2\n", r"line 2: label '2' is not one of"),
    ("SST-2", "sst2", "sentence\tlabel\ngood\n", r"line 2 has 1 columns, sst2 needs 2"),
    ("SST-2", "sst2", "sentence\tlabel\n", r"has no examples"),
    ("SST-2", "sst2", "", r"train.tsv is empty"),
    ("STS-B", "stsb", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
     "sentence2\tscore\n0\tg\tf\ty\to\ts\ts\ta\tb\tnan\n", r"label 'nan' is not finite"),
])
def test_bad_tsv_files(tmp_path, task_dir, task, text, match):
  glue_dir = _write(tmp_path, task_dir, text)
  with pytest.raises(ValueError, match=match):
    glue.load_tsv(glue_dir, glue.TASKS[task], "train")


def test_non_utf8_and_missing_files(tmp_path):
  glue_dir = _write(tmp_path, "SST-2", b"sentence\tlabel\n\xff\xfe\t1\n", mode="wb")
  with pytest.raises(ValueError, match="train.tsv is not UTF-8"):
    glue.load_tsv(glue_dir, glue.TASKS["sst2"], "train")
  with pytest.raises(FileNotFoundError, match="--glue_dir: .*dev.tsv does not exist"):
    glue.load_tsv(glue_dir, glue.TASKS["sst2"], "dev")
  with pytest.raises(ValueError, match="--task: unknown task 'mnli'"):
    glue.get_task("mnli")


def test_tfds_offline_fails_fast_with_a_clear_message(tmp_path):
  start = time.time()
  with pytest.raises(FileNotFoundError, match="--tfds_data_dir: glue/mrpc is not prepared"):
    glue.load_split(DataConfig(task="mrpc", tfds_data_dir=str(tmp_path)), "train")
  assert time.time() - start < 30


def test_tfds_source_reads_examples():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=5):
    ex = glue.load_tfds(None, glue.TASKS["mrpc"], "dev", download=False)
  assert len(ex) == 5 and len(ex.texts) == 2 and set(ex.labels) <= {0, 1}


def test_tokenize_and_bucketed_batches():
  ex = glue.load_tsv(GLUE_DIR, glue.TASKS["mrpc"], "dev").take(50)
  pre = make_preprocessor(SMALL_VOCAB, True, 48)
  feats = preprocessing.tokenize(ex, pre)
  assert feats["token_ids"].shape == (50, 48)
  assert (feats["token_ids"][:, 0] == SMALL_VOCAB.index("[CLS]")).all()
  ds, steps = preprocessing.make_dataset(feats, ex.labels, 8, training=True, seed=1,
                                         bucket_width=16)
  batches = list(ds)
  assert len(batches) == steps
  assert sum(len(y) for _, y in batches) == 50
  assert all(x["token_ids"].shape[1] % 16 == 0 for x, _ in batches)
  # Evaluation keeps the order of the examples.
  ds, steps = preprocessing.make_dataset(feats, ex.labels, 8, training=False, bucket_width=16)
  np.testing.assert_array_equal(np.concatenate([y for _, y in ds]), ex.labels)


def test_metrics_against_known_values():
  task = glue.TASKS["mrpc"]
  out = metrics.compute_metrics(task, [1, 1, 0, 0], np.array([[0, 1], [1, 0], [1, 0], [1, 0]]))
  assert out["accuracy"] == 75.0 and abs(out["f1"] - 100 * 2 / 3) < 1e-9
  out = metrics.compute_metrics(glue.TASKS["stsb"], [1.0, 2.0, 3.0], np.array([[2.0], [4], [6]]))
  assert abs(out["pearson"] - 100) < 1e-9 and out["main"] == out["pearson"]


def _toy_embeddings():
  vocab = ["[PAD]", "[MASK]", "cat", "dog", "car", "the", "##s", "truck", "kitten", "9"]
  e = np.zeros((len(vocab), 3), np.float32)
  e[vocab.index("cat")] = [1, 0.1, 0]
  e[vocab.index("kitten")] = [1, 0.2, 0]
  e[vocab.index("dog")] = [1, 0.5, 0]
  e[vocab.index("car")] = [0, 1, 0.1]
  e[vocab.index("truck")] = [0, 1, 0.3]
  e[vocab.index("the")] = [1, 0.15, 0]   # nearest to cat, but a stop word
  e[vocab.index("##s")] = [1, 0.1, 0.01]  # nearest to cat, but a suffix piece
  e[vocab.index("9")] = [1, 0.1, 0.02]    # not a word
  e[[0, 1]] = [[0, 0, 1], [0, 0.1, 1]]
  return e, vocab


def test_neighbour_table_is_nearest_whole_words_by_cosine():
  from tf_sparsebert.data import augment
  e, vocab = _toy_embeddings()
  table = augment.neighbour_table(e, vocab, ["Cat", "cat", "truck", "The", "zebra", "cats"], k=2)
  # cos(cat, kitten) = 0.9998 > cos(cat, dog) = 0.9847 > cos(cat, car) = 0.0985; "the", "##s",
  # "9" and the special pieces are never candidates; "the" (a stop word), "zebra" (not in the
  # vocab) and "cats" (not one piece) get no entry.
  assert table == {"cat": ("kitten", "dog"), "truck": ("car", "dog")}
  assert augment.neighbour_table(e, vocab, ["Cat"], k=2, lowercase=False) == {}
  with pytest.raises(ValueError, match="10 embedding rows for 9 word pieces"):
    augment.neighbour_table(e, vocab[:-1], ["cat"])


def test_neighbour_augmentation_replaces_only_table_words_seeded():
  from tf_sparsebert.data import augment
  from tf_sparsebert.data.glue import Examples
  e, vocab = _toy_embeddings()
  table = augment.neighbour_table(e, vocab, ["cat", "truck"], k=2)
  ex = Examples([["The cat saw a truck ."] * 50, ["A Cat ."] * 50], np.zeros(50, np.int32), "t")
  a = augment.augment(ex, 2, seed=(1, 0), neighbours=table)
  assert a.texts == augment.augment(ex, 2, seed=(1, 0), neighbours=table).texts
  assert a.texts != augment.augment(ex, 2, seed=(1, 1), neighbours=table).texts
  assert len(a) == 100 and (a.labels == augment.NO_LABEL).all()
  firsts = set()
  for text in a.texts[0]:
    w = text.split()
    assert [w[0], w[2], w[3], w[5]] == ["The", "saw", "a", "."]  # other words never change
    assert w[1] in ("cat", "kitten", "dog") and w[4] in ("truck", "car", "dog")
    firsts.add(w[1])
  assert firsts == {"cat", "kitten", "dog"}
  # at p=0.4 about 40% of the 100 table words of a column are replaced
  changed = sum(t != "A Cat ." for t in a.texts[1])
  assert 25 <= changed <= 55, changed
  every = augment.augment(ex, 1, neighbours=table, p_replace=1.0)
  assert all(t.split()[1] in ("kitten", "dog") for t in every.texts[0])
  with pytest.raises(ValueError, match="needs a table"):
    augment.augment(ex, 1, None)
  with pytest.raises(ValueError, match="--augment_factor"):
    augment.augment(ex, -1, table)


