"""benchmarks/step_time.py: the batches it times, on random ids and on real MRPC pairs."""

import numpy as np
import pytest

import tf_sparsebert
from conftest import benchmark_module
from test_train import _config


@pytest.fixture(scope="module")
def step_time():
  return benchmark_module("step_time")  # once: it defines absl flags


def _rows(batches, seq_len):
  """The batches' token rows, padded back to seq_len and sorted: which pairs they hold."""
  rows = [np.pad(x["token_ids"].numpy(), ((0, 0), (0, seq_len - x["token_ids"].shape[1])))
          for x, _ in batches]
  return sorted(map(tuple, np.concatenate(rows).tolist()))


def test_real_data_settings_time_the_same_pairs_bucketed_as_training_does(
    step_time, tiny_checkpoint_bert_vocab, tmp_path):
  config = _config([f"--init_checkpoint={tiny_checkpoint_bert_vocab}",
                    f"--output_dir={tmp_path}", "--max_seq_length=64"])  # MRPC: ~53 tokens
  seq_len = config.data.max_seq_length
  _, preprocessor = tf_sparsebert.load_bert(tiny_checkpoint_bert_vocab, seq_len)
  held, padded = {}, {}
  for width in (32, 16, 8):
    setting = step_time.Setting(batch_size=8, bucket_width=width)
    warm, timed = step_time._batches(setting, config, preprocessor, seq_len, steps=3, examples=40)
    assert sum(int(y.shape[0]) for _, y in timed) == 40
    assert all(int(y.shape[0]) <= 8 for _, y in timed)
    for x, _ in timed:  # cut to the longest pair rounded up to the width, as in training
      longest = int(np.asarray(x["padding_mask"]).sum(axis=1).max())
      assert x["token_ids"].shape[1] == min(seq_len, -(-longest // width) * width)
    widths = [x["token_ids"].shape[1] for x, _ in timed]
    assert sorted(x["token_ids"].shape[1] for x, _ in warm) == sorted(set(widths))
    held[width] = _rows(timed, seq_len)
    padded[width] = sum(x["token_ids"].shape[0] * x["token_ids"].shape[1] for x, _ in timed)
  assert held[32] == held[16] == held[8]  # the same 40 pairs under every width
  assert padded[8] <= padded[16] <= padded[32] and padded[8] < padded[32]


def test_fixed_shape_settings_time_random_batches_after_the_warm_up(step_time):
  setting = step_time.Setting(batch_size=4)
  warm, timed = step_time._batches(setting, None, None, seq_len=24, steps=3, examples=40)
  assert (len(warm), len(timed)) == (step_time.WARMUP, 3)
  assert all(x["token_ids"].shape == (4, 24) and y.shape == (4,) for x, y in warm + timed)


def test_every_setting_is_documented(step_time):
  assert set(step_time.DEFAULT_ORDER) <= set(step_time.SETTINGS)
  for name in step_time.SETTINGS:
    assert name.split(",")[0] in step_time.__doc__, name
