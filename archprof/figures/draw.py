"""Architecture diagrams: an analysed graph as Graphviz DOT text, rendered to SVG/PDF/PNG by
Graphviz's `dot` when it is installed.

Boxes are the graph's nodes grouped by the first `depth` levels of their names ('conv3_x',
'conv3_x.block2', ...), labelled with their output shape (and params/MACs on request); edges
follow the data, so branches show as branches; a lone add, mul or concat is drawn as a small
circle ('+', 'x', 'concat'). Repeats are folded:
- a box whose children are numbered repeats ('block1'..'blockN' from a spec's `repeat`, or
  '0'..'N-1' as torch names Sequential children) says 'x N';
- consecutive siblings with identical structure (same ops, shapes and wiring) become one box
  or cluster 'first .. last  x N', so a traced model folds without any repeat information.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from archprof.analysis import Analysis
from archprof.files import replacing
from archprof.ir.graph import INPUT, Node
from archprof.ir.ops import Add, Concat, Mul, dims
from archprof.units import human

FORMATS = ("dot", "svg", "pdf", "png")
NUMBERED = re.compile(r"^(.*?)(\d+)$")
FILL = {"conv": "#dbe8f6", "linear": "#fde3c8", "pool": "#e8e8e8", "merge": "#fff3b0"}
DENSE = {"lstm", "gru", "rnn"}      # layers of dense weights, drawn as linear ones are


class GraphvizMissing(RuntimeError):
    """`dot` is not installed; the DOT text can still be written."""


@dataclass
class _Folds:
    rep: dict[str, str] = field(default_factory=dict)       # node -> node that stands for it
    runs: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (last key, N)


def _key(name: str, level: int) -> str:
    return ".".join(name.split(".")[:level])


def _signature(nodes: Sequence[Node], key: str) -> tuple:
    """Structure of the nodes under `key`: ops with their numbers, shapes, and wiring by names
    relative to the key (inputs from outside it count as 'ext')."""
    inside = {n.name for n in nodes}
    cut = len(key) + 1
    return tuple((n.name[cut:], repr(n.op), tuple(n.ins), n.out,
                  tuple(i[cut:] if i in inside else "ext" for i in n.inputs)) for n in nodes)


def _groups(nodes: Sequence[Node], level: int) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {}
    for n in nodes:
        if len(n.name.split(".")) >= level:
            out.setdefault(_key(n.name, level), []).append(n)
    return out


def _fold(nodes: Sequence[Node], depth: int) -> _Folds:
    """Fold runs of identical consecutive numbered siblings, level by level down to `depth`."""
    folds = _Folds({n.name: n.name for n in nodes})
    for level in range(1, depth + 1):
        groups = _groups([n for n in nodes if folds.rep[n.name] == n.name], level)
        keys = list(groups)
        i = 0
        while i < len(keys):
            j = i
            while j + 1 < len(keys) and _next_sibling(keys[j], keys[j + 1]) and (
                    _signature(groups[keys[j + 1]], keys[j + 1])
                    == _signature(groups[keys[i]], keys[i])):
                j += 1
            if j > i:
                folds.runs[keys[i]] = (keys[j], j - i + 1)
                cut = len(keys[i])
                first = {n.name[cut:]: n.name for n in groups[keys[i]]}
                for k in keys[i + 1:j + 1]:
                    for n in groups[k]:
                        folds.rep[n.name] = first[n.name[len(k):]]
            i = j + 1
    return folds


def _next_sibling(a: str, b: str) -> bool:
    """'x.block2' then 'x.block3' (or 'x.0' then 'x.1')."""
    pa, _, la = a.rpartition(".")
    pb, _, lb = b.rpartition(".")
    ma, mb = NUMBERED.match(la), NUMBERED.match(lb)
    return (pa == pb and ma is not None and mb is not None and ma[1] == mb[1]
            and int(mb[2]) == int(ma[2]) + 1)


def _repeats(nodes: Sequence[Node], key: str, level: int) -> tuple[int, str]:
    """(N, the children's name stem) when the children of `key` are N numbered repeats:
    'block1'..'blockN' (a spec's `repeat` of a block), or any numbered children whose members
    after the first are structurally identical (the first may differ in stride or shortcut)."""
    children = _groups(nodes, level + 1)
    keys = [k for k in children if k.startswith(key + ".")]
    if len(keys) < 2 or any(not _next_sibling(a, b) for a, b in zip(keys, keys[1:])):
        return 0, ""
    first = NUMBERED.match(keys[0].rpartition(".")[2])
    if first is None or int(first[2]) not in (0, 1):
        return 0, ""
    if first[1] == "block":
        return len(keys), "block"
    sigs = {_signature(children[k], k) for k in keys[1:]}
    if len(sigs) == 1 and (len(keys) > 2 or _signature(children[keys[0]], keys[0]) in sigs):
        return len(keys), first[1]
    return 0, ""


def _kind(group: Sequence[Node]) -> str:
    if len(group) == 1:
        return group[0].op.describe(group[0].ins)
    kinds = list(dict.fromkeys(n.op.kind for n in group))
    return "+".join(kinds) if len(kinds) <= 3 and len(group) <= 3 else f"{len(group)} ops"


def _fill(group: Sequence[Node]) -> str:
    kinds = {n.op.kind for n in group}
    for word in ("conv", "linear"):
        if any(word in k for k in kinds) or (word == "linear" and kinds & DENSE):
            return FILL[word]
    return FILL["pool"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(a: Analysis, depth: int = 1, params: bool = False, macs: bool = False) -> str:
    """The diagram as DOT text (no dependency)."""
    nodes = a.graph.nodes
    folds = _fold(nodes, depth)
    shown = [n for n in nodes if folds.rep[n.name] == n.name]
    layers = a.layers.set_index("name")
    boxes: dict[str, list[Node]] = {}
    for n in shown:
        boxes.setdefault(_key(n.name, depth), []).append(n)
    ids = {key: f"n{i}" for i, key in enumerate(boxes)}
    box_of = {n.name: _key(n.name, depth) for n in nodes}
    lines = [f"digraph {_quote(a.spec.name)} {{",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=10, nodesep=0.3, ranksep=0.3,'
             ' labeljust=l];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9,'
             ' fillcolor="#eeeeee", color="#666666"];',
             '  edge [color="#555555", arrowsize=0.6];',
             f'  input [label={_quote("input " + dims(a.graph.input))}, shape=oval];']
    clusters: dict[str, list[str]] = {}           # parent key -> its boxes (every ancestor listed)
    for key in boxes:
        parts = key.split(".")
        for level in range(len(parts)):
            clusters.setdefault(".".join(parts[:level]), [])
        clusters[key.rpartition(".")[0]].append(key)
    lines += _cluster_lines("", clusters, boxes, ids, folds, layers, depth, params, macs, nodes)
    edges = []
    for n in shown:
        for src in n.inputs:
            tail = "input" if src == INPUT else ids[box_of[folds.rep[src]]]
            head = ids[box_of[n.name]]
            if tail != head and (tail, head) not in edges:
                edges.append((tail, head))
    lines += [f"  {t} -> {h};" for t, h in edges] + ["}"]
    return "\n".join(lines) + "\n"


def _cluster_lines(parent: str, clusters: dict[str, list[str]], boxes: dict[str, list[Node]],
                   ids: dict[str, str], folds: _Folds, layers: object, depth: int,
                   params: bool, macs: bool, nodes: Sequence[Node]) -> list[str]:
    """The boxes whose key's parent is `parent`, then nested clusters for deeper parents."""
    out = []
    for key in clusters.get(parent, []):
        out.append(f"  {ids[key]} {_box(key, boxes[key], folds, layers, depth, params, macs, nodes)};")
    order = list(ids)
    children = sorted((p for p in clusters if p and p.rpartition(".")[0] == parent),
                      key=lambda p: min(order.index(k) for k in _under(p, clusters)))
    for sub in children:
        label = _title(sub, folds, nodes, sub.count(".") + 1)
        body = _cluster_lines(sub, clusters, boxes, ids, folds, layers, depth, params, macs, nodes)
        out += [f"  subgraph {_quote('cluster_' + sub)} {{",
                f'  label={_quote(label)}; style="rounded,dashed"; color="#999999";',
                *body, "  }"]
    return out


def _under(prefix: str, clusters: dict[str, list[str]]) -> list[str]:
    return [k for p, keys in clusters.items() if p == prefix or p.startswith(prefix + ".")
            for k in keys]


def _title(key: str, folds: _Folds, nodes: Sequence[Node], level: int) -> str:
    """The key's last name (its parents label the clusters around it): 'block2 .. block4  x3'
    for a folded run, 'conv3_x  (block x4)' for a repeat."""
    leaf = key.rpartition(".")[2]
    if key in folds.runs:
        last, n = folds.runs[key]
        return f"{leaf} .. {last.rpartition('.')[2]}  x{n}"
    n, unit = _repeats(nodes, key, level)
    return f"{leaf}  ({unit or 'block'} x{n})" if n else leaf


def _box(key: str, group: Sequence[Node], folds: _Folds, layers: object, depth: int,
         params: bool, macs: bool, nodes: Sequence[Node]) -> str:
    # A folded run's totals are those of all its members.
    total_nodes = [m for m in nodes if _key(m.name, depth) in _run_keys(key, folds)]
    out = dims(group[-1].out)
    single = len(group) == 1 and isinstance(group[0].op, (Add, Mul, Concat))
    if single:
        signs: dict[type, str] = {Add: "+", Mul: "x", Concat: "concat"}
        sign = signs.get(type(group[0].op), "")
        return (f"[label={_quote(sign + chr(10) + out)}, shape=ellipse, "
                f'fillcolor="{FILL["merge"]}", fontsize=8]')
    text = [_title(key, folds, nodes, depth), _kind(group), out]
    if params or macs:
        sums = layers.loc[[m.name for m in total_nodes]]           # type: ignore[attr-defined]
        extra = []
        if params:
            extra.append(f"params {human(float(sums['params'].sum()))}")
        if macs:
            extra.append(f"MACs {human(float(sums['macs'].sum()))}")
        text.append(", ".join(extra) + (" (all)" if key in folds.runs else ""))
    return f'[label={_quote(chr(10).join(text))}, fillcolor="{_fill(group)}"]'


def _run_keys(key: str, folds: _Folds) -> set[str]:
    """The keys a box stands for: itself, and the rest of its folded run."""
    if key not in folds.runs:
        return {key}
    n = folds.runs[key][1]
    parent, _, leaf = key.rpartition(".")
    m = NUMBERED.match(leaf)
    assert m is not None
    prefix = (parent + ".") if parent else ""
    return {f"{prefix}{m[1]}{int(m[2]) + k}" for k in range(n)}


def render(dot: str, path: Path) -> Path:
    """Write DOT text, or what Graphviz renders from it, by the file's suffix (atomically:
    archprof.files)."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: the diagram's format is the file suffix, one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    if fmt == "dot":
        with replacing(path) as f:
            f.write(dot)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(f"{path}: drawing .{fmt} needs Graphviz's 'dot' (Debian: apt-get "
                              "install graphviz); -o NAME.dot writes the DOT text without it")
    drawn = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), check=True,
                           capture_output=True).stdout
    with replacing(path, binary=True) as f:
        f.write(drawn)
    return path
