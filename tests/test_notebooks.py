"""The analyst notebook, run headless against the session's demo warehouse.

It must open the warehouse read-only, show only suppressed counts (R-AGG: never a
count from 1 to 10) and draw the funnel chart.
"""

import base64
import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT, DemoHome

NOTEBOOK = REPO_ROOT / "notebooks" / "01_segment_and_funnel.ipynb"
COUNTS = (
    "sent",
    "delivered",
    "opened_any",
    "opened",
    "machine_opened_only",
    "clicked",
    "converted",
)
# A cell added for the test only, before the notebook closes its connection.
WRITE_PROBE = """
try:
    con.execute("create table main.notebook_probe (x integer)")
    print("probe: wrote")
except Exception as error:
    print("probe: refused", type(error).__name__)
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tagged(notebook, tag: str):
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


def _json_output(cell):
    (data,) = [o.data for o in cell.outputs if "application/json" in o.get("data", {})]
    value = data["application/json"]
    return json.loads(value) if isinstance(value, str) else value


def _text(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def _small(value) -> bool:
    return value is not None and 1 <= value <= 10


@pytest.mark.slow
def test_notebook_previews_and_plots_only_suppressed_counts(
    demo_home: DemoHome, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CLEARLIST_HOME", str(demo_home.root))
    before = _sha256(demo_home.warehouse)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(-1, nbformat.v4.new_code_cell(WRITE_PROBE))
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()

    # read-only: the write was refused, and the file did not change
    assert "probe: refused" in _text(notebook.cells[-2])
    assert _sha256(demo_home.warehouse) == before

    preview = _json_output(_tagged(notebook, "preview"))
    shown = [preview[k] for k in ("chosen", "included", "excluded")]
    shown += list(preview["excluded_by_rule"].values())
    assert not any(_small(value) for value in shown), preview
    assert preview["chosen"] is not None and preview["chosen"] > 10
    # the printed preview carries the same numbers, hidden ones as <11
    for line in _text(_tagged(notebook, "preview")).splitlines()[1:]:
        last = line.split()[-1]
        assert last == "<11" or int(last) == 0 or int(last) > 10, line

    for tag in ("funnel", "segment-funnel"):
        cell = _tagged(notebook, tag)
        steps = _json_output(cell)
        assert steps, tag
        for step in steps:
            assert not any(_small(step[name]) for name in COUNTS), (tag, step)
        for line in _text(cell).splitlines():
            words = line.split()
            if words and words[0] in COUNTS:
                for word in words[1:]:
                    assert word == "<11" or not _small(int(word)), (tag, line)
    assert any(step["sent"] for step in _json_output(_tagged(notebook, "funnel")))

    (png,) = [
        o.data["image/png"]
        for o in _tagged(notebook, "chart").outputs
        if "image/png" in o.get("data", {})
    ]
    image = base64.b64decode(png)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = (int.from_bytes(image[i : i + 4], "big") for i in (16, 20))
    assert width > 400 and height > 200
