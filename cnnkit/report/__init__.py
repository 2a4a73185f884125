"""Instructor reports: run course notebooks headless, over parameter grids, and compare them.

``cnnkit report`` uses the modules of this package in this order:

* :mod:`~cnnkit.report.params` reads a notebook's ``parameters`` cell and converts
  command-line values; :mod:`~cnnkit.report.allowed` reads the allowed values a parameter
  declares in its comment (``digit = 7  # 0..9``, ``optimizer = "adam"  # one of: "adam",
  "sgd"``); :mod:`~cnnkit.report.plan` turns ``-p NAME=VALUE[,VALUE...]`` options into runs
  (:class:`RunSpec`): a grid or a zip, everything checked before anything runs
  (:class:`ParameterError`).
* :mod:`~cnnkit.report.runner` executes the runs that are not up to date, locally (``jobs``
  processes) or on a Dask cluster, through :func:`cnnkit.cluster.map_tasks`;
  :mod:`~cnnkit.report.execute` runs one notebook with papermill, measuring the kernel's peak
  memory (:mod:`~cnnkit.report.memory`) and rendering an HTML page that works offline
  (:mod:`~cnnkit.report.render`); :mod:`~cnnkit.report.status` writes its status file last,
  so a run is complete exactly when ``RUN.run.json`` exists.
* :mod:`~cnnkit.report.index` writes ``index.html`` (Jinja2 template), ``results.json`` and
  ``results.csv`` (:mod:`~cnnkit.report.results`) with the figures of
  :mod:`~cnnkit.report.charts`: learning curves overlaid across runs, bar charts of scalar
  metrics.
* In the notebooks, :func:`record` (from :mod:`cnnkit.metrics`) and :func:`record_history`
  (:mod:`~cnnkit.report.history`) record results the report reads back.

Importing this package loads only the standard library (papermill, nbconvert, psutil, tqdm,
Jinja2 and matplotlib are imported where they are used), so notebooks can call
``cnnkit.report.record`` without paying for them.
"""

from __future__ import annotations

from cnnkit._atomic import write_atomic
from cnnkit.metrics import METRIC_MIME, read_metrics, record
from cnnkit.report.allowed import AllowedValues, check_allowed, parse_allowed
from cnnkit.report.execute import run_notebook
from cnnkit.report.history import record_history
from cnnkit.report.index import write_index
from cnnkit.report.memory import MEMORY_BUDGET_MB
from cnnkit.report.params import (
    NotebookParameter,
    ParameterError,
    convert_value,
    notebook_parameters,
    parse_parameter_option,
    split_values,
)
from cnnkit.report.plan import (
    NOTEBOOK_PATTERN,
    RunSpec,
    default_notebooks,
    make_run_id,
    plan_runs,
)
from cnnkit.report.runner import check_runs, run_course, run_report
from cnnkit.report.status import STATUS_SUFFIX, RunResult, is_up_to_date

__all__ = [
    "MEMORY_BUDGET_MB",
    "METRIC_MIME",
    "NOTEBOOK_PATTERN",
    "STATUS_SUFFIX",
    "AllowedValues",
    "NotebookParameter",
    "ParameterError",
    "RunResult",
    "RunSpec",
    "check_allowed",
    "check_runs",
    "convert_value",
    "default_notebooks",
    "is_up_to_date",
    "make_run_id",
    "notebook_parameters",
    "parse_allowed",
    "parse_parameter_option",
    "plan_runs",
    "read_metrics",
    "record",
    "record_history",
    "run_course",
    "run_notebook",
    "run_report",
    "split_values",
    "write_atomic",
    "write_index",
]
