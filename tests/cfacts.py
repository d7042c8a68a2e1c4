"""Helpers for the C facts tests: a small header of our own (fuse-like types) analysed together
with each snippet, so snippet line numbers start at 1 and the types resolve."""

from __future__ import annotations

from reviewbot.c import analyze_text_files

HEADER = """\
struct inode { unsigned int i_mode; };
struct file { void *private_data; };
struct fuse_backing { refcount_t count; };
enum fuse_iomode { IOM_NONE, IOM_CACHED, IOM_UNCACHED };
struct fuse_inode {
	struct inode inode;
	spinlock_t lock;
	int iocachectr;
	unsigned long state;
	struct list_head write_files;
	struct fuse_backing *fb;
	atomic_t users;
	struct mutex mutex;
};
struct fuse_file {
	enum fuse_iomode iomode;
	unsigned int open_flags;
	struct list_head write_entry;
	struct fuse_inode *fi;
	int count;
};
struct fuse_conn { struct mutex mutex; int num; };

static inline struct fuse_inode *get_fuse_inode(struct inode *inode)
{
	return container_of(inode, struct fuse_inode, inode);
}
"""


def analyze_snippet(code: str, config=None):
    return analyze_text_files({"snippet.h": HEADER, "snippet.c": code}, config)


def function(code: str, name: str, config=None):
    return analyze_snippet(code, config).functions[name]


def accesses(fn) -> list[tuple]:
    """(key, op, value, line, sorted locks) of every access, in order."""
    return [(a.key, a.op, a.value, a.line, sorted(a.locks)) for a in fn.accesses]


def exits(fn) -> set[tuple]:
    """(line, value class, sorted locks, deltas) of every exit."""
    return {(e.line, e.value, tuple(sorted(e.locks)), e.deltas) for e in fn.exits}
