"""HTTP route templates with ASP.NET Core syntax, as the Functions host matches them.

A colon is special only inside `{name:constraint}`: `sms/optouts:add` is a literal segment.
Supported: literals (matched case-insensitively), `{name}`, `{name?}`, `{name=default}`,
`{name:constraint[:constraint...]}`, catch-all `{*rest}` / `{**rest}`, `{{`/`}}` escapes, and
several parameters or literals in one segment (`{file}.{ext}`). Inline constraints: int, long,
bool, guid, alpha, decimal, double, float, datetime, min(n), max(n), range(a,b), minlength(n),
maxlength(n), length(n), length(a,b), regex(expr), required; unknown constraints are ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

Checker = Callable[[str], bool]


class RouteTemplateError(ValueError):
    pass


@dataclass
class _Param:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: list[Checker] = field(default_factory=list)


def _is_number(value: str, integer: bool) -> bool:
    try:
        int(value) if integer else float(value)
    except ValueError:
        return False
    return True


def _constraint(text: str) -> Checker | None:
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, flags=re.DOTALL)
    if not m:
        raise RouteTemplateError(f"bad route constraint {text!r}")
    name, arg = m.group(1).lower(), m.group(2)
    args = [a.strip() for a in arg.split(",")] if arg is not None and name != "regex" else []
    if name in {"int", "long"}:
        return lambda v: re.fullmatch(r"-?\d+", v) is not None
    if name in {"decimal", "double", "float"}:
        return lambda v: _is_number(v, integer=False)
    if name == "bool":
        return lambda v: v.lower() in {"true", "false"}
    if name == "alpha":
        return lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None
    if name == "guid":

        def is_guid(v: str) -> bool:
            try:
                uuid.UUID(v)
            except ValueError:
                return False
            return True

        return is_guid
    if name == "required":
        return lambda v: v != ""
    if name == "regex" and arg is not None:
        pattern = re.compile(arg, flags=re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    if name == "minlength" and len(args) == 1:
        return lambda v: len(v) >= int(args[0])
    if name == "maxlength" and len(args) == 1:
        return lambda v: len(v) <= int(args[0])
    if name == "length" and len(args) in (1, 2):
        lo, hi = int(args[0]), int(args[-1])
        return lambda v: lo <= len(v) <= hi
    if name in {"min", "max", "range"} and args:

        def in_range(v: str) -> bool:
            if not _is_number(v, integer=True):
                return False
            n = int(v)
            if name == "min":
                return n >= int(args[0])
            if name == "max":
                return n <= int(args[0])
            return int(args[0]) <= n <= int(args[1])

        return in_range
    return None  # e.g. datetime or a custom constraint: accept any value


def _split_constraints(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _parse_param(body: str) -> _Param:
    catch_all = False
    if body.startswith("**"):
        body, catch_all = body[2:], True
    elif body.startswith("*"):
        body, catch_all = body[1:], True
    m = re.match(r"([^:=?]+)(.*)$", body, flags=re.DOTALL)
    if not m:
        raise RouteTemplateError(f"bad route parameter {{{body}}}")
    name, rest = m.group(1).strip(), m.group(2)
    optional = False
    if rest.endswith("?"):
        optional, rest = True, rest[:-1]
    default: str | None = None
    # A default value follows the constraints: {name:int=5}
    if "=" in rest:
        eq = rest.rfind("=")
        if rest.count("(", eq) == rest.count(")", eq):
            rest, default = rest[:eq], rest[eq + 1 :]
    checks: list[Checker] = []
    if rest.startswith(":"):
        for c in _split_constraints(rest[1:]):
            check = _constraint(c)
            if check is not None:
                checks.append(check)
    elif rest:
        raise RouteTemplateError(f"bad route parameter {{{body}}}")
    if not re.fullmatch(r"\w+", name):
        raise RouteTemplateError(f"bad route parameter name {name!r}")
    return _Param(name, optional or catch_all, catch_all, default, checks)


def _parse_segment(segment: str) -> list[str | _Param]:
    parts: list[str | _Param] = []
    literal = ""
    i = 0
    while i < len(segment):
        ch = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += ch
            i += 2
        elif ch == "{":
            end = segment.find("}", i)
            # regex constraints may contain '}' inside parentheses; find the balanced close
            depth = 0
            for j in range(i + 1, len(segment)):
                if segment[j] == "(":
                    depth += 1
                elif segment[j] == ")":
                    depth -= 1
                elif segment[j] == "}" and depth == 0:
                    end = j
                    break
            if end < 0:
                raise RouteTemplateError(f"unclosed '{{' in route segment {segment!r}")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_parse_param(segment[i + 1 : end]))
            i = end + 1
        elif ch == "}":
            raise RouteTemplateError(f"unmatched '}}' in route segment {segment!r}")
        else:
            literal += ch
            i += 1
    if literal:
        parts.append(literal)
    return parts


class RouteTemplate:
    """One route template (route prefix included), matched against a decoded URL path."""

    def __init__(self, template: str) -> None:
        self.template = template.strip().removeprefix("~").strip("/")
        self.params: list[_Param] = []
        regex = ""
        precedence: list[int] = []
        segments = [s for s in self.template.split("/")] if self.template else []
        for segment in segments:
            if not segment:
                raise RouteTemplateError(f"empty segment in route {template!r}")
            parts = _parse_segment(segment)
            if len(parts) == 1 and isinstance(parts[0], _Param):
                p = parts[0]
                self.params.append(p)
                value = "(?P<{}>.*)" if p.catch_all else "(?P<{}>[^/]+)"
                group = "/" + value.format(self._group())
                regex += f"(?:{group})?" if (p.optional or p.default is not None) else group
                precedence.append(5 if p.catch_all else (3 if not p.checks else 2))
                continue
            regex += "/"
            for part in parts:
                if isinstance(part, str):
                    regex += re.escape(part)
                else:
                    if part.catch_all:
                        raise RouteTemplateError("a catch-all parameter must be a whole segment")
                    self.params.append(part)
                    regex += f"(?P<{self._group()}>[^/]+?)"
                    if part.optional:
                        regex += "?"
            precedence.append(1 if all(isinstance(p, str) for p in parts) else 2)
        names = [p.name.lower() for p in self.params]
        if len(set(names)) != len(names):
            raise RouteTemplateError(f"repeated parameter name in route {template!r}")
        self._regex = re.compile("^" + (regex or "/?") + "/?$", flags=re.IGNORECASE | re.DOTALL)
        # Literal segments beat constrained parameters, which beat plain ones and catch-alls.
        self.precedence = (tuple(precedence), -len(segments))

    def _group(self) -> str:
        return f"p{len(self.params) - 1}"

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for `path` (decoded, starting with '/'), or None if it does not match."""
        m = self._regex.match(path)
        if not m:
            return None
        values: dict[str, str] = {}
        for i, p in enumerate(self.params):
            value = m.group(f"p{i}")
            if value is None or value == "":
                if p.default is not None:
                    values[p.name] = p.default
                elif not p.optional:
                    return None
                continue
            if not all(check(value) for check in p.checks):
                return None
            values[p.name] = value
        return values


def full_template(route_prefix: str, route: str) -> str:
    prefix = route_prefix.strip("/")
    route = route.strip().removeprefix("~").strip("/")
    return f"{prefix}/{route}" if prefix and route else (prefix or route)
