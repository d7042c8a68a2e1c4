"""Knowledge from hand-built facts: tracked fields, guards with their sites, pairs, exclusive
contexts. The fuse facts follow the seed series after patch 1 (and patch 3 where noted)."""

from __future__ import annotations

from dataclasses import dataclass

from reviewbot.c.model import (ASSERT, ASSIGN, CLEAR_BIT, DEC, INC, READ, SET_BIT, SUB, ADD, TEST_BIT,
                               UNKNOWN_LOCKS, WRITE, Access, Call, FileFacts, FunctionFacts, LockOp)
from reviewbot.knowledge import Site, build_knowledge
from reviewbot.knowledge.config import Config
from reviewbot.knowledge.guards import Assertion
from reviewbot.knowledge.pairs import Pair, name_pairs

FI_LOCK = "fuse_inode.lock"
CTR, IOMODE = "fuse_inode.iocachectr", "fuse_file.iomode"
CACHE_BIT, BACKING_BIT = "fuse_inode.state:FUSE_I_CACHE_IO_MODE", "fuse_inode.state:FUSE_I_BACKING"
IOMODE_C, FILE_C, INODE_C = "fs/fuse/iomode.c", "fs/fuse/file.c", "fs/fuse/inode.c"
NO_PROFILES = Config(profiles=[])


@dataclass
class Scanned:
    """What build_knowledge needs of reviewbot.c.analyze's Program."""

    files: dict[str, FileFacts]


def acc(key, op, line, *locks, **kw) -> Access:
    return Access(key, op, line, frozenset(locks), **kw)


def fn(name, path, start, end, accesses=(), calls=(), **kw) -> FunctionFacts:
    return FunctionFacts(name, path, start, end, accesses=list(accesses),
                         calls=[Call(callee, line, frozenset()) for callee, line in calls], **kw)


def scanned(*functions: FunctionFacts) -> Scanned:
    files: dict[str, FileFacts] = {}
    for function in functions:
        files.setdefault(function.file, FileFacts(function.file)).functions.append(function)
    return Scanned(files)


def seed_functions(patch3: bool = False) -> list[FunctionFacts]:
    """iomode.c, file.c and inode.c as whole functions (tree mode) after patch 1 of the seed."""
    start = [acc(CTR, READ, 96, FI_LOCK), acc(CTR, DEC, 100, FI_LOCK)]
    if patch3:
        start.append(acc(BACKING_BIT, SET_BIT, 113, FI_LOCK, value="set_bit"))
    return [
        fn("fuse_is_io_cache_wait", IOMODE_C, 18, 21,
           [acc(CTR, READ, 20, marks=frozenset({"READ_ONCE"}))]),
        fn("fuse_file_cached_io_open", IOMODE_C, 30, 68,
           [acc(CTR, READ, 44, FI_LOCK), acc(IOMODE, READ, 60, FI_LOCK), acc(IOMODE, ASSIGN, 61, FI_LOCK, value="IOM_CACHED"),
            acc(CTR, READ, 62, FI_LOCK), acc(CACHE_BIT, SET_BIT, 63, FI_LOCK, value="set_bit"),
            acc(CTR, INC, 64, FI_LOCK)]),
        fn("fuse_file_cached_io_release", IOMODE_C, 70, 81,
           [acc(CTR, READ, 73, FI_LOCK), acc(IOMODE, READ, 74, FI_LOCK), acc(IOMODE, ASSIGN, 75, FI_LOCK, value="IOM_NONE"),
            acc(CTR, DEC, 76, FI_LOCK), acc(CTR, READ, 77, FI_LOCK),
            acc(CACHE_BIT, CLEAR_BIT, 78, FI_LOCK, value="clear_bit")]),
        fn("fuse_inode_uncached_io_start", IOMODE_C, 84, 112, start,
           calls=[("fuse_inode_backing", 92), ("fuse_inode_backing_set", 104), ("fuse_backing_put", 107)]),
        fn("fuse_file_uncached_io_open", IOMODE_C, 115, 129,
           [acc(IOMODE, READ, 127), acc(IOMODE, ASSIGN, 128, value="IOM_UNCACHED")],
           calls=[("get_fuse_inode", 119), ("fuse_inode_uncached_io_start", 122)]),
        fn("fuse_inode_uncached_io_end", IOMODE_C, 131, 145,
           [acc(CTR, READ, 136, FI_LOCK), acc(CTR, INC, 137, FI_LOCK), acc(CTR, READ, 138, FI_LOCK)],
           calls=[("fuse_backing_put", 144)]),
        fn("fuse_file_uncached_io_release", IOMODE_C, 148, 153,
           [acc(IOMODE, READ, 150), acc(IOMODE, ASSIGN, 151, value="IOM_NONE")],
           calls=[("fuse_inode_uncached_io_end", 152)]),
        fn("fuse_file_io_release", IOMODE_C, 256, 275, [acc(IOMODE, READ, 264)],
           calls=[("fuse_file_uncached_io_release", 269), ("fuse_file_cached_io_release", 272)]),
        fn("fuse_dio_lock", FILE_C, 1361, 1386, calls=[("fuse_inode_uncached_io_start", 1380)]),
        fn("fuse_dio_unlock", FILE_C, 1388, 1400, calls=[("fuse_inode_uncached_io_end", 1397)]),
        fn("fuse_file_mmap", FILE_C, 2560, 2600, [acc(IOMODE, READ, 2580, marks=frozenset({"READ_ONCE"}))],
           calls=[("fuse_file_cached_io_open", 2581)]),
        fn("fuse_evict_inode", INODE_C, 160, 190, [acc(CTR, READ, 178)]),
    ]


# ---- tracked fields ----

def test_tracked_fields_found_in_the_seed_without_a_profile():
    knowledge = build_knowledge(scanned(*seed_functions(patch3=True)), NO_PROFILES)
    assert {key: (t.kind, t.source) for key, t in knowledge.tracked.items()} == {
        BACKING_BIT: ("bit", "auto"),
        CACHE_BIT: ("bit", "auto"),
        CTR: ("counter", "auto"),
        IOMODE: ("state", "auto"),
    }


def test_fuse_profile_tracks_its_fields_when_the_series_touches_fs_fuse():
    knowledge = build_knowledge(scanned(*seed_functions()), Config())
    assert knowledge.config.active_profiles == ["fuse"]
    assert {key: (t.kind, t.source) for key, t in knowledge.tracked.items()} == {
        BACKING_BIT: ("bit", "profile:fuse"),
        CACHE_BIT: ("bit", "profile:fuse"),
        CTR: ("counter", "profile:fuse"),
        IOMODE: ("state", "profile:fuse"),
    }


def test_state_needs_two_named_constants_and_counters_come_from_any_move():
    program = scanned(
        fn("dev_setup_type", "d.c", 1, 9, [acc("dev.type", ASSIGN, 3, value="DEV_DISK"),
                                          acc("dev.ops", ASSIGN, 4, value="NULL"),
                                          acc("dev.size", ASSIGN, 5, value="0"),
                                          acc("dev.phase", ASSIGN, 6, value="phase_idle"),
                                          acc("dev.bytes", ADD, 7, value="len"),
                                          acc("dev.users", INC, 8, value="atomic_inc"),
                                          acc("dev.flags:DEV_UP", TEST_BIT, 9, value="test_bit")]),
        fn("dev_run", "d.c", 10, 20, [acc("dev.phase", ASSIGN, 12, value="phase_run"),
                                      acc("dev.ops", ASSIGN, 13, value="NULL"),
                                      acc("dev.mode", ASSIGN, 14, value="MODE_A"),
                                      acc("dev.mode", ASSIGN, 15, value="MODE_B")]),
    )
    program.files["d.c"].enums["dev_phase"] = ["phase_idle", "phase_run"]
    tracked = build_knowledge(program, NO_PROFILES).tracked
    assert {key: t.kind for key, t in tracked.items()} == {
        "dev.bytes": "counter", "dev.mode": "state", "dev.phase": "state", "dev.users": "counter"}


def test_config_sets_and_ignores_tracked_fields():
    config = Config(profiles=[], tracked={"dev.mode": "ignore", "dev.owner": "state"},
                    origins={("tracked", "dev.owner"): "config"})
    program = scanned(fn("dev_run", "d.c", 1, 5, [acc("dev.mode", ASSIGN, 2, value="MODE_A"),
                                                 acc("dev.mode", ASSIGN, 3, value="MODE_B"),
                                                 acc("dev.users", DEC, 4)]))
    tracked = build_knowledge(program, config).tracked
    assert {key: (t.kind, t.source) for key, t in tracked.items()} == {
        "dev.owner": ("state", "config"), "dev.users": ("counter", "auto")}


# ---- guards ----

def test_guard_inferred_from_the_seed_with_sites():
    knowledge = build_knowledge(scanned(*seed_functions()), NO_PROFILES)
    guard = knowledge.guard(CTR)
    # open, release and evict are exclusive; the READ_ONCE in fuse_is_io_cache_wait is intended
    assert (guard.lock, guard.held_sites, guard.total_sites, guard.source) == (FI_LOCK, 5, 5, "inferred")
    assert guard.sites == [Site(IOMODE_C, line, function, True) for line, function in [
        (96, "fuse_inode_uncached_io_start"), (100, "fuse_inode_uncached_io_start"),
        (136, "fuse_inode_uncached_io_end"), (137, "fuse_inode_uncached_io_end"),
        (138, "fuse_inode_uncached_io_end")]]
    assert guard.describe() == ("`fuse_inode.iocachectr` is accessed under `fuse_inode.lock` at 5 of 5 sites: "
                                "iomode.c:96, iomode.c:100, iomode.c:136 and 2 more")
    # iomode is only read in mmap (READ_ONCE) outside open/release: no evidence, no guard
    assert knowledge.guard(IOMODE) is None
    # set_bit / clear_bit are atomic: not sites
    assert knowledge.guard(CACHE_BIT) is None


def test_an_unlocked_plain_access_lowers_the_share():
    functions = seed_functions() + [fn("fuse_inode_io_stats", IOMODE_C, 300, 310, [acc(CTR, READ, 305)])]
    guard = build_knowledge(scanned(*functions), NO_PROFILES).guard(CTR)
    assert (guard.held_sites, guard.total_sites, round(guard.share, 3)) == (5, 6, 0.833)
    assert guard.sites[-1] == Site(IOMODE_C, 305, "fuse_inode_io_stats", False)
    assert guard.describe() == ("`fuse_inode.iocachectr` is accessed under `fuse_inode.lock` at 5 of 6 sites: "
                                "iomode.c:96, iomode.c:100, iomode.c:136 and 2 more")


def locked_and_unlocked(held: int, unheld: int, lock: str = "dev.lock") -> list[FunctionFacts]:
    return ([fn(f"dev_locked_{i}", "d.c", 10 * i, 10 * i + 5, [acc("dev.count", WRITE, 10 * i + 1, lock)])
             for i in range(held)]
            + [fn(f"dev_plain_{i}", "e.c", 10 * i, 10 * i + 5, [acc("dev.count", READ, 10 * i + 1)])
               for i in range(unheld)])


def test_thresholds_min_sites_and_min_share():
    assert build_knowledge(scanned(*locked_and_unlocked(1, 0)), NO_PROFILES).guard("dev.count") is None
    one_site = build_knowledge(scanned(*locked_and_unlocked(1, 0)), Config(profiles=[], guard_min_sites=1))
    assert (one_site.guard("dev.count").held_sites, one_site.guard("dev.count").total_sites) == (1, 1)
    assert one_site.guard("dev.count").describe() == "`dev.count` is accessed under `dev.lock` at 1 of 1 site: d.c:1"

    assert build_knowledge(scanned(*locked_and_unlocked(3, 1)), NO_PROFILES).guard("dev.count").share == 0.75
    assert build_knowledge(scanned(*locked_and_unlocked(3, 2)), NO_PROFILES).guard("dev.count") is None
    lenient = build_knowledge(scanned(*locked_and_unlocked(3, 2)), Config(profiles=[], guard_min_share=0.6))
    assert (lenient.guard("dev.count").held_sites, lenient.guard("dev.count").total_sites) == (3, 5)


def test_lockdep_assert_held_is_strong_evidence():
    asserting = fn("dev_update_locked", "d.c", 10, 20, [acc("dev.count", WRITE, 14, "dev.lock")],
                   lock_ops=[LockOp("dev.lock", ASSERT, 12, "lockdep_assert_held")])
    guard = build_knowledge(scanned(asserting), NO_PROFILES).guard("dev.count")
    assert (guard.lock, guard.held_sites, guard.total_sites, guard.source) == ("dev.lock", 1, 1, "assert")
    assert guard.assertions == [Assertion("d.c", 12, "dev_update_locked")]
    assert guard.describe() == ("`dev.count` is accessed under `dev.lock` at 1 of 1 site: d.c:14; "
                                "asserted held in dev_update_locked (d.c:12)")
    # the share still has to be there
    assert build_knowledge(scanned(asserting, *locked_and_unlocked(0, 1)), NO_PROFILES).guard("dev.count") is None


def test_must_hold_annotation_is_an_assertion():
    annotated = fn("dev_bump", "d.c", 30, 35, [acc("dev.count", INC, 33, "dev.lock")],
                   annotations={"must_hold": ("dev.lock",)})
    guard = build_knowledge(scanned(annotated), NO_PROFILES).guard("dev.count")
    assert (guard.source, guard.assertions) == ("assert", [Assertion("d.c", 30, "dev_bump")])


def test_hunk_only_unknown_lock_state_counts_neither_way():
    hunks = [fn("fuse_inode_uncached_io_end", IOMODE_C, 131, 145, complete=False,
                accesses=[acc(CTR, READ, 136, UNKNOWN_LOCKS, FI_LOCK), acc(CTR, INC, 137, UNKNOWN_LOCKS, FI_LOCK)]),
             fn("fuse_dio_unlock_helper", FILE_C, 1388, 1400, complete=False,
                accesses=[acc(CTR, READ, 1395, UNKNOWN_LOCKS), acc(CTR, DEC, 1396, UNKNOWN_LOCKS)])]
    guard = build_knowledge(scanned(*hunks), NO_PROFILES).guard(CTR)
    assert (guard.held_sites, guard.total_sites) == (2, 2)
    assert guard.sites == [Site(IOMODE_C, 136, "fuse_inode_uncached_io_end", True),
                           Site(IOMODE_C, 137, "fuse_inode_uncached_io_end", True)]


def test_profile_guard_with_the_sites_the_series_shows():
    hunks = [fn("fuse_inode_uncached_io_end", IOMODE_C, 131, 145, complete=False,
                accesses=[acc(CTR, READ, 136, UNKNOWN_LOCKS, FI_LOCK), acc(CTR, INC, 137, UNKNOWN_LOCKS, FI_LOCK)]),
             fn("fuse_file_mmap", FILE_C, 2560, 2600, complete=False,
                accesses=[acc(IOMODE, READ, 2580, UNKNOWN_LOCKS, marks=frozenset({"READ_ONCE"}))])]
    knowledge = build_knowledge(scanned(*hunks), Config())
    counter = knowledge.guard(CTR)
    assert (counter.lock, counter.source, counter.held_sites, counter.total_sites) == (FI_LOCK, "profile:fuse", 2, 2)
    assert counter.describe() == ("`fuse_inode.iocachectr` is guarded by `fuse_inode.lock` (profile fuse); the code "
                                  "shows it under that lock at 2 of 2 sites: iomode.c:136, iomode.c:137")
    iomode = knowledge.guard(IOMODE)
    assert (iomode.lock, iomode.source, iomode.held_sites, iomode.total_sites, iomode.sites) == (
        FI_LOCK, "profile:fuse", 0, 0, [])
    assert iomode.describe() == "`fuse_file.iomode` is guarded by `fuse_inode.lock` (profile fuse)"
    assert knowledge.guard(BACKING_BIT).describe() == (
        "`fuse_inode.state:FUSE_I_BACKING` is guarded by `fuse_inode.lock` (profile fuse)")


def test_config_guard_wins_over_inference_and_covers_the_bits_of_a_flag_word():
    functions = locked_and_unlocked(3, 0) + [
        fn("dev_mark", "d.c", 100, 110, [acc("dev.flags:DEV_UP", SET_BIT, 104, "dev.mutex", value="__set_bit")])]
    config = Config(profiles=[], guards={"dev.count": "dev.mutex", "dev.flags": "dev.mutex"})
    knowledge = build_knowledge(scanned(*functions), config)
    count = knowledge.guard("dev.count")
    assert (count.lock, count.source, count.held_sites, count.total_sites) == ("dev.mutex", "config", 0, 3)
    assert count.describe() == "`dev.count` is guarded by `dev.mutex` (config)"
    bit = knowledge.guard("dev.flags:DEV_UP")
    assert (bit.key, bit.lock, bit.held_sites, bit.total_sites) == ("dev.flags:DEV_UP", "dev.mutex", 1, 1)
    # a bit the code never touches still has its word's guard
    assert knowledge.guard("dev.flags:DEV_DOWN").key == "dev.flags"


def test_exclusive_fresh_atomic_and_address_accesses_are_not_sites():
    functions = locked_and_unlocked(2, 0) + [
        fn("dev_init", "e.c", 1, 5, [acc("dev.count", WRITE, 2)]),
        fn("dev_make", "e.c", 10, 15, [acc("dev.count", WRITE, 12, fresh=True)]),
        fn("dev_poke", "e.c", 20, 25, [acc("dev.count", INC, 22, value="atomic_inc"),
                                       acc("dev.count", "addr", 23)]),
    ]
    guard = build_knowledge(scanned(*functions), NO_PROFILES).guard("dev.count")
    assert (guard.held_sites, guard.total_sites) == (2, 2)


def test_accesses_on_one_line_are_one_site():
    one_line = fn("dev_swap", "d.c", 1, 9, [acc("dev.count", READ, 5, "dev.lock"), acc("dev.count", WRITE, 5, "dev.lock"),
                                            acc("dev.count", WRITE, 7, "dev.lock")])
    guard = build_knowledge(scanned(one_line), NO_PROFILES).guard("dev.count")
    assert (guard.held_sites, guard.total_sites) == (2, 2)


def test_a_marked_read_beside_a_plain_read_on_one_line_still_counts_unlocked():
    functions = locked_and_unlocked(3, 0) + [fn("dev_peek", "e.c", 1, 9, [
        acc("dev.count", READ, 4, marks=frozenset({"READ_ONCE"})), acc("dev.count", READ, 4)])]
    guard = build_knowledge(scanned(*functions), NO_PROFILES).guard("dev.count")
    assert (guard.held_sites, guard.total_sites) == (3, 4)


def test_nested_locks_prefer_the_lock_of_the_fields_own_struct():
    both = [fn(f"fuse_f{i}", "f.c", 10 * i, 10 * i + 5,
               [acc("fuse_inode.attr_version", WRITE, 10 * i + 1, "inode.i_rwsem", FI_LOCK)]) for i in range(2)]
    assert build_knowledge(scanned(*both), NO_PROFILES).guard("fuse_inode.attr_version").lock == FI_LOCK


def test_site_lists_use_full_paths_when_base_names_clash():
    functions = [fn("a_locked", "fs/a/x.c", 1, 5, [acc("dev.count", WRITE, 2, "dev.lock")]),
                 fn("b_locked", "fs/b/x.c", 1, 5, [acc("dev.count", WRITE, 3, "dev.lock")])]
    guard = build_knowledge(scanned(*functions), NO_PROFILES).guard("dev.count")
    assert guard.describe() == "`dev.count` is accessed under `dev.lock` at 2 of 2 sites: fs/a/x.c:2, fs/b/x.c:3"


# ---- exclusive contexts ----

def test_exclusive_contexts_by_name_and_fresh_objects():
    knowledge = build_knowledge(scanned(*seed_functions()), NO_PROFILES)
    functions = {f.name: f for f in seed_functions()}
    assert [name for name in functions if knowledge.is_exclusive(functions[name])] == [
        "fuse_file_cached_io_open", "fuse_file_cached_io_release", "fuse_file_uncached_io_open",
        "fuse_file_uncached_io_release", "fuse_file_io_release", "fuse_evict_inode"]
    for name in ("foo_init", "foo_alloc", "foo_free", "foo_destroy", "foo_evict_pages", "fuse_alloc_inode",
                 "fuse_free_inode", "fuse_destroy_inode", "fuse_init_file_inode", "fuse_fill_super",
                 "fuse_fill_super_submount", "ext4_setup_super"):
        assert knowledge.is_exclusive(name)
    for name in ("fuse_file_mmap", "fuse_initialize", "fuse_dio_lock", "fuse_open_count", "fuse_super_setup_done"):
        assert not knowledge.is_exclusive(name)
    mmap = functions["fuse_file_mmap"]
    assert not knowledge.exclusive.access(mmap.name, mmap.accesses[0])
    assert knowledge.exclusive.access(mmap.name, acc(IOMODE, WRITE, 2590, fresh=True))

    custom = build_knowledge(scanned(), Config(profiles=[], exclusive_patterns=["*_setup"]))
    assert custom.is_exclusive("dev_setup") and not custom.is_exclusive("fuse_file_io_open")


# ---- pairs ----

def test_pairs_in_the_seed_by_effects_and_by_names():
    knowledge = build_knowledge(scanned(*seed_functions()), NO_PROFILES)
    assert knowledge.pairs == [
        Pair("fuse_file_cached_io_open", "fuse_file_cached_io_release", CTR,
             "names differ in open/release; `fuse_file_cached_io_open` moves `fuse_inode.iocachectr` by +1, "
             "`fuse_file_cached_io_release` by -1"),
        Pair("fuse_inode_uncached_io_start", "fuse_inode_uncached_io_end", CTR,
             "names differ in start/end; `fuse_inode_uncached_io_start` moves `fuse_inode.iocachectr` by -1, "
             "`fuse_inode_uncached_io_end` by +1"),
        Pair("fuse_file_cached_io_open", "fuse_file_cached_io_release", CACHE_BIT,
             "names differ in open/release; `fuse_file_cached_io_open` sets `fuse_inode.state:FUSE_I_CACHE_IO_MODE`, "
             "`fuse_file_cached_io_release` clears it"),
        Pair("fuse_dio_lock", "fuse_dio_unlock", None, "names differ in lock/unlock"),
        Pair("fuse_file_uncached_io_open", "fuse_file_uncached_io_release", None, "names differ in open/release"),
    ]


def test_pairs_by_effects_alone_when_unambiguous():
    program = scanned(
        fn("widget_hire", "w.c", 1, 5, [acc("widget.users", INC, 2)]),
        fn("widget_fire", "w.c", 6, 9, [acc("widget.users", DEC, 7)]),
        fn("pool_take", "p.c", 1, 5, [acc("pool.used", ADD, 2, value="len")]),
        fn("pool_give", "p.c", 6, 9, [acc("pool.used", SUB, 7, value="len")]),
        fn("dev_mark_busy", "d.c", 1, 5, [acc("dev.flags:DEV_BUSY", SET_BIT, 2, value="set_bit")]),
        fn("dev_finish", "d.c", 6, 9, [acc("dev.flags:DEV_BUSY", CLEAR_BIT, 7, value="clear_bit")]),
        # moves that cancel inside one function are no effect
        fn("dev_retry", "d.c", 10, 19, [acc("dev.tries", INC, 11), acc("dev.tries", DEC, 15)]),
        # amounts add up: +2 pairs with -2
        fn("ring_push_pair", "r.c", 1, 5, [acc("ring.used", INC, 2), acc("ring.used", ADD, 3, value="1")]),
        fn("ring_drain_two", "r.c", 6, 9, [acc("ring.used", SUB, 7, value="2")]),
        # two up, one down, no names to tell: ambiguous, no pair
        fn("q_push", "q.c", 1, 5, [acc("queue.len", INC, 2)]),
        fn("q_push_front", "q.c", 6, 9, [acc("queue.len", INC, 7)]),
        fn("q_pop", "q.c", 10, 15, [acc("queue.len", DEC, 11)]),
    )
    assert build_knowledge(program, NO_PROFILES).pairs == [
        Pair("dev_mark_busy", "dev_finish", "dev.flags:DEV_BUSY",
             "`dev_mark_busy` sets `dev.flags:DEV_BUSY`, `dev_finish` clears it"),
        Pair("pool_take", "pool_give", "pool.used", "`pool_take` moves `pool.used` by +`len`, `pool_give` by -`len`"),
        Pair("ring_push_pair", "ring_drain_two", "ring.used",
             "`ring_push_pair` moves `ring.used` by +2, `ring_drain_two` by -2"),
        Pair("widget_hire", "widget_fire", "widget.users",
             "`widget_hire` moves `widget.users` by +1, `widget_fire` by -1"),
    ]


def test_verb_pairs_in_names():
    names = ["foo_get", "foo_put", "get_bar", "put_bar", "__baz_register", "__baz_unregister", "x_begin_op",
             "x_end_op", "y_grab", "y_drop", "z_create", "z_destroy", "lonely_start", "q_open", "q_close",
             "q_release", "pin_page", "unpin_page", "a_link", "a_unlink", "r_map_area", "r_unmap_area"]
    assert name_pairs(names) == {
        ("__baz_register", "__baz_unregister"): "register/unregister", ("a_link", "a_unlink"): "link/unlink",
        ("foo_get", "foo_put"): "get/put", ("get_bar", "put_bar"): "get/put", ("pin_page", "unpin_page"): "pin/unpin",
        ("q_open", "q_close"): "open/close", ("q_open", "q_release"): "open/release",
        ("r_map_area", "r_unmap_area"): "map/unmap", ("x_begin_op", "x_end_op"): "begin/end",
        ("y_grab", "y_drop"): "grab/drop", ("z_create", "z_destroy"): "create/destroy",
    }


def test_api_pairs_config_pairs_and_lock_apis_left_to_the_lock_rules():
    program = scanned(fn("foo_lookup", "f.c", 1, 20,
                         calls=[("igrab", 3), ("spin_lock", 4), ("spin_unlock", 6), ("foo_hold_ref", 8)]))
    config = Config(profiles=[], pairs={"foo_lookup": "foo_forget"},
                    reference_pairs={"igrab": "iput", "dget": "dput", "foo_hold_ref": "foo_drop_ref"},
                    origins={("references", "foo_hold_ref"): "config"})
    assert build_knowledge(program, config).pairs == [
        Pair("foo_lookup", "foo_forget", None, "listed in [pairs] (config)"),
        Pair("foo_hold_ref", "foo_drop_ref", None, "reference API pair listed in [references] (config)"),
        Pair("igrab", "iput", None, "kernel reference API pair"),
    ]


def test_an_rcu_read_section_guards_no_field():
    readers = [fn(f"dev_peek{i}", "d.c", 10 * i, 10 * i + 5, [acc("dev.count", READ, 10 * i + 2, "rcu")])
               for i in range(3)]
    assert build_knowledge(scanned(*readers), NO_PROFILES).guard("dev.count") is None
    locked = [fn(f"dev_set{i}", "d.c", 10 * i, 10 * i + 5, [acc("dev.count", WRITE, 10 * i + 2, "rcu", "dev.lock")])
              for i in range(3)]
    assert build_knowledge(scanned(*locked), NO_PROFILES).guard("dev.count").lock == "dev.lock"
