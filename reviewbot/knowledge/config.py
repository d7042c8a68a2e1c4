"""Configuration: built-in tables, profiles, the user's config file and the tree's .reviewbot.toml.

Layers, lowest first: the built-in tables (reviewbot.c.apis and the defaults below), the
enabled profiles (reviewbot/profiles/NAME.toml), the user config
($XDG_CONFIG_HOME/reviewbot/config.toml), the tree's `.reviewbot.toml`, and an extra file named
on the command line. Tables merge key by key (a later layer wins), lists add up, a scalar is
taken from the last layer that sets it. The schema is in docs/config.md.

A profile is enabled by name, or by `auto` when the series touches one of the directories the
profile lists. That needs the touched paths, known only once the series is loaded, so a
profile is merged *under* a config already built: it fills in what no config file set.
`Config.for_paths` does that for `auto` (build_knowledge calls it too).
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import functools
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from reviewbot.c.apis import LOCK_APIS, REFERENCE_PAIRS, LockApi
from reviewbot.c.cache import BOUND_ENV
from reviewbot.errors import InputError
from reviewbot.limits import Limits, limit_keys

AUTO = "auto"
TREE_CONFIG = ".reviewbot.toml"
COUNTER, STATE, BIT = "counter", "state", "bit"  # the kinds of tracked field
TRACKED_KINDS = (COUNTER, STATE, BIT)
IGNORE = "ignore"  # a [tracked] kind: never track this field, even when found automatically
LOCK_OPS = ("acquire", "release", "assert", "try", "try0")
# set-up and tear-down, named verb last (fuse_file_open) or verb first (fuse_alloc_inode); a
# superblock being filled in (fuse_fill_super_common) is not mounted yet
DEFAULT_EXCLUSIVE = ("*_open", "*_release", "*_evict*", "*_init", "*_init_*", "*_alloc", "*_alloc_*", "*_free",
                     "*_free_*", "*_destroy", "*_destroy_*", "*_fill_super*", "*_setup_super*")
DEFAULT_MIN_SITES = 2
DEFAULT_MIN_SHARE = 0.75
LORE_URL_ENV = "REVIEWBOT_LORE_URL"
CONFIG_SOURCE = "config"  # origin of a setting made in a config file rather than a profile


@dataclass(frozen=True)
class Layer:
    """One parsed and validated config or profile file."""

    source: str  # "config", or "profile:NAME"
    settings: dict  # the validated sections, see _parse


@dataclass
class Config:
    profiles: list[str] = field(default_factory=lambda: [AUTO])  # as configured; may hold "auto"
    active_profiles: list[str] = field(default_factory=list)  # the profiles merged into the tables below
    lock_apis: dict[str, LockApi] = field(default_factory=lambda: dict(LOCK_APIS))
    reference_pairs: dict[str, str] = field(default_factory=lambda: dict(REFERENCE_PAIRS))
    pairs: dict[str, str] = field(default_factory=dict)  # function pairs: acquire -> release
    tracked: dict[str, str] = field(default_factory=dict)  # field key -> kind (or "ignore")
    guards: dict[str, str] = field(default_factory=dict)  # field key -> lock key
    type_hints: dict[str, str] = field(default_factory=dict)  # variable name -> struct type
    exclusive_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUSIVE))
    suppress: list[dict[str, str]] = field(default_factory=list)  # {rule, file?, function?, subject?}
    guard_min_sites: int = DEFAULT_MIN_SITES
    guard_min_share: float = DEFAULT_MIN_SHARE
    lore_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    tree: str | None = None
    exclusive_replaced: bool = False  # a config file dropped the built-in and profile patterns
    # (section, key) -> "profile:NAME" or "config": where a table entry came from; built-in
    # entries have none
    origins: dict[tuple[str, str], str] = field(default_factory=dict)

    def origin(self, section: str, key: str, default: str | None = CONFIG_SOURCE) -> str | None:
        """"profile:NAME" or "config": the file that made an entry. An entry no file made is a
        built-in one (`default=None` tells those apart) or was set on the Config directly."""
        return self.origins.get((section, key), default)

    def for_paths(self, paths) -> Config:
        """This config with the profiles `auto` enables for these (repository-relative) paths."""
        return self.with_profiles(profiles_for_paths(self, paths))

    def with_profiles(self, names: list[str]) -> Config:
        """A copy with these built-in profiles merged under the settings it has (self when
        they are all merged already)."""
        added = [name for name in names if name not in self.active_profiles]
        if not added:
            return self
        config = copy.deepcopy(self)
        shipped = builtin_profiles()
        for name in added:
            config._apply(shipped[name], below=True)
            config.active_profiles.append(name)
        return config

    def suppresses(self, rule: str, file: str, function: str, subject: str) -> bool:
        """Whether a [[suppress]] entry matches this finding (file, function, subject are globs)."""
        return any(entry["rule"] in (rule, "*")
                   and all(fnmatch.fnmatchcase(value, entry.get(name, "*"))
                           for name, value in (("file", file), ("function", function), ("subject", subject)))
                   for entry in self.suppress)

    def _apply(self, layer: Layer, below: bool = False) -> None:
        """Merge a layer over this config, or with `below` under it: then an entry is taken only
        where this config has none but a built-in one (a profile holds only tables)."""
        s = layer.settings
        tables = {"tracked": self.tracked, "guards": self.guards, "pairs": self.pairs, "types": self.type_hints,
                  "references": self.reference_pairs, "locks": self.lock_apis}
        for section, table in tables.items():
            for key, value in s.get(section, {}).items():
                builtin = section in ("references", "locks") and (section, key) not in self.origins
                if below and key in table and not builtin:
                    continue
                table[key] = value
                self.origins[(section, key)] = layer.source
        exclusive = s.get("exclusive", {})
        if exclusive.get("replace"):
            self.exclusive_patterns = []
            self.exclusive_replaced = True
        if not (below and self.exclusive_replaced):
            self.exclusive_patterns += [p for p in exclusive.get("functions", []) if p not in self.exclusive_patterns]
        self.profiles = s.get("profiles", self.profiles)
        self.suppress += s.get("suppress", [])
        inference = s.get("inference", {})
        self.guard_min_sites = inference.get("min_sites", self.guard_min_sites)
        self.guard_min_share = inference.get("min_share", self.guard_min_share)
        self.lore_url = s.get("lore_url", self.lore_url)
        self.limits = dataclasses.replace(self.limits, **s.get("limits", {}))


def source_label(source: str) -> str:
    """"profile:fuse" -> "profile fuse", for evidence text."""
    kind, _, name = source.partition(":")
    return f"profile {name}" if kind == "profile" else source


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "reviewbot" / "config.toml"


def load_config(tree: str | None = None, extra_path: str | None = None) -> Config:
    """The config for a review: user config, then `tree`/.reviewbot.toml, then `extra_path`.

    Missing user and tree files are fine; a missing extra file, bad TOML or a bad value is an
    InputError naming the file. REVIEWBOT_LORE_URL, when set, overrides lore_url.
    """
    others = [Path(tree) / TREE_CONFIG] if tree is not None and (Path(tree) / TREE_CONFIG).is_file() else []
    if extra_path is not None:
        if not Path(extra_path).is_file():
            raise InputError(extra_path, "no such config file")
        others.append(Path(extra_path))
    layers = [user_layer(user_config_path()), *(_machine_free(path) for path in others)]
    config = Config(tree=tree)
    for layer in layers:
        config._apply(layer)
    if os.environ.get(LORE_URL_ENV):
        config.lore_url = _lore_url(os.environ[LORE_URL_ENV], LORE_URL_ENV)
    return config.with_profiles([name for name in config.profiles if name != AUTO])


def user_layer(path: Path) -> Layer:
    """The user config at `path` (none there: an empty one)."""
    return _read_layer(path, CONFIG_SOURCE) if path.is_file() else Layer(CONFIG_SOURCE, {})


def user_limits(path: Path) -> Limits:
    """The limits the user config at `path` sets: the cache's bound is read from it alone."""
    return dataclasses.replace(Limits(), **user_layer(path).settings.get("limits", {}))


def _machine_free(path: Path) -> Layer:
    """A tree's config, or one named on the command line: it bounds its input, not this
    machine's cache, so a cache_bytes there (which would do nothing) is an error."""
    layer = _read_layer(path, CONFIG_SOURCE)
    if "cache_bytes" in layer.settings.get("limits", {}):
        raise InputError(str(path), "[limits] cache_bytes bounds this machine's cache: set it in the user "
                         f"config ({user_config_path()}) or ${BOUND_ENV}, not here")
    return layer


def builtin_profile_names() -> list[str]:
    return sorted(builtin_profiles())


@functools.cache
def builtin_profiles() -> dict[str, Layer]:
    """The profiles shipped in reviewbot/profiles, by name."""
    found = {}
    for entry in resources.files("reviewbot").joinpath("profiles").iterdir():
        if entry.name.endswith(".toml"):
            name = entry.name[: -len(".toml")]
            found[name] = _parse_text(entry.read_bytes(), f"profile {name}", f"profile:{name}")
    return found


def profiles_for_paths(config: Config, paths) -> list[str]:
    """The profiles to apply: those named in config.profiles, and with `auto` every built-in
    profile one of whose directories (its `[profile] paths`) holds one of `paths`."""
    names = [name for name in config.profiles if name != AUTO]
    if AUTO in config.profiles:
        paths = list(paths)
        for name, layer in sorted(builtin_profiles().items()):
            prefixes = layer.settings.get("profile", {}).get("paths", [])
            if name not in names and any(_under(path, prefix) for path in paths for prefix in prefixes):
                names.append(name)
    return names


def _under(path: str, directory: str) -> bool:
    """fs/fuse/file.c is under fs/fuse/, and so is /src/linux/fs/fuse/file.c."""
    return path.startswith(directory) or f"/{directory}" in path


def _read_layer(path: Path, source: str) -> Layer:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(str(path), f"cannot read: {err.strerror}") from None
    return _parse_text(raw, str(path), source)


def _parse_text(raw: bytes, where: str, source: str) -> Layer:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(where, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(where, f"invalid TOML: {err}") from None
    return Layer(source, _parse(data, where, is_profile=source != CONFIG_SOURCE))


# ---- validation: every check names the section and key it rejects ----

_TOP_KEYS = {"profiles", "lore_url", "tracked", "guards", "locks", "references", "pairs", "types",
             "exclusive", "inference", "suppress", "limits"}
# a profile describes a subsystem: its tables, not how a review runs
_PROFILE_KEYS = {"profile", "tracked", "guards", "locks", "references", "pairs", "types", "exclusive"}


def _parse(data: dict, where: str, is_profile: bool) -> dict:
    allowed = _PROFILE_KEYS if is_profile else _TOP_KEYS
    for key in data:
        if key not in allowed:
            raise InputError(where, f"unknown setting '{key}' (known: {', '.join(sorted(allowed))})")
    out: dict = {}
    if "profiles" in data:
        out["profiles"] = _profiles(data["profiles"], where)
    if "lore_url" in data:
        out["lore_url"] = _lore_url(data["lore_url"], where)
    if "tracked" in data:
        out["tracked"] = {key: _choice(kind, (*TRACKED_KINDS, IGNORE), where, f"[tracked] '{key}'")
                          for key, kind in _field_table(data["tracked"], "tracked", where).items()}
    if "guards" in data:
        out["guards"] = {key: _lock_key(lock, where, f"[guards] '{key}'")
                         for key, lock in _field_table(data["guards"], "guards", where).items()}
    if "locks" in data:
        out["locks"] = {name: _lock_api(spec, where, f"[locks] '{name}'")
                        for name, spec in _table(data["locks"], "[locks]", where, _identifier).items()}
    for section in ("references", "pairs"):
        if section in data:
            out[section] = {name: _identifier(other, where, f"[{section}] '{name}'")
                            for name, other in _table(data[section], f"[{section}]", where, _identifier).items()}
    if "types" in data:
        out["types"] = {name: _identifier(struct, where, f"[types] '{name}'")
                        for name, struct in _table(data["types"], "[types]", where, _identifier).items()}
    if "exclusive" in data:
        out["exclusive"] = _exclusive(data["exclusive"], where)
        if is_profile and out["exclusive"]["replace"]:
            raise InputError(where, "[exclusive] replace is for config files, not profiles")
    if "inference" in data:
        out["inference"] = _inference(data["inference"], where)
    if "suppress" in data:
        out["suppress"] = _suppress(data["suppress"], where)
    if "limits" in data:
        out["limits"] = _limits(data["limits"], where)
    if "profile" in data:
        out["profile"] = _profile_meta(data["profile"], where)
    return out


def _lore_url(url, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(where, f"lore_url must be an http(s) URL, not {url!r}")
    return url.rstrip("/")


def _profiles(value, where: str) -> list[str]:
    known = builtin_profile_names()
    names = _string_list(value, where, "profiles")
    for name in names:
        if name != AUTO and name not in known:
            raise InputError(where, f"unknown profile '{name}' (known: {', '.join([AUTO, *known])})")
    return names


def _table(value, what: str, where: str, check_key) -> dict:
    if not isinstance(value, dict):
        raise InputError(where, f"{what} must be a table")
    for key in value:
        check_key(key, where, f"{what} key")
    return value


def _known_keys(table: dict, known: tuple[str, ...], where: str, what: str) -> None:
    for key in table:
        if key not in known:
            raise InputError(where, f"{what}: unknown key '{key}' (known: {', '.join(sorted(known))})")


def _field_table(value, section: str, where: str) -> dict[str, object]:
    """A table keyed by field keys. An unquoted dotted key (fuse_inode.lock = ...) is a nested
    table in TOML: flatten it back to the field key it was meant to be."""
    if not isinstance(value, dict):
        raise InputError(where, f"[{section}] must be a table")
    flat = {}
    for key, item in value.items():
        if isinstance(item, dict):
            for member, inner in item.items():
                if isinstance(inner, dict):
                    raise InputError(where, f"[{section}] '{key}.{member}.{next(iter(inner), '')}' is nested too deep")
                flat[f"{key}.{member}"] = inner
        else:
            flat[key] = item
    for key in flat:
        _field_key(key, where, f"[{section}]")
    return flat


def _field_key(key: str, where: str, what: str) -> str:
    """`struct.member` or `struct.member:BIT`."""
    base, colon, bit = key.partition(":")
    struct, dot, member = base.partition(".")
    if not (dot and struct.isidentifier() and member.isidentifier() and (not colon or bit.isidentifier())):
        raise InputError(where, f"{what} '{key}' is not a field key (struct.member or struct.member:BIT)")
    return key


def _lock_key(value, where: str, what: str) -> str:
    """`struct.member` for a lock inside a struct, or a global lock's variable name."""
    if not isinstance(value, str) or not all(part.isidentifier() for part in value.split(".")) \
            or value.count(".") > 1:
        raise InputError(where, f"{what}: {value!r} is not a lock (struct.member or a global name)")
    return value


def _identifier(value, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise InputError(where, f"{what}: {value!r} is not a C identifier")
    return value


def _choice(value, choices, where: str, what: str) -> str:
    if value not in choices:
        raise InputError(where, f"{what}: {value!r} is not one of {', '.join(choices)}")
    return value


def _string_list(value, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(where, f"{what} must be a list of non-empty strings")
    return value


def _lock_api(spec, where: str, what: str) -> LockApi:
    if not isinstance(spec, dict):
        raise InputError(where, f"{what} must be a table like {{ op = \"acquire\", arg = 0 }}")
    _known_keys(spec, ("op", "arg", "shared", "member", "global"), where, what)
    if "op" not in spec:
        raise InputError(where, f"{what}: 'op' is required ({', '.join(LOCK_OPS)})")
    op = _choice(spec["op"], LOCK_OPS, where, f"{what} op")
    arg = spec.get("arg", 0)
    if type(arg) is not int or arg < 0:
        raise InputError(where, f"{what}: arg must be an argument index (0, 1, ...), not {arg!r}")
    shared = spec.get("shared", False)
    if not isinstance(shared, bool):
        raise InputError(where, f"{what}: shared must be true or false, not {shared!r}")
    member = _identifier(spec["member"], where, f"{what} member") if "member" in spec else ""
    if "global" in spec:
        if "arg" in spec:
            raise InputError(where, f"{what}: give either arg or global, not both")
        return LockApi(op, arg=None, shared=shared, global_name=_lock_key(spec["global"], where, f"{what} global"))
    return LockApi(op, arg=arg, shared=shared, lock_suffix=member)


def _exclusive(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(where, "[exclusive] must be a table")
    _known_keys(value, ("functions", "replace"), where, "[exclusive]")
    out = {"functions": _string_list(value.get("functions", []), where, "[exclusive] functions")}
    replace_ = value.get("replace", False)
    if not isinstance(replace_, bool):
        raise InputError(where, f"[exclusive] replace must be true or false, not {replace_!r}")
    out["replace"] = replace_
    return out


def _inference(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(where, "[inference] must be a table")
    _known_keys(value, ("min_sites", "min_share"), where, "[inference]")
    sites, share = value.get("min_sites", 1), value.get("min_share", 1.0)  # defaults that pass
    if type(sites) is not int or sites < 1:
        raise InputError(where, f"[inference] min_sites must be a whole number >= 1, not {sites!r}")
    if type(share) not in (int, float) or not 0 < share <= 1:
        raise InputError(where, f"[inference] min_share must be a number in (0, 1], not {share!r}")
    out = dict(value)
    if "min_share" in out:
        out["min_share"] = float(share)
    return out


def _limits(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(where, "[limits] must be a table")
    kinds = limit_keys()
    _known_keys(value, tuple(kinds), where, "[limits]")
    out = {}
    for key, number in value.items():
        whole = type(number) is int
        if not (whole or (kinds[key] is float and type(number) is float)) or not 0 < number < float("inf"):
            kind = "a whole number" if kinds[key] is int else "a number"
            raise InputError(where, f"[limits] {key} must be {kind} above 0, not {number!r}")
        out[key] = kinds[key](number)
    return out


def _suppress(value, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise InputError(where, "suppress must be an array of tables: [[suppress]]")
    out = []
    for number, entry in enumerate(value, 1):
        what = f"[[suppress]] entry {number}"
        if not isinstance(entry, dict):
            raise InputError(where, f"{what} must be a table")
        _known_keys(entry, ("rule", "file", "function", "subject"), where, what)
        for key, item in entry.items():
            if not isinstance(item, str) or not item:
                raise InputError(where, f"{what}: {key} must be a non-empty string")
        if "rule" not in entry:
            raise InputError(where, f"{what}: 'rule' is required (a rule name, or \"*\")")
        out.append(dict(entry))
    return out


def _profile_meta(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(where, "[profile] must be a table")
    _known_keys(value, ("paths", "description"), where, "[profile]")
    return {"paths": _string_list(value.get("paths", []), where, "[profile] paths"),
            "description": str(value.get("description", ""))}

