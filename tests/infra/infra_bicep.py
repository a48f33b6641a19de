"""Parse infra/*.bicep with pycep-parser and evaluate the small part of Bicep the infra tests need.

pycep turns a file into nested dicts; identifiers and string literals both come out as plain
strings, so a string that names a parameter or variable of the file is read as a reference.
Evaluation covers what our templates use for names and wiring: literals, parameters (kept as
`Param` markers), variables, loadJsonContent(), property and index access into JSON, string
interpolation, string()/json() (transparent), replace(), take() and uniqueString() (a stand-in hash:
deterministic and different for different inputs, like ARM's, but not ARM's value). Parameters can be
bound to values (`Template(path, bindings={...})`) to evaluate a name as a deployment would.
Anything else becomes `Opaque`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
CONTRACT = INFRA / "contract.json"
ROLES = INFRA / "roles.json"

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
# Functions whose result carries the same setting value as their argument.
_TRANSPARENT = {"string": "value_to_convert", "json": "arg_1"}


@dataclass(frozen=True)
class Param:
    """A reference to a template parameter."""

    name: str


@dataclass(frozen=True)
class Opaque:
    """An expression this evaluator does not compute (runtime properties, most functions)."""

    text: str


@cache
def _parser() -> BicepParser:
    return BicepParser()


def bicep_files() -> list[Path]:
    """Every Bicep file under infra/."""
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep parse of one file (raises on a syntax error)."""
    return _parser().parse(file_path=path)


@cache
def _parse_expression(text: str) -> Any:
    return _parser().parse(text=f"var x = {text}\n")["variables"]["x"]["value"]


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def body(decl: dict[str, Any]) -> dict[str, Any]:
    """A resource or module body without its `if (...)` condition or `for` loop wrapper."""
    cfg = decl["config"]
    if "loop_type" in cfg or "condition" in cfg:
        return cfg["config"]
    return cfg


@dataclass
class Template:
    """One parsed Bicep file and an evaluator over its parameters and variables."""

    path: Path
    bindings: dict[str, Any] = field(default_factory=dict)
    doc: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.doc = parse(self.path)

    @property
    def params(self) -> dict[str, Any]:
        return self.doc.get("parameters", {})

    @property
    def variables(self) -> dict[str, Any]:
        return self.doc.get("variables", {})

    @property
    def resources(self) -> dict[str, Any]:
        return self.doc.get("resources", {})

    @property
    def modules(self) -> dict[str, Any]:
        return self.doc.get("modules", {})

    def param_default(self, name: str) -> Any:
        return self.eval(self.params[name]["default"])

    def resources_of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["type"] == type_}

    def module_file(self, name: str) -> Path:
        return (self.path.parent / self.modules[name]["detail"]["path"]).resolve()

    # ------------------------------------------------------------------ evaluation
    def eval(self, expr: Any) -> Any:
        """Evaluate `expr` as far as this evaluator can (see module docstring)."""
        if isinstance(expr, str):
            return self._eval_name_or_literal(expr)
        if isinstance(expr, list):
            return [self.eval(e) for e in expr]
        if isinstance(expr, dict):
            if "function" in expr:
                return self._eval_function(expr["function"])
            if "operator" in expr:
                return self._eval_operator(expr["operator"])
            # pycep keeps the quotes of quoted keys ('azd-service-name').
            return {k.strip("'"): self.eval(v) for k, v in expr.items()}
        return expr

    def text(self, expr: Any) -> str:
        """Evaluate to a string; parameters show as <name>, unevaluated parts as <expression>."""
        value = self.eval(expr)
        return value if isinstance(value, str) else _render(value)

    def _eval_name_or_literal(self, s: str) -> Any:
        if s in self.params:
            return self.bindings.get(s, Param(s))
        if s in self.variables:
            return self.eval(self.variables[s]["value"])
        if "${" in s:
            return _INTERPOLATION.sub(lambda m: _render(self.eval(_parse_expression(m.group(1)))), s)
        return s

    def _eval_function(self, fn: dict[str, Any]) -> Any:
        kind, args = fn["type"], fn.get("parameters", {})
        if kind == "load_json_content":
            return load_json(self.path.parent / args["file_path"])
        if kind in _TRANSPARENT:
            return self.eval(args[_TRANSPARENT[kind]])
        if kind in _STRING_FUNCTIONS:
            values = [self.eval(v) for v in args.values()]
            if all(isinstance(v, str | int) for v in values):
                return _STRING_FUNCTIONS[kind](*values)
            return Opaque(f"{kind}({', '.join(_render(v) for v in values)})")
        if kind == "list_func":  # listKeys(id, version): keep the id, the key name follows as a path
            return Opaque(f"{args['func_name']}({self.text(args['resource_identifier'])}, {args['api_version']})")
        return Opaque(f"{kind}(...)")

    def _eval_operator(self, op: dict[str, Any]) -> Any:
        if op["type"] in ("property_accessor", "index_accessor"):
            base, path = _access_chain(op)
            value = self.eval(base)
            for i, key in enumerate(path):
                key = self.eval(key) if isinstance(key, dict) else key
                found = (isinstance(value, dict) and key in value) or (
                    isinstance(value, list) and isinstance(key, int) and key < len(value)
                )
                if not found:
                    return Opaque(".".join([_plain(value), *map(str, path[i:])]))
                value = value[key]
            return value
        return Opaque(op["type"])


def _unique_string(*parts: str) -> str:
    """Stand-in for ARM uniqueString(): 13 lowercase base32 characters of a hash of the parts."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


_STRING_FUNCTIONS: dict[str, Any] = {
    "replace": lambda s, old, new: s.replace(old, new),
    "take": lambda s, n: s[:n],
    "unique_string": _unique_string,
}


def _access_chain(op: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Flatten pycep's right-nested accessors: a.b.c -> (a, [b, c])."""
    operands = op["operands"]
    base, rest = operands["operand_1"], operands["operand_2"]
    if isinstance(base, dict) and base.get("operator", {}).get("type") in ("property_accessor", "index_accessor"):
        base, head = _access_chain(base["operator"])
        path = head
    else:
        path = []
    while isinstance(rest, dict) and rest.get("operator", {}).get("type") in ("property_accessor", "index_accessor"):
        inner = rest["operator"]["operands"]
        path.append(inner["operand_1"])
        rest = inner["operand_2"]
    path.append(rest)
    return base, path


def _plain(value: Any) -> str:
    if isinstance(value, Param):
        return value.name
    if isinstance(value, Opaque):
        return value.text
    return str(value)


def _render(value: Any) -> str:
    if isinstance(value, Param):
        return f"<{value.name}>"
    if isinstance(value, Opaque):
        return f"<{value.text}>"
    return str(value)


def main() -> Template:
    return Template(MAIN)


def module(name: str) -> Template:
    return Template(INFRA / "modules" / f"{name}.bicep")
