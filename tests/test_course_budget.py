"""Every lesson fits Binder: the whole course, run headless with its default parameters and the
offline data, stays within the memory budget per notebook.

Binder gives a session 2 GB; JupyterLab itself needs some, so each lesson's kernel (children
included) must peak at or below 1.5 GB. Memory is stable enough to assert; time is not, so the
run times are printed (see the test output, or reports/index.html after `make report`), never
asserted.
"""

import json

import pytest

from cnnkit.cli import main
from cnnkit.report import MEMORY_BUDGET_MB, default_notebooks

BUDGET_MB = 1536


@pytest.mark.slow
def test_every_notebook_runs_within_the_memory_budget(tmp_path, capsys):
    assert MEMORY_BUDGET_MB == BUDGET_MB, "the report's default budget is the Binder budget"
    notebooks = default_notebooks()
    code = main(["report", "--out", str(tmp_path), "--memory-budget-mb", str(BUDGET_MB)])
    results = json.loads((tmp_path / "results.json").read_text())
    runs = {r["notebook_name"]: r for r in results["runs"]}
    with capsys.disabled():
        print(f"\n{'notebook':<28} {'peak MB':>8} {'seconds':>8}")
        for name, r in sorted(runs.items()):
            print(f"{name:<28} {r['peak_memory_mb']:>8.0f} {r['seconds']:>8.1f}")
        print(f"{'whole course':<28} {'':>8} {sum(r['seconds'] for r in runs.values()):>8.1f}")
    assert code == 0, [r["error"] for r in runs.values() if r["status"] != "ok"]
    assert sorted(runs) == sorted(p.name for p in notebooks)
    for name, r in runs.items():
        assert r["peak_memory_mb"] is not None, f"{name}: no memory measurement"
        assert r["peak_memory_mb"] <= BUDGET_MB, (
            f"{name} peaked at {r['peak_memory_mb']:.0f} MB > {BUDGET_MB} MB: fix the lesson "
            "(uint8 data, meta-device tracing, CPU-sized defaults), not the budget"
        )
    assert results["summary"]["over_budget"] == 0
