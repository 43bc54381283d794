"""Loading spec files: YAML (safe loader only) -> Spec objects, one per network.

A spec file describes one network family: shared `blocks:` and `params:`, and `networks:`, each
with metadata (title, paper, year, input, accuracy, reference) and its `layers:` rows.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from archprof.errors import SpecError, did_you_mean
from archprof.spec import cache, memo

MAX_SPEC_BYTES = 2_000_000
NETWORK_KEYS = {"title", "paper", "year", "input", "params", "accuracy", "reference", "layers",
                "notes"}
FILE_KEYS = {"family", "paper", "year", "params", "blocks", "networks", "notes"}


class Located(dict):
    """A YAML mapping that remembers the line it starts on and each key's (1-based)."""
    line: int | None = None
    key_lines: tuple[int, ...] = ()     # in the keys' order


def key_line(mapping: Any, key: Any) -> int | None:
    """The line of `key` in a mapping as read (its first line where not known)."""
    lines = getattr(mapping, "key_lines", ())
    for k, at in zip(mapping, lines):
        if k == key:
            return at
    return getattr(mapping, "line", None)


class LocatedList(list):
    """A YAML sequence that remembers the line each item starts on (a bare word's row)."""
    item_lines: tuple[int, ...] = ()


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Located:
        mapping = Located()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = tuple(k.start_mark.line + 1 for k, _ in node.value)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                raise SpecError("mapping keys must be plain words", line=key_node.start_mark.line + 1)
            if key in mapping:
                raise SpecError(f"duplicate key '{key}'", line=key_node.start_mark.line + 1)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


    def construct_located_sequence(self, node: yaml.SequenceNode) -> LocatedList:
        items = LocatedList(self.construct_sequence(node))
        items.item_lines = tuple(item.start_mark.line + 1 for item in node.value)
        return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                        _Loader.construct_located_sequence)


@dataclass
class Spec:
    """One network of a family file, as written (expressions not yet evaluated)."""
    name: str
    file: str
    family: str
    title: str
    paper: str
    year: int | None
    input: list[Any]
    params: dict[str, Any]
    layers: list[Any]
    blocks: dict[str, Any]
    accuracy: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    line: int | None = None
    # the names its rows read (archprof.spec.memo.network_names), found when parsed
    reads: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # the hash of the file's bytes it was read from, with the rows and blocks read (`digest`)
    origin: tuple[bytes, Any, Any] | None = field(default=None, compare=False, repr=False)

    def digest(self) -> bytes:
        """The hash of the file this spec was read from, while its rows and blocks are the
        ones read from it (the programs kept for it are found by it: archprof.spec.cache);
        empty for a spec made otherwise or given other rows or blocks."""
        origin = self.origin
        if origin is None or origin[1] is not self.layers or origin[2] is not self.blocks:
            return b""
        return origin[0]


IMAGENET = "ImageNet"


def imagenet_accuracy(spec: Spec) -> dict[str, Any]:
    """The spec's accuracy if it is an ImageNet figure (`accuracy: {dataset: ...}` says
    otherwise, e.g. CIFAR-10), else {}: charts and picks compare ImageNet figures only."""
    return spec.accuracy if spec.accuracy.get("dataset", IMAGENET) == IMAGENET else {}


def spec_dir() -> Path:
    """Where the specs live: $ARCHPROF_SPECS, else the package's specs (a wheel carries the
    repository's specs/ as archprof/specs), else the source tree's specs/ folder."""
    return Path(_spec_folder())


def _spec_folder() -> str:
    """`spec_dir` as a string, what a look-up by name keys on: no pathlib code on that path
    (right after torch's work, with the CPU caches cold, it was a tenth of a look-up)."""
    folder = os.environ.get("ARCHPROF_SPECS")
    return _shipped_folder() if folder is None else folder


@lru_cache(maxsize=1)
def _shipped_folder() -> str:
    package = Path(__file__).resolve().parents[1]
    installed = package / "specs"
    return str(installed if installed.is_dir() else package.parent / "specs")


def read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise SpecError(f"cannot read spec: {err.strerror}", file=str(path)) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec is larger than {MAX_SPEC_BYTES:,} bytes", file=str(path))
    return data


def read_yaml(name: str, data: bytes) -> Any:
    """Parse YAML safely; every failure becomes a SpecError naming the file and line."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec is larger than {MAX_SPEC_BYTES:,} bytes", file=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"spec is not UTF-8 text (byte {err.start})", file=name) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except SpecError as err:
        raise err.located(file=name) from None
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise SpecError(f"invalid YAML: {err.problem or err}", file=name, line=line) from None
    except (yaml.YAMLError, RecursionError) as err:
        raise SpecError(f"invalid YAML: {err}", file=name) from None


def _mapping(value: Any, what: str, file: str, line: int | None = None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{what} must be a mapping, got {type(value).__name__}", file=file,
                        line=getattr(value, "line", line))
    return value


def _text(value: Any, what: str, file: str, line: int | None) -> str:
    """A free-text field (title, paper, notes): a string or a number, never a structure."""
    if isinstance(value, (list, dict)):
        raise SpecError(f"{what} must be text, got a {type(value).__name__}", file=file, line=line)
    return str(value)


def _unknown(mapping: dict, allowed: set, what: str, file: str) -> None:
    """The first key of `mapping` (in file order) that is not allowed, as an error on its line."""
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"unknown key '{key}' in {what}", file=file,
                            line=key_line(mapping, key), hint=did_you_mean(str(key), allowed))


def load_file(path: Path) -> dict[str, Spec]:
    """All networks of one spec file, by name: parsed once per distinct content, and the
    parse kept on disk for the next process (archprof.spec.cache)."""
    return _load(str(path), read_bytes(path))


@lru_cache(maxsize=256)
def _load(file: str, data: bytes) -> dict[str, Spec]:
    kept = cache.fetch(file, data)
    if isinstance(kept, dict) and kept and all(isinstance(s, Spec) and s.file == file for s in kept.values()):
        specs = kept
    else:
        specs = _parse(file, data)
        cache.store(file, data, specs)
    digest = hashlib.blake2b(data).digest()
    for spec in specs.values():
        spec.origin = (digest, spec.layers, spec.blocks)
    return specs


@lru_cache(maxsize=256)
def _parse(file: str, data: bytes) -> dict[str, Spec]:
    doc = _mapping(read_yaml(file, data), "a spec file", file)
    _unknown(doc, FILE_KEYS, "the spec file", file)
    networks = _mapping(doc.get("networks"), "networks", file)
    if not networks:
        raise SpecError("spec file defines no networks (expected a 'networks:' mapping)", file=file)
    blocks = _mapping(doc.get("blocks"), "blocks", file)
    shared = _mapping(doc.get("params"), "params", file)
    specs = {}
    for name, net in networks.items():
        net = _mapping(net, f"network '{name}'", file, getattr(networks, "line", None))
        line = getattr(net, "line", None)
        _unknown(net, NETWORK_KEYS, f"network '{name}'", file)
        layers = net.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpecError(f"network '{name}' needs a non-empty 'layers:' list", file=file, line=line)
        specs[str(name)] = Spec(
            name=str(name), file=file,
            family=_text(doc.get("family", Path(file).stem), "family", file, line),
            title=_text(net.get("title", name), "title", file, line),
            paper=_text(net.get("paper", doc.get("paper", "")), "paper", file, line),
            year=net.get("year", doc.get("year")), input=net.get("input", [3, 224, 224]),
            params={**shared, **_mapping(net.get("params"), "params", file, line)},
            layers=layers, blocks=blocks,
            accuracy=_mapping(net.get("accuracy"), "accuracy", file, line),
            reference=_mapping(net.get("reference"), "reference", file, line),
            notes=_text(net.get("notes", doc.get("notes", "")) or "", "notes", file, line),
            line=line, reads=memo.network_names(blocks, layers))
    return specs


def registry(directory: Path | None = None) -> dict[str, Spec]:
    """Every network of every spec file in the spec folder, by name. A missing or empty folder
    is a SpecError: no command can do anything useful without specs. The files are read again
    when one is added, removed or changed (name, inode, size, modification time): a look-up by
    name costs a directory scan, not reading every file."""
    directory = directory or spec_dir()
    where = "$ARCHPROF_SPECS" if "ARCHPROF_SPECS" in os.environ else "the spec folder"
    if not directory.is_dir():
        what = "is a file, not a folder" if directory.exists() else "does not exist"
        raise SpecError(f"{where} {directory} {what} (set ARCHPROF_SPECS to a folder of spec "
                        "YAML files, or reinstall archprof)")
    with os.scandir(directory) as entries:
        stamp = tuple(sorted((e.name, e.inode(), s.st_size, s.st_mtime_ns)
                             for e in entries if e.name.endswith(".yaml") for s in (e.stat(),)))
    found = _registry(os.path.realpath(directory), stamp)
    if not found:
        raise SpecError(f"{where} {directory} holds no spec files (*.yaml)")
    return dict(found)


# The last look-up's scan of each folder (by its name as `_spec_folder` gives it): its own
# stamp, each file's, the networks. Looking one network up by name then checks two stamps
# (the folder's: files added or removed; the network's file: edited) instead of scanning.
_SEEN: dict[str, tuple[tuple[int, int, int] | None, dict[str, tuple[int, int, int] | None],
                        dict[str, Spec]]] = {}


def _stamp(path: str | Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _lookup(name: str) -> Spec:
    directory = _spec_folder()
    seen = _SEEN.get(directory)
    if seen is not None:
        folder, files, found = seen
        spec = found.get(name)
        if spec is not None and _stamp(directory) == folder and _stamp(spec.file) == files[spec.file]:
            return spec
    specs = registry(Path(directory))
    _SEEN[directory] = (_stamp(directory), {s.file: _stamp(s.file) for s in specs.values()}, specs)
    if ":" in name and name not in specs:     # 'file.py:' or ':build': a callable half named
        raise SpecError(f"'{name}' names no callable: write MODULE:CALLABLE or "
                        "path/to/file.py:CALLABLE")
    if name not in specs:
        raise SpecError(f"unknown network '{name}'; known: {', '.join(sorted(specs))}",
                        hint=did_you_mean(name, specs))
    return specs[name]


@lru_cache(maxsize=16)
def _registry(folder: str, stamp: tuple) -> dict[str, Spec]:
    found: dict[str, Spec] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        for name, spec in load_file(path.resolve()).items():
            if name in found:
                raise SpecError(f"network '{name}' is defined twice (also in {found[name].file})",
                                file=spec.file, line=spec.line)
            found[name] = spec
    return found


def load_spec(name_or_path: str | Path | Spec) -> Spec:
    """A network by name ('vgg16'), by file ('my.yaml', if it holds one network) or 'file:name'."""
    if isinstance(name_or_path, Spec):
        return name_or_path
    text = str(name_or_path)
    file, _, net = text.rpartition(":")
    if not file.endswith((".yaml", ".yml")):
        file, net = text, ""
    if file.endswith((".yaml", ".yml")) or "/" in file:
        path = Path(file)
        specs = load_file(path)
        if net:
            if net not in specs:
                raise SpecError(f"no network '{net}' in {path}; it has: {', '.join(specs)}",
                                hint=did_you_mean(net, specs))
            return specs[net]
        if len(specs) > 1:
            raise SpecError(f"{path} defines several networks ({', '.join(specs)}); "
                            f"name one as {path}:NAME")
        return next(iter(specs.values()))
    return _lookup(text)
