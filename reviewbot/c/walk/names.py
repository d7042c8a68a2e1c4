"""Names: the struct type an expression points to, the key of a field (`type.member`) and of a
lock, through the function's locals, the file's globals and the configured hints.

A part of reviewbot.c.walk.FunctionWalker: the state it reads and writes is set up there."""

from __future__ import annotations

from reviewbot.c import apis
from reviewbot.c.types import type_name
from reviewbot.c.walk.syntax import call_args, call_name, squash, unwrap

# lock APIs with a member suffix name the object they lock: its type when the argument's is unknown
SUFFIX_OWNERS = {"i_rwsem": "inode", "invalidate_lock": "address_space", "sk_lock": "sock"}


class Names:
    def _lock_key(self, node, api: apis.LockApi) -> str:
        node = unwrap(node)
        if node is not None and node.type == "pointer_expression" and node.child_by_field_name("operator").type == "&":
            node = unwrap(node.child_by_field_name("argument"))
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
        return squash(node.text.decode())

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
        node = unwrap(node)
        if node is None:
            return False, None
        if node.type != "field_expression":
            self._read(node, marks)
            return False, None
        base = node.child_by_field_name("argument")
        member = node.child_by_field_name("field")
        if node.child_by_field_name("operator").type == "." and unwrap(base).type == "field_expression":
            self._path(unwrap(base), marks)
        else:
            self._read(base, marks)
        base_type, guessed = self._type_of(base)
        if not base_type or member is None:
            return False, None
        return guessed, f"{base_type}.{member.text.decode()}"

    def _type_of(self, node) -> tuple[str | None, bool]:
        """The struct type an expression points to (or is), and whether it is a guess."""
        node = unwrap(node)
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
            name = call_name(node)
            args = call_args(node)
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
