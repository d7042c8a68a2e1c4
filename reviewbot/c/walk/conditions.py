"""Conditions: what a branch tests (a variable, a call's result, a trylock, a conditional
counter; `&&` and `||` of them), its correlation key, and the branch a WARN_ON takes.

A part of reviewbot.c.walk.FunctionWalker: the state it reads and writes is set up there."""

from __future__ import annotations

from reviewbot.c import apis
from reviewbot.c.model import Condition
from reviewbot.c.paths import AllOf, AnyOf, Test, Var
from reviewbot.c.walk.syntax import (CONDITION_WRAPPERS, call_args, call_name, condition_key, reads, squash,
                                     unwrap)

ERR_TESTS = {"IS_ERR": "err", "IS_ERR_OR_NULL": "errz"}


class Conditions:
    def _condition(self, node, line: int, assertion: bool = False) -> int:
        cond_id = len(self.facts.conditions)
        text = squash(self.parsed.text(unwrap(node))) if node is not None and not self.for_index else ""
        self.facts.conditions.append(Condition(cond_id, line, text,
                                               assertion=assertion))
        if node is not None:
            self._expr(node, cond=cond_id)
        return cond_id

    def _test_of(self, node):
        """(test, correlation key, names read) of an `if` condition."""
        node = unwrap(node)
        names, has_call = reads(node) if node is not None else (frozenset(), False)
        key = None if has_call or node is None else condition_key(node)
        return self._subject_test(node), key, names

    def _warn_branch(self, node, truth: bool = True) -> bool | None:
        """The branch `if (WARN_ON(x))` (True) or `if (!WARN_ON(x))` (False) takes when it fires."""
        node = unwrap(node)
        if node is None:
            return None
        if node.type == "unary_expression" and node.child_by_field_name("operator").type == "!":
            return self._warn_branch(node.child_by_field_name("argument"), not truth)
        if node.type == "call_expression":
            name = call_name(node)
            args = call_args(node) if name in CONDITION_WRAPPERS else None
            if args:
                return self._warn_branch(args[0], truth)
            if name in apis.ASSERTIONS:
                return truth
        return None

    def _subject_test(self, node, negate: bool = False):
        node = unwrap(node)
        if node is None:
            return None
        kind = node.type
        if kind == "unary_expression" and node.child_by_field_name("operator").type == "!":
            return self._subject_test(node.child_by_field_name("argument"), not negate)
        if kind == "call_expression":
            name = call_name(node)
            if name in CONDITION_WRAPPERS or name in apis.ASSERTIONS or name in ERR_TESTS:
                args = call_args(node)
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
        node = unwrap(node)
        if node is None:
            return None
        if node.type == "identifier":
            return Var(node.text.decode())
        if node.type == "call_expression":
            return self.call_subjects.get(node.id)
        return None
