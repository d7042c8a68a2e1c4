"""One walk of each function body: field accesses, bit operations, lock operations, calls,
conditions and returns, plus the control-flow tree (reviewbot.c.paths) they sit in.

The walk is a recursive descent over statements and expressions; the context each node needs
(is it written, under READ_ONCE, inside which condition and which branches) is passed down, so
no node ever asks for its parent. Lock sets are not known here: reviewbot.c.paths computes them
from the tree, with the callees' summaries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from reviewbot.c import apis
from reviewbot.c.model import (ACQUIRE, ADD, ADDR, ASSERT, ASSIGN, DEC, INC, READ, RELEASE, RET_ERRNO,
                               RET_OTHER, RET_POINTER, RET_ZERO, SUB, WRITE, Access, Call, Condition,
                               FileFacts, FunctionFacts, LockOp)
from reviewbot.c.paths import (AccessEvent, AllOf, AnyOf, Block, CallEvent, CallResult, Choice, Const, CountResult,
                               FunctionBody, Goto, If, Jump, Label, LockEvent, Loop, RangeEvent, Return, SetEvent,
                               Switch, Test, TryResult, Var)
from reviewbot.c.types import TypeContext, declarator_name, parameters, type_name

# lock APIs with a member suffix name the object they lock: its type when the argument's is unknown
SUFFIX_OWNERS = {"i_rwsem": "inode", "invalidate_lock": "address_space", "sk_lock": "sock"}
ERRNO_MAKERS = frozenset({"ERR_PTR", "ERR_CAST", "PTR_ERR"})  # `return PTR_ERR(p);` returns an errno
# error codes that say the operation goes on asynchronously: the work (and what it holds) was
# handed over, not failed
QUEUED_CODES = frozenset({b"EIOCBQUEUED"})
CONDITION_WRAPPERS = frozenset({"likely", "unlikely"})
ERR_TESTS = {"IS_ERR": "err", "IS_ERR_OR_NULL": "errz"}
# counter APIs that move the counter only when they return true
CONDITIONAL_COUNTER_SUFFIXES = ("_inc_not_zero", "_get_unless_zero", "_inc_unless_negative",
                                "_dec_unless_positive", "_add_unless")
SKIPPED_EXPRESSIONS = frozenset({"sizeof_expression", "alignof_expression", "offsetof_expression",
                                 "string_literal", "concatenated_string", "char_literal", "number_literal",
                                 "true", "false", "null", "type_descriptor", "gnu_asm_expression",
                                 "comment"})
LEAVES = SKIPPED_EXPRESSIONS | {"identifier"}  # expressions whose walk only describes their value


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
    for node in _function_nodes(parsed.tree.root_node):
        name, _, _ = declarator_name(node.child_by_field_name("declarator"))
        if known is not None and walker is not None and walked and walked[-1].facts.name == name \
                and not walked[-1].facts.complete:
            walker.continue_with(node)
            continue
        walker = _FunctionWalker(parsed, path, types, tables, known, for_index)
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


def _function_nodes(root) -> list:
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


def _unwrap(node):
    while node is not None and node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def _call_name(node) -> str | None:
    function = node.child_by_field_name("function")
    if function is not None and function.type == "identifier":
        return function.text.decode()
    return None


def _args(node) -> list:
    arguments = node.child_by_field_name("arguments")
    if arguments is None:
        return []
    return [a for a in arguments.named_children if a.type != "comment"]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _condition_key(node) -> str:
    """A condition's text for telling a repeated test: `a || b` and `b || a` are one."""
    node = _unwrap(node)
    if node.type == "binary_expression" and node.child_by_field_name("operator").type in ("||", "&&"):
        op = node.child_by_field_name("operator").type
        parts, stack = [], [node]
        while stack:
            part = _unwrap(stack.pop())
            if part.type == "binary_expression" and part.child_by_field_name("operator").type == op:
                stack += [part.child_by_field_name("left"), part.child_by_field_name("right")]
            else:
                parts.append(_condition_key(part))
        return f" {op} ".join(sorted(parts))
    return _squash(node.text.decode())


def _reads(node) -> tuple[frozenset, bool]:
    """The names a condition reads (not those sizeof(x) only takes the type of) and whether it
    calls anything but likely()/unlikely(): one pass over it."""
    names, has_call = [], False
    stack, unread = [node], []  # unread: under sizeof(), where only the calls count
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "identifier":
            names.append(node.text.decode())
            continue
        if kind == "call_expression" and not has_call:
            has_call = _call_name(node) not in CONDITION_WRAPPERS
        if node.named_child_count:  # most nodes met here are names, fields and numbers: leaves
            (unread if kind in ("sizeof_expression", "alignof_expression") else stack).extend(node.named_children)
    while unread and not has_call:
        node = unread.pop()
        if node.type == "call_expression":
            has_call = _call_name(node) not in CONDITION_WRAPPERS
        unread.extend(node.named_children)
    return frozenset(names), has_call


class _FunctionWalker:
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

    # --- entry ---------------------------------------------------------------------------
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

    # --- statements ----------------------------------------------------------------------
    def _into(self, target: list, node) -> None:
        """Walk `node` as a statement whose items go to `target`: a branch, a loop body or a
        case, which some paths skip."""
        saved, dereferenced = self.out, set(self.dereferenced)
        self.out = target
        if node is not None:
            self._stmt(node)
        self.out = saved
        # a pointer dereferenced only where some paths never go is not known set after it
        self.dereferenced &= dereferenced

    def _block(self, node, target: list) -> None:
        self.block_ids += 1
        block = Block(self.block_ids, [])
        self.blocks.append(block.id)
        saved = self.out
        self.out = block.body
        for child in node.named_children:
            self._stmt(child)
        self.out = saved
        self.blocks.pop()
        target.append(block)

    def _check_range(self, node) -> None:
        """Emit the start of a known range before the first statement in it. A statement the
        hunk-only repair wrote (on a placeholder line, around known code) announces the range
        its code starts in, so that every path through it starts that range unknown."""
        first, last = node.start_point[0] + 1, node.end_point[0] + 1
        for index, known in enumerate(self.known):
            if known.start <= first <= known.end or first < known.start <= last:
                if index != self.last_range:
                    self.last_range = index
                    self.out.append(RangeEvent(known.start, known.end))
                return

    def _stmt(self, node) -> None:
        kind = node.type
        if kind == "comment":
            return
        if self.known is not None:
            self._check_range(node)
        if kind == "compound_statement" and self.known is not None and \
                not self._in_known_range(node.start_point[0] + 1):
            # a block the hunk-only repair opened for a range that starts inside one: the code
            # that chose to enter it is not known, so it may or may not run
            line = node.start_point[0] + 1
            branch = If(self._condition(None, line), line, None, None, frozenset(), [], [])
            self.guards.append(branch.cond)
            self._block(node, branch.then)
            self.guards.pop()
            self.out.append(branch)
        elif kind == "compound_statement":
            self._block(node, self.out)
        elif kind == "expression_statement":
            for child in node.named_children:
                self._value(child, frozenset())
        elif kind == "declaration":
            self._declaration(node)
        elif kind == "if_statement":
            self._if(node)
        elif kind in ("for_statement", "while_statement", "do_statement"):
            self._loop(node)
        elif kind == "switch_statement":
            self._switch(node)
        elif kind == "return_statement":
            value = node.named_children[0] if node.named_children else None
            self.out.append(Return(node.start_point[0] + 1, self._returned(value)))
        elif kind == "goto_statement":
            label = node.child_by_field_name("label")
            name = label.text.decode() if label is not None else ""
            self.facts.gotos.append((name, node.start_point[0] + 1))
            self.out.append(Goto(name, node.start_point[0] + 1))
        elif kind == "labeled_statement":
            label = node.child_by_field_name("label")
            self.facts.labels[label.text.decode()] = node.start_point[0] + 1
            self.out.append(Label(label.text.decode(), tuple(self.blocks)))
            for child in node.named_children[1:]:
                self._stmt(child)
        elif kind in ("break_statement", "continue_statement"):
            mark = self.loop_marks[-1] if self.loop_marks else 0
            self.out.append(Jump(kind.split("_")[0], tuple(self.blocks[mark:])))
        elif kind in ("case_statement",):
            for child in node.named_children:
                self._stmt(child)
        elif kind.startswith("preproc_") or kind == "ERROR":
            for child in node.named_children:
                self._stmt(child)
        elif kind in ("type_definition", "function_definition", "struct_specifier", "enum_specifier",
                      "statement_identifier", "preproc_arg"):
            return
        else:
            self._expr(node)

    def _declaration(self, node) -> None:
        type_ = self.types.canonical(type_name(node.child_by_field_name("type")))
        # a static local is one object for every call: shared like a global
        static = any(c.type == "storage_class_specifier" and c.text in (b"static", b"extern")
                     for c in node.children)
        for decl in node.children_by_field_name("declarator"):
            name, pointer, function = declarator_name(decl)
            if function is not None or not name:
                continue
            if type_:
                self.locals[name] = type_
                self.guessed.discard(name)
            if type_ and not pointer and not static:
                self.objects.add(name)
            else:
                self.objects.discard(name)
            if decl.type == "init_declarator":
                value = decl.child_by_field_name("value")
                self._assign_local(name, value, self._expr(value) if value is not None else None)

    def _if(self, node) -> None:
        condition = node.child_by_field_name("condition")
        guard = self.parsed.scoped_guards.get(node.start_byte)
        consequence = node.child_by_field_name("consequence")
        alternative = node.child_by_field_name("alternative")
        if guard is not None:
            self._scoped_guard(node, guard, condition, consequence)
            return
        line = node.start_point[0] + 1
        cond_id = self._condition(condition, line)
        test, key, names = self._test_of(condition)
        branch = If(cond_id, line, test, key, names, [], [], warn_branch=self._warn_branch(condition))
        if key is not None:
            self.condition_names.setdefault(key, names)
        self.guards.append(cond_id)
        self._into(branch.then, consequence)
        if alternative is not None:
            for child in alternative.named_children:  # else_clause
                self._into(branch.orelse, child)
        self.guards.pop()
        self.out.append(branch)

    def _scoped_guard(self, node, guard: tuple[str, str], condition, consequence) -> None:
        guard_class, lock_text = guard
        inner = _unwrap(condition)
        line = node.start_point[0] + 1
        lock = self._lock_key(inner, apis.LockApi("acquire")) if inner is not None else lock_text
        index = self._lock_op(lock, ACQUIRE, line, "scoped_guard", "acquire",
                              shared=guard_class in apis.SHARED_GUARD_CLASSES)
        self.block_ids += 1
        block_id = self.block_ids
        block = Block(block_id, [LockEvent(index, block_id, "acquire")])
        self.blocks.append(block_id)
        saved = self.out
        self.out = block.body
        if consequence is not None:
            if consequence.type == "compound_statement":
                for child in consequence.named_children:
                    self._stmt(child)
            else:
                self._stmt(consequence)
        self.out = saved
        self.blocks.pop()
        self.out.append(block)

    def _loop(self, node) -> None:
        kind = node.type
        condition = node.child_by_field_name("condition")
        forever = False
        if kind == "for_statement":
            initializer = node.child_by_field_name("initializer")
            if initializer is not None:
                if initializer.type == "declaration":
                    self._stmt(initializer)
                else:
                    self._expr(initializer)
            # `for (;;)`; not a one-argument loop macro the pre-pass turned into `for (;;x)`
            forever = condition is None and node.child_by_field_name("update") is None
        elif condition is not None:
            inner = _unwrap(condition)
            forever = inner is not None and inner.text in (b"1", b"true")
        body_nodes: list = []
        guard_pushed = False
        if condition is not None and kind != "do_statement":
            cond_id = self._condition(condition, node.start_point[0] + 1)
            self.guards.append(cond_id)
            guard_pushed = True
        self.loop_marks.append(len(self.blocks))
        self.loops += 1
        self._into(body_nodes, node.child_by_field_name("body"))
        if kind == "for_statement":
            update = node.child_by_field_name("update")
            if update is not None:
                saved = self.out
                self.out = body_nodes
                self._expr(update)
                self.out = saved
        if kind == "do_statement" and condition is not None:
            saved = self.out
            self.out = body_nodes
            self._condition(condition, condition.start_point[0] + 1)
            self.out = saved
        self.loop_marks.pop()
        self.loops -= 1
        if guard_pushed:
            self.guards.pop()
        self.out.append(Loop(forever=forever, at_least_once=kind == "do_statement", body=body_nodes))

    def _switch(self, node) -> None:
        condition = node.child_by_field_name("condition")
        cond_id = self._condition(condition, node.start_point[0] + 1)
        body = node.child_by_field_name("body")
        cases: list[list] = []
        has_default = False
        self.guards.append(cond_id)
        self.loop_marks.append(len(self.blocks))
        for child in (body.named_children if body is not None else []):
            if child.type == "case_statement":
                has_default = has_default or child.child_by_field_name("value") is None
                case_body: list = []
                cases.append(case_body)
                saved = self.out
                self.out = case_body
                for stmt in child.named_children:
                    if stmt != child.child_by_field_name("value"):
                        self._stmt(stmt)
                self.out = saved
            elif cases:
                self._into(cases[-1], child)
        self.loop_marks.pop()
        self.guards.pop()
        self.out.append(Switch(cases, has_default))

    # --- conditions ----------------------------------------------------------------------
    def _condition(self, node, line: int, assertion: bool = False) -> int:
        cond_id = len(self.facts.conditions)
        text = _squash(self.parsed.text(_unwrap(node))) if node is not None and not self.for_index else ""
        self.facts.conditions.append(Condition(cond_id, line, text,
                                               assertion=assertion))
        if node is not None:
            self._expr(node, cond=cond_id)
        return cond_id

    def _test_of(self, node):
        """(test, correlation key, names read) of an `if` condition."""
        node = _unwrap(node)
        names, has_call = _reads(node) if node is not None else (frozenset(), False)
        key = None if has_call or node is None else _condition_key(node)
        return self._subject_test(node), key, names

    def _warn_branch(self, node, truth: bool = True) -> bool | None:
        """The branch `if (WARN_ON(x))` (True) or `if (!WARN_ON(x))` (False) takes when it fires."""
        node = _unwrap(node)
        if node is None:
            return None
        if node.type == "unary_expression" and node.child_by_field_name("operator").type == "!":
            return self._warn_branch(node.child_by_field_name("argument"), not truth)
        if node.type == "call_expression":
            name = _call_name(node)
            args = _args(node) if name in CONDITION_WRAPPERS else None
            if args:
                return self._warn_branch(args[0], truth)
            if name in apis.ASSERTIONS:
                return truth
        return None

    def _subject_test(self, node, negate: bool = False):
        node = _unwrap(node)
        if node is None:
            return None
        kind = node.type
        if kind == "unary_expression" and node.child_by_field_name("operator").type == "!":
            return self._subject_test(node.child_by_field_name("argument"), not negate)
        if kind == "call_expression":
            name = _call_name(node)
            if name in CONDITION_WRAPPERS or name in apis.ASSERTIONS or name in ERR_TESTS:
                args = _args(node)
                if name in CONDITION_WRAPPERS or name in apis.ASSERTIONS and len(args) == 1:
                    return self._subject_test(args[0], negate) if args else None
                if name in ERR_TESTS and args:
                    subject = self._subject(args[0])
                    sense = "no" + ERR_TESTS[name] if negate else ERR_TESTS[name]  # !IS_ERR(p): "noerr"
                    return Test(subject, sense) if subject else None
            subject = self._subject(node)
            return Test(subject, "z" if negate else "nz") if subject else None
        if kind == "identifier":
            subject = self._subject(node)
            return Test(subject, "z" if negate else "nz") if subject else None
        if kind == "binary_expression":
            op = node.child_by_field_name("operator").type
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if op in ("&&", "||"):
                # !(a && b) is !a || !b: the junction flips with the negation
                junction = AllOf if (op == "&&") != negate else AnyOf
                parts = [self._subject_test(left, negate), self._subject_test(right, negate)]
                parts = [p for p in parts if p is not None]
                return junction(tuple(parts)) if parts else None
            if negate:
                return None
            if op in ("!=", "==", "<") and right is not None and right.text in (b"0", b"NULL"):
                subject = self._subject(left)
                if subject:
                    return Test(subject, {"!=": "nz", "==": "z", "<": "err"}[op])
        return None

    def _subject(self, node):
        node = _unwrap(node)
        if node is None:
            return None
        if node.type == "identifier":
            return Var(node.text.decode())
        if node.type == "call_expression":
            return self.call_subjects.get(node.id)
        return None

    # --- expressions ---------------------------------------------------------------------
    def _expr(self, node, cond: int | None = None, marks: frozenset = frozenset()):
        """Walk an expression that is read; returns a description of its value for binding:
        a Const, CallResult, TryResult, CountResult or None. With `cond`, the expression
        is that condition: its reads say so, and its calls can be tested by the branch."""
        saved = self._cond
        if cond is not None:
            self.call_subjects = {}
            self._cond = cond
        described = self._value(node, marks)
        self._cond = saved
        return described

    def _read(self, node, marks: frozenset) -> None:
        """Walk an expression whose value is not needed, only what it does: a name or a literal
        does nothing (most call arguments and operands are one)."""
        if node is not None and node.type not in LEAVES:
            self._value(node, marks)

    def _value(self, node, marks: frozenset):
        if node is None:
            return None
        kind = node.type
        # the kinds are tested most frequent first (a kernel's)
        if kind == "call_expression":
            return self._call(node, marks)
        if kind == "field_expression":
            self._field(node, READ, None, marks)
            return None
        if kind == "identifier" or kind in SKIPPED_EXPRESSIONS:
            return self._constant(node)
        if kind == "assignment_expression":
            self._assignment(node, marks)
            return None
        if kind == "parenthesized_expression":
            inner = node.named_children[0] if node.named_children else None
            return self._value(inner, marks)
        if kind == "binary_expression" and node.child_by_field_name("operator").type == "&":
            masked = self._masked_field(node)
            if masked is not None:  # `fl->flags & FOO_BIT`: the read tests that bit of the word
                field_node, mask = masked
                self._field(field_node, READ, f"& {mask}", marks)
                return None
        if kind == "update_expression":
            argument = node.child_by_field_name("argument")
            op = INC if b"++" in node.text.replace(argument.text, b"") else DEC
            self._lvalue(argument, op, "1", marks)
            return None
        if kind == "pointer_expression":
            argument = node.child_by_field_name("argument")
            if node.child_by_field_name("operator").type == "&":
                self._lvalue(argument, ADDR, None, marks)
            else:
                self._read(argument, marks)
            return None
        if kind == "unary_expression":
            argument = node.child_by_field_name("argument")
            described = self._value(argument, marks)
            if node.child_by_field_name("operator").type == "-" and argument is not None:
                if argument.type == "number_literal" or (argument.type == "identifier" and
                                                         argument.text.startswith(b"E")):
                    queued = argument.text in QUEUED_CODES
                    return Const(RET_OTHER if queued else RET_ERRNO, node.text.decode())
            return Const(RET_OTHER, node.text.decode()) if type(described) is Const else None
        if kind == "cast_expression":
            return self._value(node.child_by_field_name("value"), marks)
        if kind == "conditional_expression":
            for child in node.named_children:
                self._read(child, marks)
            return None
        if kind == "compound_statement":  # a statement expression ({ ... })
            self._block(node, self.out)
            return None
        for child in node.named_children:
            if child.type not in LEAVES:  # what _read does, without a call for each name
                self._value(child, marks)
        return None

    def _masked_field(self, node):
        """(the field, the mask's text) of `field & CONSTANT` (either way round), else None."""
        left, right = _unwrap(node.child_by_field_name("left")), _unwrap(node.child_by_field_name("right"))
        for field_node, mask in ((left, right), (right, left)):
            if field_node is not None and mask is not None and field_node.type == "field_expression" \
                    and mask.type in ("identifier", "number_literal") and self._constant(mask) is not None:
                return field_node, mask.text.decode()
        return None

    def _constant(self, node):
        kind = node.type
        text = node.text.decode()
        if kind == "number_literal":
            return Const(RET_ZERO if text in ("0", "0UL", "0L", "0U") else RET_OTHER, text)
        if kind in ("null",) or text == "NULL":
            return Const(RET_ZERO, text)
        if kind == "false":
            return Const(RET_ZERO, text)
        if kind in ("true", "char_literal", "string_literal", "concatenated_string"):
            return Const(RET_OTHER, text)
        if kind == "identifier" and (text.isupper() or self.types.is_enum_constant(text)) and text not in self.locals:
            return Const(RET_OTHER, text)
        return None


    def _assignment(self, node, marks: frozenset) -> None:
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        operator = node.child_by_field_name("operator").type
        described = self._value(right, marks)
        if operator == "=":
            constant = described.text if type(described) is Const else None
            target = _unwrap(left)
            if target.type == "identifier":
                self._assign_local(target.text.decode(), right, described)
                return
            self._lvalue(left, ASSIGN if constant is not None else WRITE, constant, marks)
        elif operator in ("+=", "-="):
            self._lvalue(left, ADD if operator == "+=" else SUB, _squash(right.text.decode()), marks)
        else:
            self._lvalue(left, WRITE, None, marks)

    def _assign_local(self, name: str, value_node, described) -> None:
        """A local variable is given a value: remembered for branch tests and returns."""
        value = None
        inner = _unwrap(value_node)
        if described is not None:
            value = Const(described.cls) if type(described) is Const else described
        elif inner is not None and inner.type == "identifier" and inner.text.decode() in self.dereferenced:
            value = Const(RET_POINTER)
        self.dereferenced.discard(name)
        if type(value) is CallResult:
            callee = self.facts.calls[value.index].name
            if callee in ERRNO_MAKERS:  # `err = PTR_ERR(p);` before `if (IS_ERR(p))`: the error
                value = Const(RET_ERRNO)
            if callee in apis.ALLOCATORS:
                self.fresh.add(name)
            else:
                self.fresh.discard(name)
        if inner is not None and inner.type == "pointer_expression" and \
                inner.child_by_field_name("operator").type == "&":
            self.aliases[name] = self._lock_key(inner.child_by_field_name("argument"), apis.LockApi("acquire"))
        if name not in self.locals and inner is not None:
            type_, guessed = self._type_of(inner)
            if type_:
                self.locals[name] = type_
                if guessed:
                    self.guessed.add(name)
        self.out.append(SetEvent(name, value))

    def _lvalue(self, node, op: str, value: str | None, marks: frozenset) -> None:
        node = _unwrap(node)
        if node is None:
            return
        kind = node.type
        if kind == "field_expression":
            self._field(node, op, value, marks)
        elif kind == "subscript_expression":
            self._lvalue(node.child_by_field_name("argument"), op, value, marks)
            self._read(node.child_by_field_name("index"), marks)
        elif kind == "pointer_expression" and node.child_by_field_name("operator").type == "*":
            self._read(node.child_by_field_name("argument"), marks)
        elif kind == "identifier":
            if op != ADDR:
                self.out.append(SetEvent(node.text.decode(), None))
        elif kind == "call_expression" and _call_name(node) in ("data_race", "READ_ONCE"):
            args = _args(node)
            if args:
                self._lvalue(args[0], op, value, marks | {_call_name(node)})
        else:
            self._read(node, marks)

    def _field(self, node, op: str, value: str | None, marks: frozenset) -> None:
        base = node.child_by_field_name("argument")
        member = node.child_by_field_name("field")
        arrow = node.child_by_field_name("operator").type == "->"
        inner = _unwrap(base)
        inner_kind = inner.type if inner is not None else None
        if inner_kind == "identifier":  # `p->member`, most fields: a name, read by walking nothing
            name = inner.text.decode()
            base_type, guessed = self._name_type(name)
            if arrow:
                self.dereferenced.add(name)
        else:
            base_type, guessed = self._type_of(inner)
        if member is not None and base_type:
            self._access(f"{base_type}.{member.text.decode()}", op, node, value, marks, guessed,
                         fresh=self._fresh_base(base, arrow))
        if not arrow and inner_kind == "field_expression":
            self._path(inner, marks)  # a.b.c: the embedded struct is not read by itself
        elif inner_kind != "identifier":
            self._read(base, marks)

    def _path(self, node, marks: frozenset) -> None:
        base = node.child_by_field_name("argument")
        arrow = node.child_by_field_name("operator").type == "->"
        if not arrow and _unwrap(base) is not None and _unwrap(base).type == "field_expression":
            self._path(_unwrap(base), marks)
        else:
            self._read(base, marks)

    def _fresh(self, node) -> bool:
        """Whether a field (a field_expression) belongs to an unshared object: one the function
        allocated, or a struct variable of its own."""
        if not self.fresh and not self.objects:  # most functions have neither
            return False
        node = _unwrap(node)
        if node is None or node.type != "field_expression":
            return False
        return self._fresh_base(node.child_by_field_name("argument"), node.child_by_field_name("operator").type == "->")

    def _fresh_base(self, base, arrow: bool) -> bool:
        """`_fresh` of the field `base->...` (`arrow`) or `base. ...`."""
        if not self.fresh and not self.objects:  # most functions have neither
            return False
        return self._root_name(base) in self.fresh or (not arrow and self._local_object(base))

    def _local_object(self, node) -> bool:
        """`obj`, `obj.a`, `objs[i].a` of a struct variable of the function: an object nobody else
        sees (what a `->` leads to may be shared)."""
        node = _unwrap(node)
        while node is not None and node.type in ("field_expression", "subscript_expression"):
            if node.type == "field_expression" and node.child_by_field_name("operator").type == "->":
                return False
            node = _unwrap(node.child_by_field_name("argument"))
        return node is not None and node.type == "identifier" and node.text.decode() in self.objects

    def _root_name(self, node) -> str | None:
        node = _unwrap(node)
        while node is not None and node.type in ("field_expression", "subscript_expression", "pointer_expression"):
            node = _unwrap(node.child_by_field_name("argument"))
        return node.text.decode() if node is not None and node.type == "identifier" else None

    def _access(self, key: str, op: str, node, value, marks, guessed: bool, fresh: bool = False) -> int:
        index = len(self.facts.accesses)
        self.facts.accesses.append(Access(
            key=key, op=op, line=node.start_point[0] + 1, locks=frozenset(), value=value,
            marks=frozenset(marks), text="" if self.for_index else _squash(self.parsed.text(node)), guessed_type=guessed,
            in_condition=self._cond, guards=tuple(self.guards), fresh=fresh))
        self.out.append(AccessEvent(index))
        return index

    # --- calls ---------------------------------------------------------------------------
    def _call(self, node, marks: frozenset):
        function = node.child_by_field_name("function")
        args = _args(node)
        function_kind = function.type if function is not None else None
        if function_kind == "call_expression" and _call_name(function) == "guard":
            return self._guard(node, function, args)
        name = function.text.decode() if function_kind == "identifier" else None
        if name is None:
            self._read(function, marks)
            for arg in args:
                self._read(arg, marks)
            return None
        if name not in self.tables.special_calls and not name.startswith(apis.WAIT_CONDITION_PREFIXES):
            return self._record_call(node, name, args, visit_args=True, marks=marks)  # most calls
        if name.startswith(apis.WAIT_CONDITION_PREFIXES):
            for position, arg in enumerate(args):
                self._value(arg, marks | {apis.WAIT_CONDITION_MARK} if position == 1 else marks)
            return self._record_call(node, name, args, visit_args=False)
        if name in apis.ACCESS_MARKS:
            return self._marked(name, args, marks)
        if name in apis.ASSERTIONS:
            cond_id = len(self.facts.conditions)
            text = "" if self.for_index else _squash(self.parsed.text(node))
            self.facts.conditions.append(Condition(cond_id, node.start_point[0] + 1, text, assertion=True))
            saved = self._cond
            self._cond = cond_id
            for arg in args:
                self._read(arg, marks)
            self._cond = saved
            return None
        api = self.tables.lock_apis.get(name)
        if api is not None:
            return self._lock_call(node, name, api, args)
        if name in apis.BIT_OPS and len(args) >= 2:
            self._read(args[0], marks)
            word = _unwrap(args[1])
            if word is not None and word.type == "pointer_expression":
                word = word.child_by_field_name("argument")
            guessed, word_key = self._target_key(word, marks)
            if word_key:
                self._access(f"{word_key}:{_squash(args[0].text.decode())}", apis.BIT_OPS[name], node, name,
                             marks, guessed, fresh=self._fresh(word))
            return self._record_call(node, name, args, visit_args=False)
        if name in apis.COUNTER_APIS and args:
            op, _ = apis.COUNTER_APIS[name]
            target_index = 1 if name in apis.VALUE_FIRST and len(args) > 1 else 0
            target = _unwrap(args[target_index])
            for i, arg in enumerate(args):
                if i != target_index:
                    self._read(arg, marks)
            if target is not None and target.type == "pointer_expression":
                target = target.child_by_field_name("argument")
            guessed, key = self._target_key(target, marks)
            access = None
            if key:
                if op in (ADD, SUB):
                    amount = args[1 - target_index] if len(args) > 1 else None
                    value = _squash(amount.text.decode()) if amount is not None else name
                else:
                    value = name
                access = self._access(key, op, node, value, marks, guessed, fresh=self._fresh(target))
            described = self._record_call(node, name, args, visit_args=False)
            if access is not None and name.endswith(CONDITIONAL_COUNTER_SUFFIXES):
                self.conditional_accesses.add(access)
                result = self.call_subjects[node.id] = CountResult(access)
                return result
            return described
        if name in apis.FIELD_CALLS:
            return self._field_call(node, name, args, marks)
        index = self._record_call(node, name, args, visit_args=True, marks=marks)
        return index

    def _field_call(self, node, name: str, args: list, marks: frozenset):
        """A list or RCU pointer call: the fields it is given are read or written by it."""
        ops = apis.FIELD_CALLS[name]
        for i, arg in enumerate(args):
            target = _unwrap(arg)
            if target is not None and target.type == "pointer_expression" and \
                    target.child_by_field_name("operator").type == "&":
                target = _unwrap(target.child_by_field_name("argument"))
            if i in ops and target is not None and target.type == "field_expression":
                self._field(target, WRITE if ops[i] == "write" else READ, None, marks)
            else:
                self._value(arg, marks)
        return self._record_call(node, name, args, visit_args=False)

    def _record_call(self, node, name: str, args: list, visit_args: bool, marks: frozenset = frozenset()):
        if visit_args:
            for arg in args:
                if arg.type not in LEAVES:  # what _read does, without a call for each name
                    self._value(arg, marks)
        index = len(self.facts.calls)
        self.facts.calls.append(Call(name=name, line=node.start_point[0] + 1, locks=frozenset(),
                                     args=() if self.for_index else tuple(_squash(a.text.decode()) for a in args),
                                     guards=tuple(self.guards)))
        self.out.append(CallEvent(index))
        result = self.call_subjects[node.id] = CallResult(index)
        return result

    def _marked(self, name: str, args: list, marks: frozenset):
        if not args:
            return None
        marks = marks | {name}
        if name in ("WRITE_ONCE", "smp_store_release") and len(args) >= 2:
            described = self._value(args[1], frozenset())
            constant = described.text if type(described) is Const else None
            target = _unwrap(args[0])
            if name == "smp_store_release" and target is not None and target.type == "pointer_expression":
                target = target.child_by_field_name("argument")
            self._lvalue(target, ASSIGN if constant is not None else WRITE, constant, marks)
            return None
        target = _unwrap(args[0])
        if name == "smp_load_acquire" and target is not None and target.type == "pointer_expression":
            target = target.child_by_field_name("argument")
        return self._value(target, marks)

    def _guard(self, node, guard_call, args: list):
        guard_args = _args(guard_call)
        guard_class = guard_args[0].text.decode() if guard_args else ""
        line = node.start_point[0] + 1
        if args:
            lock = self._lock_key(args[0], apis.LockApi("acquire"))
        else:
            lock = guard_class
        index = self._lock_op(lock, ACQUIRE, line, f"guard({guard_class})", "acquire",
                              shared=guard_class in apis.SHARED_GUARD_CLASSES)
        self.out.append(LockEvent(index, self.blocks[-1] if self.blocks else None, "acquire"))
        return None

    def _lock_call(self, node, name: str, api: apis.LockApi, args: list):
        line = node.start_point[0] + 1
        if api.arg is None:
            lock = api.global_name or name
        elif api.arg < len(args):
            lock = self._lock_key(args[api.arg], api)
        else:
            return None
        for i, arg in enumerate(args):
            if i != api.arg and arg.type not in ("pointer_expression",):
                self._read(arg, frozenset())
        op = {"acquire": ACQUIRE, "release": RELEASE, "assert": ASSERT}.get(api.op, ACQUIRE)
        index = self._lock_op(lock, op, line, name, api.op, shared=api.shared)
        self.out.append(LockEvent(index, None, api.op))
        if api.op in ("try", "try0"):
            result = self.call_subjects[node.id] = TryResult(index)
            return result
        return None

    def _lock_op(self, lock: str, op: str, line: int, api_name: str, api_op: str, shared: bool) -> int:
        index = len(self.facts.lock_ops)
        self.facts.lock_ops.append(LockOp(lock=lock, op=op, line=line, api=api_name,
                                          conditional=api_op in ("try", "try0"), shared=shared,
                                          in_loop=self.loops > 0, guards=tuple(self.guards)))
        self.lock_kinds.append(api_op)
        return index

    # --- keys and types ------------------------------------------------------------------
    def _lock_key(self, node, api: apis.LockApi) -> str:
        node = _unwrap(node)
        if node is not None and node.type == "pointer_expression" and node.child_by_field_name("operator").type == "&":
            node = _unwrap(node.child_by_field_name("argument"))
        if node is None:
            return "?"
        if api.lock_suffix:
            type_, _ = self._type_of(node)
            return f"{type_ or SUFFIX_OWNERS.get(api.lock_suffix, node.text.decode())}.{api.lock_suffix}"
        if node.type == "identifier":
            name = node.text.decode()
            return self.aliases.get(name, name)
        if node.type == "field_expression":
            _, key = self._target_key(node)
            if key:
                return key
        return _squash(node.text.decode())

    def _lock_key_from_text(self, text: str) -> str:
        """A lock named in an annotation (`&fi->lock`): resolved through the parameter types."""
        text = text.strip().lstrip("&").strip()
        for sep in ("->", "."):
            if sep in text:
                base, member = text.rsplit(sep, 1)
                base_type = self.locals.get(base.strip()) or self.types.hints.get(base.strip())
                if base_type:
                    return f"{base_type}.{member.strip()}"
        return text

    def _target_key(self, node, marks: frozenset = frozenset()) -> tuple[bool, str | None]:
        """(guessed, key) of the field a bit, counter or lock API works on (`fi->state` of
        `&fi->state`), None when it is not a field of a known struct; the reads in the
        expression around the field are walked."""
        node = _unwrap(node)
        if node is None:
            return False, None
        if node.type != "field_expression":
            self._read(node, marks)
            return False, None
        base = node.child_by_field_name("argument")
        member = node.child_by_field_name("field")
        if node.child_by_field_name("operator").type == "." and _unwrap(base).type == "field_expression":
            self._path(_unwrap(base), marks)
        else:
            self._read(base, marks)
        base_type, guessed = self._type_of(base)
        if not base_type or member is None:
            return False, None
        return guessed, f"{base_type}.{member.text.decode()}"

    def _type_of(self, node) -> tuple[str | None, bool]:
        """The struct type an expression points to (or is), and whether it is a guess."""
        node = _unwrap(node)
        if node is None:
            return None, False
        kind = node.type
        if kind == "identifier":
            return self._name_type(node.text.decode())
        if kind == "field_expression":
            base_type, guessed = self._type_of(node.child_by_field_name("argument"))
            member = node.child_by_field_name("field")
            return self.types.member_type(base_type, member.text.decode()), guessed
        if kind == "call_expression":
            name = _call_name(node)
            args = _args(node)
            if name in ("container_of", "container_of_const", "list_entry", "list_first_entry",
                        "list_last_entry", "list_first_entry_or_null", "hlist_entry", "rb_entry") and len(args) > 1:
                type_text = args[1].text.decode()
                return self.types.canonical(type_text.removeprefix("struct_").removeprefix("struct ").strip()), False
            if name is not None:
                return self.types.return_type(name), False
            return None, False
        if kind == "cast_expression":
            descriptor = node.child_by_field_name("type")
            type_node = descriptor.child_by_field_name("type") if descriptor is not None else None
            return self.types.canonical(type_name(type_node)), False
        if kind in ("pointer_expression", "subscript_expression"):
            return self._type_of(node.child_by_field_name("argument"))
        return None, False

    def _name_type(self, name: str) -> tuple[str | None, bool]:
        """`_type_of` a variable."""
        if name in self.locals:
            return self.locals[name], name in self.guessed
        if name in self.types.globals:
            return self.types.canonical(self.types.globals[name]), False
        hint = self.types.hints.get(name)
        return (self.types.canonical(hint), True) if hint else (None, False)

    def _returned(self, node):
        """What a return statement returns (walking the expression); `c ? a : b` is a choice
        between two values that the test of `c` decides."""
        inner = _unwrap(node)
        if inner is not None and inner.type == "conditional_expression":
            condition = inner.child_by_field_name("condition")
            self._expr(condition)
            test = self._subject_test(condition)
            choices = [self._returned(inner.child_by_field_name(f)) for f in ("consequence", "alternative")]
            return Choice(test, *choices) if test is not None else None
        return self._return_value(node, self._expr(node) if node is not None else None)

    def _return_value(self, node, described):
        node = _unwrap(node)
        if node is None:
            return None
        if described is not None:
            if type(described) is Const:
                return Const(described.cls)
            if type(described) is CallResult and self.facts.calls[described.index].name in ERRNO_MAKERS:
                return Const(RET_ERRNO)
            return described
        if node.type == "identifier":
            return Var(node.text.decode())
        if node.type == "pointer_expression" and node.child_by_field_name("operator").type == "&":
            return Const(RET_POINTER)
        return None
