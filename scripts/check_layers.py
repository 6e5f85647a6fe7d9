#!/usr/bin/env python3
"""Checks that the library's modules import only downward, never through
the crate root, and that no two sibling files import each other.

The layers, lowest first (a module may use any module of a lower layer,
none of its own layer but itself, none above):

    0  id, object, status      ids, object names, job and object states
    1  error                   the error type, record and field errors
    2  record, crm, retry      Salesforce records, CRM records, backoff and clock
    3  mapping                 pure mappers
    4  source, sink, vault,    the four ports and their in-memory backends
       jobs
    5  engine, http            the importer; the REST source and OAuth flow
    6  postgres                the PostgreSQL backends (implements http's
                               PendingAuthorizations too)
    7  workers                 imports as tasks of a PostgreSQL queue
    8  server                  the HTTP API
    9  testkit                 the conformance suite

`crate::Name` where `Name` is a re-export of the crate root hides the real
graph, so it is refused: write `crate::module::Name`. `$crate::` in macros
is left alone (it must name public paths). Test code (`#[cfg(test)]`
modules and files, and `tests/` folders under src) is not checked: a test
may use the test kit.

Run from the repository root: `python3 scripts/check_layers.py`. Exits 1
and lists every offending line when a rule is broken.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LAYERS = {
    "id": 0, "object": 0, "status": 0,
    "error": 1,
    "record": 2, "crm": 2, "retry": 2,
    "mapping": 3,
    "source": 4, "sink": 4, "vault": 4, "jobs": 4,
    "engine": 5, "http": 5,
    "postgres": 6,
    "workers": 7,
    "server": 8,
    "testkit": 9,
}

SRC = Path("src")


def code_only(text: str) -> str:
    """The text with string literals and comments blanked, lines kept."""
    keep_lines = lambda m: "\n" * m.group(0).count("\n")  # noqa: E731
    text = re.sub(r'r(#+)".*?"\1', keep_lines, text, flags=re.S)
    text = re.sub(r'r"[^"]*"', keep_lines, text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', keep_lines, text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\\n])'", "' '", text)  # char literals
    text = re.sub(r"/\*.*?\*/", keep_lines, text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


def without_test_modules(code: str) -> tuple[str, set[str]]:
    """Blanks `#[cfg(test)] mod x { ... }` blocks; returns the code and the
    names of `#[cfg(test)] mod x;` declarations (test-only files)."""
    lines = code.split("\n")
    test_files: set[str] = set()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"\s*#\[cfg\(test\)\]\s*$", line):
            j = i + 1
            while j < len(lines) and re.match(r"\s*(#\[.*\])?\s*$", lines[j]):
                j += 1
            decl = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", lines[j]) if j < len(lines) else None
            block = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", lines[j]) if j < len(lines) else None
            if decl:
                test_files.add(decl.group(1))
                out.extend([""] * (j - i + 1))
                i = j + 1
                continue
            if block:
                depth = 0
                k = j
                while k < len(lines):
                    depth += lines[k].count("{") - lines[k].count("}")
                    if depth <= 0 and "{" in "".join(lines[j : k + 1]):
                        break
                    k += 1
                out.extend([""] * (k - i + 1))
                i = k + 1
                continue
        out.append(line)
        i += 1
    return "\n".join(out), test_files


def crate_paths(code: str):
    """(line number, first segment) of every `crate::` path, `crate::{..}`
    groups expanded."""
    for m in re.finditer(r"(?<![\$\w])crate::(\{|\w+)(!?)", code):
        line = code.count("\n", 0, m.start()) + 1
        if m.group(2):
            continue  # an exported macro: it lives at the root
        if m.group(1) != "{":
            yield line, m.group(1)
            continue
        depth, k = 1, m.end()
        while k < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[k], 0)
            k += 1
        body = code[m.end() : k - 1]
        depth, item = 0, ""
        for ch in body + ",":
            if ch == "," and depth == 0:
                seg = re.match(r"\s*(\w+)", item)
                if seg:
                    yield line, seg.group(1)
                item = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            item += ch


def sibling_refs(code: str, siblings: set[str]) -> set[str]:
    """Sibling modules a file names through `super::`."""
    found = set()
    for m in re.finditer(r"(?<!\w)super::(\{[^}]*\}|\w+)", code):
        names = re.findall(r"(\w+)", m.group(1)) if m.group(1).startswith("{") else [m.group(1)]
        found.update(n for n in names if n in siblings)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def main() -> int:
    problems: list[str] = []
    files = sorted(p for p in SRC.rglob("*.rs") if p != SRC / "lib.rs")
    parsed: dict[Path, str] = {}
    test_only: set[Path] = set()
    for path in files:
        code, tests = without_test_modules(code_only(path.read_text()))
        parsed[path] = code
        folder = path.parent if path.name == "mod.rs" else path.with_suffix("")
        test_only.update(folder / f"{t}.rs" for t in tests)
        test_only.update(folder / t / "mod.rs" for t in tests)

    def is_test(path: Path) -> bool:
        if "tests" in path.relative_to(SRC).parts[:-1] or path.name == "tests.rs":
            return True
        return any(path == t or t.with_suffix("") in path.parents for t in test_only)

    folders: dict[Path, dict[str, set[str]]] = {}
    for path, code in parsed.items():
        if is_test(path):
            continue
        rel = path.relative_to(SRC)
        top = rel.parts[0].removesuffix(".rs")
        if top not in LAYERS:
            problems.append(f"{path}: module `{top}` has no layer in scripts/check_layers.py")
            continue
        for line, seg in crate_paths(code):
            if seg == top:
                continue
            if seg not in LAYERS:
                problems.append(
                    f"{path}:{line}: `crate::{seg}` goes through the crate root; name the module that defines it"
                )
            elif LAYERS[seg] >= LAYERS[top]:
                problems.append(
                    f"{path}:{line}: `{top}` (layer {LAYERS[top]}) imports `{seg}` (layer {LAYERS[seg]}), which is not below it"
                )
        if path.name != "mod.rs" and len(rel.parts) > 1:
            siblings = {
                p.stem if p.name != "mod.rs" else p.parent.name
                for p in path.parent.iterdir()
                if (p.suffix == ".rs" and p.name != "mod.rs") or (p / "mod.rs").exists()
            }
            siblings.discard(path.stem)
            graph = folders.setdefault(path.parent, {})
            graph.setdefault(path.stem, set()).update(sibling_refs(code, siblings))

    for folder, graph in sorted(folders.items()):
        cycle = find_cycle(graph)
        if cycle:
            problems.append(f"{folder}: sibling modules import each other: {' -> '.join(cycle)}")

    for p in problems:
        print(p)
    checked = sum(1 for p in parsed if not is_test(p))
    if problems:
        print(f"{len(problems)} layer problem(s) in {checked} files")
        return 1
    print(f"layers: {checked} files import only downward, none through the crate root, no sibling cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
