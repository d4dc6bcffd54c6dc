#!/usr/bin/env python3
"""Role variables documented once, in each role's meta/argument_specs.yml.

  check [ROLE]     (default) fail when argument spec, defaults/main.yml and README disagree
  write [ROLE]     regenerate the variable tables between <!-- BEGIN_ANSIBLE_DOCS --> and
                   <!-- END_ANSIBLE_DOCS --> (roles/*/README.md, and in README.md the blocks
                   that name their role: <!-- BEGIN_ANSIBLE_DOCS role=NAME -->)
  bootstrap ROLE   one-off: complete ROLE's argument spec from its defaults/main.yml

Without ROLE, every role with an argument spec and README.md; only the `main` entry point is
compared. Variables starting with `_` are internal and ignored.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC = Path("meta/argument_specs.yml")
DEFAULTS = Path("defaults/main.yml")
END = "<!-- END_ANSIBLE_DOCS -->"
MARKERS = f"`<!-- BEGIN_ANSIBLE_DOCS -->` ... `{END}`"
BLOCK = re.compile(
    r"<!-- BEGIN_ANSIBLE_DOCS(?: role=(?P<role>[\w.-]+))? -->\n.*?<!-- END_ANSIBLE_DOCS -->", re.S
)
HEADER = "| Variable | Default | Type | Choices | Description |\n| --- | --- | --- | --- | --- |\n"
MAX_DEFAULT = 60  # characters of a default shown in a table cell
MARKUP = re.compile(r"\b([BCEIMOUV])\(([^()]*)\)|\bL\(([^(),]*),\s*([^()]*)\)")  # C(code), L(t,u)
KEY_LINE = re.compile(r"([A-Za-z_]\w*):")
DEFAULT_AFTER = ("type", "elements", "required", "choices")  # where bootstrap puts default:
Options = dict[str, dict[str, Any]]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def main_options(role: Path) -> Options | None:
    """The options of the `main` entry point (None when there is no such entry point)."""
    main = ((load(role / SPEC) or {}).get("argument_specs") or {}).get("main")
    if main is None:
        return None
    return {k: v or {} for k, v in (main.get("options") or {}).items() if not k.startswith("_")}


def public_defaults(role: Path) -> dict[str, Any]:
    return {k: v for k, v in (load(role / DEFAULTS) or {}).items() if not k.startswith("_")}


def show(value: Any) -> str:
    """JSON as a YAML value compares: 0 differs from false, "1" from 1, key order does not count."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def compare(role: Path, options: Options) -> Iterator[str]:
    """Disagreements between the argument spec and defaults/main.yml, one message each."""
    where, defaults = f"roles/{role.name}", public_defaults(role)
    for key, value in defaults.items():
        if key not in options:
            yield f"{where}: {key} is set in {DEFAULTS} but is no option of {SPEC} (main)"
        elif "default" not in options[key]:
            yield f"{where}: {key} has no default: in {SPEC}, {DEFAULTS} has {show(value)}"
        elif show(options[key]["default"]) != show(value):
            spec_value = show(options[key]["default"])
            yield f"{where}: {key}: {SPEC} has default: {spec_value}, {DEFAULTS} has {show(value)}"
    for key, option in options.items():
        if key not in defaults and not option.get("required"):
            yield f"{where}: {key} is an option of {SPEC} (main) but not required nor in {DEFAULTS}"


def code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def cell_value(value: Any) -> str:
    """A default or a choice as inline code: strings as they are, the rest as compact JSON."""
    if isinstance(value, str) and value:
        text = " ".join(value.split()) if "\n" in value else value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    if len(text) > MAX_DEFAULT:  # cut at a space in the second half when there is one
        cut = text.rfind(" ", MAX_DEFAULT // 2, MAX_DEFAULT - 1)
        text = text[: cut if cut > 0 else MAX_DEFAULT - 1].rstrip() + " …"
    return code(text)


def prose(description: Any) -> str:
    """An argument spec description (string or list of paragraphs) as one markdown line."""
    text = " ".join(description) if isinstance(description, list) else str(description or "")

    def markup(m: re.Match[str]) -> str:
        if m[3] is not None:
            return f"[{m[3]}]({m[4]})"
        return {"B": f"**{m[2]}**", "U": m[2]}.get(m[1], f"`{m[2]}`")

    return " ".join(MARKUP.sub(markup, text).split()).replace("|", "\\|")


def type_of(option: dict[str, Any]) -> str:
    kind = str(option.get("type", "str"))
    return f"{kind} of {option['elements']}" if option.get("elements") else kind


def describe(option: dict[str, Any]) -> str:
    """The description, followed by the keys of list/dict items when the spec has sub-options."""
    keys = []
    for key, sub in ((k, s or {}) for k, s in (option.get("options") or {}).items()):
        flags = ", required" if sub.get("required") else ""
        keys.append(f"`{key}` ({type_of(sub)}{flags}): {prose(sub.get('description'))}")
    return " ".join([prose(option.get("description")), *(["Keys:", *keys] if keys else [])])


def render_table(options: Options) -> str:
    rows = [HEADER]
    for name, option in options.items():
        default = cell_value(option["default"]) if "default" in option else ""
        default = "*required*" if option.get("required") else default
        choices = ", ".join(cell_value(c) for c in option.get("choices") or [])
        cells = [code(name), default, type_of(option), choices, describe(option)]
        rows.append("| " + " | ".join(cells) + " |\n")
    return "".join(rows)


def fill_blocks(text: str, owner: str | None, tables: dict[str, str]) -> tuple[str, list[str]]:
    """`text` with its generated blocks regenerated, and the blocks that name no documented role."""
    problems: list[str] = []

    def fill(m: re.Match[str]) -> str:
        role = m["role"] or owner
        if role not in tables:
            problems.append(f"the block names {role or 'no role='}, which has no {SPEC} (main)")
            return m[0]
        attr = f" role={m['role']}" if m["role"] else ""
        return f"<!-- BEGIN_ANSIBLE_DOCS{attr} -->\n\n{tables[role]}\n{END}"

    return BLOCK.sub(fill, text), problems


def sync(root: Path, fix: bool, only: list[str]) -> list[str]:
    """check (fix=False) or write (fix=True) the roles named in `only` (all when empty)."""
    roles = sorted(p.parent.parent for p in (root / "roles").glob(f"*/{SPEC}"))
    problems = [f"roles/{name}: no {SPEC}" for name in only if name not in {r.name for r in roles}]
    options = {role.name: main_options(role) for role in roles}
    tables = {name: render_table(found) for name, found in options.items() if found is not None}
    selected = [role for role in roles if not only or role.name in only]
    for role in [] if fix else selected:
        found = options[role.name]
        if found is None:
            problems.append(f"roles/{role.name}: {SPEC} has no main entry point")
        problems.extend(compare(role, found) if found is not None else [])
    readmes: list[tuple[Path, str | None]] = [(role / "README.md", role.name) for role in selected]
    readmes += [(root / "README.md", None)] if not only and (root / "README.md").is_file() else []
    for path, owner in readmes:
        where = path.relative_to(root)
        if not path.is_file():
            problems.append(f"{where}: missing (every role with an argument spec needs one)")
            continue
        text = path.read_text(encoding="utf-8")
        if owner is not None and not BLOCK.search(text):
            problems.append(f"{where}: has no {MARKERS} block (put it where the table goes)")
            continue
        new, errors = fill_blocks(text, owner, tables)
        problems.extend(f"{where}: {error}" for error in errors)
        if new != text and fix:
            path.write_text(new, encoding="utf-8")
            print(f"wrote {where}")
        elif new != text:
            problems.append(f"{where}: the generated variable table is stale (run `make docs`):")
            diff = difflib.unified_diff(text.splitlines(), new.splitlines(), n=0)
            lines = [line.rstrip() for line in list(diff)[2:] if not line.startswith("@@")]
            problems[-1] += "".join(f"\n      {line}" for line in lines[:8])
    return problems


class SpecDumper(yaml.SafeDumper):
    """safe_dump, but lists indented under their key (yamllint indent-sequences), no aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Multi-line strings as literal blocks, long ones (templates, prose) folded."""
    style = "|" if "\n" in text else ">" if len(text) > 100 else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style)


SpecDumper.add_representer(str, _str)


def key_comments(text: str) -> dict[str, str]:
    """The comment lines right above each top-level key, joined into one line."""
    comments: dict[str, str] = {}
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            block.append(line.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if match and block:
            comments[match[1]] = " ".join(block)
        block = []
    return comments


def guess_type(value: Any) -> dict[str, str]:
    kinds = {bool: "bool", int: "int", float: "float", list: "list", dict: "dict"}
    if isinstance(value, str):
        return {"type": "path" if value.startswith("/") else "str"}
    guess = {"type": kinds.get(type(value), "raw")}
    items = {guess_type(item)["type"] for item in value} if isinstance(value, list) else set()
    if len(items) == 1:
        guess["elements"] = items.pop().replace("path", "str")
    return guess


def with_default(option: dict[str, Any], value: Any) -> dict[str, Any]:
    """`option` with `default:` after its type, elements, required and choices."""
    items = list(option.items())
    at = max((i + 1 for i, (k, _) in enumerate(items) if k in DEFAULT_AFTER), default=0)
    return dict([*items[:at], ("default", value), *items[at:]])


def bootstrap(role: Path) -> None:
    spec = load(role / SPEC)
    if spec is None:
        galaxy = (load(role / "meta/main.yml") or {}).get("galaxy_info") or {}
        about = " ".join(str(galaxy.get("description", f"The {role.name} role.")).split())
        spec = {"argument_specs": {"main": {"short_description": about}}}
    main = spec["argument_specs"].setdefault("main", {})
    options: dict[str, Any] = main.get("options") or {}
    comments = key_comments((role / DEFAULTS).read_text(encoding="utf-8"))
    order = list(options)
    seen: list[str] = []
    for key, value in public_defaults(role).items():
        if key not in options:
            options[key] = {
                **guess_type(value),
                "default": value,
                "description": comments.get(key, f"TODO: describe {key}."),
            }
            before = [k for k in seen if k in order]
            order.insert(order.index(before[-1]) + 1 if before else 0, key)
        elif "default" not in (options[key] or {}):
            options[key] = with_default(options[key] or {}, value)
        seen.append(key)
    main["options"] = {key: options[key] for key in order}
    dump = {"sort_keys": False, "width": 120, "allow_unicode": True, "explicit_start": True}
    (role / SPEC).write_text(yaml.dump(spec, Dumper=SpecDumper, **dump), encoding="utf-8")
    print(f"wrote roles/{role.name}/{SPEC}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository root")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser(
        "check", help="fail when argument specs, defaults, READMEs disagree"
    )
    write = commands.add_parser("write", help="regenerate the README variable tables")
    boot = commands.add_parser("bootstrap", help="complete argument specs from defaults/main.yml")
    for command, count in ((check, "*"), (write, "*"), (boot, "+")):
        command.add_argument("roles", nargs=count, metavar="ROLE")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.command == "bootstrap":
        for name in args.roles:
            if not (root / "roles" / name / DEFAULTS).is_file():
                parser.error(f"roles/{name}/{DEFAULTS} not found")
            bootstrap(root / "roles" / name)
        return 0
    problems = sync(root, fix=args.command == "write", only=getattr(args, "roles", []))
    for problem in problems:
        print(f"roledocs: {problem}", file=sys.stderr)
    if problems:
        print(f"roledocs: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    if args.command != "write":
        print("roledocs: argument specs, defaults/main.yml and READMEs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
