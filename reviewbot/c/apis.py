"""Kernel APIs reviewbot knows by name: locks, bit operations, counters and references.

Tables, not code: a `.reviewbot.toml` can extend them (see reviewbot.knowledge.config).
Each lock entry maps the API to how its lock argument is found and what it does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LockApi:
    op: str  # "acquire", "release", "assert", "try" (held only when it returns true),
    #          "try0" (held only when it returns 0: mutex_lock_interruptible)
    arg: int | None = 0  # which argument names the lock; None: a global (rcu)
    shared: bool = False
    lock_suffix: str = ""  # inode_lock(inode) locks inode.i_rwsem: the member to append
    global_name: str | None = None  # the lock key when arg is None


def _family(names: list[str], op: str, **kw) -> dict[str, LockApi]:
    return {n: LockApi(op, **kw) for n in names}


LOCK_APIS: dict[str, LockApi] = {
    **_family(["spin_lock", "spin_lock_irq", "spin_lock_irqsave", "spin_lock_bh", "spin_lock_nested",
               "spin_lock_irqsave_nested", "raw_spin_lock", "raw_spin_lock_irq", "raw_spin_lock_irqsave",
               "raw_spin_lock_bh", "mutex_lock", "mutex_lock_nested", "mutex_lock_io", "down_write",
               "down_write_nested", "write_lock", "write_lock_irq", "write_lock_irqsave", "write_lock_bh",
               "write_seqlock", "write_seqlock_irqsave", "write_seqlock_bh", "local_lock", "local_lock_irq",
               "local_lock_irqsave", "down", "spin_lock_init_held"], "acquire"),
    **_family(["down_read", "down_read_nested", "read_lock", "read_lock_irq", "read_lock_irqsave",
               "read_lock_bh"], "acquire", shared=True),
    **_family(["spin_unlock", "spin_unlock_irq", "spin_unlock_irqrestore", "spin_unlock_bh",
               "raw_spin_unlock", "raw_spin_unlock_irq", "raw_spin_unlock_irqrestore", "raw_spin_unlock_bh",
               "mutex_unlock", "up_write", "write_unlock", "write_unlock_irq", "write_unlock_irqrestore",
               "write_unlock_bh", "write_sequnlock", "write_sequnlock_irqrestore", "write_sequnlock_bh",
               "local_unlock", "local_unlock_irq", "local_unlock_irqrestore", "up"], "release"),
    **_family(["up_read", "read_unlock", "read_unlock_irq", "read_unlock_irqrestore", "read_unlock_bh"],
              "release", shared=True),
    **_family(["spin_trylock", "spin_trylock_irq", "spin_trylock_irqsave", "spin_trylock_bh",
               "raw_spin_trylock", "mutex_trylock", "down_write_trylock", "write_trylock"], "try"),
    **_family(["down_read_trylock", "read_trylock"], "try", shared=True),
    **_family(["mutex_lock_interruptible", "mutex_lock_killable", "down_interruptible", "down_killable",
               "down_write_killable", "down_timeout"], "try0"),
    **_family(["down_read_interruptible", "down_read_killable"], "try0", shared=True),
    **_family(["lockdep_assert_held", "lockdep_assert_held_write", "lockdep_assert_held_once",
               "assert_spin_locked", "lockdep_assert_locked"], "assert"),
    **_family(["lockdep_assert_held_read"], "assert", shared=True),
    # inode and mapping locks name the rwsem inside the object they take
    "inode_lock": LockApi("acquire", lock_suffix="i_rwsem"),
    "inode_lock_nested": LockApi("acquire", lock_suffix="i_rwsem"),
    "inode_lock_shared": LockApi("acquire", shared=True, lock_suffix="i_rwsem"),
    "inode_lock_shared_nested": LockApi("acquire", shared=True, lock_suffix="i_rwsem"),
    "inode_unlock": LockApi("release", lock_suffix="i_rwsem"),
    "inode_unlock_shared": LockApi("release", shared=True, lock_suffix="i_rwsem"),
    "inode_trylock": LockApi("try", lock_suffix="i_rwsem"),
    "inode_trylock_shared": LockApi("try", shared=True, lock_suffix="i_rwsem"),
    "filemap_invalidate_lock": LockApi("acquire", lock_suffix="invalidate_lock"),
    "filemap_invalidate_unlock": LockApi("release", lock_suffix="invalidate_lock"),
    "filemap_invalidate_lock_shared": LockApi("acquire", shared=True, lock_suffix="invalidate_lock"),
    "filemap_invalidate_unlock_shared": LockApi("release", shared=True, lock_suffix="invalidate_lock"),
    "bit_spin_lock": LockApi("acquire", arg=1),
    "bit_spin_unlock": LockApi("release", arg=1),
    "rcu_read_lock": LockApi("acquire", arg=None, shared=True, global_name="rcu"),
    "rcu_read_unlock": LockApi("release", arg=None, shared=True, global_name="rcu"),
    "srcu_read_lock": LockApi("acquire", shared=True),
    "srcu_read_unlock": LockApi("release", shared=True),
    "lock_sock": LockApi("acquire", lock_suffix="sk_lock"),
    "release_sock": LockApi("release", lock_suffix="sk_lock"),
}

# Read sections that keep objects alive: they guard no field, whatever the sites show.
NOT_FIELD_LOCKS = frozenset({"rcu"})

# guard(spinlock)(&x) / scoped_guard(mutex, &x): the class names that mean a shared hold
SHARED_GUARD_CLASSES = frozenset({"rwsem_read", "read_lock", "rcu", "srcu"})

# bit operations: name -> (op, argument index of the bit, argument index of the word)
BIT_OPS: dict[str, str] = {
    "set_bit": "set_bit", "__set_bit": "set_bit", "clear_bit": "clear_bit", "__clear_bit": "clear_bit",
    "clear_bit_unlock": "clear_bit", "test_bit": "test_bit", "test_and_set_bit": "test_and_set_bit",
    "__test_and_set_bit": "test_and_set_bit", "test_and_set_bit_lock": "test_and_set_bit",
    "test_and_clear_bit": "test_and_clear_bit", "__test_and_clear_bit": "test_and_clear_bit",
    "set_bit_lock": "set_bit", "change_bit": "set_bit", "test_bit_acquire": "test_bit",
}

# counter APIs on a field whose address is the first argument: name -> (op, amount)
COUNTER_APIS: dict[str, tuple[str, int]] = {}
for _prefix in ("atomic", "atomic64", "atomic_long", "local"):
    COUNTER_APIS.update({
        f"{_prefix}_inc": ("inc", 1), f"{_prefix}_dec": ("dec", -1),
        f"{_prefix}_inc_return": ("inc", 1), f"{_prefix}_dec_return": ("dec", -1),
        f"{_prefix}_dec_and_test": ("dec", -1), f"{_prefix}_inc_not_zero": ("inc", 1),
        f"{_prefix}_inc_and_test": ("inc", 1), f"{_prefix}_dec_if_positive": ("dec", -1),
        f"{_prefix}_read": ("read", 0), f"{_prefix}_set": ("write", 0),
        f"{_prefix}_add": ("add", 0), f"{_prefix}_sub": ("sub", 0),
    })
COUNTER_APIS.update({
    "refcount_inc": ("get", 1), "refcount_inc_not_zero": ("get", 1), "refcount_dec": ("put", -1),
    "refcount_dec_and_test": ("put", -1), "refcount_dec_and_lock": ("put", -1), "refcount_read": ("read", 0),
    "refcount_set": ("write", 0), "kref_get": ("get", 1), "kref_get_unless_zero": ("get", 1),
    "kref_put": ("put", -1), "kref_put_lock": ("put", -1), "kref_put_mutex": ("put", -1),
    "kref_read": ("read", 0), "kref_init": ("write", 0), "refcount_add": ("add", 0), "refcount_sub_and_test": ("sub", 0),
})
# counter APIs where the value comes before the field: atomic_add(i, &v)
VALUE_FIRST = frozenset(n for n in COUNTER_APIS if n.endswith(("_add", "_sub", "_sub_and_test"))
                        and not n.startswith("refcount_add"))

# Reference pairs that don't follow get/put naming: acquire -> the release that undoes it.
def _pairs(release: str, acquires: str) -> dict[str, str]:
    return dict.fromkeys(acquires.split(), release)


REFERENCE_PAIRS: dict[str, str] = {
    # inodes, dentries, files, mounts and paths
    **_pairs("iput", "igrab ilookup ilookup5 ilookup5_nowait iget_locked iget5_locked"),
    **_pairs("dput", "dget dget_parent d_find_alias d_find_any_alias lookup_one_len lookup_one "
                     "lookup_positive_unlocked d_alloc d_alloc_name"),
    **_pairs("fput", "get_file fget"), "fdget": "fdput", "mntget": "mntput",
    **_pairs("path_put", "path_get kern_path user_path_at"),
    # buffer heads
    **_pairs("brelse", "sb_bread sb_bread_unmovable __bread sb_getblk __getblk"), "get_bh": "put_bh",
    # device-tree nodes, firmware nodes, devices, clocks, regulators
    **_pairs("of_node_put", "of_node_get of_find_node_by_name of_find_node_by_path of_find_node_by_type "
                            "of_find_compatible_node of_find_matching_node of_find_node_by_phandle "
                            "of_get_parent of_get_next_parent of_get_next_child of_get_next_available_child "
                            "of_get_child_by_name of_get_compatible_child of_parse_phandle "
                            "of_graph_get_next_endpoint of_graph_get_remote_port_parent of_graph_get_remote_node "
                            "of_graph_get_port_by_id of_graph_get_remote_endpoint of_get_cpu_node"),
    **_pairs("fwnode_handle_put", "fwnode_handle_get fwnode_get_parent fwnode_get_named_child_node "
                                  "device_get_named_child_node fwnode_find_reference"),
    **_pairs("put_device", "get_device bus_find_device bus_find_device_by_name class_find_device "
                           "device_find_child of_find_device_by_node"),
    **_pairs("pci_dev_put", "pci_get_device pci_get_slot pci_get_domain_bus_and_slot pci_get_class "
                            "pci_dev_get"),
    "usb_get_dev": "usb_put_dev", "i2c_get_adapter": "i2c_put_adapter", "kobject_get": "kobject_put",
    "kobject_init_and_add": "kobject_put", "device_add": "device_del",
    **_pairs("clk_put", "clk_get of_clk_get of_clk_get_by_name"),
    "clk_prepare_enable": "clk_disable_unprepare", "regulator_get": "regulator_put",
    # sockets, skbs, network devices and namespaces
    "sock_hold": "sock_put", "sockfd_lookup": "sockfd_put", "dev_hold": "dev_put", "get_net": "put_net",
    **_pairs("kfree_skb", "alloc_skb netdev_alloc_skb dev_alloc_skb skb_clone skb_copy skb_get"),
    # runtime PM, modules, tasks, credentials, mms, pids
    **_pairs("pm_runtime_put", "pm_runtime_get pm_runtime_get_sync pm_runtime_resume_and_get"),
    "try_module_get": "module_put", "__module_get": "module_put", "get_task_struct": "put_task_struct",
    "get_cred": "put_cred", "mmget": "mmput", "get_pid": "put_pid",
    # folios and pages
    **_pairs("folio_put", "folio_get filemap_get_folio __filemap_get_folio read_mapping_folio"),
    **_pairs("put_page", "get_page find_get_page read_mapping_page"), "alloc_pages": "__free_pages",
    "alloc_page": "__free_page", "kmap": "kunmap", "kmap_local_page": "kunmap_local",
    # IRQs and DMA mappings
    "request_irq": "free_irq", "request_threaded_irq": "free_irq", "ioremap": "iounmap",
    "dma_map_single": "dma_unmap_single", "dma_map_page": "dma_unmap_page", "dma_map_sg": "dma_unmap_sg",
    "dma_alloc_coherent": "dma_free_coherent",
    # allocations
    **_pairs("kfree", "kmalloc kzalloc kcalloc kmalloc_array kmemdup kstrdup kstrndup"),
    **_pairs("kvfree", "kvmalloc kvzalloc kvcalloc"), **_pairs("vfree", "vmalloc vzalloc"),
    **_pairs("kmem_cache_free", "kmem_cache_alloc kmem_cache_zalloc"),
}

# Release-like names beyond the table, by naming family: a word anywhere in the name
# (`erofs_put_metabuf`, `ghes_estatus_pool_region_free`) or as its last word (`xa_end`).
_RELEASE_WORDS = frozenset({"put", "free", "release", "unregister", "destroy", "unmap", "unpin",
                            "unlock", "brelse", "relse", "kfree", "vfree", "kvfree", "iput", "dput",
                            "fput", "mntput", "fdput", "mmput", "unreserve", "unprepare"})
_RELEASE_LAST_WORDS = frozenset({"end", "exit", "stop", "disable", "deinit", "cleanup", "uninit",
                                 "unuse", "unref", "decref", "restore"})
# What a release gives back, by its name: a lock (`folio_unlock`, `release_fault_lock`), a
# state or context entered earlier (`hid_hw_stop`, `memalloc_nofs_restore`, `*_end`), else a
# reference, an allocation or another resource.
_STATE_LAST_WORDS = frozenset({"end", "exit", "stop", "deinit", "uninit", "unuse", "restore"})
_LOCK_RELEASE_WORDS = frozenset({"release", "put", "drop"})


# (not `get`, `find`, `lookup`, `lock`, `open` or `init`: accessors, searches and wrappers
# named so take nothing more often than not)
_ACQUIRE_WORDS = frozenset({"alloc", "zalloc", "hold", "grab", "create", "dup", "map", "request",
                            "start", "begin", "pin", "enable", "bread", "getblk", "iget", "acquire",
                            "register", "prepare", "reserve", "kmalloc", "kzalloc", "vmalloc",
                            "kvmalloc", "kmemdup", "kstrdup"})


def acquire_like(name: str) -> bool:
    """A call that takes something by its name: a pair of the table, `*_alloc`, `*_hold`,
    `*_begin`, `*_start`, `*_map`, ..."""
    words = name.lower().split("_")
    return name in REFERENCE_PAIRS or not _ACQUIRE_WORDS.isdisjoint(words)


# acquires that answer an object (NULL or an ERR_PTR on failure); the others answer 0 or -errno
_OBJECT_WORDS = frozenset({"get", "alloc", "zalloc", "grab", "create", "dup", "bread", "getblk", "iget",
                           "kmalloc", "kzalloc", "vmalloc", "kvmalloc", "kmemdup", "kstrdup", "map"})


def acquire_sense(name: str) -> str:
    """How an acquire known only by its name tells success: "pointer" or "zero"."""
    return "pointer" if not _OBJECT_WORDS.isdisjoint(name.lower().split("_")) else "zero"


def release_like(name: str) -> bool:
    """A call that gives something back by its name: `*_put`, `*_free`, `brelse`,
    `*_unlock`, `*_end`, `*_exit`, `*_stop`, ..."""
    words = [w for w in name.lower().split("_") if w]
    return bool(words) and (not _RELEASE_WORDS.isdisjoint(words) or words[-1] in _RELEASE_LAST_WORDS)


def release_kind(name: str) -> str:
    """"lock", "state" or "reference": what a release-like call gives back, for the rule whose
    problem a lost one is (lock-imbalance, state-imbalance, refcount-leak)."""
    words = [w for w in name.lower().split("_") if w]
    if "unlock" in words or ("lock" in words and not _LOCK_RELEASE_WORDS.isdisjoint(words)):
        return "lock"
    if words and words[-1] in _STATE_LAST_WORDS:
        return "state"
    return "reference"


# Allocators: a variable assigned from one of these is a fresh, unshared object.
ALLOCATORS = frozenset({"kmalloc", "kzalloc", "kcalloc", "kvmalloc", "kvzalloc", "kmem_cache_alloc",
                        "kmem_cache_zalloc", "vmalloc", "vzalloc", "kmalloc_array", "kmemdup", "alloc_inode"})

# Kernel helpers whose pointer result has a known struct type, when no definition is in view.
RETURN_TYPES: dict[str, str] = {
    "file_inode": "inode", "d_inode": "inode", "d_inode_rcu": "inode", "file_dentry": "dentry",
    "dget": "dentry", "dget_parent": "dentry", "igrab": "inode", "ilookup": "inode", "get_file": "file",
    "fget": "file",
}

# Assertions: a condition inside one of these documents an invariant; it is not a re-check.
ASSERTIONS = frozenset({"WARN_ON", "WARN_ON_ONCE", "WARN", "WARN_ONCE", "BUG_ON", "VM_BUG_ON",
                        "VM_WARN_ON", "VM_WARN_ON_ONCE", "BUILD_BUG_ON", "lockdep_assert"})

# Sleeping until a condition holds: the macro evaluates its condition (the second argument)
# again after every wake-up, ordered by the wait queue's barriers and with no lock; the waker
# changes the state under its lock, then wakes. A read in the condition is lockless by design.
WAIT_CONDITION_PREFIXES = ("wait_event", "wait_var_event", "io_wait_event")
WAIT_CONDITION_MARK = "wait_event"  # the mark such a read carries

# Marked accesses: intentional lockless reads or writes.
ACCESS_MARKS = frozenset({"READ_ONCE", "WRITE_ONCE", "data_race", "smp_load_acquire",
                          "smp_store_release", WAIT_CONDITION_MARK})

# Calls that read or write a struct field passed to them: list heads and entries (passed by
# address: `list_del(&nt->list)` writes `nt->list`) and RCU-published pointers (passed as
# the field: `rcu_assign_pointer(phy->pib, pib)` writes `phy->pib`). name -> {argument index:
# "read" or "write"}. An exchange (`rcu_replace_pointer`) is one write, as `x++` is.
# `list_empty_careful()` is made for lockless use and is left out.
def _field_calls(ops: dict[int, str], names: str) -> dict[str, dict[int, str]]:
    return dict.fromkeys(names.split(), ops)


FIELD_CALLS: dict[str, dict[int, str]] = {
    **_field_calls({0: "write", 1: "write"},
                   "list_add list_add_tail list_move list_move_tail list_splice list_splice_init "
                   "list_splice_tail list_splice_tail_init list_replace list_replace_init list_add_rcu "
                   "list_add_tail_rcu hlist_add_head hlist_add_head_rcu list_bulk_move_tail"),
    **_field_calls({0: "write"}, "list_del list_del_init list_del_rcu hlist_del hlist_del_init "
                                 "hlist_del_rcu hlist_del_init_rcu list_rotate_left "
                                 "rcu_assign_pointer RCU_INIT_POINTER rcu_replace_pointer"),
    **_field_calls({0: "read"}, "list_empty list_is_singular list_first_entry list_last_entry "
                                "list_first_entry_or_null list_count_nodes hlist_empty hlist_unhashed "
                                "rcu_dereference_protected"),
    **_field_calls({0: "read", 1: "read"}, "list_is_last list_is_first"),
}
