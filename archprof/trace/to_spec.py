"""Graph -> spec YAML, for `archprof import`: a spec whose expansion is the same graph, op for
op (same op fields, shapes and wiring, in the same order), that reads like a hand-written one.

Names. A node's dotted name (a module path such as `layer3.1.conv2`) is split at the dots: each
prefix is a scope, written as a block used by a row of its parent, so the names the spec expands
to are the module paths, with each segment made a spec word:
- a number `k` (an nn.Sequential index) becomes `block{k+1}` for a scope and `{op}{k+1}` for a
  single op (`layer3.1.conv2` -> `layer3.block2.conv2`, `features.0` -> `features.conv1`): the
  names a spec's `repeat` gives;
- other characters than letters, digits and `_` become `_` (and `_` goes before a leading digit);
- a name taken twice in a scope (a module called twice) gets `_2`, `_3`, ...
A scope whose result is read at several places outside it (a block has one output) is spliced
into its parent, its children named `scope_child`.

Blocks. A scope whose children are consecutive blocks that differ at most in their first one
(the first block of a ResNet stage strides and projects) is written once as `{block: B, repeat:
n}` with `let: {first: "i == 0"}`: a field that differs becomes `"a if first else b"`, a row
only the first block has gets `if: first`, one the others have `if: not first`. A scope made
by a spec's conv/linear sugar (`conv`, `bn`, activation) is written back as one row with
`bn: true, act: ...`. Blocks equal up to integer constants (a network's stages, wider one
after the other) are one definition whose differing constants are `args:`, given by each row
using it (`{block: layer, conv1_out: 128, conv3_out: 512, repeat: 4}`), and named by what
their scopes share (`layer2`, `layer3` -> `layer`).

Op fields are written generically from the op's spec fields (`spec_field` in archprof.ir.ops),
each in the shortest form its parser reads back to the same value, defaults left out. The
written text is expanded again and compared with the graph node by node before it is returned;
if it differs, it is written again without args, then without repeats.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from dataclasses import fields as dc_fields
from difflib import SequenceMatcher
from typing import Any

import yaml

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Graph, Node, counts, mark_inplace
from archprof.ir.ops import OPS, Activation, Op, Uncounted, dims
from archprof.spec import fields
from archprof.spec.expand import NAME, SUGAR_OPS, _Expander, expand, op_from_row
from archprof.spec.load import _parse

RESERVED = {"in", "input"}     # refs every scope has
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(eq=False)
class Tree:
    """A scope (node is None) or one op of the graph, in execution order."""
    raw: str
    node: Node | None = None
    children: list[Tree] = field(default_factory=list)
    word: str = ""


class Row(dict):
    """A spec row; `full` holds every field of its op (defaults too), to merge rows that
    differ only in a value."""
    full: dict[str, Any]


def to_spec(graph: Graph, *, name: str | None = None, note: str = "",
            repeat: bool = True) -> str:
    """YAML text of a one-network spec named `name` (default: the graph's) that expands to
    `graph`, with `note` as its first comment line; SpecError when some node cannot be written
    (an op without a spec form) or the text would not reproduce the graph."""
    shared = [n.name for n in graph.nodes if n.counts()[:3] != counts(n.op, n.ins, n.out)[:3]]
    if shared:
        raise SpecError(f"{', '.join(shared[:3])}{' ...' if len(shared) > 3 else ''} read "
                        "parameters an earlier op counted (a module called again, a tied "
                        "weight) or a weight made from other parameters (a low-rank product); "
                        "a spec row counts its rule's parameters, so it would count others: "
                        "analyse the module itself instead")
    # merged blocks are the only guesses: without args, then without repeat, if they fail
    tries = [(True, True), (True, False), (False, False)] if repeat else [(False, False)]
    for repeated, generalised in tries:
        text = _Writer(graph, repeated, generalised).write(name, note)
        try:
            mismatch = _compare(graph, text)
        except SpecError as err:
            mismatch = str(err)
        if not mismatch:
            return text
    raise SpecError(f"the written spec does not reproduce the graph: {mismatch}")


# --- scopes -----------------------------------------------------------------------------------
def _tree(graph: Graph) -> Tree:
    root = Tree("")
    for node in graph.nodes:
        *scopes, leaf = node.name.split(".")
        at = root
        for part in scopes:      # a scope met again after others ran opens a new one
            last = at.children[-1] if at.children else None
            if last is None or last.node is not None or last.raw != part:
                last = Tree(part)
                at.children.append(last)
            at = last
        at.children.append(Tree(leaf, node))
    return root


def _word(tree: Tree) -> str:
    if tree.raw.isdigit():
        kind = "block" if tree.node is None else tree.node.op.kind
        return f"{kind}{int(tree.raw) + 1}"
    word = re.sub(r"\W", "_", tree.raw) or "_"
    word = word if NAME.match(word) else "_" + word
    return word + "_" if word in RESERVED else word


class _Writer:
    def __init__(self, graph: Graph, repeat: bool, generalise: bool) -> None:
        self.graph, self.repeat, self.generalise = graph, repeat, generalise
        self.order = {n.name: t for t, n in enumerate(graph.nodes)}
        self.readers: dict[str, list[str]] = {}
        for node in graph.nodes:
            for name in node.inputs:
                self.readers.setdefault(name, []).append(node.name)
        self.final = set(graph.outputs)
        self.inplace = _given_inplace(graph)
        self.blocks: dict[str, dict[str, Any]] = {}
        self.families: list[_Family] = []
        self._leaves: dict[int, set[str]] = {}

    # --- what flows in and out of a scope -------------------------------------------------------
    def leaves(self, tree: Tree) -> set[str]:
        if id(tree) not in self._leaves:
            self._leaves[id(tree)] = ({tree.node.name} if tree.node else
                                      set().union(*(self.leaves(c) for c in tree.children)))
        return self._leaves[id(tree)]

    def ins(self, tree: Tree) -> list[str]:
        """Tensors made outside the scope that it reads, in order of first reading."""
        inside = self.leaves(tree)
        nodes = sorted(inside, key=self.order.__getitem__)
        reads = [i for n in nodes for i in self.graph.node(n).inputs if i not in inside]
        return list(dict.fromkeys(reads))

    def outs(self, tree: Tree) -> list[str]:
        """Tensors made inside the scope that are read outside it or are network outputs."""
        inside = self.leaves(tree)
        return sorted((n for n in inside if n in self.final
                       or any(r not in inside for r in self.readers.get(n, []))),
                      key=self.order.__getitem__)

    def normalise(self, tree: Tree) -> None:
        """Splice scopes with several results into their parent; name every child."""
        children: list[Tree] = []
        for child in tree.children:
            if child.node is None:
                self.normalise(child)
                if len(self.outs(child)) > 1:
                    for grandchild in child.children:
                        grandchild.raw = f"{child.raw}_{grandchild.raw}"
                        children.append(grandchild)
                    continue
            children.append(child)
        tree.children = children
        taken: set[str] = set()
        for child in children:
            word, n = _word(child), 2
            while word in taken:
                word, n = f"{_word(child)}_{n}", n + 1
            child.word = word
            taken.add(word)

    # --- rows ---------------------------------------------------------------------------------
    def write(self, name: str | None, note: str) -> str:
        root = _tree(self.graph)
        self.normalise(root)
        layers, _ = self.body(root, [INPUT], "")
        for group in self.families:
            group.rename(self.blocks)
        spec = self.graph.spec
        name = _word(Tree(name or str(getattr(spec, "name", "") or "net")))
        family = getattr(spec, "family" if getattr(spec, "file", "") else "title", "")
        lines = [f"# {note}" if note else "# written by archprof import",
                 f"family: {_flow(family or name)}"]
        if self.blocks:
            lines.append("blocks:")
            for block, definition in self.blocks.items():
                lines.append(f"  {block}:")
                for key, value in definition.items():
                    if key == "layers":
                        lines.append("    layers:")
                        lines += [f"      - {_flow(row)}" for row in value]
                    else:
                        lines.append(f"    {key}: {_flow(value)}")
        lines += ["networks:", f"  {name}:",
                  f"    title: {_flow(str(getattr(spec, 'title', '') or name))}",
                  f"    input: {_flow(list(self.graph.input))}"]
        if self.graph.constant_work:    # a spec has no rows for it: said in its notes
            work = ", ".join(f"{op} x{n}" for op, n in self.graph.constant_work.items())
            lines.append("    notes: " + _flow(f"the traced forward also ran {work} on "
                                             "parameters alone, not counted here"))
        lines.append("    layers:")
        lines += [f"      - {_flow(row)}" for row in layers]
        return "\n".join(lines) + "\n"

    def body(self, tree: Tree, ins: list[str], path: str) -> tuple[list[Row], dict[str, Any]]:
        """The rows of a scope reading `ins` (the first is `in`), and its block keys."""
        refs = {t: "in" if k == 0 else f"in{k + 1}" for k, t in enumerate(ins)}
        last, rows = ins[0], list[Row]()
        for child in tree.children:
            sources = child.node.inputs if child.node else self.ins(child)
            row = self.row(child, f"{path}{child.word}", {r["name"] for r in rows})
            multi = child.node is not None and type(child.node.op).multi_input
            words = [refs[t] for t in sources]
            if multi:
                row[next(iter(row))] = words
            elif sources != [last]:
                row["from"] = words[0] if len(words) == 1 else words
            row["name"] = child.word
            rows.append(row)
            last = child.node.name if child.node else self.outs(child)[0]
            refs[last] = child.word
        keys: dict[str, Any] = {}
        if len(ins) > 1:
            keys["inputs"] = list(refs[t] for t in ins)
        outs = self.outs(tree) if tree.raw else []
        if outs and outs[0] != last:
            keys["out"] = refs[outs[0]]
        return rows, keys

    def row(self, tree: Tree, path: str, before: set[str]) -> Row:
        """The row of a child; `before`: the names of the rows before it in its scope."""
        if tree.node is not None:
            row = op_row(tree.node)
            if tree.node.name in self.inplace:
                row["inplace"] = row.full["inplace"] = self.inplace[tree.node.name]
            return row
        sugar = self.sugar(tree)
        if sugar is not None:
            return sugar
        # a repeat's scope sees the names before it: its block1..n must not be among them
        if self.repeat and not before & {f"block{k + 1}" for k in range(len(tree.children))}:
            repeated = self.repeated(tree, path)
            if repeated is not None:
                return repeated
        rows, keys = self.body(tree, self.ins(tree), path + ".")
        return self.use(path, rows, keys)

    def use(self, path: str, rows: list[Row], keys: dict[str, Any]) -> Row:
        """A row using the block made of `rows`: one definition per distinct body, or (when
        generalising) per body up to its integer constants, which become the block's args."""
        definition: dict[str, Any] = {k: keys[k] for k in ("let", "inputs") if k in keys}
        # the rows themselves (block rows among them get args later), lists copied (args
        # replace their items)
        definition["layers"] = [_own_lists(r) for r in rows]
        if "out" in keys:
            definition["out"] = keys["out"]
        for family in self.families:
            given = family.take(definition, self.generalise)
            if given is not None:
                return family.use(given)
        base = re.sub(r"\W", "_", path).strip("_") or "block"
        name, n = base, 2
        while name in self.blocks or name in OPS:
            name, n = f"{base}_{n}", n + 1
        self.blocks[name] = definition
        family = _Family(name, definition)
        self.families.append(family)
        return family.use({})

    def sugar(self, tree: Tree) -> Row | None:
        """`{conv: ..., bn: true, act: relu}` for a scope of conv/linear [+ bn] [+ activation]
        named as that sugar names them, each reading the one before."""
        ops = [c.node for c in tree.children if c.node is not None]
        if not ops or len(ops) != len(tree.children) or ops[0].op.kind not in SUGAR_OPS:
            return None
        if any(n.name in self.inplace for n in ops):
            return None
        first, *rest = ops
        kinds = [first.op.kind] + (["bn"] if rest and rest[0].op.kind == "bn" else [])
        if len(rest) > len(kinds) - 1:
            act = rest[len(kinds) - 1]
            kinds.append(act.op.kind)
            if not isinstance(act.op, Activation) or act.op != type(act.op)():
                return None
        if len(kinds) != len(ops) or [c.raw for c in tree.children] != kinds:
            return None
        if any(b.inputs != [a.name] for a, b in zip(ops, ops[1:])):
            return None
        if "bn" in kinds and ops[1].op != OPS["bn"]():
            return None
        row = op_row(first)
        if "bn" in kinds:
            row.pop("bias", None)
            if getattr(first.op, "bias", False):
                row["bias"] = True
            row["bn"] = True
        if len(kinds) > 1 and kinds[-1] != "bn":
            row["act"] = kinds[-1]
        row.full = {**row.full, **{k: row[k] for k in ("bn", "act", "bias") if k in row}}
        return row

    def repeated(self, tree: Tree, path: str) -> Row | None:
        """`{block: B, repeat: n}` when the scope's children are blocks, each reading the one
        before, that differ at most in the first."""
        kids = tree.children
        if len(kids) < 2 or any(k.node is not None for k in kids):
            return None
        if len(self.ins(kids[0])) != 1 or any(
                self.ins(b) != self.outs(a)[:1] for a, b in zip(kids, kids[1:])):
            return None
        bodies = [self.body(k, self.ins(k), f"{path}.{k.word}.") for k in kids]
        if any(_plain(b) != _plain(bodies[1]) for b in bodies[2:]) or bodies[0][1] != bodies[1][1]:
            return None
        rows = _merge(bodies[0][0], bodies[1][0])
        if rows is None:
            return None
        uses_first = any("if" in r or "if first else" in str(list(r.values())) for r in rows)
        let = {"let": {"first": "i == 0"}} if uses_first else {}
        row = self.use(path, rows, {**let, **bodies[0][1]})
        row["repeat"] = len(kids)
        return row


# --- blocks that differ in integer constants: one definition with args ------------------------
NOT_ARGS = {"name", "from", "block", "if", "inplace", "bn", "act"}
RESERVED_ARGS = {"i", "first", "cin", "din", "hin", "win", "fin", "in"}


def _own_lists(row: Row) -> Row:
    for key, value in row.items():
        if isinstance(value, list):
            row[key] = list(value)
    return row


@dataclass
class _Slot:
    """Where an integer (or an arg standing for one) sits in a block definition's rows."""
    row: dict[str, Any]
    key: str
    item: int | None        # its index when the field is a list
    value: Any

    def set(self, value: Any) -> None:
        if self.item is None:
            self.row[self.key] = value
        else:
            self.row[self.key][self.item] = value

    def label(self) -> str:
        """'conv1_out', 'conv1_s', 'conv1_k2' (the second item of a list)."""
        head = next(iter(self.row))
        cls = OPS.get(head)
        key = (cls.head or head) if cls is not None and self.key == head else self.key
        item = "" if self.item is None else str(self.item + 1)
        return f"{self.row.get('name', head)}_{key}{item}"


def _slots(definition: dict[str, Any], args: list[str]) -> tuple[str, list[_Slot]]:
    """The definition's text with each integer (and each arg) as '#', and those slots."""
    slots: list[_Slot] = []

    def constant(value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value in args)

    def walk(row: dict[str, Any], key: str) -> Any:
        value = row[key]
        if key in NOT_ARGS:
            return value
        if isinstance(value, list):
            out = []
            for n, item in enumerate(value):
                if constant(item):
                    slots.append(_Slot(row, key, n, item))
                out.append("#" if constant(item) else item)
            return out
        if constant(value):
            slots.append(_Slot(row, key, None, value))
            return "#"
        return value

    layers = [{key: walk(row, key) for key in row} for row in definition["layers"]]
    rest = {k: v for k, v in definition.items() if k not in ("layers", "args")}
    return repr((rest, layers)), slots


@dataclass
class _Family:
    """A block definition and the rows using it. Bodies equal to it up to integer constants
    (widths, strides: a network's stages) use it too, each differing constant made an arg
    whose value each using row gives (constants that differ alike share one arg)."""
    name: str
    definition: dict[str, Any]
    args: list[str] = field(default_factory=list)
    uses: list[Row] = field(default_factory=list)

    def take(self, definition: dict[str, Any], generalise: bool) -> dict[str, int] | None:
        """The args a use of `definition` gives, or None when it is not this block."""
        text, slots = _slots(definition, [])
        mine, own = _slots(self.definition, self.args)
        if text != mine:
            return None
        given: dict[str, int] = {}
        new: dict[tuple[Any, Any], list[_Slot]] = {}
        for slot, other in zip(own, slots):
            if slot.value in self.args:
                if given.setdefault(slot.value, other.value) != other.value:
                    return None          # an arg with two values in this body
            elif slot.value != other.value:
                new.setdefault((slot.value, other.value), []).append(slot)
        if new and not generalise:
            return None
        for (old, value), where in new.items():
            taken = set(self.args) | set(self.definition.get("let") or {}) | RESERVED_ARGS
            base = name = where[0].label()
            n = 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            self.args.append(name)
            for slot in where:
                slot.set(name)
            for row in self.uses:
                row[name] = old
                _args_first(row, self.args)
            given[name] = value
        if new:
            items = {k: v for k, v in self.definition.items() if k != "args"}
            self.definition.clear()
            self.definition.update({"args": dict.fromkeys(self.args), **items})
        return given

    def use(self, given: dict[str, int]) -> Row:
        row = Row(block=self.name, **given)
        _args_first(row, self.args)
        row.full = dict(row)
        self.uses.append(row)
        return row

    def rename(self, blocks: dict[str, dict[str, Any]]) -> None:
        """A block standing for several scopes is named by what they share: `layer2`,
        `layer3` -> `layer`."""
        base = re.sub(r"\d+", "", self.name).strip("_")
        if not self.args or not base or base in blocks or base in OPS:
            return
        blocks[base] = blocks.pop(self.name)
        for row in self.uses:
            row["block"] = base
        self.name = base


def _args_first(row: Row, args: list[str]) -> None:
    """Order a block row as one reads it: the block, its args, then the rest."""
    items = dict(row)
    row.clear()
    row.update({"block": items.pop("block"), **{a: items.pop(a) for a in args if a in items},
                **items})


def _given_inplace(graph: Graph) -> dict[str, bool]:
    """The nodes whose memory sharing (as traced) differs from what a spec's rule gives them:
    their rows write `inplace:`. Each flag written can change the rule's answer further on,
    so this repeats until the rule with the written flags gives every node its own."""
    given: dict[str, bool] = {}
    while True:
        copy = Graph(graph.spec, graph.input, graph.params)
        for node in graph.nodes:
            copy.add(replace(node, inplace=False))
        mark_inplace(copy, given)
        wrong = {a.name: a.inplace for a, b in zip(graph.nodes, copy.nodes)
                 if a.inplace != b.inplace}
        if not wrong:
            return given
        given.update(wrong)


def _plain(body: tuple[list[Row], dict[str, Any]]) -> tuple[list[dict], dict[str, Any]]:
    return [dict(r) for r in body[0]], body[1]


# --- op rows ------------------------------------------------------------------------------------
def _evaluate(value: Any) -> Any:
    return _Expander.value(value, {})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return tuple(a) == tuple(b)
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _spec_value(value: Any, parse: fields.Parser, where: str) -> Any:
    """The field's value as YAML that its parser reads back as the same value."""
    candidate = list(value) if isinstance(value, tuple) else value
    try:
        if _same(parse(candidate, _evaluate), value):
            return candidate
    except SpecError:
        pass
    raise SpecError(f"{where}: value {value!r} has no spec form")


def _shorter(value: Any) -> list[Any]:
    """Shorter spellings to try: one number for equal items, [h, w] for equal pads."""
    if not isinstance(value, list) or not value:
        return []
    out: list[Any] = [value[0]] if len(set(map(repr, value))) == 1 else []
    if len(value) % 2 == 0 and value[::2] == value[1::2]:
        out.append(value[::2])
    return out


def _norm(value: Any) -> Any:
    """One spelling per value: (before, after) pairs that agree -> one per dimension, items
    that agree -> one number; lists as tuples."""
    if isinstance(value, (list, tuple)):
        value = tuple(value)
        if len(value) % 2 == 0 and value and value[::2] == value[1::2]:
            value = value[::2]
        if value and len(set(value)) == 1:
            return value[0]
    return value


EXACT = {"shape", "integers", "pads"}   # lists whose items are not one value per dimension


def equivalent(a: Op | None, b: Op) -> bool:
    """The same op, spelled alike or not: a kernel written `3` and one traced as (3, 3) (but
    a reshape to [64] is not one to [64, 64, 64])."""
    if a is None or type(a) is not type(b):
        return False
    return all(_exact(getattr(a, f.name)) == _exact(getattr(b, f.name))
               if f.metadata.get("spec") in EXACT
               else _norm(getattr(a, f.name)) == _norm(getattr(b, f.name)) for f in dc_fields(a))


def _exact(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def op_row(node: Node) -> Row:
    """The spec row of one op: its key with the head value, then every other spec field that
    the op needs, each in its shortest spelling that gives the same op."""
    op, cls = node.op, type(node.op)
    if OPS.get(cls.kind) is not cls:
        what = (f"{op.aten}, which no rule counts{f' ({op.why})' if op.why else ''},"
                if isinstance(op, Uncounted) else repr(cls.kind))
        raise SpecError(f"node '{node.name}': op {what} cannot be written in a spec")
    full: dict[str, Any] = {cls.kind: None}
    for f, key, parse in fields.spec_fields(cls):
        value = getattr(op, f.name)      # None: unset (a row leaves the field out)
        full[key] = None if value is None else _spec_value(value, parse,
                                                           f"node '{node.name}' field '{key}'")
    if not equivalent(_op(cls, full), op):
        raise SpecError(f"node '{node.name}': {op} has fields a spec cannot set")
    row = {k: v for k, v in full.items() if v is not None or k == cls.kind}
    for key in list(row):
        trials = ([] if key == cls.kind else [None]) + _shorter(row[key])
        for trial in trials:
            attempt = {k: v for k, v in row.items() if k != key or trial is not None}
            if trial is not None:
                attempt[key] = trial
            if equivalent(_op(cls, attempt), op):
                row = attempt if trial is not None else {k: v for k, v in row.items() if k != key}
                break
    out = Row({k: row[k] for k in full if k in row})
    out.full = full
    return out


def _op(cls: type[Op], row: dict[str, Any]) -> Op | None:
    try:
        return op_from_row(cls, row, _evaluate)
    except SpecError:
        return None


# --- merging the first block of a repeat with the others ----------------------------------------
FIXED = {"name", "from", "block", "repeat", "if", "bn", "act", "inplace"}


def _merge(first: list[Row], rest: list[Row]) -> list[Row] | None:
    """Rows for `i == 0` (first) and `i > 0` (rest) as one list, or None."""
    matcher = SequenceMatcher(a=[r["name"] for r in first], b=[r["name"] for r in rest],
                              autojunk=False)
    out: list[Row] = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(first[a1:a2], rest[b1:b2]):
                out += _merge_row(a, b)
        else:
            out += [_only(r, "first") for r in first[a1:a2]]
            out += [_only(r, "not first") for r in rest[b1:b2]]
    return out


def _only(row: Row, condition: str) -> Row:
    """The row (of a body merged away, so changed in place: a block row stays the one its
    block's args reach) for one condition."""
    row["if"] = condition
    return row


def _merge_row(a: Row, b: Row) -> list[Row]:
    if dict(a) == dict(b):
        return [a]
    head = next(iter(a))
    cls = OPS.get(head)
    if head != next(iter(b)) or cls is None or head == "block":
        return [_only(a, "first"), _only(b, "not first")]
    merged = Row()
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key, a.full.get(key)), b.get(key, b.full.get(key))
        fixed = key in FIXED or (key == head and cls.multi_input)
        if _same(va, vb) or va == vb:
            merged[key] = va
        elif fixed or (value := _choose(va, vb)) is None:
            return [_only(a, "first"), _only(b, "not first")]
        else:
            merged[key] = value
    merged.full = a.full
    return [merged]


def _choose(a: Any, b: Any) -> Any:
    """`"a if i == 0 else b"` for numbers (item by item for lists), None for anything else."""
    number = (int, float, bool)
    a, b = (v[0] if isinstance(v, list) and v and len(set(map(repr, v))) == 1 else v
             for v in (a, b))
    if isinstance(a, number) and isinstance(b, number):
        return f"{a!r} if first else {b!r}"
    if isinstance(a, number) and isinstance(b, list):
        a = [a] * len(b)
    if isinstance(b, number) and isinstance(a, list):
        b = [b] * len(a)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            isinstance(v, number) for v in a + b):
        return [x if x == y else f"{x!r} if first else {y!r}" for x, y in zip(a, b)]
    return None


# --- YAML and the round trip --------------------------------------------------------------------
def _flow(value: Any) -> str:
    """One-line YAML, as the hand-written specs write rows: {conv: 64, k: 3, name: conv1}."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):        # words plain; expressions and 'off', 'null', ... quoted
        plain = WORD.fullmatch(value) and yaml.safe_load(value) == value
        return value if plain else json.dumps(value)
    return yaml.safe_dump(value, width=10**6).removesuffix("\n...\n").strip()


def _compare(graph: Graph, text: str) -> str | None:
    """The first difference between `graph` and what `text` expands to, or None."""
    spec = next(iter(_parse("<import>", text.encode()).values()))
    other = expand(spec)
    position = {INPUT: -1} | {n.name: t for t, n in enumerate(graph.nodes)}
    position2 = {INPUT: -1} | {n.name: t for t, n in enumerate(other.nodes)}
    if other.input != graph.input:
        return f"input {dims(other.input)} vs {dims(graph.input)}"
    for a, b in zip(graph.nodes, other.nodes):
        if (not equivalent(b.op, a.op) or a.out != b.out or a.inplace != b.inplace
                or _counts(a) != _counts(b)
                or [position[i] for i in a.inputs] != [position2[i] for i in b.inputs]):
            return f"node '{a.name}' ({a.op}) written as '{b.name}' ({b.op})"
    if len(graph.nodes) != len(other.nodes):
        return f"{len(other.nodes)} ops instead of {len(graph.nodes)}"
    return None


def _counts(node: Node) -> tuple[int, ...]:
    """What the node counts (a traced one may count less than its rule: parameters shared)."""
    params, _, buffers, macs, other, _ = node.counts()
    return params, buffers, macs, other

