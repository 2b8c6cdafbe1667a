"""The README's timing diagram is what the tool draws from the cycle-exact schedule today."""

from pathlib import Path

from l1bn.report.timing_diagram import NAME, wavejson, write

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_passes_in_the_units_order():
    x = next(s for s in wavejson()["signal"] if s["name"] == "x (pass)")
    assert x["data"] == ["0F", "0M", "1F", "0N", "1M", "1N"]


def test_committed_diagram_is_current(tmp_path):
    svg = write(tmp_path)
    assert svg.read_bytes() == (DOCS / f"{NAME}.svg").read_bytes(), "run `make docs`"
    assert (tmp_path / f"{NAME}.json").read_text() == (DOCS / f"{NAME}.json").read_text()
