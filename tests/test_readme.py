"""The README's code runs as written (on the real MiniLM checkpoint, a few steps)."""

import os
import re
import subprocess
import sys

from conftest import REPO, SHARED


def _own_code_block():
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    text = f.read()
  section = text[text.index("### In your own code"):]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_in_your_own_code_example_runs(tmp_path):
  code = _own_code_block().replace("../shared/data", SHARED)
  proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                        text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert abs(float(proc.stdout.strip().splitlines()[-1]) - 0.9) <= 0.005
  assert os.path.getsize(tmp_path / "student.tflite") > 1e6
  assert sorted(os.listdir(tmp_path / "student_hf")) == [
      "config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"]
