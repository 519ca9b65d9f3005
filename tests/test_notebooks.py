"""Every course notebook runs top to bottom in a fresh kernel, in quick mode.

The notebooks read ``TINYALEX_QUICK=1`` and shrink their sizes and step counts; students run
them without it. A notebook that raises fails its test, so none can rot. They are committed
without outputs (outputs belong to whoever runs them, and they bloat diffs).
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_one_notebook_per_section_in_reading_order():
    names = [path.name for path in NOTEBOOKS]
    numbers = [name.split("-", 1)[0] for name in names]
    assert numbers == [f"{i:02d}" for i in range(12)], f"expected notebooks 00..11, got {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} cell {index} has outputs; clear them before committing")


def _reads_fashion_mnist(path: Path) -> bool:
    """Whether a notebook reads the real Fashion-MNIST (straight, or as the fallback dataset)."""
    text = path.read_text()
    return "load_fashion_mnist" in text or "fashion-mnist" in text


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.fashion_mnist) if _reads_fashion_mnist(p) else p
    for p in NOTEBOOKS
], ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("TINYALEX_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The kernel starts in notebooks/; make sure it imports this checkout's tinyalex.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
