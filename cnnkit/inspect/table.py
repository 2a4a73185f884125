"""Rows, totals and their renderings (fixed-width text, HTML) for ``cnnkit.inspect``."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Row", "Totals", "Trace", "format_shape", "format_count", "format_axes",
           "format_jump", "TRACE_COLUMNS", "LAYER_COLUMNS"]

SELECTED_ROW = "<tr class='cnnkit-selected' style='background:#ffe9b3;font-weight:bold'>"


def format_shape(shape) -> str:
    """(1, 6, 28, 28) -> "[1, 6, 28, 28]"; None -> "-"."""
    return "-" if shape is None else "[" + ", ".join(str(v) for v in shape) + "]"


def format_count(v) -> str:
    """1234567 -> "1,234,567"; None (unknown) -> "?"."""
    return "?" if v is None else f"{v:,}"


def format_axes(v) -> str:
    """A per-axis size: (5, 5) -> "5", (5, 7) -> "5x7", () -> "-", None (unknown) -> "?"."""
    if v is None:
        return "?"
    if not v:
        return "-"
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(a) for a in v)


@dataclass(frozen=True)
class Row:
    """One module call.

    name: qualified name (``"C3"``, ``"layer1.0.conv1"``); type: class name; depth: nesting
    (1 for the model's children); call: 1 for a module's first call, 2 for its second...;
    leaf: no child modules; layer: a unit of computation whose counts enter the totals (a module
    with a counting rule, a leaf, or one with parameters of its own, not inside another layer);
    in_layer: a part of such a layer (e.g. the activation module inside a ``Subsampling``).
    input_shapes: the shape of each tensor argument; output_shape: the (first) output tensor's.
    weight_shape: the shape of the module's ``weight`` parameter, or None.
    trainable, fixed: parameter counts of the module and its children (first call only).
    connections, macs: per sample (None when unknown); for a container, its children's sum.
    rf, jump: receptive field and jump of the output along each spatial axis (None: unknown;
    ``()`` for rf: the input has no spatial axes; None for jump: no longer a spatial map).
    """

    name: str
    type: str
    depth: int
    call: int
    leaf: bool
    layer: bool
    in_layer: bool
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] | None
    weight_shape: tuple[int, ...] | None
    trainable: int
    fixed: int
    connections: int | None
    macs: int | None
    rf: tuple[int, ...] | None
    jump: tuple[int, ...] | None

    def cells(self, columns) -> list[str]:
        """The row's text in each of ``columns`` (``TRACE_COLUMNS`` or ``LAYER_COLUMNS``)."""
        return [c[1](self) for c in columns]

    def to_html(self, columns, highlight: bool = False) -> str:
        """The row as one HTML ``<tr>`` in ``columns``; ``highlight``: marked as selected
        (class ``cnnkit-selected``)."""
        return _tr(self.cells(columns), [c[3] for c in columns], "td",
                   SELECTED_ROW if highlight else "<tr>")


@dataclass(frozen=True)
class Totals:
    """Whole-model counts. trainable, fixed: every parameter (and fixed buffer) of the model
    once, used by the traced forward or not; connections, macs: summed over the counted
    module calls (None if one of them is unknown). unused_trainable, unused_fixed: the part of
    trainable and fixed that the traced forward never read (e.g. an auxiliary head that runs
    only in training); unused: the modules holding them (qualified names)."""

    trainable: int
    fixed: int
    connections: int | None
    macs: int | None
    unused_trainable: int = 0
    unused_fixed: int = 0
    unused: tuple[str, ...] = ()

    def unused_note(self) -> str:
        """One line on the parameters the forward did not use, or "" if it used them all."""
        if not (self.unused_trainable or self.unused_fixed):
            return ""
        where = ", ".join(self.unused) if self.unused else "several modules"
        return (f"not used by this forward (counted in the total): {self.unused_trainable:,} "
                f"trainable, {self.unused_fixed:,} fixed, in {where}")


def format_jump(row: Row) -> str:
    """A row's jump: as ``format_axes``, "-" once the map is flattened, "?" when unknown."""
    if row.rf is None:
        return "?"
    return "-" if row.jump is None else format_axes(row.jump)


def _name(row: Row) -> str:
    return (row.name or "(model)") + (f"#{row.call}" if row.call > 1 else "")


# (header, value of a row, value of the totals or "", right-aligned)
TRACE_COLUMNS = (
    ("module", _name, "total", False),
    ("type", lambda r: r.type, "", False),
    ("input", lambda r: ", ".join(format_shape(s) for s in r.input_shapes), "", False),
    ("output", lambda r: format_shape(r.output_shape), "", False),
    ("weight", lambda r: format_shape(r.weight_shape) if r.weight_shape else "", "", False),
    ("params", lambda r: format_count(r.trainable), lambda t: format_count(t.trainable), True),
    ("MACs", lambda r: format_count(r.macs), lambda t: format_count(t.macs), True),
    ("rf", lambda r: format_axes(r.rf), "", True),
    ("jump", format_jump, "", True),
)
LAYER_COLUMNS = (
    ("layer", _name, "total", False),
    ("type", lambda r: r.type, "", False),
    ("output", lambda r: format_shape(r.output_shape), "", False),
    ("trainable", lambda r: format_count(r.trainable), lambda t: format_count(t.trainable), True),
    ("fixed", lambda r: format_count(r.fixed), lambda t: format_count(t.fixed), True),
    ("connections", lambda r: format_count(r.connections), lambda t: format_count(t.connections),
     True),
    ("MACs", lambda r: format_count(r.macs), lambda t: format_count(t.macs), True),
)


def _tr(cells, right, tag: str = "td", open_tag: str = "<tr>") -> str:
    return open_tag + "".join(
        f"<{tag} style='text-align:{'right' if r else 'left'}'>{html.escape(c)}</{tag}>"
        for c, r in zip(cells, right, strict=True)) + "</tr>"


class Trace(Sequence):
    """The rows of a trace or layer table, their totals, and text / HTML renderings.

    A sequence of ``Row``: ``t[0]``, ``t["C3"]`` (the first call of a module by name),
    ``len(t)``, iteration. ``t.totals`` (``Totals``), ``t.input_size``, ``t.device`` (where it
    was traced), ``t.model_name``. ``str(t)`` / ``print(t)``: a fixed-width text table, the
    same on every machine (what the notebooks' checked cells compare); ``to_html()``;
    ``as_dicts()`` for pandas.
    """

    def __init__(self, rows, totals: Totals, model_name: str, input_size, device: str,
                 columns=TRACE_COLUMNS):
        self.rows, self.totals, self.model_name = list(rows), totals, model_name
        self.input_size, self.device, self.columns = tuple(input_size), device, columns

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.rows[self.index(key)]
        return self.rows[key]

    def index(self, name: str) -> int:
        """The position of the first row named ``name`` (KeyError if there is none)."""
        for i, row in enumerate(self.rows):
            if row.name == name:
                return i
        raise KeyError(f"no row named {name!r}; rows: {[r.name for r in self.rows]}")

    def names(self) -> list[str]:
        """The rows' names, in call order."""
        return [r.name for r in self.rows]

    def as_dicts(self) -> list[dict]:
        """The rows as dicts (e.g. ``pandas.DataFrame(t.as_dicts())``)."""
        return [asdict(r) for r in self.rows]

    def _totals_cells(self) -> list[str]:
        return [c[2](self.totals) if callable(c[2]) else c[2] for c in self.columns]

    def title(self) -> str:
        return f"{self.model_name}, input {format_shape(self.input_size)} (counts per sample)"

    def to_text(self) -> str:
        """The fixed-width text table: title, header, one line per row, totals (and a line on
        the parameters the forward did not use, if any)."""
        header = [c[0] for c in self.columns]
        body = [r.cells(self.columns) for r in self.rows]
        totals = self._totals_cells()
        top = min((x.depth for x in self.rows), default=1)
        body = [[" " * 2 * max(0, r.depth - top) + cells[0], *cells[1:]]
                for r, cells in zip(self.rows, body, strict=True)]
        widths = [max(len(line[i]) for line in [header, totals, *body])
                  for i in range(len(header))]
        right = [c[3] for c in self.columns]

        def line(cells):
            return "  ".join(cell.rjust(w) if r else cell.ljust(w)
                             for cell, w, r in zip(cells, widths, right, strict=True)).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        note = self.totals.unused_note()
        return "\n".join([self.title(), line(header), rule, *map(line, body), rule, line(totals),
                          *([note] if note else [])])

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def to_html(self, highlight: int | str | None = None) -> str:
        """The table as HTML (``<table class='cnnkit-trace'>``); ``highlight``: the position or
        name of a row to mark as selected (class ``cnnkit-selected``), None for none."""
        if isinstance(highlight, bool) or not (highlight is None
                                                or isinstance(highlight, (int, str))):
            raise TypeError(f"highlight must be a row position, a row name or None; got "
                            f"{highlight!r}")
        if isinstance(highlight, str):
            highlight = self.index(highlight)
        elif highlight is not None and not -len(self.rows) <= highlight < len(self.rows):
            raise IndexError(f"highlight: no row {highlight} in a table of {len(self.rows)}")
        if highlight is not None:
            highlight %= len(self.rows)
        right = [c[3] for c in self.columns]
        body = "".join(r.to_html(self.columns, highlight=i == highlight)
                       for i, r in enumerate(self.rows))
        note = self.totals.unused_note()
        foot = _tr(self._totals_cells(), right, "th")
        if note:
            foot += (f"<tr><td colspan='{len(self.columns)}' style='text-align:left'>"
                     f"{html.escape(note)}</td></tr>")
        return ("<table class='cnnkit-trace'>"
                f"<caption style='text-align:left'>{html.escape(self.title())}</caption>"
                f"<thead>{_tr([c[0] for c in self.columns], right, 'th')}</thead>"
                f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table>")

    def _repr_html_(self) -> str:
        return self.to_html()
