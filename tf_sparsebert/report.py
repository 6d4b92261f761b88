"""A readable summary of a finished run: key figures, sparsity heat map, training curves.

  python -m tf_sparsebert.report RUN_DIR [--output_dir=RUN_DIR/report]

Writes `report.md` and `report.html` with PNGs beside them, from the run's `metrics.json`,
`sparsity.json`, TensorBoard logs and (if exported) `tflite/export_report.json`.
"""

import glob
import html
import json
import os
import sys

from absl import app, flags

import tf_sparsebert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf  # noqa: E402

from tf_sparsebert import plots  # noqa: E402


def read_scalars(directory):
  """`{tag: [(step, value)]}` of the scalar summaries in every event file under `directory`."""
  out = {}
  for path in sorted(glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"),
                               recursive=True)):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
          number = float(tf.make_ndarray(value.tensor))
        elif value.HasField("simple_value"):
          number = float(value.simple_value)
        else:
          continue
        split = os.path.basename(os.path.dirname(path))
        tag = value.tag if value.tag.startswith("dev/") else f"{split}/{value.tag}"
        out.setdefault(tag, []).append((event.step, number))
  return {tag: sorted(points) for tag, points in out.items()}


def _load(path):
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def build(run_dir, output_dir):
  """Writes the report files; returns the path of report.md."""
  metrics = _load(os.path.join(run_dir, "metrics.json"))
  sparsity = _load(os.path.join(run_dir, "sparsity.json"))
  if metrics is None or sparsity is None:
    raise FileNotFoundError(f"RUN_DIR: {run_dir} is not a finished tf_sparsebert run (it needs "
                            "metrics.json and sparsity.json)")
  os.makedirs(output_dir, exist_ok=True)
  figures = []

  def save(fig, name, caption):
    with open(os.path.join(output_dir, name), "wb") as f:
      f.write(plots.to_png(fig))
    figures.append((name, caption))

  save(plots.sparsity_heatmap(sparsity), "sparsity.png",
       f"Zero fraction of every encoder kernel (overall {sparsity['overall']:.4f})")
  for stage in ("teacher", "student"):
    scalars = read_scalars(os.path.join(run_dir, "logs", stage))
    losses = {t.split("/", 1)[1] + f" ({t.split('/')[0]})": v for t, v in scalars.items()
              if t.split("/")[-1].startswith("epoch_") and "loss" in t}
    if losses:
      save(plots.curves(losses, f"{stage}: losses per epoch", "loss", log_scale=True),
           f"{stage}_losses.png",
           f"{stage} training and validation losses")
    dev = {t: v for t, v in scalars.items() if t.startswith("dev/") and not t.endswith("main")}
    if dev:
      save(plots.curves(dev, f"{stage}: dev metrics per epoch", "%"), f"{stage}_dev.png",
           f"{stage} dev metrics after each epoch")
    if stage == "student" and "train/epoch_sparsity" in scalars:
      save(plots.curves({"sparsity": scalars["train/epoch_sparsity"]}, "student: sparsity",
                        "zero fraction"), "student_sparsity.png", "mask sparsity per epoch")

  task = metrics.get("task", "")
  rows = [("teacher", metrics["teacher"]), ("student", metrics["student"])]
  names = [k for k in metrics["student"] if k != "main"]
  lines = [f"# Run report: {os.path.abspath(run_dir)}", "",
           f"Task **{task}**; student sparsity **{sparsity['overall']:.4f}** "
           f"(kernels {sparsity['min']:.4f}-{sparsity['max']:.4f}"
           + (f"; all-zero {sparsity['block_size'][0]}x{sparsity['block_size'][1]} blocks "
              f"{sparsity['block_overall']:.4f}" if "block_size" in sparsity else "") + ").", "",
           "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
  lines += [f"| {who} | " + " | ".join(f"{m[n]:.2f}" for n in names) + " |" for who, m in rows]
  timing = metrics.get("timing", {})
  if timing.get("student_epoch_seconds"):
    lines += ["", f"Epoch seconds: teacher {timing.get('teacher_epoch_seconds')}, student "
              f"{[round(s, 1) for s in timing['student_epoch_seconds']]}."]
  export = _load(os.path.join(run_dir, "tflite", "export_report.json"))
  if export:
    lines += ["", "## TFLite files", "", "| file | MiB | size vs dense fp32 | runs with |",
              "|---|---|---|---|"]
    ratios = export.get("size_vs_dense_fp32", {})
    for variant, entry in export["variants"].items():
      lines.append(f"| {entry.get('file', variant + ' (refused)')} | "
                   f"{entry.get('bytes', 0) / 2**20:.1f} | {ratios.get(variant, float('nan')):.3f} | "
                   f"{entry.get('op_resolver', '-')} |")
  lines += [""] + [f"![{caption}]({name})\n\n*{caption}*\n" for name, caption in figures]
  md_path = os.path.join(output_dir, "report.md")
  with open(md_path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
  body = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines
                 if line and not line.startswith(("|", "!", "*", "#")))
  tables = _html_table(lines)
  images = "".join(f'<figure><img src="{n}"><figcaption>{html.escape(c)}</figcaption></figure>\n'
                   for n, c in figures)
  with open(os.path.join(output_dir, "report.html"), "w", encoding="utf-8") as f:
    f.write(f"<!doctype html><meta charset=utf-8><title>{html.escape(lines[0][2:])}</title>"
            f"<h1>{html.escape(lines[0][2:])}</h1>\n{body}{tables}{images}")
  return md_path


def _html_table(lines):
  out, rows = [], []
  for line in lines + [""]:
    if line.startswith("|") and not line.startswith("|---"):
      rows.append([html.escape(c.strip()) for c in line.strip("|").split("|")])
    elif rows and not line.startswith("|---"):
      head, *body = rows
      out.append("<table border=1 cellpadding=4><tr>" + "".join(f"<th>{c}</th>" for c in head)
                 + "</tr>" + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                                     for r in body) + "</table>\n")
      rows = []
  return "".join(out)


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("usage: python -m tf_sparsebert.report RUN_DIR [--output_dir=DIR]")
  run_dir = argv[1]
  try:
    path = build(run_dir, flags.FLAGS.output_dir or os.path.join(run_dir, "report"))
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(path)


if __name__ == "__main__":
  flags.DEFINE_string("output_dir", None, "Where to write the report (default RUN_DIR/report).")
  app.run(main)
