"""Read mutmut's results (mutants/**/*.meta): list every mutant not killed, with its change, then the score.

`make mutate` runs this after `mutmut run`. The last line is always `mutation score: K/N killed`. A survivor named
in docs/mutation.md (by its mutmut name) is marked "explained" there; any other survivor is "NEW". With
`--strict`, a NEW survivor makes the exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py): a mutant is killed when a test failed, errored or ran out of time on it.
KILLED = {1, 3, 24, -24, 36, 152, 255, 37}
STATUS = {0: "survived", 33: "no tests", 5: "no tests", 34: "skipped", None: "not checked"}
_MUTANT = re.compile(r"__mutmut_(\d+)$")


def results(root: Path) -> dict[str, int | None]:
    """Every mutant's exit code, by its mutmut name."""
    codes: dict[str, int | None] = {}
    for meta in sorted(root.glob("**/*.py.meta")):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def _functions(path: Path) -> dict[str, str]:
    """Source of every top-level function and method in a mutated file, by name."""
    text = path.read_text()
    lines = text.splitlines()
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(text)):  # by line numbers: get_source_segment re-splits the file on every call
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out[node.name] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    return out


def change(root: Path, name: str, cache: dict[Path, dict[str, str]]) -> str:
    """The line(s) a mutant changed, `-old` / `+new`, from the mutated copy of its module."""
    module, _, func = name.rpartition(".x")
    func = "x" + func  # e.g. x_follow_run__mutmut_3, or xǁLedgerǁclaim__mutmut_3 for a method
    path = root / (module.replace(".", "/") + ".py")
    if path not in cache:
        cache[path] = _functions(path) if path.exists() else {}
    mutant = cache[path].get(func, "")
    orig = cache[path].get(_MUTANT.sub("__mutmut_orig", func), "")
    diff = [
        line
        for line in difflib.unified_diff(orig.splitlines(), mutant.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---")) and "__mutmut" not in line
    ]
    return " | ".join(d[0] + " " + d[1:].strip() for d in diff)[:220]


def explained(doc: Path) -> set[str]:
    """Mutant names docs/mutation.md accounts for."""
    if not doc.exists():
        return set()
    return set(re.findall(r"ingest_core\.[\w.ǁ]+__mutmut_\d+", doc.read_text()))


def main() -> int:
    """Print the survivors and the score; 1 with --strict when a survivor is not explained."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--doc", type=Path, default=Path("docs/mutation.md"))
    parser.add_argument("--seconds", type=int, default=None, help="wall time of the run, to print")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    codes = results(args.mutants)
    if not codes:
        print("no mutmut results under", args.mutants, file=sys.stderr)
        print("mutation score: 0/0 killed")
        return 1
    known = explained(args.doc)
    survivors = sorted(k for k, v in codes.items() if v not in KILLED)
    per_module: Counter[str] = Counter(k.split(".x", 1)[0] for k in codes)
    lost: Counter[str] = Counter(k.split(".x", 1)[0] for k in survivors)
    cache: dict[Path, dict[str, str]] = {}
    new = 0
    print(f"survivors ({len(survivors)}):")
    for name in survivors:
        mark = "explained" if name in known else "NEW"
        new += name not in known
        print(f"  [{STATUS.get(codes[name], 'suspicious')}, {mark}] {name}: {change(args.mutants, name, cache)}")
    print("by module (killed/total):")
    for module, total in sorted(per_module.items()):
        print(f"  {module}: {total - lost[module]}/{total}")
    if args.seconds is not None:
        print(f"mutmut run took {args.seconds}s")
    killed = len(codes) - len(survivors)
    print(f"{new} survivor(s) not explained in {args.doc}" if new else f"every survivor is explained in {args.doc}")
    print(f"mutation score: {killed}/{len(codes)} killed")
    return 1 if args.strict and new else 0


if __name__ == "__main__":
    sys.exit(main())
