"""PNG plots (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from zslbench.core.atomic import write_bytes


def plot_sweep(taus: np.ndarray, kept: np.ndarray, total: int, tau: float, title: str, path: Path) -> None:
    """Kept source classes against tau, the chosen tau marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(taus, kept, marker="o", markersize=3, color="#1f77b4", label="kept classes")
    ax.axhline(total, color="grey", linewidth=0.8, linestyle=":", label=f"all {total} classes")
    ax.axvline(tau, color="#d62728", linewidth=1.2, linestyle="--", label=f"tau = {tau:g}")
    chosen = int(np.sum(kept[np.isclose(taus, tau)])) if np.isclose(taus, tau).any() else None
    if chosen is not None:
        ax.annotate(f"{chosen} kept", (tau, chosen), textcoords="offset points", xytext=(8, 8), color="#d62728")
    ax.set_xlabel("tau (cosine distance threshold)")
    ax.set_ylabel("source classes kept")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    save_png(fig, path)


def save_png(fig, path: Path) -> Path:
    """Lay out `fig`, write it to `path` as PNG atomically (never half a file) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path
