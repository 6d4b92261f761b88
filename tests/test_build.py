"""BUILD is what tools/module_deps.py writes (one target per module, deps = imports); setup.py
and pyproject.toml install both packages, with any pip."""

import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "tools"))
import module_deps  # noqa: E402


def test_build_is_up_to_date():
  with open(os.path.join(REPO, "BUILD"), encoding="utf-8") as f:
    assert f.read() == module_deps.build_file(), "run `python tools/module_deps.py > BUILD`"


def test_every_module_has_its_own_target_with_its_imports():
  text = module_deps.build_file()
  modules, graph = module_deps.deps()
  assert len(re.findall(r"^py_library\(", text, re.M)) == len(modules)
  # The layering the architecture asks for: nothing below imports the stages or the CLI above it.
  low = ("tf_sparsebert.models", "tf_sparsebert.pruning", "tf_sparsebert.distill",
         "tf_sparsebert.data", "sparsebert_lite")
  high = ("tf_sparsebert.pipeline", "tf_sparsebert.train", "tf_sparsebert.export",
          "tf_sparsebert.distill")
  for module, imported in graph.items():
    if module.startswith(low[:2]):  # models and pruning never import distill, pipeline, export
      assert not [m for m in imported if m.startswith(high)], (module, imported)
    if module.startswith("sparsebert_lite"):
      assert not [m for m in imported if m.startswith("tf_sparsebert")], (module, imported)


def test_no_module_imports_a_private_name_of_another():
  modules = module_deps.module_files()
  for module, path in modules.items():
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
      text = f.read()
    assert not re.search(r"^from tf_sparsebert\S* import .*\b_[a-z]", text, re.M), path
  for path in glob.glob(os.path.join(REPO, "*", "*.py")):
    with open(path, encoding="utf-8") as f:
      text = f.read()
    assert not re.search(r"\b(export|train|pipeline|prune|conversion)\._[a-z]", text), path


def test_setup_py_installs_both_packages():
  with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
    setup = f.read()
  assert 'find_packages(include=["tf_sparsebert", "tf_sparsebert.*"])' in setup
  assert '"sparsebert_lite": "tflite/sparsebert_lite"' in setup


def test_end_to_end_tests_are_manual_under_bazel():
  # Tests that take the MRPC fixture train end to end and read ../shared, which Bazel's runfiles
  # do not hold.
  uses_fixture = set()
  for path in glob.glob(os.path.join(REPO, "tests", "test_*.py")):
    with open(path, encoding="utf-8") as f:
      if re.search(r"def \w+\([^)]*\btiny_checkpoint_bert_vocab\b", f.read()):
        uses_fixture.add(os.path.relpath(path, REPO))
  assert uses_fixture, "the fixture's name changed: update this test"
  assert uses_fixture <= set(module_deps.END_TO_END), sorted(uses_fixture
                                                             - set(module_deps.END_TO_END))


@pytest.mark.timeout(900)
def test_a_fresh_venv_with_its_bundled_pip_installs_both_packages(tmp_path):
  """`python3 -m venv v && v/bin/pip install -e .` with the pip Python bundles (not upgraded)
  must map tflite/sparsebert_lite: pyproject.toml's build-system makes pip build a PEP 660
  editable wheel instead of the legacy develop mode, which ignores package_dir. Without
  dependencies (they are the main venv's): only the packaging is under test."""
  venv = tmp_path / "v"
  subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
  pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-e", REPO],
                       capture_output=True, text=True, timeout=600)
  assert pip.returncode == 0, pip.stderr[-3000:]
  code = ("import importlib.util as u; "
          "assert u.find_spec('sparsebert_lite.glue'), 'sparsebert_lite'; "
          f"assert u.find_spec('tf_sparsebert').origin.startswith({REPO!r}), 'tf_sparsebert'")
  proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=str(tmp_path),
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
