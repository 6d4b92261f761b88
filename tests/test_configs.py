"""Every flagfile, shipped (configs/) or of an experiment (experiments/configs/), resolves to a
valid configuration with today's flags; the shipped recipe is the paper's method."""

import glob
import os

import pytest
from absl import flags

from tf_sparsebert import flags as tsb_flags
from conftest import REPO

FLAGFILES = sorted(os.path.relpath(p, REPO) for pattern in ("configs/*.flags",
                                                             "experiments/configs/*.flags")
                   for p in glob.glob(os.path.join(REPO, pattern)))


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(REPO)  # flagfiles name each other relative to the repository


def _resolved(*argv):
  fv = flags.FlagValues()
  tsb_flags.define_train_flags(fv)
  fv(["train", "--output_dir=runs/x", "--init_checkpoint=ckpt", "--glue_dir=glue", *argv])
  return tsb_flags.train_config_from_flags(fv)


@pytest.mark.parametrize("flagfile", FLAGFILES)
def test_every_flagfile_resolves_to_a_valid_config(flagfile):
  assert _resolved(f"--flagfile={flagfile}").pruning.target_sparsity >= 0


def test_make_train_is_the_papers_method():
  c = _resolved("--flagfile=configs/mrpc.flags")
  assert (c.data.task, c.pruning.target_sparsity, c.student_init) == ("mrpc", 0.9, "pretrained")
  assert not c.pruning.one_shot and c.pruning.block_size == (1, 1)
  d = c.distill
  assert min(d.alpha_kd, d.alpha_hidden, d.alpha_attention) > 0  # knowledge-aware: all losses
  assert c.data.augment_factor > 0
  assert (c.pruning.head_sparsity, c.pruning.neuron_sparsity) == (0, 0)


def test_the_baselines_are_recipes_not_a_mode():
  ftp = _resolved("--flagfile=experiments/configs/mrpc_finetune_then_prune.flags")
  ptf = _resolved("--flagfile=experiments/configs/mrpc_prune_then_finetune.flags")
  for c in (ftp, ptf):
    d = c.distill
    assert (d.alpha_kd, d.alpha_ce, d.alpha_hidden, d.alpha_attention) == (0, 1, 0, 0)
    assert c.data.augment_factor == 0
  assert ftp.student_init == "teacher" and not ftp.pruning.one_shot
  assert ptf.student_init == "pretrained" and ptf.pruning.one_shot


def test_at_most_40_training_flags_each_used_or_documented():
  fv = flags.FlagValues()
  tsb_flags.define_train_flags(fv)
  names = sorted(fv)
  assert len(names) <= 40, (len(names), names)
  texts = []
  for pattern in ("configs/*.flags", "experiments/configs/*.flags", "tests/*.py", "README.md"):
    for path in glob.glob(os.path.join(REPO, pattern)):
      with open(path, encoding="utf-8") as f:
        texts.append(f.read())
  corpus = "\n".join(texts)
  unused = [n for n in names if f"--{n}" not in corpus]
  assert not unused, f"flags no recipe, test or README uses: {unused}"
