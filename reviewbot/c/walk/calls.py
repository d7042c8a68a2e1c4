"""Calls: recorded calls and their results, lock and guard calls, bit and counter APIs, access
marks (READ_ONCE and kin), assertions, and the list and RCU calls that access their fields.

A part of reviewbot.c.walk.FunctionWalker: the state it reads and writes is set up there."""

from __future__ import annotations

from reviewbot.c import apis
from reviewbot.c.model import (ACQUIRE, ADD, ASSERT, ASSIGN, READ, RELEASE, SUB, WRITE, Call, Condition,
                               LockOp)
from reviewbot.c.paths import CallEvent, CallResult, Const, CountResult, LockEvent, TryResult
from reviewbot.c.walk.syntax import LEAVES, call_args, call_name, squash, unwrap

# counter APIs that move the counter only when they return true
CONDITIONAL_COUNTER_SUFFIXES = ("_inc_not_zero", "_get_unless_zero", "_inc_unless_negative",
                                "_dec_unless_positive", "_add_unless")


class Calls:
    def _call(self, node, marks: frozenset):
        function = node.child_by_field_name("function")
        args = call_args(node)
        function_kind = function.type if function is not None else None
        if function_kind == "call_expression" and call_name(function) == "guard":
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
            text = "" if self.for_index else squash(self.parsed.text(node))
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
            word = unwrap(args[1])
            if word is not None and word.type == "pointer_expression":
                word = word.child_by_field_name("argument")
            guessed, word_key = self._target_key(word, marks)
            if word_key:
                self._access(f"{word_key}:{squash(args[0].text.decode())}", apis.BIT_OPS[name], node, name,
                             marks, guessed, fresh=self._fresh(word))
            return self._record_call(node, name, args, visit_args=False)
        if name in apis.COUNTER_APIS and args:
            op, _ = apis.COUNTER_APIS[name]
            target_index = 1 if name in apis.VALUE_FIRST and len(args) > 1 else 0
            target = unwrap(args[target_index])
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
                    value = squash(amount.text.decode()) if amount is not None else name
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
            target = unwrap(arg)
            if target is not None and target.type == "pointer_expression" and \
                    target.child_by_field_name("operator").type == "&":
                target = unwrap(target.child_by_field_name("argument"))
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
                                     args=() if self.for_index else tuple(squash(a.text.decode()) for a in args),
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
            target = unwrap(args[0])
            if name == "smp_store_release" and target is not None and target.type == "pointer_expression":
                target = target.child_by_field_name("argument")
            self._lvalue(target, ASSIGN if constant is not None else WRITE, constant, marks)
            return None
        target = unwrap(args[0])
        if name == "smp_load_acquire" and target is not None and target.type == "pointer_expression":
            target = target.child_by_field_name("argument")
        return self._value(target, marks)

    def _guard(self, node, guard_call, args: list):
        guard_args = call_args(guard_call)
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
