"""scripts/roledocs.py: argument specs, defaults/main.yml and README tables must agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from yamllint import config as yamllint_config
from yamllint import linter

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("roledocs", REPO / "scripts/roledocs.py")
roledocs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(roledocs)

DEFAULTS = """\
---
# Port the demo listens on.
demo_port: 80
# Where the demo keeps its data.
demo_dir: "{{ fortress_data_dir }}/demo"
demo_users: []
_demo_internal: not documented
"""

ARGSPEC = """\
---
argument_specs:
  main:
    short_description: A demo role.
    options:
      demo_port:
        type: int
        default: 80
        description: Port the demo listens on.
      demo_dir:
        type: path
        default: "{{ fortress_data_dir }}/demo"
        description: Where the demo keeps its data.
      demo_users:
        type: list
        elements: dict
        default: []
        description: Users, each with C(name).
        options:
          name:
            type: str
            required: true
            description: Login name.
"""


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = roledocs.main(["--root", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def make_role(root: Path, name: str = "demo", argspec: str | None = ARGSPEC) -> Path:
    role = root / "roles" / name
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults/main.yml").write_text(DEFAULTS)
    if argspec is not None:
        (role / "meta/argument_specs.yml").write_text(argspec)
    (role / "README.md").write_text(
        f"# {name}\n\n## Role Variables\n\n<!-- BEGIN_ANSIBLE_DOCS -->\n"
        "| hand-written | table |\n<!-- END_ANSIBLE_DOCS -->\n\n## Example Playbook\n"
    )
    return role


@pytest.fixture
def role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A role whose README was generated: check passes on it."""
    role = make_role(tmp_path)
    code, out = run(tmp_path, capsys, "write")
    assert code == 0, out
    return role


def test_check_fails_on_a_stale_readme_block_and_passes_after_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = make_role(tmp_path)
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/demo/README.md: the generated variable table is stale" in out, out
    assert "-| hand-written | table |" in out, out

    code, out = run(tmp_path, capsys, "write")
    assert code == 0, out
    code, out = run(tmp_path, capsys)  # check is the default command
    assert code == 0, out
    readme = (role / "README.md").read_text()
    assert "| `demo_port` | `80` | int |  | Port the demo listens on. |" in readme, readme
    assert "| `demo_dir` | `{{ fortress_data_dir }}/demo` | path |" in readme, readme
    assert "Users, each with `name`. Keys: `name` (str, required): Login name. |" in readme, readme
    assert "_demo_internal" not in readme, readme
    assert readme.endswith("<!-- END_ANSIBLE_DOCS -->\n\n## Example Playbook\n"), readme


def test_check_fails_on_a_drifted_default(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = role / "defaults/main.yml"
    defaults.write_text(defaults.read_text().replace("demo_port: 80", "demo_port: 8080"))
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert (
        "roles/demo: demo_port: meta/argument_specs.yml has default: 80,"
        " defaults/main.yml has 8080" in out
    ), out


def test_check_compares_templated_defaults_as_their_text(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = role / "defaults/main.yml"
    defaults.write_text(defaults.read_text().replace("}}/demo", "}}/other"))
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert (
        '"{{ fortress_data_dir }}/demo", defaults/main.yml has "{{ fortress_data_dir }}/other"'
        in out
    )


def test_check_tells_a_string_default_from_a_number(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = role / "defaults/main.yml"
    defaults.write_text(defaults.read_text().replace("demo_port: 80", 'demo_port: "80"'))
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert 'has default: 80, defaults/main.yml has "80"' in out, out


def test_check_fails_on_a_default_missing_from_the_argument_spec(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (role / "defaults/main.yml").open("a") as defaults:
        defaults.write("demo_timeout: 5\n")
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/demo: demo_timeout is set in defaults/main.yml but is no option of" in out, out


def test_check_fails_on_an_option_missing_from_defaults(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = role / "defaults/main.yml"
    defaults.write_text(defaults.read_text().replace("demo_users: []\n", ""))
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/demo: demo_users is an option of meta/argument_specs.yml (main)" in out, out


def test_check_fails_on_an_option_without_default(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argspec = role / "meta/argument_specs.yml"
    argspec.write_text(argspec.read_text().replace("        default: 80\n", ""))
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/demo: demo_port has no default: in meta/argument_specs.yml" in out, out


def test_check_fails_without_readme(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (role / "README.md").unlink()
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/demo/README.md: missing" in out, out


def test_top_level_readme_block_gets_the_table_of_the_role_it_names(
    role: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Project\n<!-- BEGIN_ANSIBLE_DOCS role=demo -->\n<!-- END_ANSIBLE_DOCS -->\n"
    )
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "README.md: the generated variable table is stale" in out, out
    code, out = run(tmp_path, capsys, "write")
    assert code == 0, out
    assert readme.read_text() == (
        "# Project\n<!-- BEGIN_ANSIBLE_DOCS role=demo -->\n\n"
        + roledocs.render_table(roledocs.main_options(role))
        + "\n<!-- END_ANSIBLE_DOCS -->\n"
    )
    assert run(tmp_path, capsys, "check")[0] == 0


def test_bootstrap_completes_the_argument_spec_from_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = make_role(tmp_path, argspec=None)
    with (role / "defaults/main.yml").open("a") as defaults:
        defaults.write("# Template of the\n# demo page.\ndemo_page: |-\n  <p>\n  {{ x }}\n  </p>\n")
    code, out = run(tmp_path, capsys, "bootstrap", "demo")
    assert code == 0, out
    text = (role / "meta/argument_specs.yml").read_text()
    problems = [
        f"{p.line}: {p.desc}"
        for p in linter.run(text, yamllint_config.YamlLintConfig(file=str(REPO / ".yamllint")))
    ]
    assert problems == [], text
    options = yaml.safe_load(text)["argument_specs"]["main"]["options"]
    assert list(options) == ["demo_port", "demo_dir", "demo_users", "demo_page"], text
    assert options["demo_port"] == {
        "type": "int",
        "default": 80,
        "description": "Port the demo listens on.",
    }
    assert options["demo_page"]["description"] == "Template of the demo page.", text
    assert options["demo_page"]["default"] == "<p>\n{{ x }}\n</p>", text

    code, out = run(tmp_path, capsys, "write")
    assert code == 0, out
    code, out = run(tmp_path, capsys, "check")
    assert code == 0, out


def test_bootstrap_adds_defaults_and_keeps_the_option_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = make_role(tmp_path, argspec=ARGSPEC.replace("        default: 80\n", ""))
    (role / "defaults/main.yml").write_text(
        DEFAULTS.replace("demo_port: 80\n", "demo_port: 80\ndemo_new: true\n")
    )
    code, out = run(tmp_path, capsys, "bootstrap", "demo")
    assert code == 0, out
    options = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"][
        "main"
    ]["options"]
    assert list(options) == ["demo_port", "demo_new", "demo_dir", "demo_users"]
    assert list(options["demo_port"]) == ["type", "default", "description"]
    assert options["demo_new"]["type"] == "bool"
    assert options["demo_users"]["options"]["name"]["required"] is True


def test_write_and_check_with_role_names_leave_other_roles_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_role(tmp_path, "demo")
    other = make_role(tmp_path, "other")
    before = (other / "README.md").read_text()
    code, out = run(tmp_path, capsys, "write", "demo")
    assert code == 0, out
    assert (other / "README.md").read_text() == before
    code, out = run(tmp_path, capsys, "check", "demo")
    assert code == 0, out
    code, out = run(tmp_path, capsys, "check")
    assert code == 1, out
    assert "roles/other/README.md: the generated variable table is stale" in out, out
    assert "roles/demo" not in out, out
