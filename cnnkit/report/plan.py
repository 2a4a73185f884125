"""What to run: the course notebooks, run names, and parameter options turned into runs.

:func:`plan_runs` checks ``-p NAME=VALUE[,VALUE...]`` options against each notebook's
``parameters`` cell (names, types, allowed values) and lists the runs (:class:`RunSpec`):
several values make a grid (Cartesian product) or a zip (values paired). Nothing is executed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cnnkit.metrics import _jsonable
from cnnkit.report.allowed import check_allowed, check_declarations
from cnnkit.report.params import (
    NotebookParameter,
    ParameterError,
    convert_value,
    describe,
    notebook_parameters,
    value_text,
)

__all__ = ["NOTEBOOK_PATTERN", "RunSpec", "default_notebooks", "make_run_id", "plan_runs"]

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
"""Glob (inside ``notebooks/``) of the course notebooks, e.g. ``01_convolution.ipynb``."""

_MAX_RUN_ID = 120


def make_run_id(stem: str, parameters: Mapping[str, Any] | None = None) -> str:
    """The stable, filesystem-safe name of a run: ``stem__name-value__...``.

    Parameters are sorted by name; characters other than letters, digits and ``._+-``
    become ``_``, and then (or when the name would be long) a short hash of the exact
    parameters is appended, so different parameters never share a name.
    ``make_run_id("04_mnist", {"optimizer": "adam", "lr": 0.01})`` is
    ``"04_mnist__lr-0.01__optimizer-adam"``.
    """
    if not parameters:
        return stem
    parts = [stem]
    lossy = False
    for name in sorted(parameters):
        text = value_text(parameters[name])
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", text)
        lossy = lossy or safe != text or not text
        parts.append(f"{name}-{safe}")
    rid = "__".join(parts)
    if lossy or len(rid) > _MAX_RUN_ID:
        canonical = json.dumps(
            {k: _jsonable(v, k) for k, v in parameters.items()}, sort_keys=True, default=str
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
        rid = f"{rid[:_MAX_RUN_ID - 9]}~{digest}"
    return rid


@dataclass(frozen=True)
class RunSpec:
    """One planned run: a notebook and the parameters injected into it.

    ``run_id`` names its outputs (from the parameters that differ from the notebook's
    defaults, so giving a default explicitly names the same run as not giving it);
    ``effective`` are all parameter values the run uses (defaults included, as far as
    they are literals), which the comparison figures group by.
    """

    notebook: Path
    parameters: Mapping[str, Any]
    run_id: str
    effective: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``name=value, ...`` for the injected parameters, or ``"defaults"``."""
        return describe(self.parameters)


def _differs(param: NotebookParameter | None, value: Any) -> bool:
    """True unless ``value`` is exactly the (literal) default of ``param``."""
    if param is None or not param.has_default:
        return True
    return not (type(value) is type(param.default) and value == param.default)


def _check_options(items: Sequence[tuple[str, Sequence[str]]], mode: str) -> list[str]:
    """The option names, after checking repeats, empty values and ``--zip`` lengths."""
    names: list[str] = []
    for name, values in items:
        if name in names:
            raise ParameterError(
                f"parameter {name!r} is given twice; give several values as {name}=V1,V2"
            )
        if not list(values):
            raise ParameterError(f"parameter {name!r} has no value")
        names.append(name)
    if mode not in ("grid", "zip"):
        raise ValueError(f"mode must be 'grid' or 'zip', not {mode!r}")
    if mode == "zip":
        lengths = {name: len(values) for name, values in items if len(values) > 1}
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{n} has {k}" for n, k in lengths.items())
            raise ParameterError(
                f"--zip pairs the values of the parameters, so they need the same number "
                f"of values: {counts}"
            )
    return names


def _read_parameters(path: Path, names: Sequence[str]) -> dict[str, NotebookParameter]:
    """``path``'s parameters, checked to include ``names`` and to declare readable values."""
    try:
        params = notebook_parameters(path)
    except ParameterError:
        if names:
            raise
        return {}  # no options to check; defaults are only informative then
    unknown = [name for name in names if name not in params]
    if unknown:
        what = "parameters" if len(unknown) > 1 else "parameter"
        listed = (f"its parameters are: {', '.join(params)}" if params
                  else "it has no cell tagged 'parameters'")
        raise ParameterError(f"{path.name} has no {what} {', '.join(map(repr, unknown))}; "
                             f"{listed}")
    check_declarations(params, path.name)
    return params


def _combinations(converted: list[list[Any]], mode: str) -> list[tuple[Any, ...]]:
    if mode == "grid":
        return list(itertools.product(*converted))
    n = max((len(v) for v in converted), default=1)
    return [tuple(v[i] if len(v) > 1 else v[0] for v in converted) for i in range(n)]


def _notebook_runs(path: Path, items, names, mode, owners: dict[str, Path]) -> list[RunSpec]:
    params = _read_parameters(path, names)
    converted = [
        [check_allowed(params[name], convert_value(params[name], text, path.name), path.name)
         for text in values]
        for name, values in items
    ]
    defaults = {n: p.default for n, p in params.items() if p.has_default}
    runs = []
    for combo in _combinations(converted, mode):
        given = dict(zip(names, combo, strict=True))
        rid = make_run_id(path.stem, {k: v for k, v in given.items()
                                      if _differs(params.get(k), v)})
        if rid in owners:
            why = (f"{owners[rid]} and {path} have the same name" if owners[rid] != path
                   else "the same parameter values are given twice")
            raise ParameterError(f"two runs would both write {rid}.ipynb: {why}")
        owners[rid] = path
        runs.append(RunSpec(notebook=path, parameters=given, run_id=rid,
                            effective=defaults | given))
    return runs


def plan_runs(
    notebooks: Iterable[str | os.PathLike[str]],
    parameters: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] = (),
    mode: Literal["grid", "zip"] = "grid",
) -> list[RunSpec]:
    """Validate parameter options against each notebook and list the runs, in order.

    ``parameters`` maps names to value strings as given on the command line (see
    :func:`~cnnkit.report.params.parse_parameter_option`). Each name must be a parameter of
    every notebook (``ParameterError`` otherwise, listing the notebook's parameters), each
    value must convert to the type of its default (``convert_value``) and be allowed by the
    declaration in the parameter's comment, if any (:mod:`cnnkit.report.allowed`; every
    declaration of the notebook must be readable). With several values, ``mode="grid"`` runs
    every combination (names in the order given) and ``"zip"`` pairs the i-th values (a name
    with a single value goes with all of them; other lengths must match). Two runs that would
    write the same files are an error. Nothing is executed.
    """
    items = list(parameters.items()) if isinstance(parameters, Mapping) else list(parameters)
    names = _check_options(items, mode)
    owners: dict[str, Path] = {}
    runs: list[RunSpec] = []
    for nb in notebooks:
        runs += _notebook_runs(Path(nb), items, names, mode, owners)
    return runs


def default_notebooks(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The course notebooks ``notebooks/[0-9][0-9]_*.ipynb`` under ``root``, sorted by name.

    Without ``root`` the current directory is used, or, when it has no ``notebooks/``
    folder, the repository that contains the installed ``cnnkit`` package. Raises
    ``FileNotFoundError`` naming the folder searched if no notebook is found.
    """
    if root is not None:
        base = Path(root)
    else:
        base = Path.cwd()
        if not (base / "notebooks").is_dir():
            base = Path(__file__).resolve().parents[2]
    folder = base / "notebooks"
    found = sorted(p for p in folder.glob(NOTEBOOK_PATTERN) if p.is_file())
    if not found:
        raise FileNotFoundError(f"no course notebooks ({NOTEBOOK_PATTERN}) found in {folder}")
    return found
