"""Config loading: YAML -> plain data -> frozen dataclass, with ``--set`` edits.

Every parameter object in attnkit is a frozen dataclass, and every level
(golden model, simulator, RTL, testbench) reads the same object. A config is
read into plain data, ``--set dotted.key=value`` edits that data, and
:func:`build` turns it into the dataclass, checking each key and type and
naming the file and key path of anything wrong.

Dataclasses check their own value ranges in ``__post_init__`` by raising
:class:`FieldError` (the field is then named in the message) or ValueError.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from attnkit.errors import ConfigError

T = TypeVar("T")


class FieldError(ValueError):
    """An impossible value for one field of a parameter dataclass."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def integers(obj: Any, *names: str) -> None:
    """Refuse a field of ``obj`` that is not an ``int`` (a bool too: Python counts ``True`` as 1), for objects built
    in Python, which :func:`build`'s type check does not see."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(name, f"expected an integer, got {value!r}")


def positive(obj: Any, *names: str) -> None:
    """Refuse a field of ``obj`` (a parameter dataclass, in ``__post_init__``) that is not above 0."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not value > 0:
            raise FieldError(name, f"{value!r}; it must be positive")


def at_least(obj: Any, minimum: int, *names: str) -> None:
    """Refuse a field of ``obj`` below ``minimum``."""
    for name in names:
        value = getattr(obj, name)
        if value < minimum:
            raise FieldError(name, f"{value!r}; it must be at least {minimum}")


def within(path: str, value: int, lo: int, hi: int, unit: str = "", note: str = "") -> None:
    """Refuse ``value`` (the field at ``path``) outside ``lo .. hi``; ``unit`` follows the value in the message,
    ``note`` the range."""
    if not lo <= value <= hi:
        raise FieldError(
            path, f"{value}{' ' + unit if unit else ''}; expected {lo} to {hi}{' ' + note if note else ''}"
        )


def required(default: Any) -> Any:
    """A dataclass field that a config file must give, though Python code may rely on its default."""
    return dataclasses.field(default=default, metadata={"required": True})


def load_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> Any:
    """Read a YAML file, turning I/O and syntax errors into one-line ConfigErrors.

    A mapping with ``extends: NAME`` is that config with this file's keys laid
    over it: mappings merge key by key, any other value (a list, a number)
    replaces the base's. NAME resolves like a command-line name, in the folder
    this file is in (``arch``, ``workloads``, ...; a file extending its own
    name gets the next one on the search path), or is a path relative to this
    file. So a design that differs from another in a few keys states only
    those, and a value derived once lives in one file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: {where}YAML syntax error: {problem}") from None
    if isinstance(data, dict) and "extends" in data:
        data = dict(data)
        base = _base_path(path, data.pop("extends"))
        if base.resolve() in {p.resolve() for p in (*_chain, path)}:
            cycle = " -> ".join(str(p) for p in (*_chain, path, base))
            raise ConfigError(f"{path}: extends: a cycle ({cycle})")
        base_data = load_yaml(base, (*_chain, path))
        if not isinstance(base_data, dict):
            raise ConfigError(f"{path}: extends: {base} is not a mapping")
        data = _overlay(base_data, data)
    return data


_PARSED: dict[str, Any] = {}  # YAML text -> its data (see parse_yaml)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, a text met before in this process parsed once (a copy of its data is handed
    out, so a caller's edits stay its own). libyaml's parser where PyYAML has it: its data is the pure-Python
    loader's (the same constructor builds it; a test compares them on every shipped config); a text it refuses
    goes to the pure-Python loader, which gives the data or the error it always gave."""
    if text not in _PARSED:
        try:
            data = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError:
            data = yaml.safe_load(text)  # the error (or data) of the pure-Python parser
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[text] = data
    return copy.deepcopy(_PARSED[text])


def extends_of(path: str | Path) -> str | None:
    """The ``extends:`` name a config file gives, or None (also for a file that does not parse)."""
    try:
        data = parse_yaml(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return str(data["extends"]) if isinstance(data, dict) and "extends" in data else None


def _base_path(path: Path, name: Any) -> Path:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: extends: expected a config name or path, got {_describe(name)}")
    if name.endswith(_SUFFIXES) or "/" in name:
        return path.parent / name
    folder = path.parent.name if path.parent.name in FOLDERS else None
    if folder is None:
        raise ConfigError(
            f"{path}: extends: {name!r} is a name, but {path.parent} is not one of the config folders "
            f"({', '.join(FOLDERS)}); give a path relative to the file"
        )
    # the first file of that name on the search path other than this one, so that ./configs/arch/a100.yaml
    # can extend the shipped a100
    found = [c for c in candidates(name, folder) if c.resolve() != path.resolve()]
    if not found:
        looked = ", ".join(str(root / folder) for _, root in search_path())
        raise ConfigError(f"{path}: extends: no other {folder} config named {name!r} (looked in: {looked})")
    return found[0]


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _overlay(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_data(obj: Any) -> Any:
    """The plain-data (YAML-able) form of a parameter object."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_data(v) for k, v in obj.items()}
    return obj


def apply_sets(data: dict[str, Any], sets: Iterable[str], cls: type | None = None) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` applied.

    Values are parsed as YAML scalars (``4`` is an int, ``true`` a bool).
    A key must exist in ``data`` or, when ``cls`` (the dataclass ``data``
    describes) is given, be one of its fields: a file need not list a field
    that has a default for ``--set`` to change it, but a typo is refused.
    Setting one field of a nested dataclass the file leaves out (or writes as
    text, like ``ap_fixed<16,4>``) edits that field of the value the parent
    gives it (its default or default_factory), keeping the other fields.
    """
    data = copy.deepcopy(data)
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set array_2d.rows=64")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node, node_cls = data, cls
        parts = key.split(".")
        for depth, part in enumerate(parts):
            fields = _field_types(node_cls)
            if not isinstance(node, dict) or (part not in node and part not in fields):
                where = ".".join(parts[:depth]) or "top level"
                known = sorted(set(node) | set(fields)) if isinstance(node, dict) else []
                raise ConfigError(f"--set {key}: unknown key {part!r} at {where} (known: {', '.join(known) or 'none'})")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                kinds = _kind_classes(_hints(node_cls).get(part)) if fields.get(part) is None and node_cls else {}
                if kinds:  # one of several kinds (a system's arch): the data's kind picks the class
                    node[part] = _kind_data(kinds, node.get(part), f"--set {key}: {'.'.join(parts[: depth + 1])}")
                    fields[part] = kinds[node[part]["kind"]]
                if fields.get(part) is not None and node_cls is not None:
                    node[part] = _nested_data(
                        node_cls,
                        part,
                        node.get(part, dataclasses.MISSING),
                        f"--set {key}: cannot edit {'.'.join(parts[: depth + 1])}",
                    )
                node_cls = fields.get(part)
                node = node[part]
    return data


def _nested_data(parent: type, name: str, current: Any, where: str) -> Any:
    """The plain data of dataclass field ``name`` of ``parent`` as a mapping one of its fields can be set in.

    Absent from the data: the parent's default for the field, in full (not the
    nested class's own defaults, which the parent may override). Text (a
    ``from_string`` format): parsed. A mapping is kept: the file's keys, the
    parent's default for the rest, as :func:`build` reads it.
    """
    f = next(f for f in dataclasses.fields(parent) if f.name == name)
    tp = _hints(parent)[name]
    if current is dataclasses.MISSING:
        if f.metadata.get("required"):
            return {}  # the file must give it; build says so
        default = _field_default(f)
        return to_data(default) if dataclasses.is_dataclass(default) else {}
    if isinstance(current, str) and getattr(tp, "CONFIG_FOLDER", None):
        path = referenced(tp, current, where)
        if hasattr(tp, "from_config"):  # a format of its own: edit the object it describes
            return to_data(from_file(tp, load_yaml(path), str(path)))
        return load_yaml(path)
    if isinstance(current, str) and hasattr(tp, "from_string"):
        try:
            return to_data(tp.from_string(current))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    return current


def _kind_classes(tp: Any) -> dict[str, type]:
    """A union of parameter classes told apart by their ``kind`` (``SpatialArch | GpuArch``), as
    {kind: class}; {} for any other type."""
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return {}
    out = {}
    for cls in typing.get_args(tp):
        f = {g.name: g for g in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if "kind" not in f or not isinstance(f["kind"].default, str):
            return {}
        out[f["kind"].default] = cls
    return out


def _kind_data(kinds: dict[str, type], value: Any, where: str) -> dict[str, Any]:
    """The plain data of a field that is one of ``kinds``: a config name or path is read, its ``kind`` checked."""
    if isinstance(value, str):
        first = next(iter(kinds.values()))
        path = referenced(first, value, where)
        value = load_yaml(path)
        where = str(path)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a config name or a mapping, got {_describe(value)}")
    kind = value.get("kind", next(iter(kinds)))
    if kind not in kinds:
        raise ConfigError(f"{where}: kind: expected one of {', '.join(kinds)}, got {kind!r}")
    return {**value, "kind": kind}


def _field_types(cls: type | None) -> dict[str, type | None]:
    """Field name -> dataclass type (or None for a leaf) of dataclass ``cls``."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return {}
    return {
        name: (tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None)
        for name, tp in _hints(cls).items()
    }


def referenced(tp: type, name: str, where: str) -> Path:
    """The file a config names for a field of type ``tp`` (``arch: rtl-attention-4x4`` is
    ``arch/rtl-attention-4x4.yaml`` on the search path, as ``tp.CONFIG_FOLDER`` says)."""
    try:
        return resolve(name, tp.CONFIG_FOLDER)  # type: ignore[attr-defined]  # parameter classes define CONFIG_FOLDER
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def build(cls: type[T], data: Any, source: str, path: str = "") -> T:
    """Build dataclass ``cls`` from plain data, refusing anything wrong.

    ``source`` names where the data came from (a file, or ``defaults``) and
    ``path`` is the key path of ``data`` inside it; both go into errors.
    """
    where = f"{source}: {path}" if path else source
    if isinstance(data, str) and hasattr(cls, "from_string"):
        try:
            return cls.from_string(data)  # type: ignore[attr-defined, no-any-return]  # QFormat's text form
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # cls is a dataclass
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected one of: {', '.join(fields)})")
    hints = _hints(cls)  # type: ignore[arg-type]  # a class is hashable; T is unbounded
    kwargs = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = convert(hints[name], _with_parent_default(f, hints[name], data[name]), source, key)
        elif f.metadata.get("required") or (
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ):
            raise ConfigError(f"{source}: {key}: missing (required by {cls.__name__})")
    try:
        return cls(**kwargs)
    except FieldError as e:
        key = f"{path}.{e.field}" if path else e.field
        raise ConfigError(f"{source}: {key}: {e.message}") from None
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def _field_default(f: dataclasses.Field[Any]) -> Any:
    """The value a dataclass gives field ``f`` when it is not passed (MISSING if none)."""
    return f.default if f.default_factory is dataclasses.MISSING else f.default_factory()


def _with_parent_default(f: dataclasses.Field[Any], tp: Any, value: Any) -> Any:
    """A nested dataclass given as a partial mapping: the keys it leaves out take the value the parent's
    default gives them (which may differ from the nested class's own defaults), except those the nested
    class requires a file to give."""
    if f.metadata.get("required") or not isinstance(value, dict) or not dataclasses.is_dataclass(tp):
        return value
    default = _field_default(f)
    if not dataclasses.is_dataclass(default):
        return value
    required = {g.name for g in dataclasses.fields(tp) if g.metadata.get("required")}
    return _overlay({k: v for k, v in to_data(default).items() if k not in required}, value)


def load_named_fields(obj: Any) -> None:
    """In ``__post_init__``: replace each field of ``obj`` given as a config name (a str where a parameter
    class is expected, as Python code may pass ``arch="fusemax"``) by the object that config describes."""
    for name, tp in _hints(type(obj)).items():  # type: ignore[arg-type]  # a class is hashable
        value = getattr(obj, name)
        wanted = _kind_classes(tp) or ({"": tp} if getattr(tp, "CONFIG_FOLDER", None) else {})
        if isinstance(value, str) and wanted:
            object.__setattr__(obj, name, convert(tp, value, type(obj).__name__, name))


def from_file(cls: type[T], data: Any, source: str) -> T:
    """``cls`` from a whole file's data: through ``cls.from_config(data, source)`` when the class reads a
    format of its own (a model card's ``config.json``), else :func:`build`."""
    reader = getattr(cls, "from_config", None)
    return reader(data, source) if reader is not None else build(cls, data, source)


def load(cls: type[T], path: str | Path | None = None, sets: Iterable[str] = (), default: T | None = None) -> T:
    """Load ``cls`` from a YAML file (or from ``default``/``cls()``), then apply ``sets``."""
    sets = list(sets)
    if path is not None:
        data, source = load_yaml(path), str(path)
        if data is None:
            raise ConfigError(f"{path}: the file is empty")
    else:
        data, source = to_data(default if default is not None else cls()), "defaults"
    if sets:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
        data = apply_sets(data, sets, cls)
        source += " with --set"
    return build(cls, data, source)


def edit(obj: T, sets: Iterable[str]) -> T:
    """A parameter object with ``dotted.key=value`` edits applied (the object itself when there are none);
    the one way edits reach an object already loaded, as :func:`apply_sets` is for a file's data."""
    sets = list(sets)
    if not sets:
        return obj
    cls = type(obj)
    return build(cls, apply_sets(to_data(obj), sets, cls), "--set")


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def convert(tp: Any, value: Any, source: str, key: str) -> Any:
    where = f"{source}: {key}"
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, source, key)
        kinds = _kind_classes(tp)
        if kinds and not isinstance(value, tuple(kinds.values())):
            from_text = isinstance(value, str)
            data = _kind_data(kinds, value, where)
            src, at = (str(referenced(next(iter(kinds.values())), value, where)), "") if from_text else (source, key)
            return build(kinds[data["kind"]], data, src, at)
        return value
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, choices))}, got {_describe(value)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [convert(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value))]
        else:
            item_tp = args[0] if args else Any
            items = [convert(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: convert(vt, v, source, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, str) and getattr(tp, "CONFIG_FOLDER", None):
            path = referenced(tp, value, where)
            return from_file(tp, load_yaml(path), str(path))
        return build(tp, value, source, key)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        names = [m.name for m in tp]
        if isinstance(value, tp):
            return value
        if isinstance(value, str) and value in names:
            return tp[value]
        raise ConfigError(f"{where}: expected one of {', '.join(names)}, got {_describe(value)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 4e9 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
        return value
    return value


# --- Config names and the search path ---------------------------------------------------------
#
# A config is given by path, or by name: ``fusemax`` in folder ``arch`` is the first
# ``<root>/arch/fusemax.yaml`` over the roots ./configs, each entry of ATTNKIT_CONFIG_PATH
# (colon-separated), then the configs shipped in the package. A user's own designs thus live
# in their own repository and can shadow a shipped one of the same name.

# Installed, the shipped configs are package data (attnkit/configs/); in the source tree they
# sit beside the package (README, Layout).
_INSTALLED = Path(__file__).resolve().parent / "configs"
SHIPPED = _INSTALLED if _INSTALLED.is_dir() else Path(__file__).resolve().parent.parent / "configs"
FOLDERS = (
    "arch",
    "workloads",
    "energy",
    "sweeps",
    "anchors",
    "blocks",
    "devices",
    "measurements",
    "models",
    "systems",
    "synthesis",
)
_SUFFIXES = (".yaml", ".yml", ".json")  # JSON is YAML: a model card's config.json is read as it is


def search_path() -> list[tuple[str, Path]]:
    """The config roots in search order, each with where it came from."""
    import os

    roots = [("./configs", Path.cwd() / "configs")]
    for entry in os.environ.get("ATTNKIT_CONFIG_PATH", "").split(os.pathsep):
        if entry:
            roots.append(("ATTNKIT_CONFIG_PATH", Path(entry).expanduser()))
    roots.append(("shipped", SHIPPED))
    seen, unique = set(), []
    for origin, root in roots:
        key = root.resolve() if root.exists() else root
        if key not in seen:
            seen.add(key)
            unique.append((origin, root))
    return unique


def candidates(name: str, folder: str) -> list[Path]:
    """Every file on the search path that the name ``name`` in ``folder`` could mean, first wins."""
    found = []
    for _, root in search_path():
        for suffix in _SUFFIXES:
            p = root / folder / f"{name}{suffix}"
            if p.is_file():
                found.append(p)
                break
    return found


_shadow_noted: set[tuple[str, str]] = set()


def resolve(name_or_path: str | Path, folder: str) -> Path:
    """A config by path, or by name through the search path (``fusemax`` -> .../arch/fusemax.yaml).

    A name found in two places uses the first and says so once on stderr; a
    name found nowhere is a ConfigError listing where it looked.
    """
    p = Path(name_or_path)
    if p.is_file() or p.suffix in _SUFFIXES or len(p.parts) > 1:
        return p
    found = candidates(str(name_or_path), folder)
    if not found:
        looked = ", ".join(str(root / folder) for _, root in search_path())
        known = sorted(names(folder))
        raise ConfigError(
            f"no {folder} config named {str(name_or_path)!r} (looked in: {looked}; "
            f"known names: {', '.join(known) or 'none'})"
        )
    if len(found) > 1 and (folder, str(name_or_path)) not in _shadow_noted:
        import sys

        _shadow_noted.add((folder, str(name_or_path)))
        print(
            f"attnkit: note: {folder} config {str(name_or_path)!r} is in {len(found)} places on the search path; "
            f"using {found[0]} (not {', '.join(map(str, found[1:]))})",
            file=sys.stderr,
        )
    return found[0]


def names(folder: str) -> dict[str, list[Path]]:
    """Every config name in ``folder`` on the search path, with the files it could mean (first wins)."""
    out: dict[str, list[Path]] = {}
    for _, root in search_path():
        d = root / folder
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.suffix in _SUFFIXES and f.is_file():
                out.setdefault(f.stem, []).append(f)
    return out


def field_type(obj: Any, dotted: str) -> Any:
    """The type hint of the field at ``dotted`` in dataclass ``obj``, or None if there is no such field."""
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            return None
        hints = _hints(type(obj))
        if part not in hints:
            return None
        tp, obj = hints[part], getattr(obj, part)
    return tp


def field_names(cls: type) -> set[str]:
    """The init fields of dataclass ``cls``."""
    return set(_hints(cls))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Type hints of a dataclass's init fields (cached: typing.get_type_hints is slow)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def apply_edits(obj: T, edits: Iterable[tuple[str, Any]]) -> T:
    """``obj`` with every ``(dotted key, value)`` of ``edits`` set, each dataclass replaced once.

    Each level is rebuilt once with all its new fields, so every check in
    ``__post_init__`` sees the point's final values (as building the whole
    config from YAML + ``--set`` would), never a half-edited design.
    """
    here: dict[str, Any] = {}
    nested: dict[str, list[tuple[str, Any]]] = {}
    fields = _hints(type(obj)) if dataclasses.is_dataclass(obj) and not isinstance(obj, type) else {}
    for key, value in edits:
        head, _, rest = key.partition(".")
        if head not in fields:
            raise ValueError(f"{type(obj).__name__} has no field {head!r}")
        if rest:
            nested.setdefault(head, []).append((rest, value))
        else:
            here[head] = value
    for head, sub in nested.items():
        here[head] = apply_edits(here.get(head, getattr(obj, head)), sub)
    return dataclasses.replace(obj, **here) if here else obj  # type: ignore[type-var]  # obj: a dataclass
