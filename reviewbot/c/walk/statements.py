"""Statements: the control-flow tree of a function body (blocks, branches, loops, switches,
returns, gotos and labels) and the hunk-only function's known ranges.

A part of reviewbot.c.walk.FunctionWalker: the state it reads and writes is set up there."""

from __future__ import annotations

from reviewbot.c import apis
from reviewbot.c.model import ACQUIRE
from reviewbot.c.paths import Block, Goto, If, Jump, Label, LockEvent, Loop, RangeEvent, Return, Switch
from reviewbot.c.types import declarator_name, type_name
from reviewbot.c.walk.syntax import unwrap


class Statements:
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
        inner = unwrap(condition)
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
            inner = unwrap(condition)
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
