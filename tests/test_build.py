"""BUILD and setup.py describe the same modules."""

import glob
import os
import re

from conftest import REPO


def _build_sources():
  with open(os.path.join(REPO, "BUILD"), encoding="utf-8") as f:
    text = f.read()
  files = set(re.findall(r'"((?:tf_sparsebert|tflite)/[\w/]+\.py)"', text))
  for pattern in re.findall(r'glob\(\["((?:tf_sparsebert|tflite)/[\w/*]+\.py)"\]\)', text):
    files |= {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, pattern))}
  return files


def test_every_package_module_is_a_bazel_source():
  modules = {os.path.relpath(p, REPO) for pattern in ("tf_sparsebert/**/*.py",
                                                      "tflite/sparsebert_lite/*.py")
             for p in glob.glob(os.path.join(REPO, pattern), recursive=True)}
  missing = modules - _build_sources()
  assert not missing, f"modules setup.py installs but BUILD does not list: {sorted(missing)}"


def test_setup_py_installs_both_packages():
  with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
    setup = f.read()
  assert 'find_packages(include=["tf_sparsebert", "tf_sparsebert.*"])' in setup
  assert '"sparsebert_lite": "tflite/sparsebert_lite"' in setup


def _listed(name):
  """The quoted test files of BUILD's list `name = [...]`."""
  with open(os.path.join(REPO, "BUILD"), encoding="utf-8") as f:
    block = re.search(rf"^{name} = \[(.*?)^\]", f.read(), re.S | re.M).group(1)
  return set(re.findall(r'"(tests/test_\w+\.py)"', block))


def test_end_to_end_tests_are_manual_under_bazel():
  # Tests that take the MRPC fixture train end to end and read ../shared, which Bazel's runfiles do
  # not hold (CI failed on test_weight_average, which did so outside END_TO_END).
  uses_fixture = set()
  for path in glob.glob(os.path.join(REPO, "tests", "test_*.py")):
    with open(path, encoding="utf-8") as f:
      if re.search(r"def \w+\([^)]*\btiny_checkpoint_bert_vocab\b", f.read()):
        uses_fixture.add(os.path.relpath(path, REPO))
  assert uses_fixture, "the fixture's name changed: update this test"
  assert uses_fixture <= _listed("END_TO_END"), sorted(uses_fixture - _listed("END_TO_END"))
