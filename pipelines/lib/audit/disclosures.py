"""Which exports included a person, and whether each must be accounted for.

An individual may ask for an accounting of disclosures of their PHI over the six years
before the request (45 CFR 164.528(a)(1), (a)(3)). Disclosures for treatment, payment
or health care operations and disclosures under an authorization are exempt
(164.528(a)(1)(i), (iv)); every export is listed anyway (R-AUDIT), with whether it is
accountable read from the `rules.disclosure_accounting` seed. A purpose the seed does
not list, or an authorized purpose with no authorization on file, is reported as
accountable until someone reviews it (RULES.md 1.1, fail closed).

Membership comes from the person keys the export recorded (`person_keys.json`), or
else from the exported file's `person_token` column. An export whose file is missing
or changed since export (its SHA-256 no longer matches the manifest), or that kept no
person keys, cannot rule the person out, so it is listed with `membership` saying why.
"""

import csv
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import env
from pipelines.lib.audit.lineage import file_sha256
from pipelines.lib.warehouse import connect

logger = logging.getLogger(__name__)

PERSON_COLUMN = "person_token"
LOOKBACK_YEARS = 6


class DisclosureError(RuntimeError):
    """The disclosures of a person cannot be listed."""


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def _parse(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _membership(folder: Path, manifest: dict[str, Any], person_id: str) -> str | None:
    """`listed`, None (not in the export), or why the export cannot tell."""
    path = folder / (manifest.get("file") or "")
    if not manifest.get("file") or not path.is_file():
        return "unknown: the exported file is missing"
    if file_sha256(path) != manifest.get("sha256"):
        return "unknown: the file changed since export"
    keys = _person_keys(folder, path)
    if keys is None:
        return "unknown: the export recorded no person keys"
    return "listed" if person_id in keys else None


def _person_keys(folder: Path, path: Path) -> set[str] | None:
    """The export's person keys: its `person_keys.json`, else the file's key column."""
    recorded = folder / "person_keys.json"
    if recorded.exists():
        return set(json.loads(recorded.read_text()).get("person_keys") or [])
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if PERSON_COLUMN not in table.column_names:
            return None
        return {str(key) for key in table.column(PERSON_COLUMN).to_pylist()}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if PERSON_COLUMN not in header:
            return None
        index = header.index(PERSON_COLUMN)
        # The export prefixes "'" to a cell a spreadsheet would run as a formula.
        return {
            row[index][1:] if row[index].startswith("'") else row[index]
            for row in reader
        }


def _lookups(con: Any) -> tuple[dict[str, tuple], dict[str, bool], dict[str, str]]:
    try:
        accounting = {
            row[0]: row[1:]
            for row in con.sql(
                "select purpose_code, disclosure_basis, is_accountable, citation"
                " from rules.disclosure_accounting"
            ).fetchall()
        }
        needs_authorization = dict(
            con.sql(
                "select purpose_code, needs_authorization from rules.purpose_codes"
            ).fetchall()
        )
        kinds = dict(
            con.sql(
                "select recipient, recipient_kind from rules.recipient_register"
            ).fetchall()
        )
    except Exception as error:
        msg = (
            "the warehouse has no rules.disclosure_accounting seed yet; run"
            f" `clearlist build` ({str(error).splitlines()[0]})"
        )
        raise DisclosureError(msg) from None
    return accounting, needs_authorization, kinds


def _authorizations(con: Any, person_id: str, purpose: str, as_of: Any) -> list[str]:
    """Authorizations on file for the purpose at the export instant (ids only)."""
    rows = con.execute(
        """
        select authorization_id
        from marts.fct_authorizations
        where person_id = ?
            and (purposes like '%;' || ? || ';%' or purposes like '%;' || ? || ':%')
            and known_at <= ?::timestamptz
            and (revoked_at is null or revoked_at > ?::timestamptz)
            and (expires_at is null or expires_at > ?::timestamptz)
            and not coalesce(is_deleted, false)
        order by authorization_id
        """,
        [person_id, purpose, purpose, as_of, as_of, as_of],
    ).fetchall()
    return [row[0] for row in rows]


def disclosures_of(
    current: env.Home,
    *,
    person: str | None = None,
    mrn: str | None = None,
    years: int = LOOKBACK_YEARS,
    now: datetime | None = None,
) -> dict[str, Any]:
    """List every export of the last `years` years that included a person.

    Raises:
        DisclosureError: The MRN matches nobody, or the warehouse lacks the seeds.
    """
    from pipelines.lib.explain import ExplainError, find_person

    now = now or datetime.now(UTC)
    since = _years_before(now, years)
    with connect(current.warehouse, read_only=True) as con:
        if mrn is not None:
            try:
                person_id = find_person(con, mrn=mrn)
            except ExplainError as error:
                raise DisclosureError(str(error)) from None
        else:
            person_id = str(person)
        accounting, needs_authorization, kinds = _lookups(con)
        items = []
        for manifest_path in sorted(current.exports.glob("[!.]*/manifest.json")):
            manifest = json.loads(manifest_path.read_text())
            exported_at = _parse(manifest.get("exported_at"))
            if exported_at is not None and exported_at < since:
                continue
            membership = _membership(manifest_path.parent, manifest, person_id)
            if membership is None:
                continue
            purpose = str(manifest.get("purpose") or "MARKETING").upper()
            as_of = manifest.get("as_of") or manifest.get("exported_at")
            basis, accountable, citation = accounting.get(
                purpose, ("unclassified", True, "45 CFR 164.528(a)(1)")
            )
            authorizations: list[str] = []
            if needs_authorization.get(purpose, True) and as_of:
                authorizations = _authorizations(con, person_id, purpose, as_of)
                if basis == "authorization" and not authorizations:
                    basis, accountable = "authorization (none on file)", True
            recipient = manifest.get("recipient") or "CoveredEntity"
            items.append(
                {
                    "export_id": manifest_path.parent.name,
                    "exported_at": str(manifest.get("exported_at", "not recorded")),
                    "as_of": str(as_of),
                    "recipient": recipient,
                    "recipient_kind": kinds.get(recipient, "third_party"),
                    "purpose": purpose,
                    "marketing_topic": manifest.get("marketing_topic"),
                    "channel": manifest.get("channel", "not recorded"),
                    "data_elements": list(manifest.get("columns") or []),
                    "basis": basis,
                    "citation": citation,
                    "authorizations": authorizations,
                    "accountable": bool(accountable),
                    "membership": membership,
                    "operator": manifest.get("operator", "not recorded"),
                }
            )
    items.sort(key=lambda item: item["exported_at"])
    logger.info("person %s: %d exports since %s", person_id, len(items), since.date())
    return {
        "person": person_id,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "disclosures": items,
        "accountable": sum(1 for item in items if item["accountable"]),
    }
