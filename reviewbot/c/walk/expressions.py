"""Expressions: field accesses (read, written, masked, moved), assignments to locals, the values
they describe for branch tests and returns, and whether a field belongs to an unshared object.

A part of reviewbot.c.walk.FunctionWalker: the state it reads and writes is set up there."""

from __future__ import annotations

from reviewbot.c import apis
from reviewbot.c.model import (ADD, ADDR, ASSIGN, DEC, INC, READ, RET_ERRNO, RET_OTHER, RET_POINTER, RET_ZERO,
                               SUB, WRITE, Access)
from reviewbot.c.paths import AccessEvent, CallResult, Choice, Const, SetEvent, Var
from reviewbot.c.walk.syntax import LEAVES, SKIPPED_EXPRESSIONS, call_args, call_name, squash, unwrap

ERRNO_MAKERS = frozenset({"ERR_PTR", "ERR_CAST", "PTR_ERR"})  # `return PTR_ERR(p);` returns an errno
# error codes that say the operation goes on asynchronously: the work (and what it holds) was
# handed over, not failed
QUEUED_CODES = frozenset({b"EIOCBQUEUED"})


class Expressions:
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
        left, right = unwrap(node.child_by_field_name("left")), unwrap(node.child_by_field_name("right"))
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
            target = unwrap(left)
            if target.type == "identifier":
                self._assign_local(target.text.decode(), right, described)
                return
            self._lvalue(left, ASSIGN if constant is not None else WRITE, constant, marks)
        elif operator in ("+=", "-="):
            self._lvalue(left, ADD if operator == "+=" else SUB, squash(right.text.decode()), marks)
        else:
            self._lvalue(left, WRITE, None, marks)

    def _assign_local(self, name: str, value_node, described) -> None:
        """A local variable is given a value: remembered for branch tests and returns."""
        value = None
        inner = unwrap(value_node)
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
        node = unwrap(node)
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
        elif kind == "call_expression" and call_name(node) in ("data_race", "READ_ONCE"):
            args = call_args(node)
            if args:
                self._lvalue(args[0], op, value, marks | {call_name(node)})
        else:
            self._read(node, marks)

    def _field(self, node, op: str, value: str | None, marks: frozenset) -> None:
        base = node.child_by_field_name("argument")
        member = node.child_by_field_name("field")
        arrow = node.child_by_field_name("operator").type == "->"
        inner = unwrap(base)
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
        if not arrow and unwrap(base) is not None and unwrap(base).type == "field_expression":
            self._path(unwrap(base), marks)
        else:
            self._read(base, marks)

    def _fresh(self, node) -> bool:
        """Whether a field (a field_expression) belongs to an unshared object: one the function
        allocated, or a struct variable of its own."""
        if not self.fresh and not self.objects:  # most functions have neither
            return False
        node = unwrap(node)
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
        node = unwrap(node)
        while node is not None and node.type in ("field_expression", "subscript_expression"):
            if node.type == "field_expression" and node.child_by_field_name("operator").type == "->":
                return False
            node = unwrap(node.child_by_field_name("argument"))
        return node is not None and node.type == "identifier" and node.text.decode() in self.objects

    def _root_name(self, node) -> str | None:
        node = unwrap(node)
        while node is not None and node.type in ("field_expression", "subscript_expression", "pointer_expression"):
            node = unwrap(node.child_by_field_name("argument"))
        return node.text.decode() if node is not None and node.type == "identifier" else None

    def _access(self, key: str, op: str, node, value, marks, guessed: bool, fresh: bool = False) -> int:
        index = len(self.facts.accesses)
        self.facts.accesses.append(Access(
            key=key, op=op, line=node.start_point[0] + 1, locks=frozenset(), value=value,
            marks=frozenset(marks), text="" if self.for_index else squash(self.parsed.text(node)), guessed_type=guessed,
            in_condition=self._cond, guards=tuple(self.guards), fresh=fresh))
        self.out.append(AccessEvent(index))
        return index

    def _returned(self, node):
        """What a return statement returns (walking the expression); `c ? a : b` is a choice
        between two values that the test of `c` decides."""
        inner = unwrap(node)
        if inner is not None and inner.type == "conditional_expression":
            condition = inner.child_by_field_name("condition")
            self._expr(condition)
            test = self._subject_test(condition)
            choices = [self._returned(inner.child_by_field_name(f)) for f in ("consequence", "alternative")]
            return Choice(test, *choices) if test is not None else None
        return self._return_value(node, self._expr(node) if node is not None else None)

    def _return_value(self, node, described):
        node = unwrap(node)
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
