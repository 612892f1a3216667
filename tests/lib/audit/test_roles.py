"""Roles decide which commands a user may run; the default fails closed."""

import getpass
from pathlib import Path

import pytest

from pipelines.lib.audit.roles import RolesError, allows, grant_for

# Every command path of the command line, including the groups other modules add.
COMMANDS = [
    "generate",
    "ingest",
    "build",
    "preview",
    "explain",
    "export",
    "demo",
    "ui",
    "segments list",
    "segments preview",
    "funnel",
    "exports list",
    "exports recheck",
    "audit verify",
    "audit lineage",
    "audit disclosures",
    "audit log",
]
EXPECTED = {
    "analyst": {
        "build",
        "preview",
        "explain",
        "segments list",
        "segments preview",
        "funnel",
    },
    "marketer": {"export", "exports list"},
    "auditor": {
        "audit verify",
        "audit lineage",
        "audit disclosures",
        "audit log",
        "exports list",
        "exports recheck",
    },
    "admin": set(COMMANDS),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_runs_exactly_its_commands(role: str) -> None:
    assert {command for command in COMMANDS if allows(role, command)} == EXPECTED[role]


def test_an_unknown_command_is_for_admin_only() -> None:
    assert [role for role in EXPECTED if allows(role, "purge everything")] == ["admin"]


def test_without_a_roles_file_only_the_session_owner_is_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLEARLIST_ROLES", raising=False)
    monkeypatch.delenv("CLEARLIST_USER", raising=False)
    assert grant_for(tmp_path).roles == ("admin",)
    assert grant_for(tmp_path, "someone-else").roles == ()
    monkeypatch.setenv("CLEARLIST_USER", "someone-else")
    assert not grant_for(tmp_path).may_run("explain")
    assert getpass.getuser() != "someone-else"


def test_roles_come_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "roles.toml").write_text(
        '[users]\nana = "analyst"\ndual = ["marketer", "auditor"]\n'
    )
    dual = grant_for(tmp_path, "dual")
    assert dual.roles == ("auditor", "marketer")
    assert dual.may_run("export") and dual.may_run("audit lineage")
    assert not dual.may_run("build")
    assert grant_for(tmp_path, "ana").may_run("segments preview")
    assert grant_for(tmp_path, getpass.getuser()).roles == ()


@pytest.mark.parametrize(
    "text",
    ['[users]\nana = "superuser"\n', "users = 3\n", "[users\n"],
    ids=["unknown-role", "no-table", "not-toml"],
)
def test_a_bad_roles_file_is_an_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "roles.toml").write_text(text)
    with pytest.raises(RolesError, match="roles file"):
        grant_for(tmp_path, "ana")


def test_a_named_roles_file_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEARLIST_ROLES", str(tmp_path / "missing.toml"))
    with pytest.raises(RolesError, match="does not exist"):
        grant_for(tmp_path, "ana")
