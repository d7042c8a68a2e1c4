"""One walk of each function body: field accesses, bit operations, lock operations, calls,
conditions and returns, plus the control-flow tree (reviewbot.c.paths) they sit in.

The walk is a recursive descent over statements and expressions; the context each node needs
(is it written, under READ_ONCE, inside which condition and which branches) is passed down, so
no node ever asks for its parent. Lock sets are not known here: reviewbot.c.paths computes them
from the tree, with the callees' summaries.

The walker is one object, as the recursion is one: its state (the tree being built, the
enclosing blocks, loops and conditions, the locals and their types) is set up here, and its
methods sit in a module for each kind of node they take: statements, conditions,
expressions, calls, and names (the types and keys of what is accessed or locked).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from reviewbot.c import apis
from reviewbot.c.model import FileFacts, FunctionFacts
from reviewbot.c.paths import FunctionBody
from reviewbot.c.types import TypeContext, declarator_name, parameters, type_name
from reviewbot.c.walk.calls import Calls
from reviewbot.c.walk.conditions import Conditions
from reviewbot.c.walk.expressions import Expressions
from reviewbot.c.walk.names import Names
from reviewbot.c.walk.statements import Statements


@dataclass
class Tables:
    """The API tables a walk uses: the built-in ones, extended by the config."""

    lock_apis: dict = field(default_factory=lambda: dict(apis.LOCK_APIS))
    reference_pairs: dict = field(default_factory=lambda: dict(apis.REFERENCE_PAIRS))

    # the names of the calls the walk does more with than record them (a call of any other name
    # takes one test, not one per table)
    special_calls: frozenset = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.special_calls = frozenset().union(apis.ACCESS_MARKS, apis.ASSERTIONS, self.lock_apis, apis.BIT_OPS,
                                               apis.COUNTER_APIS, apis.FIELD_CALLS)

    def digest(self) -> str:
        """Identifies the tables' content (part of the facts cache key)."""
        data = repr(sorted(self.lock_apis.items())) + repr(sorted(self.reference_pairs.items()))
        return hashlib.sha1(data.encode()).hexdigest()

    @classmethod
    def from_config(cls, config) -> Tables:
        if config is None:
            return cls()
        return cls(lock_apis={**apis.LOCK_APIS, **(getattr(config, "lock_apis", None) or {})},
                   reference_pairs={**apis.REFERENCE_PAIRS, **(getattr(config, "reference_pairs", None) or {})})


@dataclass
class WalkedFunction:
    facts: FunctionFacts
    body: FunctionBody


def walk_file(parsed, path: str, types: TypeContext, tables: Tables,
              known: list | None = None, for_index: bool = False) -> tuple[FileFacts, list[WalkedFunction]]:
    """Facts of every function defined in a parsed file. `known`: the known line ranges of a
    hunk-only version (KnownRange list), None for a whole file. In a hunk-only file, pieces of
    one function that the repair left as separate definitions are walked as one function.
    `for_index`: the facts are for an index (what reviewbot.knowledge learns from them), which
    reads neither the texts of conditions and accesses nor the arguments of calls: they are
    left empty."""
    file_facts = FileFacts(path=path, has_errors=parsed.has_errors, enums=dict(types.enums))
    walked: list[WalkedFunction] = []
    walker = None
    for node in function_nodes(parsed.tree.root_node):
        name, _, _ = declarator_name(node.child_by_field_name("declarator"))
        if known is not None and walker is not None and walked and walked[-1].facts.name == name \
                and not walked[-1].facts.complete:
            walker.continue_with(node)
            continue
        walker = FunctionWalker(parsed, path, types, tables, known, for_index)
        try:
            fn = walker.walk(node)
        except RecursionError:  # the walk nests a Python call per level of C nesting
            file_facts.skipped.append((name, node.start_point[0] + 1))
            walker = None
            continue
        if fn is not None:
            walked.append(fn)
            file_facts.functions.append(fn.facts)
    return file_facts, walked


FUNCTION_CONTAINERS = frozenset({"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                                 "linkage_specification", "declaration_list", "ERROR"})


def function_nodes(root) -> list:
    """Function definitions at file scope (also inside #if blocks), in source order."""
    found = []
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            if child.type == "function_definition":
                found.append(child)
            elif child.type in FUNCTION_CONTAINERS:
                stack.append(child)
    found.sort(key=lambda n: n.start_byte)
    return found


class FunctionWalker(Statements, Conditions, Expressions, Calls, Names):
    """Walks one function (or, hunk-only, the pieces of one) into its facts and body."""

    def __init__(self, parsed, path: str, types: TypeContext, tables: Tables, known, for_index: bool = False):
        self.parsed = parsed
        self.for_index = for_index
        self.path = path
        self.types = types
        self.tables = tables
        self.known = known
        self.locals: dict[str, str] = {}
        self.guessed: set[str] = set()
        self.aliases: dict[str, str] = {}  # local lock pointer -> lock key
        self.fresh: set[str] = set()  # locals holding a freshly allocated object
        # locals dereferenced (`pos->dev`) since their last assignment: not NULL, so a copy of
        # one (`cc = pos;`) is a pointer a later `if (!cc)` finds set
        self.dereferenced: set[str] = set()
        self.objects: set[str] = set()  # struct variables of the function itself (not pointers)
        self.out: list = []
        self.block_ids = 0
        self.blocks: list[int] = []
        self.loop_marks: list[int] = []  # len(self.blocks) at each enclosing loop or switch
        self.loops = 0  # loops enclosing the statement being walked
        self.guards: list[int] = []
        self.condition_names: dict[str, frozenset] = {}
        self.lock_kinds: list[str] = []
        self.last_range: int | None = None
        self._cond: int | None = None  # the condition being walked
        self.call_subjects: dict = {}  # node id -> its CallResult, TryResult or CountResult, within one condition
        self.param_types: list = []
        self.conditional_accesses: set[int] = set()

    def walk(self, node) -> WalkedFunction | None:
        declarator = node.child_by_field_name("declarator")
        name, pointer, function = declarator_name(declarator)
        body = node.child_by_field_name("body")
        if not name or function is None or body is None:
            return None
        type_node = node.child_by_field_name("type")
        static = any(c.type == "storage_class_specifier" and c.text == b"static" for c in node.children)
        facts = FunctionFacts(name=name, file=self.path, start_line=node.start_point[0] + 1,
                              end_line=node.end_point[0] + 1, static=static)
        self.facts = facts
        self.body_start = body.start_point[0] + 1
        self.body_end_column = body.end_point[1]
        for param_name, param_type in parameters(function):
            param_type = self.types.canonical(param_type)
            self.param_types.append(param_type)
            if param_name and param_type:
                facts.params[param_name] = param_type
                self.locals[param_name] = param_type
        if pointer:
            facts.returns_type = self.types.canonical(type_name(type_node))
        void_return = not pointer and type_node is not None and type_node.text == b"void"
        self.bool_return = not pointer and type_node is not None and type_node.text == b"bool"
        self._set_known_lines()
        for kind, expr in self.parsed.lock_annotations.get(name, []):
            facts.annotations[kind] = facts.annotations.get(kind, ()) + (self._lock_key_from_text(expr),)
        self.out = []
        self._block(body, self.out)
        self.nodes = self.out
        return WalkedFunction(facts, FunctionBody(self.out, self.lock_kinds, self.condition_names,
                                                  void_return=void_return, pointer_return=pointer,
                                                  bool_return=self.bool_return,
                                                  param_types=self.param_types,
                                                  conditional_accesses=self.conditional_accesses))

    def _set_known_lines(self) -> None:
        """A function seen whole inside one hunk is complete; otherwise only its hunks' lines are
        known, and lock state is unknown where each of them starts."""
        facts = self.facts
        if self.known is None:
            return
        # the head may come from the hunk's @@ line (placed just above the range): the body is
        # what must be in view, through its own closing brace
        if self._own_closing_brace() and \
                any(r.start <= self.body_start and facts.end_line <= r.end for r in self.known):
            self.known = None
            return
        facts.complete = False
        facts.known_lines = tuple((r.start, r.end) for r in self.known
                                  if r.end >= facts.start_line and r.start <= facts.end_line)
        entry = next((i for i, r in enumerate(self.known) if r.start <= self.body_start <= r.end), None)
        facts.entry_known = entry is not None
        if entry is not None and self.last_range is None:
            self.last_range = entry  # the range the body starts in: its lock state is the entry's

    def _own_closing_brace(self) -> bool:
        """Whether the brace that ends the body is the code's own, not one the hunk-only repair
        wrote to close a range that stops mid-function. The repair writes closers on the
        placeholder line below a range (outside every range), or after the code of the text's
        last line when the range ends there; a function's own brace opens its line."""
        source = self.parsed.source
        last_line = source.count(b"\n") + (not source.endswith(b"\n"))
        return self.facts.end_line < last_line or self.body_end_column == 1

    def continue_with(self, node) -> None:
        """Walk a later piece of the same hunk-only function into the same facts."""
        body = node.child_by_field_name("body")
        if body is None:
            return
        self.facts.end_line = node.end_point[0] + 1
        self.body_end_column = body.end_point[1]
        self._set_known_lines()
        self.out = self.nodes
        self._block(body, self.out)

    def _in_known_range(self, line: int) -> bool:
        return any(r.start <= line <= r.end for r in self.known)
