"""The rule set: which files decide eligibility, and the version they make together.

The version is a hash of the dbt files that turn source records into consent facts
and verdicts (staging, identity, ledger and people models, macros and the seeds
counsel may change). Every build stamps it on the eligibility model and on the
functions of an instant, so an export or an `explain` names the rules it used.
"""

import hashlib
from pathlib import Path

from pipelines.env import DBT_PROJECT_DIR

RULE_PATHS = (
    "macros",
    "seeds",
    "models/staging",
    "models/intermediate",
    "models/marts/consent",
    "models/marts/people",
)


def rule_set_version(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Return `rs-` and the first 16 hex digits of the rule files' SHA-256.

    Files are hashed by their path inside the project and their bytes, in path
    order, so the version changes exactly when a rule file is added, removed or
    edited.
    """
    digest = hashlib.sha256()
    for folder in RULE_PATHS:
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file() and path.suffix in {".sql", ".csv", ".yml"}:
                rel = path.relative_to(project_dir).as_posix()
                digest.update(f"{rel}\0".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"rs-{digest.hexdigest()[:16]}"
