"""Figures people would rather look at: per-kernel sparsity heat maps and training curves."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tf_sparsebert.models.encoder import PRUNABLE_KERNELS  # noqa: E402


def sparsity_matrix(report):
  """`[layers, 6]` zero fractions and the layer names, from a `sparsity_report` dict."""
  layers = list(dict.fromkeys(row["layer"] for row in report["kernels"]))
  matrix = np.zeros([len(layers), len(PRUNABLE_KERNELS)])
  for row in report["kernels"]:
    matrix[layers.index(row["layer"]), PRUNABLE_KERNELS.index(row["kernel"])] = row["sparsity"]
  return matrix, layers


def sparsity_heatmap(report, title="Sparsity per encoder kernel"):
  """A heat map (layers x the six kernels) of a `sparsity_report`, annotated with percentages."""
  matrix, layers = sparsity_matrix(report)
  fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(layers)))
  image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
  ax.set_xticks(range(len(PRUNABLE_KERNELS)), PRUNABLE_KERNELS, rotation=30, ha="right")
  ax.set_yticks(range(len(layers)), [name.replace("transformer_", "") for name in layers])
  for (i, j), value in np.ndenumerate(matrix):
    ax.text(j, i, f"{100 * value:.1f}", ha="center", va="center",
            color="white" if value < 0.6 else "black", fontsize=8)
  fig.colorbar(image, ax=ax, label="zero fraction")
  ax.set_title(title)
  fig.tight_layout()
  return fig


def curves(series, title, ylabel, log_scale=False):
  """Line plot of `{name: [(step, value), ...]}`."""
  fig, ax = plt.subplots(figsize=(7, 3.5))
  if log_scale:
    ax.set_yscale("log")
  for name, points in sorted(series.items()):
    if points:
      steps, values = zip(*points)
      ax.plot(steps, values, marker="o" if len(points) < 30 else None, label=name)
  ax.set_xlabel("epoch")
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  return fig


def to_png(fig):
  """PNG bytes of a figure (closed afterwards)."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110)
  plt.close(fig)
  return buffer.getvalue()
