"""What the scanned files say about types: struct members, function return types, globals, and
the type a variable name usually has, so that `ff->iomode` becomes `fuse_file.iomode`.

The context is built from every file given to one analysis (all files of a series version), so a
hunk in file.c can use a struct defined in fuse_i.h. A variable whose type comes from a hint (the
same name declared elsewhere, or the profile) and not from its own declaration is a guess, and the
accesses through it say so (Access.guessed_type).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from reviewbot.c.apis import RETURN_TYPES


# Members of core kernel structs that code reaches through, for when no definition is in view.
KERNEL_MEMBERS = {
    "kiocb.ki_filp": "file", "file.f_inode": "inode", "file.f_mapping": "address_space",
    "file.f_path": "path", "path.dentry": "dentry", "path.mnt": "vfsmount", "dentry.d_inode": "inode",
    "dentry.d_sb": "super_block", "dentry.d_parent": "dentry", "inode.i_sb": "super_block",
    "inode.i_mapping": "address_space", "inode.i_data": "address_space", "address_space.host": "inode",
    "vm_area_struct.vm_file": "file", "vm_area_struct.vm_mm": "mm_struct", "vm_fault.vma": "vm_area_struct",
    "page.mapping": "address_space", "folio.mapping": "address_space", "super_block.s_root": "dentry",
}


@dataclass
class TypeContext:
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # struct -> member -> type
    returns: dict[str, str] = field(default_factory=dict)  # function -> type of the returned pointer
    globals: dict[str, str] = field(default_factory=dict)  # global variable -> type
    global_locks: set[str] = field(default_factory=set)  # DEFINE_SPINLOCK(x) and friends
    typedefs: dict[str, str] = field(default_factory=dict)  # typedef name -> struct tag
    hints: dict[str, str] = field(default_factory=dict)  # variable name -> usual type
    enums: dict[str, list[str]] = field(default_factory=dict)

    def is_enum_constant(self, name: str) -> bool:
        constants = self.__dict__.get("_enum_constants")
        if constants is None:
            constants = self.__dict__["_enum_constants"] = frozenset(
                c for values in self.enums.values() for c in values)
        return name in constants

    def canonical(self, type_name: str | None) -> str | None:
        if type_name is None:
            return None
        return self.typedefs.get(type_name, type_name)

    def member_type(self, struct: str | None, member: str) -> str | None:
        if struct is None:
            return None
        found = self.members.get(struct, {}).get(member) or KERNEL_MEMBERS.get(f"{struct}.{member}")
        return self.canonical(found)

    def return_type(self, function: str) -> str | None:
        return self.canonical(self.returns.get(function) or RETURN_TYPES.get(function))

    def digest(self) -> str:
        """Identifies the context's content: facts walked with an equal context are equal."""
        data = json.dumps([self.members, self.returns, self.globals, sorted(self.global_locks),
                           self.typedefs, self.hints], sort_keys=True)
        return hashlib.sha1(data.encode()).hexdigest()


# Declaration scanning, shared with the facts walker -------------------------------------------

def type_name(type_node) -> str | None:
    """`struct fuse_inode` -> fuse_inode; `spinlock_t` -> spinlock_t; primitive types -> None."""
    if type_node is None:
        return None
    if type_node.type in ("struct_specifier", "union_specifier"):
        name = type_node.child_by_field_name("name")
        return name.text.decode() if name is not None else None
    if type_node.type == "type_identifier":
        return type_node.text.decode()
    return None


def declarator_name(decl) -> tuple[str | None, bool, object]:
    """(name, is_pointer, function_declarator or None) for a declarator node."""
    pointer = False
    function = None
    while decl is not None:
        kind = decl.type
        if kind in ("identifier", "field_identifier", "type_identifier"):
            return decl.text.decode(), pointer, function
        if kind in ("pointer_declarator", "abstract_pointer_declarator"):
            pointer = True
        elif kind == "function_declarator" and function is None:
            function = decl
        elif kind not in ("init_declarator", "array_declarator", "parenthesized_declarator",
                          "attributed_declarator"):
            return None, pointer, function
        decl = decl.child_by_field_name("declarator") or (
            decl.named_children[0] if kind == "parenthesized_declarator" and decl.named_children else None)
    return None, pointer, function


def parameters(function_declarator) -> list[tuple[str, str | None]]:
    """[(name, type)] of a function declarator's parameters, in order."""
    params = function_declarator.child_by_field_name("parameters")
    found = []
    if params is None:
        return found
    for param in params.named_children:
        if param.type != "parameter_declaration":
            continue
        name, _, _ = declarator_name(param.child_by_field_name("declarator"))
        found.append((name or "", type_name(param.child_by_field_name("type"))))
    return found


@dataclass
class FileTypes:
    """What one file contributes to a TypeContext (cached per file content)."""

    context: TypeContext
    names: dict[str, Counter]  # variable name -> how often it is declared with each type


def collect_file(root) -> FileTypes:
    """The types a parsed file declares: its top level, and the declarations at the top of its
    function bodies (which feed the name hints)."""
    collector = _Collector()
    for node in root.named_children:
        collector._top_level(node)
    return FileTypes(collector.context, collector._names)


def merge(files: list[FileTypes], profile_hints: dict[str, str] | None = None) -> TypeContext:
    """One context from the files' contributions; a variable name gets a hint when the files
    declare it with one type by a clear majority, else from the profile."""
    context = TypeContext()
    names: dict[str, Counter] = {}
    for part in files:
        for struct, members in part.context.members.items():
            context.members.setdefault(struct, {}).update(members)
        for function, type_ in part.context.returns.items():
            context.returns.setdefault(function, type_)
        context.globals.update(part.context.globals)
        context.global_locks |= part.context.global_locks
        context.typedefs.update(part.context.typedefs)
        context.enums.update(part.context.enums)
        for name, counts in part.names.items():
            names.setdefault(name, Counter()).update(counts)
    hints = dict(profile_hints or {})
    for name, counts in names.items():
        (best, n), = counts.most_common(1)
        if n * 2 > sum(counts.values()):
            hints[name] = best
    context.hints = hints
    return context


class _Collector:
    def __init__(self):
        self.context = TypeContext()
        self._names: dict[str, Counter] = {}

    def _hint(self, name: str | None, type_: str | None) -> None:
        if name and type_:
            self._names.setdefault(name, Counter())[type_] += 1

    def _top_level(self, node) -> None:
        kind = node.type
        if kind == "function_definition":
            self._function(node)
        elif kind == "declaration":
            self._declaration(node, top=True)
        elif kind == "type_definition":
            self._typedef(node)
        elif kind in ("struct_specifier", "union_specifier", "enum_specifier"):
            self._specifier(node)
        elif kind in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "linkage_specification",
                      "declaration_list"):
            for child in node.named_children:
                self._top_level(child)
        elif kind == "expression_statement":
            self._define_macro(node)

    def _specifier(self, node, anonymous: str = "") -> None:
        """Record an enum's constants or a struct's members; `anonymous`: the name a struct
        without a tag goes by (`outer.u` for the `union { ... } u;` inside `struct outer`)."""
        kind = node.type
        if kind == "enum_specifier":
            body = node.child_by_field_name("body")
            if body is None:
                return
            constants = [c.child_by_field_name("name").text.decode() for c in body.named_children
                         if c.type == "enumerator"]
            if constants:
                name = node.child_by_field_name("name")
                self.context.enums[name.text.decode() if name is not None else constants[0]] = constants
            return
        if kind not in ("struct_specifier", "union_specifier"):
            return
        body = node.child_by_field_name("body")
        name = node.child_by_field_name("name")
        if body is None:
            return
        struct = name.text.decode() if name is not None else anonymous
        members = self.context.members.setdefault(struct, {})
        for member in body.named_children:
            if member.type != "field_declaration":
                continue
            member_type, names = self._declared(member, struct)
            if member_type:
                members.update(dict.fromkeys(names, member_type))

    def _typedef(self, node) -> None:
        target, names = self._declared(node)
        for name in names:
            if target and name != target:
                self.context.typedefs[name] = target

    def _declared(self, node, outer: str = "") -> tuple[str | None, list[str]]:
        """The type a declaration names (a struct or enum it defines on the way is recorded)
        and the names it declares. A member of `outer` whose struct has no tag (`union { ...
        } u;`) has the type `outer.u`, so that `x->u.exp.count` is `outer.u.exp.count`."""
        type_node = node.child_by_field_name("type")
        names = [declarator_name(decl)[0] for decl in node.children_by_field_name("declarator")]
        names = [name for name in names if name]
        anonymous = f"{outer}.{names[0]}" if outer and len(names) == 1 and type_name(type_node) is None \
            and type_node is not None and type_node.type in ("struct_specifier", "union_specifier") \
            and type_node.child_by_field_name("body") is not None else ""
        if type_node is not None:
            self._specifier(type_node, anonymous)
        return type_name(type_node) or anonymous or None, names

    def _function(self, node) -> None:
        type_node = node.child_by_field_name("type")
        if type_node is not None:
            self._specifier(type_node)
        name, pointer, function = declarator_name(node.child_by_field_name("declarator"))
        if name and pointer and type_name(type_node):
            self.context.returns[name] = type_name(type_node)
        if function is not None:
            for param_name, param_type in parameters(function):
                self._hint(param_name, param_type)
        body = node.child_by_field_name("body")
        if body is not None:
            for stmt in body.named_children:
                if stmt.type == "declaration":
                    self._declaration(stmt, top=False)

    def _declaration(self, node, top: bool) -> None:
        type_node = node.child_by_field_name("type")
        if type_node is not None:
            self._specifier(type_node)
        type_ = type_name(type_node)
        if top and type_node is not None and type_node.type == "type_identifier" and \
                type_node.text.startswith(b"DEFINE_") and b"LOCK" in type_node.text.upper():
            # `static DEFINE_SPINLOCK(name);` parses as a declaration of `name` of type DEFINE_SPINLOCK
            for decl in node.children_by_field_name("declarator"):
                name, _, _ = declarator_name(decl)
                if name:
                    self.context.global_locks.add(name)
            return
        for decl in node.children_by_field_name("declarator"):
            name, pointer, function = declarator_name(decl)
            if not name or not type_:
                continue
            if function is not None:
                if top and pointer:
                    self.context.returns.setdefault(name, type_)
                if top:
                    for param_name, param_type in parameters(function):
                        self._hint(param_name, param_type)
            elif top:
                self.context.globals[name] = type_
            else:
                self._hint(name, type_)

    def _define_macro(self, node) -> None:
        """`DEFINE_MUTEX(name);` at file scope parses as a call statement."""
        call = node.named_children[0] if node.named_children else None
        if call is None or call.type != "call_expression":
            return
        function = call.child_by_field_name("function")
        if function is None or function.type != "identifier":
            return
        macro = function.text.decode()
        if macro.startswith("DEFINE_") and ("LOCK" in macro or "MUTEX" in macro or "RWSEM" in macro):
            args = call.child_by_field_name("arguments")
            if args is not None and args.named_children and args.named_children[0].type == "identifier":
                self.context.global_locks.add(args.named_children[0].text.decode())
