"""The bad-input catalogue: every case fails with one clear error naming the flag or file, before
anything is written to --output_dir (or, mid-training, naming the stage and keeping earlier ones).

Each case builds its broken input in a temporary directory and runs the real CLI argument path
(`train.run` on parsed flags); a few also go through the subprocess CLI to check the one-line,
traceback-free message.
"""

import json
import os
import shutil

import numpy as np
import pytest
from absl import flags
from safetensors.numpy import load_file, save_file

from tf_sparsebert import train
from conftest import BERT_VOCAB, GLUE_DIR, write_tiny_checkpoint
from test_train import _cli, _config


def _empty_dir(path):
  path.mkdir()
  return str(path)


def _glue_copy(tmp, edit):
  """A copy of MRPC's TSVs with train.tsv rewritten by `edit(bytes) -> bytes`."""
  root = tmp / "glue"
  shutil.copytree(os.path.join(GLUE_DIR, "MRPC"), root / "MRPC")
  path = root / "MRPC" / "train.tsv"
  path.write_bytes(edit(path.read_bytes()))
  return [f"--glue_dir={root}"]


def _ckpt(tmp, edit=None, **overrides):
  with open(BERT_VOCAB, encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
  path = write_tiny_checkpoint(str(tmp / "ckpt"), vocab, **overrides)
  if edit:
    edit(path)
  return [f"--init_checkpoint={path}"]


def _set_config(**fields):
  def edit(path):
    with open(os.path.join(path, "config.json")) as f:
      config = json.load(f)
    config.update(fields)
    with open(os.path.join(path, "config.json"), "w") as f:
      json.dump(config, f)
  return edit


def _retensor(fn):
  def edit(path):
    st = os.path.join(path, "model.safetensors")
    save_file(fn(load_file(st)), st)
  return edit


def _write(path, content):
  with open(path, "wb") as f:
    f.write(content)


def _bin_only(path):
  os.remove(os.path.join(path, "model.safetensors"))
  _write(os.path.join(path, "pytorch_model.bin"), b"\x80\x04 never unpickled")


def _flagfile_including_itself(tmp):
  path = tmp / "loop.flags"
  path.write_text(f"--flagfile={path}\n--task=mrpc\n")
  return [f"--flagfile={path}"]


Q = "layer.1.intermediate.dense.weight"
CASES = {
    # files
    "tsv missing": (lambda t: ["--glue_dir=" + _empty_dir(t / "glue")],
                    r"--glue_dir: .*MRPC/train.tsv does not exist"),
    "output inside the glue dir": (lambda t: ["--glue_dir=" + str(t)],
                                   r"--output_dir: .*/out and --glue_dir=.* overlap"),
    "tsv empty": (lambda t: _glue_copy(t, lambda b: b""), r"--glue_dir: .*train.tsv is empty"),
    "tsv not utf-8": (lambda t: _glue_copy(t, lambda b: b + b"1\t1\t2\t\xff\xfe\tx\n"),
                      r"--glue_dir: .*train.tsv is not UTF-8"),
    "tsv wrong columns": (lambda t: _glue_copy(t, lambda b: b"a\tb\n1\t2\n"),
                          r"--glue_dir: .*train.tsv has columns .* expected a mrpc file"),
    "tsv truncated row": (lambda t: _glue_copy(t, lambda b: b + b"1\t123\n"),
                          r"--glue_dir: .*train.tsv line \d+ has 2 columns, mrpc needs 5"),
    "tsv row with a tab too many": (
        lambda t: _glue_copy(t, lambda b: b + b"1\t1\t2\tthe first\tsentence\tthe second\n"),
        r"--glue_dir: .*train.tsv line \d+ has 6 columns, mrpc needs 5"),
    "label out of range": (lambda t: _glue_copy(t, lambda b: b + b"7\t1\t2\ta\tb\n"),
                           r"--glue_dir: .*line \d+: label '7' is not one of \['0', '1'\]"),
    "glue dir missing": (lambda t: ["--glue_dir=/nonexistent"],
                         r"--glue_dir: /nonexistent is not a directory"),
    # checkpoints
    "checkpoint missing": (lambda t: ["--init_checkpoint=/nonexistent/dir"],
                           r"--init_checkpoint: /nonexistent/dir does not exist"),
    "preset unknown": (lambda t: ["--init_checkpoint=no_such_preset"],
                       r"--init_checkpoint: 'no_such_preset' is neither .* keras-nlp preset"),
    "pickle .bin only": (lambda t: _ckpt(t, _bin_only), r"pytorch_model.bin.*never loaded"),
    "safetensors header corrupted": (
        lambda t: _ckpt(t, lambda p: _write(os.path.join(p, "model.safetensors"), b"\xff" * 64)),
        r"model.safetensors is not a readable safetensors"),
    "safetensors truncated": (
        lambda t: _ckpt(t, lambda p: _write(os.path.join(p, "model.safetensors"), open(
            os.path.join(p, "model.safetensors"), "rb").read()[:5000])),
        r"model.safetensors is not a readable safetensors"),
    "tensor wrong shape": (
        lambda t: _ckpt(t, _retensor(lambda d: {**d, f"encoder.{Q}": d[f"encoder.{Q}"][:, :5]})),
        rf"tensor 'encoder\.{Q}' has shape .* does not match config\.json"),
    "tensor wrong dtype": (
        lambda t: _ckpt(t, _retensor(lambda d: {**d, f"encoder.{Q}":
                                                d[f"encoder.{Q}"].astype(np.int32)})),
        rf"tensor 'encoder\.{Q}' has dtype int32, expected floating point"),
    "tensor missing": (
        lambda t: _ckpt(t, _retensor(lambda d: {k: v for k, v in d.items() if Q not in k})),
        rf"has no tensor 'encoder\.{Q}'"),
    "config.json not json": (
        lambda t: _ckpt(t, lambda p: _write(os.path.join(p, "config.json"), b"{not json")),
        r"config.json is not valid JSON"),
    "config.json a list": (
        lambda t: _ckpt(t, lambda p: _write(os.path.join(p, "config.json"), b"[1, 2]")),
        r"config.json: is not a JSON object"),
    "layer count not an integer": (lambda t: _ckpt(t, _set_config(num_hidden_layers=2.5)),
                                   r"config.json: num_hidden_layers must be an integer, got 2.5"),
    "layer norm epsilon negative": (lambda t: _ckpt(t, layer_norm_eps=-1e-12),
                                    r"config.json: --layer_norm_epsilon: must be positive"),
    "config with fewer layers than the weights": (
        lambda t: _ckpt(t, _set_config(num_hidden_layers=1)),
        r"has tensors of encoder layer 1 but config.json says num_hidden_layers=1"),
    "vocab does not match": (lambda t: _ckpt(t, vocab_size=30523),
                             r"vocab.txt has 30522 tokens but config.json says vocab_size=30523"),
    # flags
    "sparsity 1.0": (lambda t: ["--target_sparsity=1.0"], r"--target_sparsity: must be in \[0, 1\)"),
    "sparsity negative": (lambda t: ["--target_sparsity=-0.1"], r"--target_sparsity"),
    "end step negative": (lambda t: ["--pruning_end_step=-5"],
                          r"--pruning_end_step: must be >= the ramp's begin step \(0\) or -1"),
    "head sparsity 1.0": (lambda t: ["--head_sparsity=1.0"],
                          r"--head_sparsity: must be in \[0, 1\), got 1.0"),
    "neuron sparsity negative": (lambda t: ["--neuron_sparsity=-0.5"],
                                 r"--neuron_sparsity: must be in \[0, 1\), got -0.5"),
    "a retired flag": (lambda t: ["--strategy=finetune_then_prune"],
                       r"Unknown command line flag 'strategy'"),
    "end misaligned": (lambda t: ["--pruning_end_step=7"], r"multiple of --pruning_frequency"),
    "seq above positions": (lambda t: ["--max_seq_length=100"],
                            r"--max_seq_length=100 is above the model's 64 positions"),
    "unknown task": (lambda t: ["--task=squad"], r"--task=squad: value should be one of <cola\|mrpc"),
    "a retired flag with a value": (lambda t: ["--augment_policy=noise"],
                                    r"Unknown command line flag 'augment_policy'"),
    "bad pooling": (lambda t: ["--pooling=max"], r"--pooling=max: value should be one of <cls\|mean>"),
    "bad block size": (lambda t: ["--pruning_block_size=0,1"], r"--pruning_block_size"),
    "checkpoint steps negative": (lambda t: ["--checkpoint_steps=-5"],
                                  r"--checkpoint_steps: must be >= 0"),
    "student deeper than checkpoint": (lambda t: ["--student_layers=3"],
                                       r"--student_layers=3 is more than the 2 layers"),
    "multi-worker without TF_CONFIG": (
        lambda t: ["--distribution_strategy=multi_worker_mirrored"],
        r"multi_worker_mirrored needs the TF_CONFIG environment variable"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_catalogue(name, tmp_path, tiny_checkpoint_bert_vocab, monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  make, match = CASES[name]
  out = tmp_path / "out"
  argv = [f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
          *make(tmp_path)]
  # absl rejects enum/number flags while parsing (flags.Error), the rest fails in validation.
  with pytest.raises((ValueError, FileNotFoundError, flags.Error), match=match):
    train.run(_config(argv))
  assert not out.exists(), f"{name}: something was written to --output_dir"


def test_catalogue_is_large_enough():
  assert len(CASES) + 2 >= 20  # + the CLI-only cases below


@pytest.mark.parametrize("name", ["self-including flagfile", "pickle .bin only", "tsv not utf-8"])
def test_cli_prints_one_line_without_traceback(name, tmp_path, tiny_checkpoint_bert_vocab):
  out = tmp_path / "out"
  argv = (_flagfile_including_itself(tmp_path) if name == "self-including flagfile"
          else CASES[name][0](tmp_path))
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}", *argv)
  assert proc.returncode != 0
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and ("--" in last or ".tsv" in last), last
  assert "Traceback" not in proc.stderr
  if name == "self-including flagfile":
    assert "includes itself" in last
  assert not out.exists()


def test_nan_loss_mid_training_names_the_stage_and_keeps_nothing_half_done(
    tmp_path, tiny_checkpoint_bert_vocab):
  out = tmp_path / "out"
  proc = _cli("tf_sparsebert.train", "--flagfile=configs/tiny.flags",
              f"--init_checkpoint={tiny_checkpoint_bert_vocab}", f"--output_dir={out}",
              "--teacher_learning_rate=1e12")
  assert proc.returncode != 0
  last = proc.stderr.strip().splitlines()[-1]
  assert "stage 1 (teacher) failed" in last and "--teacher_learning_rate" in last, last
  assert "Traceback" not in proc.stderr
  assert not (out / "metrics.json").exists() and not (out / "teacher").exists()
  with open(out / "config.json") as f:  # the run's record is kept, nothing claims success
    assert json.load(f)["train"]["teacher_optimizer"]["learning_rate"] == 1e12
