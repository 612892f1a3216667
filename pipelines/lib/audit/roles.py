"""Who may run which command: roles from a TOML file (R-SEC, 45 CFR 164.312(a)).

The roles file is `CLEARLIST_ROLES` if set, else `<home>/roles.toml`:

    # Each user holds one role or a list of roles.
    [users]
    ana = "analyst"
    mo = "marketer"
    audrey = "auditor"
    root = "admin"
    dual = ["marketer", "auditor"]

Without a roles file, the operating-system user who owns the session is `admin` and
nobody else holds a role, which suits a one-person demo. A user with no role may run
nothing. A command that no role below names is for `admin` alone (fail closed), so a
new command is refused until someone decides who may run it.
"""

import getpass
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.audit.log import current_user

ADMIN = "admin"
# A command is its path under `clearlist`: "export", "segments list". A role that
# names a group ("audit") may run every command in it.
ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "analyst": frozenset({"build", "preview", "explain", "segments", "funnel"}),
    "marketer": frozenset({"export", "exports list"}),
    "auditor": frozenset({"audit", "exports list", "exports recheck"}),
    ADMIN: frozenset({"*"}),
}
ROLES = frozenset(ROLE_COMMANDS)


class RolesError(ValueError):
    """The roles file cannot be read or names an unknown role."""


@dataclass(frozen=True)
class Grant:
    """A user, the roles they hold and where those roles came from."""

    user: str
    roles: tuple[str, ...]
    source: str

    def may_run(self, command: str) -> bool:
        """True when one of the user's roles allows `command` ("exports list")."""
        return any(allows(role, command) for role in self.roles)


def allows(role: str, command: str) -> bool:
    """True when `role` may run `command`.

    >>> allows("auditor", "audit verify"), allows("analyst", "export")
    (True, False)
    """
    granted = ROLE_COMMANDS.get(role, frozenset())
    if "*" in granted:
        return True
    words = command.split()
    return any(" ".join(words[:size]) in granted for size in range(1, len(words) + 1))


def roles_path(home_root: Path) -> Path:
    """The roles file in force: `CLEARLIST_ROLES`, else `<home>/roles.toml`."""
    named = os.environ.get("CLEARLIST_ROLES")
    return Path(named) if named else home_root / "roles.toml"


def grant_for(home_root: Path, user: str | None = None) -> Grant:
    """Read the roles of `user` (the current user by default).

    Raises:
        RolesError: The file is not valid TOML, has no `[users]` table, or names a
            role other than analyst, marketer, auditor and admin.
    """
    user = user or current_user()
    path = roles_path(home_root)
    if not path.exists():
        if os.environ.get("CLEARLIST_ROLES"):
            msg = f"CLEARLIST_ROLES names {path}, which does not exist"
            raise RolesError(msg)
        roles = (ADMIN,) if user == getpass.getuser() else ()
        return Grant(user, roles, "default (no roles file: the session owner is admin)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = f"cannot read the roles file {path}: {error}"
        raise RolesError(msg) from None
    users = data.get("users")
    if not isinstance(users, dict):
        msg = f'the roles file {path} has no [users] table (user = "role")'
        raise RolesError(msg)
    for name, held in users.items():
        for role in [held] if isinstance(held, str) else list(held):
            if role not in ROLES:
                known = ", ".join(sorted(ROLES))
                msg = (
                    f"the roles file {path} gives {name!r} the unknown role {role!r};"
                    f" roles are {known}"
                )
                raise RolesError(msg)
    held = users.get(user, [])
    roles = tuple(sorted({held} if isinstance(held, str) else set(held)))
    return Grant(user, roles, str(path))
