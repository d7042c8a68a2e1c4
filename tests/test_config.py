"""Config loading: layers, profiles, `auto`, the documented schema, and every bad-config error."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reviewbot.c.apis import LOCK_APIS, REFERENCE_PAIRS, LockApi
from reviewbot.errors import InputError
from reviewbot.knowledge.config import (DEFAULT_EXCLUSIVE, Config, _parse_text, builtin_profile_names, load_config,
                                        profiles_for_paths, user_config_path)

ROOT = Path(__file__).resolve().parent.parent

FUSE_TRACKED = {
    "fuse_inode.iocachectr": "counter",
    "fuse_file.iomode": "state",
    "fuse_inode.state:FUSE_I_BACKING": "bit",
    "fuse_inode.state:FUSE_I_CACHE_IO_MODE": "bit",
}
FUSE_TYPES = {"fi": "fuse_inode", "ff": "fuse_file", "fc": "fuse_conn", "fm": "fuse_mount", "fb": "fuse_backing"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path):
    config = load_config(str(tmp_path))
    assert config.profiles == ["auto"]
    assert config.active_profiles == []
    assert config.lock_apis == LOCK_APIS
    assert config.reference_pairs == REFERENCE_PAIRS
    assert config.tracked == {} and config.guards == {} and config.pairs == {} and config.type_hints == {}
    assert config.exclusive_patterns == list(DEFAULT_EXCLUSIVE)
    assert (config.guard_min_sites, config.guard_min_share) == (2, 0.75)
    assert config.lore_url is None
    assert config.tree == str(tmp_path)
    assert config.suppress == []


def test_builtin_fuse_profile_by_name(tmp_path):
    write(tmp_path / ".reviewbot.toml", 'profiles = ["fuse"]\n')
    config = load_config(str(tmp_path))
    assert builtin_profile_names() == ["fuse"]
    assert config.active_profiles == ["fuse"]
    assert config.tracked == FUSE_TRACKED
    assert config.guards == {key: "fuse_inode.lock" for key in FUSE_TRACKED}
    assert config.type_hints == FUSE_TYPES
    assert config.exclusive_patterns == [*DEFAULT_EXCLUSIVE, "*evict*"]
    assert {config.origin("tracked", key) for key in FUSE_TRACKED} == {"profile:fuse"}
    assert config.origin("guards", "fuse_file.iomode") == "profile:fuse"


def test_auto_enables_a_profile_for_the_paths_a_series_touches():
    config = Config()
    assert profiles_for_paths(config, ["fs/fuse/file.c", "fs/fuse/fuse_i.h"]) == ["fuse"]
    assert profiles_for_paths(config, ["/src/linux/fs/fuse/iomode.c"]) == ["fuse"]
    assert profiles_for_paths(config, ["fs/ext4/inode.c", "fs/fusefoo/x.c"]) == []
    assert profiles_for_paths(Config(profiles=[]), ["fs/fuse/file.c"]) == []
    assert profiles_for_paths(Config(profiles=["fuse"]), ["fs/ext4/inode.c"]) == ["fuse"]

    applied = config.for_paths(["fs/fuse/file.c"])
    assert applied.active_profiles == ["fuse"]
    assert applied.tracked == FUSE_TRACKED
    assert applied.type_hints == FUSE_TYPES
    assert config.tracked == {}  # for_paths returns a new config
    assert applied.for_paths(["fs/fuse/inode.c"]) is applied


def test_tree_config_wins_over_an_auto_profile(tmp_path):
    write(tmp_path / ".reviewbot.toml", '[guards]\n"fuse_file.iomode" = "inode.i_rwsem"\n'
                                        '[tracked]\n"fuse_inode.state:FUSE_I_BACKING" = "ignore"\n'
                                        '[types]\nfi = "my_inode"\n')
    config = load_config(str(tmp_path)).for_paths(["fs/fuse/file.c"])
    assert config.guards["fuse_file.iomode"] == "inode.i_rwsem"
    assert config.origin("guards", "fuse_file.iomode") == "config"
    assert config.guards["fuse_inode.iocachectr"] == "fuse_inode.lock"
    assert config.tracked["fuse_inode.state:FUSE_I_BACKING"] == "ignore"
    assert config.type_hints["fi"] == "my_inode"


def test_a_profile_fills_in_under_settings_made_directly():
    config = Config(guards={"fuse_file.iomode": "inode.i_rwsem"}, type_hints={"ff": "my_file"},
                    reference_pairs={"igrab": "iput"}).for_paths(["fs/fuse/file.c"])
    assert config.guards == {**{key: "fuse_inode.lock" for key in FUSE_TRACKED}, "fuse_file.iomode": "inode.i_rwsem"}
    assert config.origin("guards", "fuse_file.iomode") == "config"
    assert config.type_hints == {**FUSE_TYPES, "ff": "my_file"}


def test_exclusive_replace_in_a_config_file_holds_against_an_auto_profile(tmp_path):
    write(tmp_path / ".reviewbot.toml", '[exclusive]\nfunctions = ["*_teardown"]\nreplace = true\n')
    config = load_config(str(tmp_path)).for_paths(["fs/fuse/inode.c"])
    assert (config.active_profiles, config.exclusive_patterns) == (["fuse"], ["*_teardown"])


@pytest.mark.parametrize(("text", "problem"), [
    ('lore_url = "https://lore.kernel.org"', "unknown setting 'lore_url' (known: exclusive, guards, locks, pairs, "
                                             "profile, references, tracked, types)"),
    ("[exclusive]\nreplace = true", "[exclusive] replace is for config files, not profiles"),
])
def test_a_profile_holds_only_subsystem_tables(text, problem):
    with pytest.raises(InputError) as err:
        _parse_text(text.encode(), "profile test", "profile:test")
    assert (err.value.source, err.value.problem) == ("profile test", problem)


def test_layers_user_then_tree_then_extra(tmp_path):
    user = write(user_config_path(), 'lore_url = "https://lore.example.org/"\nprofiles = []\n'
                                     '[[suppress]]\nrule = "unlocked-read"\n')
    assert user == Path(os.environ["XDG_CONFIG_HOME"]) / "reviewbot" / "config.toml"
    write(tmp_path / "tree" / ".reviewbot.toml", '[inference]\nmin_sites = 3\n'
                                                 '[[suppress]]\nrule = "lock-imbalance"\nfunction = "foo_*"\n')
    extra = write(tmp_path / "extra.toml", 'lore_url = "http://127.0.0.1:8080"\n[inference]\nmin_share = 1\n')

    config = load_config(str(tmp_path / "tree"))
    assert config.lore_url == "https://lore.example.org"
    assert config.profiles == [] and config.guard_min_sites == 3 and config.guard_min_share == 0.75
    assert config.suppress == [{"rule": "unlocked-read"}, {"rule": "lock-imbalance", "function": "foo_*"}]
    assert config.for_paths(["fs/fuse/file.c"]).active_profiles == []

    config = load_config(str(tmp_path / "tree"), extra_path=str(extra))
    assert config.lore_url == "http://127.0.0.1:8080"
    assert (config.guard_min_sites, config.guard_min_share) == (3, 1.0)


def test_lore_url_from_the_environment_wins(tmp_path, monkeypatch):
    write(user_config_path(), 'lore_url = "https://lore.example.org"\n')
    monkeypatch.setenv("REVIEWBOT_LORE_URL", "http://127.0.0.1:9999")
    assert load_config(None).lore_url == "http://127.0.0.1:9999"
    monkeypatch.setenv("REVIEWBOT_LORE_URL", "lore.kernel.org")
    with pytest.raises(InputError) as err:
        load_config(None)
    assert (err.value.source, err.value.problem) == (
        "REVIEWBOT_LORE_URL", "lore_url must be an http(s) URL, not 'lore.kernel.org'")


def test_the_documented_example_loads(tmp_path):
    doc = (ROOT / "docs" / "config.md").read_text()
    example = re.search(r"## Example\n\n```toml\n(.*?)```", doc, re.S).group(1)
    write(tmp_path / ".reviewbot.toml", example)
    config = load_config(str(tmp_path))
    assert config.profiles == ["auto"]
    assert config.lore_url == "https://lore.kernel.org"
    assert config.tracked == {"foo_dev.users": "counter", "foo_dev.mode": "state",
                              "foo_dev.flags:FOO_RUNNING": "bit", "foo_dev.stats_bytes": "ignore"}
    assert config.guards == {"foo_dev.users": "foo_dev.lock", "foo_dev.flags": "foo_dev.lock"}
    assert (config.guard_min_sites, config.guard_min_share) == (2, 0.75)
    assert config.lock_apis["foo_lock_dev"] == LockApi("acquire", arg=0, lock_suffix="lock")
    assert config.lock_apis["foo_unlock_dev"] == LockApi("release", arg=0, lock_suffix="lock")
    assert config.lock_apis["foo_global_lock"] == LockApi("acquire", arg=None, global_name="foo_mutex")
    assert config.lock_apis["spin_lock"] == LOCK_APIS["spin_lock"]
    assert config.reference_pairs["foo_dev_lookup"] == "foo_dev_put"
    assert config.reference_pairs["igrab"] == "iput"
    assert config.origin("references", "foo_dev_lookup", default=None) == "config"
    assert config.origin("references", "igrab", default=None) is None
    assert config.pairs == {"foo_start_io": "foo_finish_io"}
    assert config.exclusive_patterns == [*DEFAULT_EXCLUSIVE, "*_setup", "foo_probe"]
    assert config.type_hints == {"fd": "foo_dev"}
    assert config.suppress == [{"rule": "unlocked-read", "file": "drivers/foo/*.c", "function": "foo_show_stats",
                                "subject": "foo_dev.stats_*"}]


def test_unquoted_dotted_field_keys_mean_the_same(tmp_path):
    write(tmp_path / ".reviewbot.toml", '[tracked]\nfoo_dev.users = "counter"\n'
                                        'foo_dev."flags:FOO_UP" = "bit"\n[guards]\nfoo_dev.users = "foo_dev.lock"\n')
    config = load_config(str(tmp_path))
    assert config.tracked == {"foo_dev.users": "counter", "foo_dev.flags:FOO_UP": "bit"}
    assert config.guards == {"foo_dev.users": "foo_dev.lock"}


def test_exclusive_replace_drops_the_defaults_and_profile_patterns(tmp_path):
    write(tmp_path / ".reviewbot.toml", 'profiles = ["fuse"]\n[exclusive]\nfunctions = ["*_teardown"]\nreplace = true\n')
    assert load_config(str(tmp_path)).exclusive_patterns == ["*_teardown"]


def test_suppress_entries_match_by_glob():
    config = Config(suppress=[{"rule": "unlocked-read", "file": "fs/fuse/*.c", "subject": "fuse_file.*"},
                              {"rule": "*", "function": "fuse_evict_inode"}])
    assert config.suppresses("unlocked-read", "fs/fuse/file.c", "fuse_file_mmap", "fuse_file.iomode")
    assert not config.suppresses("unlocked-write", "fs/fuse/file.c", "fuse_file_mmap", "fuse_file.iomode")
    assert not config.suppresses("unlocked-read", "fs/fuse/file.c", "fuse_file_mmap", "fuse_inode.state")
    assert not config.suppresses("unlocked-read", "fs/ext4/file.c", "f", "fuse_file.iomode")
    assert config.suppresses("state-imbalance", "fs/fuse/inode.c", "fuse_evict_inode", "fuse_inode.iocachectr")


BAD_CONFIGS = [
    ('[tracked]\n"fuse_inode.iocachectr" counter',
     "invalid TOML: Expected '=' after a key in a key/value pair (at line 2, column 25)"),
    ("frobnicate = 1", "unknown setting 'frobnicate' (known: exclusive, guards, inference, limits, locks, "
                       "lore_url, pairs, profiles, references, suppress, tracked, types)"),
    ('[profile]\npaths = ["x/"]', "unknown setting 'profile' (known: exclusive, guards, inference, limits, "
                                  "locks, lore_url, pairs, profiles, references, suppress, tracked, types)"),
    ('profiles = ["btrfs"]', "unknown profile 'btrfs' (known: auto, fuse)"),
    ('profiles = "fuse"', "profiles must be a list of non-empty strings"),
    ('lore_url = "lore.kernel.org"', "lore_url must be an http(s) URL, not 'lore.kernel.org'"),
    ("lore_url = 3", "lore_url must be an http(s) URL, not 3"),
    ("tracked = 3", "[tracked] must be a table"),
    ('[tracked]\n"fuse_inode.iocachectr" = "countr"',
     "[tracked] 'fuse_inode.iocachectr': 'countr' is not one of counter, state, bit, ignore"),
    ('[tracked]\niocachectr = "counter"',
     "[tracked] 'iocachectr' is not a field key (struct.member or struct.member:BIT)"),
    ('[tracked]\n"fuse_inode.state:" = "bit"',
     "[tracked] 'fuse_inode.state:' is not a field key (struct.member or struct.member:BIT)"),
    ('[tracked]\na.b.c = "counter"', "[tracked] 'a.b.c' is nested too deep"),
    ('[guards]\n"fuse_file.iomode" = "fi->lock"',
     "[guards] 'fuse_file.iomode': 'fi->lock' is not a lock (struct.member or a global name)"),
    ('[guards]\n"fuse_file.iomode" = 1', "[guards] 'fuse_file.iomode': 1 is not a lock (struct.member or a global name)"),
    ("locks = []", "[locks] must be a table"),
    ('[locks]\nfoo_lock = "acquire"', "[locks] 'foo_lock' must be a table like { op = \"acquire\", arg = 0 }"),
    ("[locks]\nfoo_lock = { arg = 0 }", "[locks] 'foo_lock': 'op' is required (acquire, release, assert, try, try0)"),
    ('[locks]\nfoo_lock = { op = "take" }',
     "[locks] 'foo_lock' op: 'take' is not one of acquire, release, assert, try, try0"),
    ('[locks]\nfoo_lock = { op = "acquire", arg = -1 }',
     "[locks] 'foo_lock': arg must be an argument index (0, 1, ...), not -1"),
    ('[locks]\nfoo_lock = { op = "acquire", arg = "0" }',
     "[locks] 'foo_lock': arg must be an argument index (0, 1, ...), not '0'"),
    ('[locks]\nfoo_lock = { op = "acquire", shared = "yes" }',
     "[locks] 'foo_lock': shared must be true or false, not 'yes'"),
    ('[locks]\nfoo_lock = { op = "acquire", lock = "x" }',
     "[locks] 'foo_lock': unknown key 'lock' (known: arg, global, member, op, shared)"),
    ('[locks]\nfoo_lock = { op = "acquire", arg = 0, global = "foo_mutex" }',
     "[locks] 'foo_lock': give either arg or global, not both"),
    ('[locks]\n"foo-lock" = { op = "acquire" }', "[locks] key: 'foo-lock' is not a C identifier"),
    ('[references]\nfoo_get = "foo put"', "[references] 'foo_get': 'foo put' is not a C identifier"),
    ("[pairs]\nfoo_start = 1", "[pairs] 'foo_start': 1 is not a C identifier"),
    ('[types]\nfi = "struct fuse_inode"', "[types] 'fi': 'struct fuse_inode' is not a C identifier"),
    ('exclusive = ["*_open"]', "[exclusive] must be a table"),
    ('[exclusive]\npatterns = ["*_open"]', "[exclusive]: unknown key 'patterns' (known: functions, replace)"),
    ('[exclusive]\nfunctions = "*_open"', "[exclusive] functions must be a list of non-empty strings"),
    ('[exclusive]\nreplace = "yes"', "[exclusive] replace must be true or false, not 'yes'"),
    ("[inference]\nmin_sites = 0", "[inference] min_sites must be a whole number >= 1, not 0"),
    ("[inference]\nmin_sites = true", "[inference] min_sites must be a whole number >= 1, not True"),
    ("[inference]\nmin_share = 1.5", "[inference] min_share must be a number in (0, 1], not 1.5"),
    ("[inference]\nmin_share = 0", "[inference] min_share must be a number in (0, 1], not 0"),
    ("[inference]\nshare = 0.5", "[inference]: unknown key 'share' (known: min_share, min_sites)"),
    ('suppress = "unlocked-read"', "suppress must be an array of tables: [[suppress]]"),
    ('[[suppress]]\nfile = "fs/fuse/file.c"', "[[suppress]] entry 1: 'rule' is required (a rule name, or \"*\")"),
    ('[[suppress]]\nrule = "unlocked-read"\n[[suppress]]\nrule = "x"\nline = 3',
     "[[suppress]] entry 2: unknown key 'line' (known: file, function, rule, subject)"),
    ('[[suppress]]\nrule = ""', "[[suppress]] entry 1: rule must be a non-empty string"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_CONFIGS, ids=[problem[:50] for _, problem in BAD_CONFIGS])
def test_bad_tree_config_names_the_file_and_the_problem(tmp_path, text, problem):
    path = write(tmp_path / ".reviewbot.toml", text + "\n")
    with pytest.raises(InputError) as err:
        load_config(str(tmp_path))
    assert (err.value.source, err.value.problem) == (str(path), problem)


def test_bad_user_config_names_the_user_file(tmp_path):
    path = write(user_config_path(), "profiles = [\"nfs\"]\n")
    with pytest.raises(InputError) as err:
        load_config(None)
    assert (err.value.source, err.value.problem) == (str(path), "unknown profile 'nfs' (known: auto, fuse)")


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / ".reviewbot.toml"
    path.write_bytes(b'lore_url = "\xff"\n')
    with pytest.raises(InputError) as err:
        load_config(str(tmp_path))
    assert (err.value.source, err.value.problem) == (str(path), "not UTF-8 text")


def test_missing_extra_config_file(tmp_path):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(InputError) as err:
        load_config(None, extra_path=missing)
    assert (err.value.source, err.value.problem) == (missing, "no such config file")
