"""Regenerates the paper-claims table in benchmarks/README.md and the plot, from the JSON files.

  .venv/bin/python benchmarks/summarize_claims.py

Reads benchmarks/results/claims/*.json (written by paper_claims.py), writes
benchmarks/results/claims.png (dev accuracy vs compression of the encoder's linear weights: one
line per recipe, i.e. SparseBERT's two schedules and the two baselines; the shallow-dense
students as points; the teacher as a line: the paper's Figure 4) and the table between the
`claims` markers of benchmarks/README.md.
"""

import glob
import json
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "claims")
README = os.path.join(HERE, "README.md")
PLOT = os.path.join(HERE, "results", "claims.png")
BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"
LABELS = {"sparsebert": "SparseBERT (prune while distilling)",
          "sparsebert_long": "SparseBERT, 10 epochs (ramp over 3000 of 3460 steps)",
          "sparsebert_long_b16": "SparseBERT, 10 epochs at batch 16 (ramp over 6000 of 6880 steps)",
          "finetune_then_prune": "fine-tune, then prune", "prune_then_finetune":
          "prune, then fine-tune", "shallow": "dense shallow student (distilled)"}
MARKERS = {"sparsebert": "o", "sparsebert_long": "D", "sparsebert_long_b16": "P",
           "finetune_then_prune": "s", "prune_then_finetune": "^", "shallow": "*"}  # plot order
SPARSEBERT = ("sparsebert", "sparsebert_long", "sparsebert_long_b16")  # the distilling series


def load():
  rows = []
  for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
    with open(path) as f:
      r = json.load(f)
    c = r["config"]
    r["seed"] = c["data"]["seed"]
    r["target"] = c["pruning"]["target_sparsity"]
    rows.append(r)
  return rows


def _full_encoder_weights(rows):
  """Encoder linear weights of the full-depth model (from any full-depth run of the task)."""
  return {r["task"]: r["sparsity"]["num_weights"] for r in rows if r["series"] != "shallow"}


def points(rows):
  """(task, series, x = compression of the encoder's linear weights) -> list of rows."""
  full = _full_encoder_weights(rows)
  out = {}
  for r in rows:
    x = full.get(r["task"], r["sparsity"]["num_weights"]) / r["encoder_nonzero_weights"]
    out.setdefault((r["task"], r["series"], round(x, 2)), []).append(r)
  return out


def _stats(group, metric="accuracy"):
  values = [g["student"][metric] for g in group]
  spread = statistics.stdev(values) if len(values) > 1 else None
  return statistics.mean(values), spread, len(values)


def table(rows):
  lines = ["| task | recipe | target sparsity | measured | non-zero encoder weights | "
           "compression | dev acc (mean) | ± std (seeds) | dev F1 / main | vs teacher | "
           "student ex/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  for (task, series, x), group in sorted(points(rows).items()):
    mean, spread, n = _stats(group)
    r = group[0]
    teacher = r["teacher"]["accuracy"] if "accuracy" in r["teacher"] else r["teacher"]["main"]
    other = r["student"].get("f1", r["student"]["main"])
    layers = r["config"].get("student_layers", 0)
    label = LABELS[series] + (f" ({layers} layer{'s' * (layers > 1)})"
                              if series == "shallow" else "")
    lines.append(
        f"| {task} | {label} | {r['target']:.3f} | {r['sparsity']['overall']:.4f} | "
        f"{r['encoder_nonzero_weights']:,} | {x:.1f}x | {mean:.2f} | "
        f"{'' if spread is None else f'{spread:.2f} (n={n})'} | {other:.2f} | "
        f"{mean - teacher:+.2f} | {r['student_examples_per_second']:.1f} |")
  teachers = {r["task"]: r["teacher"] for r in rows}
  lines.append("")
  lines += [f"Teacher ({task}): " + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k != "main")
            for task, t in sorted(teachers.items())]
  return "\n".join(lines)


def _by_target(rows, task, series):
  """target sparsity -> mean dev accuracy of `series` on `task` (seeds averaged)."""
  groups = {}
  for r in rows:
    if r["task"] == task and r["series"] == series:
      groups.setdefault(round(r["target"], 4), []).append(r)
  return {t: _stats(g)[0] for t, g in groups.items()}


def checks(rows, task="mrpc"):
  """The issue's figures to reach, each with its measured margin (positive: met)."""
  task_rows = [r for r in rows if r["task"] == task]
  if not task_rows:
    return []
  teacher = task_rows[0]["teacher"]["accuracy"]
  lines = []
  for series in SPARSEBERT:
    for target, allowed in ((0.9, 0.5), (0.95, 1.0)):
      acc = _by_target(rows, task, series).get(target)
      if acc is not None:
        margin = acc - (teacher - allowed)
        lines.append(f"- {LABELS[series]} at {target:.0%}: {acc:.2f} vs teacher - {allowed} = "
                     f"{teacher - allowed:.2f}: {'met' if margin >= 0 else 'missed'} "
                     f"({margin:+.2f})")
  baselines = [_by_target(rows, task, b) for b in ("finetune_then_prune", "prune_then_finetune")]
  for series in SPARSEBERT:
    for target, acc in sorted(_by_target(rows, task, series).items()):
      others = [b[target] for b in baselines if target in b]
      if target >= 0.8 and len(others) == 2:
        margin = acc - max(others)
        lines.append(f"- {LABELS[series]} >= both baselines at {target:.0%}: {acc:.2f} vs "
                     f"{max(others):.2f}: {'met' if margin >= 0 else 'missed'} ({margin:+.2f})")
  sparse = {x: _stats(g)[0] for (t, s, x), g in points(rows).items()
            if t == task and s == "sparsebert"}
  for (t, s, x), group in sorted(points(rows).items()):
    if t == task and s == "shallow":
      near = [v for k, v in sparse.items() if abs(k - x) / x < 0.02]
      if near:
        dense = _stats(group)[0]
        margin = near[0] - dense - 2.0
        lines.append(f"- {LABELS['sparsebert']} >= {group[0]['config']['student_layers']}-layer "
                     f"dense student + 2 at {x:.1f}x: {near[0]:.2f} vs {dense:.2f}: "
                     f"{'met' if margin >= 0 else 'missed'} ({margin:+.2f})")
  return lines


def plot(rows, task="mrpc"):
  fig, ax = plt.subplots(figsize=(10, 4.5))
  for series, marker in MARKERS.items():
    pts = sorted((x, _stats(g)) for (t, s, x), g in points(rows).items()
                 if t == task and s == series)
    if not pts:
      continue
    xs = [x for x, _ in pts]
    ys = [st[0] for _, st in pts]
    errs = [st[1] or 0 for _, st in pts]
    style = dict(marker=marker, label=LABELS[series], capsize=3)
    if series == "shallow":
      ax.errorbar(xs, ys, yerr=errs, linestyle="none", markersize=12, **style)
    else:
      ax.errorbar(xs, ys, yerr=errs, **style)
  teacher = [r["teacher"]["accuracy"] for r in rows if r["task"] == task]
  if teacher:
    ax.axhline(teacher[0], color="gray", linestyle="--", label="teacher (dense)")
  ax.axhline(279 / 408 * 100, color="lightgray", linestyle=":", label="majority class")
  ax.set_xscale("log")
  ticks = [2, 3, 5, 6, 10, 20]
  ax.set_xticks(ticks, [f"{t}x" for t in ticks])
  ax.minorticks_off()
  ax.set_xlabel("compression of the encoder's linear weights (dense / non-zero)")
  ax.set_ylabel(f"{task.upper()} dev accuracy")
  ax.set_title(f"{task.upper()}, MiniLM-L6-H384 (cf. the paper's Figure 4)")
  ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside the data
  fig.tight_layout()
  fig.savefig(PLOT, dpi=120)


def main():
  rows = load()
  if not rows:
    raise SystemExit(f"no results in {RESULTS}: run benchmarks/paper_claims.py first")
  plot(rows)
  with open(README, encoding="utf-8") as f:
    text = f.read()
  if BEGIN not in text:
    raise SystemExit(f"{README} has no {BEGIN} ... {END} section")
  head, rest = text.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  summary = (f"{table(rows)}\n\nThe issue's figures (MRPC dev accuracy; margin in points):\n\n"
             + "\n".join(checks(rows)))  # all computed before README.md is rewritten
  with open(README, "w", encoding="utf-8") as f:
    f.write(f"{head}{BEGIN}\n{summary}\n\n![accuracy vs compression](results/claims.png)\n"
            f"{END}{tail}")
  print(summary)


if __name__ == "__main__":
  main()
