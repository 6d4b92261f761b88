"""The project's modules and what each imports of the others; BUILD is written from them.

  python tools/module_deps.py > BUILD   # one py_library per module, one py_test per test file

tests/test_build.py checks BUILD against it. A module's target depends on the targets of the
project modules it imports by name (`from tf_sparsebert.x import y`, `from sparsebert_lite import
z`); the bare `import tf_sparsebert` (for its TF_USE_LEGACY_KERAS side effect) is not a dependency.
"""

import ast
import glob
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"tf_sparsebert": "tf_sparsebert", "sparsebert_lite": "tflite/sparsebert_lite"}


def module_files():
  """{dotted module name: path relative to the repository}."""
  out = {}
  for package, root in PACKAGES.items():
    for path in sorted(glob.glob(os.path.join(REPO, root, "**", "*.py"), recursive=True)):
      rel = os.path.relpath(path, os.path.join(REPO, root))
      parts = [package] + rel[:-3].split(os.sep)
      if parts[-1] == "__init__":
        parts = parts[:-1]
      out[".".join(parts)] = os.path.relpath(path, REPO)
  return out


def target(module):
  """The Bazel target name of a dotted module name."""
  if module in ("tf_sparsebert", "sparsebert_lite"):
    return module
  package, rest = module.split(".", 1)
  return ("lite_" if package == "sparsebert_lite" else "") + rest.replace(".", "_")


def imports(path, modules):
  """The project modules `path` imports by name (submodules resolved), itself excluded."""
  with open(os.path.join(REPO, path), encoding="utf-8") as f:
    tree = ast.parse(f.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      for alias in node.names:
        sub = f"{node.module}.{alias.name}"
        if sub in modules:
          found.add(sub)
        elif node.module in modules:
          found.add(node.module)
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name in modules and "." in alias.name:
          found.add(alias.name)
  return found


def deps():
  """{module: sorted modules it imports}."""
  modules = module_files()
  this = {m: sorted(imports(p, modules) - {m}) for m, p in modules.items()}
  return modules, this


def build_targets():
  modules, graph = deps()
  blocks = []
  for module in sorted(modules):
    d = [f'":{target(x)}"' for x in graph[module]]
    lines = ['py_library(', f'    name = "{target(module)}",', f'    srcs = ["{modules[module]}"],',
             f'    imports = ["{"tflite" if module.startswith("sparsebert_lite") else "."}"],']
    if d:
      lines.append(f'    deps = [{", ".join(d)}],')
    lines.append(")")
    blocks.append("\n".join(lines))
  return "\n\n".join(blocks) + "\n"




def test_deps(test_path, extra_paths=()):
  """The library targets a test file needs: the modules it (and `extra_paths`: conftest, test
  modules it imports) imports by name, and both package roots, which every import runs."""
  modules = module_files()
  found = set()
  for path in (test_path, *extra_paths):
    found |= imports(path, modules)
  return sorted({target(m) for m in found} | {"tf_sparsebert", "sparsebert_lite"})


HEADER = """\
# Written by tools/module_deps.py (`python tools/module_deps.py > BUILD`); tests/test_build.py
# checks that it is up to date. One py_library per module, whose deps are the project modules it
# imports; one py_test per test file, depending on what it imports. Third-party packages
# (TensorFlow, tfmot, keras-nlp, ...) come from the venv built from setup.py; `make bazel-test`
# builds everything and runs the unit tests with it (Debian's bazel-bootstrap 4.2, offline: see
# WORKSPACE). CI runs it.

package(default_visibility = ["//visibility:public"])

"""

# The command-line programs: (name, main module). Each also needs the package root, whose import
# sets TF_USE_LEGACY_KERAS (the mains import it bare, which is not counted as a dependency).
BINARIES = (("classify_cli", "sparsebert_lite.classify"),
            ("tflite_benchmark_cli", "sparsebert_lite.benchmark"),
            ("train_cli", "tf_sparsebert.train"), ("export_cli", "tf_sparsebert.export.__main__"),
            ("evaluate_cli", "tf_sparsebert.evaluate"), ("report_cli", "tf_sparsebert.report"))

# End-to-end tests start `python -m ...` subprocesses, train and read ../shared, which Bazel's
# runfiles do not hold (test_build reads and pip-installs the source tree, read-only there): they
# run under pytest (`make test`); under Bazel they are built but manual.
END_TO_END = ("tests/test_bad_input.py", "tests/test_build.py", "tests/test_distribute_cli.py",
              "tests/test_export.py",
              "tests/test_fault_tolerance.py", "tests/test_readme.py", "tests/test_step_time.py",
              "tests/test_train.py", "tests/test_vocab.py", "tests/test_weight_average.py")
# Test modules that import helpers from other test modules.
IMPORTED_BY = {"tests/test_bad_input.py": ["tests/test_train.py"],
               "tests/test_distribute.py": ["tests/test_distiller.py"],
               "tests/test_export.py": ["tests/test_train.py"],
               "tests/test_step_time.py": ["tests/test_train.py"],
               "tests/test_weight_average.py": ["tests/test_train.py"]}
TEST_DATA = ["BUILD", "README.md", "setup.py", "pyproject.toml", "tests/kill_at_step.py",
             "tools/module_deps.py", "experiments/summarize_claims.py",
             "experiments/paper_claims.py", "experiments/recipes.py", "benchmarks/step_time.py",
             "experiments/weight_average.py"]


def _module_of(path):
  return next(m for m, p in module_files().items() if p == path)


def _list(items):
  return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def build_file():
  """The whole BUILD file."""
  out = [HEADER, build_targets()]
  for name, module in BINARIES:
    path = module_files()[module]
    deps = sorted({f":{target(module)}", ":tf_sparsebert", ":sparsebert_lite"})
    out.append(f'\npy_binary(\n    name = "{name}",\n    srcs = ["{path}"],\n    main = "{path}",\n'
               f'    deps = {_list(deps)},\n)\n')
  for test in sorted(glob.glob(os.path.join(REPO, "tests", "test_*.py"))):
    test = os.path.relpath(test, REPO)
    extra = ["tests/conftest.py", *IMPORTED_BY.get(test, [])]
    deps = [f":{t}" for t in test_deps(test, extra)]
    e2e = test in END_TO_END
    name = test[len("tests/"):-len(".py")]
    out.append(
        f'\npy_test(\n    name = "{name}",\n    size = "{"large" if e2e else "medium"}",\n'
        # The unit-test modules take 26 s to 5 min on 2 cores; noisy CI machines: 15 min.
        f'    timeout = "long",\n'
        f'    srcs = {_list(["tests/bazel_pytest.py", test, *extra])},\n'
        f'    args = ["$(location {test})"],\n'
        f'    data = glob(["configs/*.flags", "experiments/configs/*.flags"]) + {_list(TEST_DATA)},\n'
        f'    main = "tests/bazel_pytest.py",\n'
        + ('    tags = ["manual"],\n' if e2e else "")
        + f'    deps = {_list(deps)},\n)\n')
  return "".join(out)


if __name__ == "__main__":
  print(build_file(), end="")
