"""What the parts of the walk read off tree-sitter nodes, and the constants more than one
part of it uses."""

from __future__ import annotations

CONDITION_WRAPPERS = frozenset({"likely", "unlikely"})
SKIPPED_EXPRESSIONS = frozenset({"sizeof_expression", "alignof_expression", "offsetof_expression",
                                 "string_literal", "concatenated_string", "char_literal", "number_literal",
                                 "true", "false", "null", "type_descriptor", "gnu_asm_expression",
                                 "comment"})
LEAVES = SKIPPED_EXPRESSIONS | {"identifier"}  # expressions whose walk only describes their value


def unwrap(node):
    while node is not None and node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def call_name(node) -> str | None:
    function = node.child_by_field_name("function")
    if function is not None and function.type == "identifier":
        return function.text.decode()
    return None


def call_args(node) -> list:
    arguments = node.child_by_field_name("arguments")
    if arguments is None:
        return []
    return [a for a in arguments.named_children if a.type != "comment"]


def squash(text: str) -> str:
    return " ".join(text.split())


def condition_key(node) -> str:
    """A condition's text for telling a repeated test: `a || b` and `b || a` are one."""
    node = unwrap(node)
    if node.type == "binary_expression" and node.child_by_field_name("operator").type in ("||", "&&"):
        op = node.child_by_field_name("operator").type
        parts, stack = [], [node]
        while stack:
            part = unwrap(stack.pop())
            if part.type == "binary_expression" and part.child_by_field_name("operator").type == op:
                stack += [part.child_by_field_name("left"), part.child_by_field_name("right")]
            else:
                parts.append(condition_key(part))
        return f" {op} ".join(sorted(parts))
    return squash(node.text.decode())


def reads(node) -> tuple[frozenset, bool]:
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
            has_call = call_name(node) not in CONDITION_WRAPPERS
        if node.named_child_count:  # most nodes met here are names, fields and numbers: leaves
            (unread if kind in ("sizeof_expression", "alignof_expression") else stack).extend(node.named_children)
    while unread and not has_call:
        node = unread.pop()
        if node.type == "call_expression":
            has_call = call_name(node) not in CONDITION_WRAPPERS
        unread.extend(node.named_children)
    return frozenset(names), has_call
