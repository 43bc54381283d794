"""Expansion of a spec into the IR: a flat, named DAG of primitive ops with their shapes.

Rows run in order; each row's input is the previous row's output unless `from:` names others.
Names are hierarchical (`conv3_x.block2.conv1.bn`) and become the torch module names. Blocks
are defined once under `blocks:` with `args:` (null = required) and optional `let:` (derived
values), and used as `{block: NAME, arg: value, repeat: n}`; inside, `in` is the block input
and `i` the repeat index (0-based). Rows may use `cin`, `hin`, `win`: the shape of their input.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from archprof.errors import SpecError, did_you_mean, short
from archprof.ir.graph import (
    INPUT,
    Cost,
    Expectation,
    Graph,
    Liveness,
    Node,
    Run,
    liveness,
    mark_inplace,
    memory_kind,
)
from archprof.ir.ops import OPS, Activation, Conv, Op, Shape, dims, numel, op_class
from archprof.spec import cache, expr, fields, memo
from archprof.spec.load import Spec, key_line, load_spec
from archprof.spec.program import (
    SHAPE_VARS,
    Draft,
    Guard,
    Instance,
    Program,
    Repeat,
    projection,
    projection_stride,
    rule,
    shape_values,
    shape_vars,
)
from archprof.units import parse_quantity

MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 32
MAX_LIST = 64             # a list-valued field ([h, w], input, pads) is short and flat
MAX_ELEMENTS = 2**40      # per tensor and per op's parameters: beyond it torch's sizes overflow
ROW_KEYS = {"name", "from", "repeat", "if", "expect"}
SUGAR_KEYS = {"bn", "act"}       # conv/linear rows: append BatchNorm and/or an activation
SUGAR_OPS = {"conv", "linear"}
EXPECT_KEYS = {"shape", "params", "weights", "macs", "activations", "tol"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def op_keys(cls: type[Op]) -> set[str]:
    """The spec keys a row of this op may carry."""
    return {key for _, key, _ in fields.spec_fields(cls)} | {cls.kind}


def op_from_row(cls: type[Op], row: dict[str, Any], ev: fields.Evaluate) -> Op:
    """Read an op's fields from a spec row (keys not owned by the op are ignored here)."""
    values = {}
    for f, key, parse in fields.spec_fields(cls):
        if row.get(key) is not None:
            try:
                values[f.name] = parse(row[key], ev)
            except SpecError as err:
                err.message = f"{cls.kind} field '{key}': {err.message}"
                raise
        elif f.default is MISSING:
            raise SpecError(f"{cls.kind} needs field '{key}'")
    return cls(**values)


@dataclass
class Scope:
    prefix: str
    env: dict[str, Any]
    refs: dict[str, str]
    last: str
    taken: set[str]
    depth: int = 0


def expand(spec: Spec | str, params: dict[str, Any] | None = None,
           input: Shape | None = None) -> Graph:
    """Expand a spec with parameter overrides and an optional input shape override (C,H,W)."""
    with memo.collector_paused():
        return _expand(load_spec(spec), params, input)


def _expand(spec: Spec, params: dict[str, Any] | None, input: Shape | None) -> Graph:
    try:
        values = _parameters(spec, params or {})
        shape = _checked_input(
            input or tuple(_Expander.value(v, values) for v in _as_list(spec.input)))
        # The program depends on the parameters that the rows read (not, e.g., a resolution
        # read by `input:` alone); it is keyed on their values after evaluation.
        origin = spec.digest()      # empty unless the rows and blocks are a file's, as read
        read = memo.env_key(program_names(spec), values)
        key = (id(spec), *read)
        # the program for the defaults (what `list`, `table` and the zoo analyse) is kept on
        # disk for the next process (archprof.spec.cache); a sweep's variants are not
        digest = origin if not params and memo.active() else b""
        program: Program | None = memo.PROGRAMS.get(key)
        if program is None and digest:
            program = _kept(spec, digest, read)
            if program is not None:
                memo.PROGRAMS.put(key, spec, program)
        if program is None:
            made: Draft | None = memo.DRAFTS.get(key)
            if made is not None:    # the second input shape with these parameters
                program = Program.of(made)
                memo.PROGRAMS.put(key, spec, program)
                memo.DRAFTS.drop(key)
        if program is not None:
            runs = program.recounted([_count(raw, values) for raw, _, _ in program.repeats],
                                     MAX_NODES)
            graph = None if runs is None else program.run(spec, shape, values, runs)
            if graph is not None:
                return graph
        expander = _Expander(spec, values, shape)
        graph = expander.run()
        nodes, expectations, runs = graph.folded()
        draft = Draft(list(nodes), list(expectations), expander.guards, expander.inplace,
                      expander.instances, expander.liveness, runs, tuple(expander.repeated),
                      MAX_ELEMENTS)
        if digest or any(tail is not None for _, _, tail in draft.repeats):
            # kept on disk, or a program that other repeat counts would replay (a sweep over
            # depths: its next variant, with these values, is rarely among the latest drafts)
            program = Program.of(draft)
            memo.PROGRAMS.put(key, spec, program)
            if digest:
                cache.store_program(spec.file, digest, spec.name, read, program.portable())
        else:       # a program these values had took other decisions: the draft replaces it
            memo.PROGRAMS.drop(key)
            memo.DRAFTS.put(key, spec, draft)
        return graph
    except SpecError as err:
        raise err.located(file=spec.file, line=spec.line, path=spec.name) from None


def program_names(spec: Spec) -> tuple[str, ...]:
    """The names whose values a spec's program is keyed on: those its rows and blocks read,
    not the input's (`input:` alone) nor a top-level `repeat:` of a block (the program reads
    it: `Repeat`). Variants that differ elsewhere share one program. As the spec's file was
    read, they were worked out with its parse (kept for the next process: `Spec.reads`)."""
    if spec.reads is not None and spec.digest():
        return spec.reads
    return memo.network_names(spec.blocks, spec.layers)


def _kept(spec: Spec, digest: bytes, read: tuple) -> Program | None:
    """The program kept on disk for this spec with these values, if any and whole."""
    data = cache.fetch_program(spec.file, digest, spec.name, read)
    try:
        return None if data is None else Program.restore(data)
    except (TypeError, ValueError, KeyError, SpecError):    # not a program: made again
        return None


def _count(raw: Any, params: dict[str, Any]) -> int | None:
    """A top-level `repeat:` with these parameters; None where it is no count (the expansion
    then says why, with its line)."""
    try:
        return fields.positive(raw, lambda v: _Expander.value(v, params))
    except SpecError:
        return None


def _checked_input(shape: Any) -> Shape:
    if not 1 <= len(shape) <= 5 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise SpecError("input must be 1 to 5 positive integers per sample (C,H,W; F; L,D; "
                        f"C,L; C,D,H,W), got {short(shape)}")
    if numel(shape) > MAX_ELEMENTS:
        raise SpecError(f"input {dims(shape)} has more than {MAX_ELEMENTS:,} elements")
    return tuple(shape)


@dataclass(frozen=True)
class _Recording:
    """A block's expansion: nodes as (name after the prefix, op, input codes, input shapes,
    output shape, line, `inplace:` flag or None, counts), where codes number the block's
    inputs first, then its nodes; expectations as (path after the prefix, line, first
    node, end node, values); the guards (archprof.spec.program) its rows recorded; the
    output; the copies folded inside it (archprof.ir.graph.Run, positions from its first
    node, names after the prefix) and how many nodes they stand for."""
    nodes: tuple[tuple[str, Op, tuple[int, ...], tuple[Shape, ...], Shape, int | None,
                       bool | None, Cost], ...]
    expectations: tuple[tuple[str, int | None, int, int, dict[str, Any]], ...]
    # guards as the program's, positions counted from the block's first node, names as codes
    guards: tuple[tuple[int, str, tuple[str, ...], tuple[int, ...], tuple[Any, ...]], ...]
    out: int
    wiring: int     # a number that recordings of the same names, codes and in-place kinds share
    runs: tuple[Run, ...]
    hidden: int


def _names(rows: list[Any]) -> set[str]:
    return {r["name"] for r in rows if isinstance(r, dict) and isinstance(r.get("name"), str)}


def _parameters(spec: Spec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The spec's parameters with the overrides, expressions evaluated in order."""
    unknown = set(overrides) - set(spec.params)
    for key in sorted(unknown):
        raise SpecError(f"unknown parameter '{key}' for {spec.name}; it has: "
                        f"{', '.join(spec.params) or 'none'}", hint=did_you_mean(key, spec.params))
    params = {**spec.params, **overrides}
    for key, value in params.items():
        if isinstance(value, str):
            params[key] = _Expander.value(value, params)
    return params


class _Expander:
    def __init__(self, spec: Spec, params: dict[str, Any], input: Shape) -> None:
        self.spec = spec
        self.params = params
        self.graph = Graph(spec, input, params)
        self.inplace: dict[str, bool] = {}     # `inplace:` rows: node -> flag as written
        self.guards: list[Guard] = []          # what the program for other inputs checks
        self.instances: list[Instance] = []    # the blocks made, for the program's segments
        self.liveness: Liveness = ()           # the graph's, once made (`run`)
        self.runs: list[Run] = []              # copies folded onto nodes made (`repeats`)
        self.repeated: list[Repeat] = []       # top-level repeats of blocks, for the program
        self.hidden = 0                        # the nodes those copies stand for
        # while a copy may fold: the block it would be, and the output of the copy it folds onto
        self.onto: tuple[_Recording, str] | None = None
        self.folded = False                    # the last copy folded
        self.call: tuple = ()                  # the last block call's key in memo.CALLS

    def run(self) -> Graph:
        scope = Scope("", dict(self.params), {"in": INPUT, INPUT: INPUT}, INPUT,
                      _names(self.spec.layers))
        self.rows(self.spec.layers, scope)
        if not self.graph.nodes:
            raise SpecError("the network has no layers (every row was switched off by 'if:')")
        for name, flag in self.inplace.items():
            node = self.graph.node(name)
            if flag and numel(node.out) != numel(node.ins[0]):
                raise SpecError("inplace: true needs an output as large as its input",
                                path=name)
        self.graph.liveness = self.liveness = _settle(self.graph, self.inplace,
                                                       self.instances)
        self.graph.fold(tuple(sorted(self.runs)))     # in order of their nodes
        return self.graph

    # --- values -----------------------------------------------------------------------------
    @staticmethod
    def value(raw: Any, env: dict[str, Any]) -> Any:
        """A field value: strings are expressions on `env`; a bare name of a string value
        (e.g. a variant switch) gives that string."""
        if isinstance(raw, str):
            if raw in env and isinstance(env[raw], (str, list)):
                return env[raw]   # a word or list handed on unchanged (block args, switches)
            return expr.evaluate(raw, env)
        if isinstance(raw, list):
            if len(raw) > MAX_LIST or any(isinstance(v, list) for v in raw):
                raise SpecError(f"expected a short list of numbers, got {short(raw)}")
            return [_Expander.value(v, env) for v in raw]
        return raw

    # --- rows --------------------------------------------------------------------------------
    def rows(self, rows: Any, scope: Scope) -> None:
        if not isinstance(rows, list):
            raise SpecError(f"layers must be a list of rows, got {type(rows).__name__}")
        lines = getattr(rows, "item_lines", ())    # where a bare word (`- relu`) was read
        for k, row in enumerate(rows):
            self.row(row, scope, lines[k] if k < len(lines) else None)

    def row(self, row: Any, scope: Scope, at: int | None = None) -> None:
        line = getattr(row, "line", at)
        if isinstance(row, str):
            row = {row: None}
        if not isinstance(row, dict):
            raise SpecError(f"a layer row must be a mapping like {{conv: 64, k: 3}}, got "
                            f"{short(row)}", line=line)
        try:
            self._row(row, scope, line)
        except (SpecError, RecursionError) as err:
            name = row.get("name")
            where = (scope.prefix + name if isinstance(name, str) and name
                     else scope.prefix.rstrip(".")) or None
            if isinstance(err, RecursionError):
                raise SpecError("blocks nest too deeply", line=line, path=where) from None
            raise err.located(line=line, path=where) from None

    def _row(self, row: dict, scope: Scope, line: int | None) -> None:
        head, kind = _head(row)
        if "if" in row and not self.value(row["if"], self.condition_env(row, head, scope)):
            return
        name = row.get("name") or self.auto_name(kind, scope)
        try:
            self.named_row(row, head, name, scope, line)
        except SpecError as err:    # an unnamed row's path is the name it was given
            raise err.located(path=scope.prefix + name) from None

    def named_row(self, row: dict, head: str, name: str, scope: Scope, line: int | None) -> None:
        start = len(self.graph.nodes)
        if "repeat" in row:
            try:
                n = fields.positive(row["repeat"], lambda v: self.value(v, scope.env))
            except SpecError as err:
                err.message = f"repeat: {err.message}"
                raise
            if n > MAX_NODES:     # fail now rather than after expanding MAX_NODES ops
                raise SpecError(f"repeat {n:,} exceeds the limit of {MAX_NODES:,} ops")
            child = Scope(scope.prefix + name + ".", scope.env, dict(scope.refs),
                          self.inputs(row, head, scope)[0], set(), scope.depth)
            if head == "block" and memo.active():
                self.repeats(row, n, child, line)
            else:
                unit = "block" if head == "block" else head
                first, rest = _repeated(row)
                for i in range(n):
                    self.single(rest if i else first, head, f"{unit}{i + 1}", child, line,
                                index=i)
            scope.refs[name] = scope.last = child.last
        else:
            self.single(row, head, name, scope, line)
        if "expect" in row:
            self.expectation(row["expect"], scope.prefix + name, line, range(start, len(self.graph.nodes)))

    def repeats(self, row: dict, n: int, scope: Scope, line: int | None) -> None:
        """The copies of a repeated block, folded (`Run`) where a copy may stand for those
        after it (`may_fold_onto`) and they copy its block again: those are not made (inside
        a block too: its recording keeps the runs, its copies make them again)."""
        first, rest = _repeated(row)
        nodes, instances = self.graph.nodes, self.instances
        before: _Recording | None = None    # the block the copy before the last copied whole
        last: Instance | None = None        # the last copy's, where it copied a block whole
        more = i = 0
        while i < n:
            if last is not None and (more or self.may_fold_onto(last, before, i)):
                # the copy is the call the one before made (`self.call`: same row, scope and
                # input shape) but for its index: none at all where the block reads no `i`
                env, index, seen = self.call[5]
                if index is None:
                    self.hide(len(last[2].nodes) * (n - i))
                    more += n - i
                    break
                if memo.CALLS.get((*self.call[:5], (env, i, seen))) is last[2]:
                    self.hide(len(last[2].nodes))
                    more, i = more + 1, i + 1
                    continue
                self.onto = (last[2], scope.last)     # made as a call anew, it may fold yet
            at, made, guarded = len(nodes), len(instances), len(self.guards)
            self.single(rest if i else first, "block", f"block{i + 1}", scope, line, index=i)
            self.onto = None
            i += 1
            if self.folded:     # its guards are those of the copy it folded onto
                self.folded = False
                del self.guards[guarded:]
                more += 1
                continue
            if more and last is not None:
                self.runs.append(self.run_of(last, more, scope.prefix, i - 1 - more))
                more = 0
            whole = (len(instances) > made and instances[-1][0] == at
                     and instances[-1][1] == len(nodes))
            before = last[2] if last is not None else None
            last = instances[-1] if whole else None
        if more and last is not None:
            self.runs.append(self.run_of(last, more, scope.prefix, n - more))
        if scope.depth == 0 and not isinstance(row["repeat"], int):    # one that may change
            self.repeated.append((row["repeat"], n, self.tail(row, last, before, more, n, scope)))

    def tail(self, row: dict, last: Instance | None, before: _Recording | None, more: int,
             n: int, scope: Scope) -> Run | None:
        """The run of a `repeat:` row's last copies that another count would lengthen or
        shorten (`Repeat`): the one folded, or one of none where a next copy would fold onto
        the last; None unless every copy after the first is made alike."""
        if last is None or not _alike_after_first(row, self.spec.blocks[row["block"]]):
            return None
        if more:
            return self.runs[-1]
        return self.run_of(last, 0, scope.prefix, n) if self.may_fold_onto(last, before, n) \
            else None

    def may_fold_onto(self, copy: Instance, before: _Recording | None, i: int) -> bool:
        """Whether the copies from copy i on may fold onto `copy`, the one before: a foldable
        block (`_foldable`) on the output of another copy, made by the same block or owning
        its memory and not keeping it for its backward. Its in-place flags and liveness are
        then those of every copy after it: a walk up the chain of views from it stops at that
        output, read by it alone (graph.mark_inplace)."""
        recording, sources = copy[2], copy[3]
        if i < 2 or len(sources) != 1 or not _foldable(recording):
            return False
        source = self.graph.node(sources[0])
        return recording is before or (source.op.inplace is None
                                       and not self.inplace.get(source.name)
                                       and not source.op.keeps_output(False))

    def hide(self, count: int) -> None:
        """`count` more nodes folded into copies (`repeats`): within the limit as made ones."""
        self.hidden += count
        if len(self.graph.nodes) + self.hidden > MAX_NODES:
            raise SpecError(f"the network expands to more than {MAX_NODES:,} ops")

    @staticmethod
    def run_of(copy: Instance, more: int, prefix: str, number: int) -> Run:
        """The run of `more` copies folded onto `copy`, the copy numbered `number` (1-based)."""
        start, stop, _, sources = copy
        return Run(start, stop, more, prefix, "block", number, sources[0])

    def auto_name(self, kind: str, scope: Scope) -> str:
        n = 1
        while f"{kind}{n}" in scope.taken or f"{kind}{n}" in scope.refs:
            n += 1
        scope.taken.add(f"{kind}{n}")
        return f"{kind}{n}"

    def inputs(self, row: dict, head: str, scope: Scope, hints: bool = True) -> list[str]:
        """Node names of the row's inputs: named by the op key (concat/add/mul), by `from:`,
        or else the previous row's output. `hints`: an unknown reference's error names the
        closest known ones (difflib: not where the error is expected, as `condition_env`)."""
        cls = OPS.get(head)
        if cls is not None and cls.multi_input:
            refs = row[head]
            if not isinstance(refs, list) or len(refs) < cls.min_inputs:
                raise SpecError(f"{head} needs a list of at least {cls.min_inputs} input(s), "
                                f"got {short(refs)}")
        elif "from" in row:
            refs = row["from"] if isinstance(row["from"], list) else [row["from"]]
            if not refs:
                raise SpecError("from: names no input (give a layer name or a list of them)")
        else:
            return [scope.last]
        out = []
        for ref in refs:
            if not isinstance(ref, str):
                raise SpecError(f"inputs are named by layer names, got {short(ref)}")
            if ref not in scope.refs:
                raise SpecError(f"unknown reference '{ref}'", hint=did_you_mean(
                    ref, [r for r in scope.refs if r != INPUT]) if hints else None)
            out.append(scope.refs[ref])
        if cls is not None and not cls.multi_input and any(
                name == INPUT or self.graph.node(name).op.kind != "param" for name in out[1:]):
            # its rule reads the first alone; what follows may only be the parameters it
            # reads (`param` rows, as `import` writes a traced op's)
            raise SpecError(f"{head} takes one input (and `param` rows); from: names "
                            f"{len(refs)}")
        return out

    def single(self, row: dict, head: str, name: str, scope: Scope, line: int | None,
               index: int = 0) -> None:
        if name in scope.refs and scope.refs[name] != INPUT:
            raise SpecError(f"name '{name}' is used twice in the same scope")
        inputs = self.inputs(row, head, scope)
        shape = self.graph.shape_of(inputs[0])
        outer, reads_i, sizes = self.parts(row, head)
        seen = self.guarded(inputs[0], shape, sizes)
        # What the row's expressions read, as a key (its results are memoised on it); the
        # names they see, made only where they are evaluated (a block or row not met before).
        read = (memo.env_key(outer, scope.env), index if reads_i else None, seen)
        visible = lambda: {**scope.env, "i": index, **shape_vars(shape)}  # noqa: E731
        if head == "block":
            out = self.block(row, name, inputs, scope, read, visible)
        else:
            out = self.op_row(row, head, name, inputs, scope, read, visible, line)
        scope.refs[name] = scope.last = out
        scope.taken.add(name)

    def guarded(self, node: str, shape: Shape, read: tuple[str, ...]) -> tuple[int, ...]:
        """The values of the shape variables `read` of a row's (first) input `node`, recorded
        as a guard of the compiled program."""
        seen = shape_values(shape, read)
        if read:
            self.guards.append((len(self.graph.nodes), "vars", read, (node,), seen))
        return seen

    def parts(self, row: dict, head: str) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
        """The names a row's expressions may read (see `reads`) by where their values come
        from: the calling scope, the repeat index `i`, the input's shape (SHAPE_VARS)."""
        hit = _PARTS.get(row)
        if hit is not None:
            return hit
        names = self.reads(row, head)
        read = _shape_vars_in(names)
        return _PARTS.put(row, (tuple(n for n in names if n != "i" and n not in read),
                                "i" in names, read))

    def reads(self, row: dict, head: str) -> tuple[str, ...]:
        """The names a row's expressions may read: in its own fields, and for a block anywhere
        inside it (its args and let, and rows that read the scope it is called in, as
        `repeat:`). Worked out once per row: a row is read against its own file's blocks only,
        as memo.block_names assumes."""
        hit = _READS.get(row)
        if hit is not None:
            return hit
        blocks = self.spec.blocks
        block = row["block"] if head == "block" else None
        definition = blocks.get(block) if isinstance(block, str) else None
        names = memo.names_in(row) if not isinstance(definition, dict) else (
            *memo.names_in(row), *memo.names_in(definition), *memo.block_names(blocks, definition))
        return _READS.put(row, tuple(sorted(set(names))))

    def condition_env(self, row: dict, head: str, scope: Scope) -> dict[str, Any]:
        """What an `if:` sees: the scope, and the input shape when the input exists (a row
        switched off may name inputs that are switched off too)."""
        try:
            source = self.inputs(row, head, scope, hints=False)[0]
        except SpecError:
            return scope.env
        shape = self.graph.shape_of(source)
        self.guarded(source, shape, _shape_vars_in(memo.names_in(row["if"])))
        return {**scope.env, **shape_vars(shape)}      # all of them: a hint may name one

    def op_row(self, row: dict, head: str, name: str, inputs: list[str], scope: Scope,
               read: tuple, visible: Callable[[], dict[str, Any]], line: int | None) -> str:
        sugared, ops, inplace = self.row_ops(row, head, read, visible)
        if head == "add" and row.get("proj"):
            inputs = self.projections(row["proj"], inputs, name, scope, line)
        if not sugared:
            out = self.emit(scope.prefix + name, ops[0], inputs, line)
            if inplace is not None:
                self.inplace[out] = inplace
            return out
        prefix = scope.prefix + name + "."
        for op in ops:       # the op, then its BN and activation: `name.conv`, `name.bn`, ...
            inputs = [self.emit(prefix + op.kind, op, inputs, line)]
        return inputs[0]

    def row_ops(self, row: dict, head: str, read: tuple, visible: Callable[[], dict[str, Any]]
                ) -> tuple[bool, tuple[Op, ...], bool | None]:
        """The ops a row makes (with `bn:`/`act:` sugar, whether it is written as such, and the
        BN and activation after the op) and its `inplace:` flag; memoised on the values of the
        names the row reads (`read`; `visible()`: all it may see)."""
        key = (id(row), head, read)
        hit = memo.ROW_OPS.get(key)
        if hit is not None:
            return hit
        cls, sugar, fields_row, act = _form(row, head)
        env = visible()
        ev = lambda v: self.value(v, env)  # noqa: E731
        ops = [op_from_row(cls, fields_row, ev)]
        inplace = None if row.get("inplace") is None else fields.boolean(row["inplace"], ev)
        if "bn" in sugar and fields.boolean(row["bn"], ev):
            ops.append(op_class("bn")())
        if act is not None:
            ops.append(act())
        result = (bool(sugar), tuple(map(memo.canonical, ops)), inplace)
        memo.ROW_OPS.put(key, row, result)
        return result

    def projections(self, kind: Any, inputs: list[str], name: str, scope: Scope,
                    line: int | None) -> list[str]:
        """Residual shortcut with a 1x1 projection (conv, or conv + BN) for each input whose
        shape differs from the first input's (the residual branch). The projection's stride is
        the block's: the one whose unpadded 1x1 conv gives the branch's size, ceil(H / s) = H'
        (at odd sizes a plain ratio is no stride at all: 25 -> 13 is stride 2)."""
        if kind not in ("conv", "conv_bn"):
            raise SpecError(f"proj must be 'conv' or 'conv_bn', got {short(kind)}")
        target = self.graph.shape_of(inputs[0])
        out = [inputs[0]]
        for k, ref in enumerate(inputs[1:], 1):
            shape = self.graph.shape_of(ref)
            self.guards.append((len(self.graph.nodes), "proj", (), (ref, inputs[0]),
                                projection(shape, target)))
            if shape == target:
                out.append(ref)
                continue
            stride = projection_stride(shape, target)
            if stride is None:
                raise SpecError(f"cannot project {dims(shape)} to {dims(target)}: a 1x1 conv "
                                "projects a (C, ...) map of 1 to 3 spatial dimensions to one of "
                                "as many, each ceil(size / stride) for one stride")
            conv = memo.canonical(Conv(out=target[0], k=(1,) * len(stride), s=stride,
                                       bias=kind == "conv"))
            prefix = f"{scope.prefix}{name}_proj{'' if k == 1 else k}."
            ref = self.emit(prefix + "conv", conv, [ref], line)
            if kind == "conv_bn":
                ref = self.emit(prefix + "bn", memo.canonical(op_class("bn")()), [ref], line)
            out.append(ref)
        return out

    def block(self, row: dict, name: str, sources: list[str], scope: Scope, read: tuple,
              visible: Callable[[], dict[str, Any]]) -> str:
        block_name = row["block"]
        blocks = self.spec.blocks
        if not isinstance(block_name, str) or block_name not in blocks:
            raise SpecError(f"unknown block {short(block_name)}",
                            hint=did_you_mean(block_name, blocks) if isinstance(block_name, str) else None)
        if scope.depth >= MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} (is '{block_name}' recursive?)")
        definition = blocks[block_name]
        prefix = scope.prefix + name + "."
        shapes = tuple(map(self.graph.shape_of, sources))
        # A call like one made before (the same row, the same values of every name that it
        # and its block read, inputs of the same shapes) makes the same block: its arguments
        # and let are not evaluated again (a stage's copies, each variant of a sweep).
        call = self.call = (id(row), id(definition), scope.depth, shapes,
                            tuple(map(sources.index, sources)), read)
        recording = memo.CALLS.get(call)
        if recording is not None:
            return self.copy(recording, prefix, sources)
        names, declared, let = _block_parts(block_name, definition)
        if len(names) != len(sources):
            raise SpecError(f"block '{block_name}' takes {len(names)} input(s) ({', '.join(names)}); "
                            f"got {len(sources)}" + ("; name them with from: [a, b, ...]"
                                                     if len(names) > 1 else ""))
        given = {k: v for k, v in row.items() if k not in BLOCK_ROW_KEYS}
        for key in given:
            if key not in declared:
                raise SpecError(f"block '{block_name}' has no argument '{key}'",
                                hint=did_you_mean(str(key), declared))
        env = visible()
        inner = dict(env)      # a default sees the arguments before it; a given one does not
        for key, default in declared.items():
            raw = given.get(key, default)
            if raw is None:
                raise SpecError(f"block '{block_name}' needs argument '{key}'")
            inner[key] = (self.value(raw, env) if key in given else
                          _entry(raw, inner, declared, key, f"block '{block_name}' args"))
        for key, raw in let.items():
            inner[key] = _entry(raw, inner, let, key, f"block '{block_name}' let")
        # What the block makes depends on these alone: expand it once, copy it after.
        key = (id(definition), scope.depth, shapes, call[4],
               memo.env_key(memo.block_names(blocks, definition), inner))
        recording = memo.BLOCKS.get(key)
        if recording is not None:
            memo.CALLS.put(call, (row, definition), recording)
            return self.copy(recording, prefix, sources)
        starts = (len(self.graph.nodes), len(self.graph.expectations), len(self.guards),
                  len(self.runs))
        refs = {"in": sources[0], **dict(zip(names, sources))}
        child = Scope(prefix, inner, refs, sources[0], _names(definition["layers"]), scope.depth + 1)
        self.rows(definition["layers"], child)
        out = definition.get("out")
        if out is None:
            result = child.last
        elif not isinstance(out, str) or out not in child.refs:
            raise SpecError(f"block '{block_name}' out {short(out)} names no row",
                            hint=did_you_mean(str(out), child.refs))
        else:
            result = child.refs[out]
        recording = self.record(prefix, sources, starts, result)
        if recording is not None:
            memo.BLOCKS.put(key, definition, recording)
            memo.CALLS.put(call, (row, definition), recording)
            self.instances.append((starts[0], len(self.graph.nodes), recording, tuple(sources)))
        self.call = call        # this call's key, not that of the last block inside it
        return result

    def copy(self, recording: _Recording, prefix: str, sources: list[str]) -> str:
        """A block made before, again under `prefix` on `sources`; none where the copy folds
        onto the one before (`repeats`), whose output it gives."""
        onto = self.onto
        if onto is not None and onto[0] is recording and sources == [onto[1]]:
            self.hide(len(recording.nodes))
            self.folded = True
            return onto[1]
        start = len(self.graph.nodes)
        result = self.replay(recording, prefix, sources)
        self.instances.append((start, len(self.graph.nodes), recording, tuple(sources)))
        return result

    def record(self, prefix: str, sources: list[str], starts: tuple[int, int, int, int],
               out: str) -> _Recording | None:
        """The nodes, expectations, guards and folded copies a block just made (from `starts`
        on), named relative to its prefix and reading its inputs by position (None if
        anything escapes that form)."""
        start, expected, guarded, folded = starts
        nodes = self.graph.nodes[start:]
        local = {node.name: k for k, node in enumerate(nodes)}

        def code(name: str) -> int:    # the block's inputs, then its nodes
            return local[name] + len(sources) if name in local else sources.index(name)
        cut = len(prefix)
        try:
            made = tuple((n.name[cut:], n.op, tuple(map(code, n.inputs)), tuple(n.ins), n.out,
                          n.line, self.inplace.get(n.name), n.counts()) for n in nodes)
            ends = code(out)
            guards = tuple((at - start, kind, what, tuple(map(code, names)), value)
                           for at, kind, what, names, value in self.guards[guarded:])
        except ValueError:
            return None
        expectations = self.graph.expectations[expected:]
        if not all(n.name.startswith(prefix) for n in nodes) or not all(
                e.path.startswith(prefix) for e in expectations):
            return None
        wiring = memo.token(tuple([(local, codes, memory_kind(op), flag)
                                   for local, op, codes, _, _, _, flag, _ in made]))
        runs = tuple(Run(r.start - start, r.stop - start, r.more, r.prefix[cut:], r.unit,
                         r.first, r.source[cut:]) for r in self.runs[folded:])
        return _Recording(made, tuple((e.path[cut:], e.line, e.nodes.start - start,
                                       e.nodes.stop - start, e.values) for e in expectations),
                          guards, ends, wiring, runs,
                          sum(r.more * (r.stop - r.start) for r in runs))

    def replay(self, recording: _Recording, prefix: str, sources: list[str]) -> str:
        """A recorded block again, under a new prefix and on new inputs of the same shapes."""
        graph, add = self.graph, self.graph.add
        start, refs = len(graph.nodes), list(sources)     # what the codes index
        if start + self.hidden + len(recording.nodes) > MAX_NODES:
            raise SpecError(f"the network expands to more than {MAX_NODES:,} ops")
        for local, op, codes, ins, out, line, inplace, cost in recording.nodes:
            name = prefix + local
            if name in graph:
                self.room_for(name)
            add(Node(name, op, [refs[c] for c in codes], list(ins), out, line, False, cost))
            if inplace is not None:
                self.inplace[name] = inplace
            refs.append(name)
        for path, line, first, stop, values in recording.expectations:
            self.graph.expectations.append(
                Expectation(prefix + path, line, range(start + first, start + stop), dict(values)))
        for at, kind, what, codes, value in recording.guards:
            self.guards.append((start + at, kind, what, tuple(refs[c] for c in codes), value))
        if recording.runs:
            self.hide(recording.hidden)
            self.runs.extend(Run(start + r.start, start + r.stop, r.more, prefix + r.prefix,
                                 r.unit, r.first, prefix + r.source) for r in recording.runs)
        return refs[recording.out]

    def room_for(self, name: str) -> None:
        if len(self.graph.nodes) + self.hidden >= MAX_NODES:
            raise SpecError(f"the network expands to more than {MAX_NODES:,} ops")
        if name in self.graph:
            raise SpecError(f"two layers are named '{name}'")

    def emit(self, name: str, op: Op, inputs: list[str], line: int | None) -> str:
        self.room_for(name)
        ins = [self.graph.shape_of(i) for i in inputs]
        try:
            out, cost = rule(op, ins, MAX_ELEMENTS)
        except SpecError as err:
            raise err.located(path=name) from None
        self.graph.add(Node(name, op, inputs, ins, out, line, False, cost))
        return name

    def expectation(self, raw: Any, path: str, line: int | None, nodes: range) -> None:
        if _CHECKED.get(raw) is None:
            _check_expectation(raw)
            _CHECKED.put(raw, True)
        self.graph.expectations.append(Expectation(path, line, nodes, dict(raw)))


def _entry(raw: Any, env: dict[str, Any], owner: dict[str, Any], key: str, what: str) -> Any:
    """A block definition's `args:` default or `let:` value, evaluated; an error names the
    entry and its line (the row that called the block names the path)."""
    try:
        return _Expander.value(raw, env)
    except SpecError as err:
        err.message = f"{what} '{key}': {err.message}"
        raise err.located(line=key_line(owner, key)) from None


def _check_expectation(raw: Any) -> None:
    """An `expect:` mapping's keys and values readable (checked once per mapping)."""
    if not isinstance(raw, dict):
        raise SpecError("expect must be a mapping like {shape: 96x55x55, params: 34944}")
    for key in raw:
        if key not in EXPECT_KEYS:
            raise SpecError(f"unknown expect key '{key}'", hint=did_you_mean(str(key), EXPECT_KEYS))
        value = raw[key]
        if key == "shape":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and all(p.isdigit() for p in value.split("x"))) or (
                isinstance(value, list) and 0 < len(value) <= 4
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
            if not ok:
                raise SpecError(f"cannot read expect shape {short(value)} "
                                "(write CxHxW, e.g. 96x55x55)")
        elif key == "tol":
            fields.number(value, lambda v: v)
        else:
            parse_quantity(value if isinstance(value, (int, float, str)) else short(value))


BLOCK_KEYS = ["args", "let", "layers", "out", "inputs", "doc"]
BLOCK_ROW_KEYS = ROW_KEYS | {"block"}
_BLOCK_PARTS: memo.PerObject[tuple[list[str], dict[str, Any], dict[str, Any]]] = memo.PerObject()
_REPEATED: memo.PerObject[tuple[dict[str, Any], dict[str, Any]]] = memo.PerObject()
_CHECKED: memo.PerObject[bool] = memo.PerObject()     # `expect:` mappings found readable
_FOLDABLE: memo.PerObject[bool] = memo.PerObject()    # recordings -> _foldable
_PARTS: memo.PerObject[tuple[tuple[str, ...], bool, tuple[str, ...]]] = \
    memo.PerObject()                                                    # row -> parts
_READS: memo.PerObject[tuple[str, ...]] = memo.PerObject()          # row -> reads
_HEADS: memo.PerObject[tuple[str, str]] = memo.PerObject()          # row -> _head
_AFTER_FIRST: memo.PerObject[bool] = memo.PerObject()    # repeated block row -> _alike_after_first
_FORMS: memo.PerObject[tuple[type[Op], frozenset[str], dict[str, Any], type[Op] | None]] = \
    memo.PerObject()                                                    # row -> _form


def _foldable(recording: _Recording) -> bool:
    """Whether copies of a block of one input (code 0; its nodes 1 on) can fold onto one
    another (`Run`): it holds no folded copies itself (runs do not nest), its output is its
    last node, every other node is read within it (no output of its own lives on), and it
    keeps its input's shape (each copy then sees the shapes the one before saw)."""
    hit = _FOLDABLE.get(recording)
    if hit is not None:
        return hit
    nodes = recording.nodes
    read = {code for node in nodes for code in node[2]}
    shapes = [ins[k] for _, _, codes, ins, *_ in nodes for k, code in enumerate(codes) if code == 0]
    ok = (bool(nodes) and not recording.runs and recording.out == len(nodes)
          and read >= set(range(1, len(nodes))) and bool(shapes)
          and all(shape == nodes[-1][4] for shape in shapes))
    return _FOLDABLE.put(recording, ok)


def _settle(graph: Graph, given: dict[str, bool], instances: list[Instance]) -> Liveness:
    """The in-place flags of an expanded graph's nodes (mark_inplace) and its liveness. Both
    depend on its wiring alone (names, inputs, each op's in-place kind, the `inplace:` rows),
    which variants of a sweep that differ in widths share (a Wide-ResNet's k at one depth,
    each MobileNet alpha): worked out once per wiring."""
    nodes = graph.nodes
    wiring = (_wiring(nodes, instances), tuple(given.items()))
    hit = memo.WIRINGS.get(wiring)
    if hit is None:
        mark_inplace(graph, given)
        hit = (tuple([n.inplace for n in nodes]), liveness(graph))
        memo.WIRINGS.put(wiring, None, hit)
    else:
        for node, flag in zip(nodes, hit[0]):
            node.inplace = flag
    return hit[1]


def _wiring(nodes: list[Node], instances: list[Instance]) -> tuple:
    """The wiring of these nodes as a key: each node outside the blocks made as its name,
    inputs and op's `memory_kind`; each outermost block (a Wide-ResNet at depth 100 has 48) as
    its recording's wiring, its first node's name and its inputs, which fix all its nodes'."""
    key: list[Any] = []
    k = 0
    for start, stop, recording, sources in sorted(instances, key=lambda i: (i[0], -i[1])):
        if start >= k and stop > start:
            key.extend([(n.name, tuple(n.inputs), memory_kind(n.op)) for n in nodes[k:start]])
            key.append((recording.wiring, nodes[start].name, sources))
            k = stop
    key.extend([(n.name, tuple(n.inputs), memory_kind(n.op)) for n in nodes[k:]])
    return tuple(key)


def _head(row: dict[str, Any]) -> tuple[str, str]:
    """A row's op key ('block' for a block) and the op or block it names, its name checked:
    what its keys alone decide, once per row."""
    hit = _HEADS.get(row)
    if hit is not None:
        return hit
    heads = [k for k in row if k in OPS or k == "block"]
    if len(heads) > 1:      # `bn: true` on a conv row is sugar, not a second op
        heads = [k for k in heads if k not in SUGAR_KEYS]
    if len(heads) != 1:
        candidates = [k for k in row if k not in ROW_KEYS | SUGAR_KEYS]
        if heads:
            raise SpecError(f"a row has one op, this one has {', '.join(heads)}")
        word = candidates[0] if candidates else next(iter(row), "")
        raise SpecError(f"unknown op '{word}'" if candidates else "row names no op",
                        hint=did_you_mean(str(word), [*OPS, "block"]))
    head = heads[0]
    name = row.get("name")
    if name is not None and (not isinstance(name, str) or not NAME.match(name)):
        raise SpecError(f"name {short(name)} must be a word of letters, digits and _")
    kind = row.get("block") if head == "block" else head
    if not isinstance(kind, str):
        raise SpecError(f"unknown block {short(kind)}")
    return _HEADS.put(row, (head, kind))


def _form(row: dict[str, Any], head: str
          ) -> tuple[type[Op], frozenset[str], dict[str, Any], type[Op] | None]:
    """What a layer row's keys alone decide, checked once per row: its op class, the sugar it
    is written with (`bn:`, `act:`), the fields its op reads (a conv or linear with `bn:` has
    no bias unless the row says) and the activation class of `act:`."""
    hit = _FORMS.get(row)
    if hit is not None:
        return hit
    cls = op_class(head)
    sugar = frozenset(k for k in SUGAR_KEYS if row.get(k)) if head in SUGAR_OPS else frozenset()
    extra = {"proj", "inplace"} if head == "add" else {"inplace"}
    allowed = op_keys(cls) | ROW_KEYS | extra | (SUGAR_KEYS if head in SUGAR_OPS else set())
    for k in row:
        if k not in allowed:
            raise SpecError(f"unknown key '{k}' for {head}", hint=did_you_mean(str(k), allowed))
    if sugar and "inplace" in row:
        raise SpecError("inplace: sets one op's flag; write the conv/linear sugar as rows")
    fields_row = dict(row)
    if "bn" in sugar and "bias" not in row:
        fields_row["bias"] = False     # a bias before BatchNorm is redundant
    act = None
    if "act" in sugar:
        if not isinstance(row["act"], str):
            raise SpecError(f"act must name an activation, got {short(row['act'])}")
        act = op_class(row["act"])
        if not issubclass(act, Activation):
            known = ", ".join(k for k, c in OPS.items() if issubclass(c, Activation))
            raise SpecError(f"act must be an activation ({known}), got '{row['act']}'")
    return _FORMS.put(row, (cls, sugar, fields_row, act))


def _shape_vars_in(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(SHAPE_VARS.keys() & names))


def _repeated(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row that each copy of a `repeat:` row runs: the first reads the row's `from:`,
    the others the copy before. The same objects every time, so that what is memoised per
    row (its ops, the names it reads) serves every copy in every expansion."""
    hit = _REPEATED.get(row)
    if hit is not None:
        return hit
    first = {k: v for k, v in row.items() if k not in ("repeat", "name", "expect", "if")}
    rest = {k: v for k, v in first.items() if k != "from"}
    return _REPEATED.put(row, (first, rest))


def _alike_after_first(row: dict[str, Any], definition: dict[str, Any]) -> bool:
    """Whether the copies of a repeated block after the first are made alike: what sees the
    copy's index `i` (the row's fields, the block's args, let and its own rows' `if:`; all
    of the block checked) compares it with 0 alone (`stride: "s if i == 0 else 1"`)."""
    hit = _AFTER_FIRST.get(row)
    if hit is None:
        hit = _AFTER_FIRST.put(row, all(expr.first_apart(text, "i")
                                        for text in memo.strings_in([row, definition])
                                        if "i" in memo.IDENTIFIER.findall(text)))
    return hit


def _block_parts(name: str, definition: Any) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """A block definition's input names, args and let, checked once per definition."""
    hit = _BLOCK_PARTS.get(definition)
    if hit is not None:
        return hit
    if not isinstance(definition, dict) or not isinstance(definition.get("layers"), list):
        raise SpecError(f"block '{name}' needs a 'layers:' list")
    for key in set(definition) - set(BLOCK_KEYS):
        raise SpecError(f"unknown key '{key}' in block '{name}'", hint=did_you_mean(str(key), BLOCK_KEYS))
    names = definition.get("inputs", ["in"])
    if not isinstance(names, list) or not all(isinstance(n, str) and NAME.match(n) for n in names):
        raise SpecError(f"block '{name}' inputs must be a list of names, got {short(names)}")
    declared = definition.get("args") or {}
    if not isinstance(declared, dict):
        raise SpecError(f"block '{name}' args must be a mapping")
    let = definition.get("let") or {}
    if not isinstance(let, dict):
        raise SpecError(f"block '{name}' let must be a mapping")
    return _BLOCK_PARTS.put(definition, (names, declared, let))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str) and "x" in value:
        return [int(v) if v.isdigit() else v for v in value.split("x")]
    return value if isinstance(value, list) else [value]


