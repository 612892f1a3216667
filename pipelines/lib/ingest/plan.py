"""Decide what happens to every file of a batch; an unknown file fails the batch.

Read:

- ehr: FHIR Bulk NDJSON `<Type>.ndjson`, `<Type>.<n>.ndjson` or `<Type><n>.ndjson`
  of the types in `fhir.RESOURCES`; Synthea `<table>.csv` of `synthea.TABLES`;
  FHIR JSON `*.json` at any depth (but the batch metadata below), one resource or
  a Bundle, whose types come from the content: a file gets one plan per resource
  type it holds (read or skipped as the type says; an empty Bundle is one skipped
  plan of type `Bundle`, so that every file is in the load log).
- crm: `<Object>.csv` of `salesforce.OBJECTS` (the name in any case).
- engagement: `sendgrid/*.json`, `sendgrid/*.jsonl`, `twilio/*.jsonl`,
  `app/*.jsonl`.

Counted and skipped, with a log line:

- ehr: any other `*.ndjson` (Location, Practitioner, Device, `log.ndjson`...);
  Synthea tables in `synthea.SKIPPED_TABLES` (allergies, claims, providers...);
  resources of any other type in a FHIR JSON file.
- crm: any other `<Object>.csv` named like a Salesforce object (Account, Lead...).

Batch metadata: `manifest.json` (FHIR Bulk Data), `export.json`, and, in an EHR
batch, Synthea's `run-metadata.json`.

Files in `landing.IGNORED_NAMES` (README, LICENSE, PROVENANCE.md...) and hidden
files never reach the plan. A FHIR manifest's `output` entries name the type of the
files they list; a listed file the batch lacks fails the batch, and so does a
listed `count` that disagrees with the file (checked where the file has one plan).
"""

import enum
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import PurePosixPath

from pipelines.lib.ingest import engagement, fhir, salesforce, synthea
from pipelines.lib.ingest.conform import Chunk, ReadContext
from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.formats import count_csv_rows, iter_lines
from pipelines.lib.ingest.landing import EXPORT, MANIFEST, Batch, LandedFile

logger = logging.getLogger(__name__)

SOURCES = ("ehr", "crm", "engagement")
BATCH_METADATA = "batch_metadata"
SYNTHEA_RUN_METADATA = "run-metadata.json"
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_EXPECTED = {
    "ehr": "FHIR Bulk NDJSON (<Type>.ndjson), a Synthea CSV table (<table>.csv),"
    " a FHIR resource or Bundle (*.json) or manifest.json",
    "crm": "a Salesforce object export (<Object>.csv) or export.json",
    "engagement": "sendgrid/*.json, sendgrid/*.jsonl, twilio/*.jsonl, app/*.jsonl"
    " or export.json",
}


class Action(enum.Enum):
    """What happens to a file of a batch."""

    READ = "read"
    SKIP = "skip"
    METADATA = "metadata"


Reader = Callable[[ReadContext], Iterator[Chunk]]


@dataclass(frozen=True)
class FilePlan:
    """What happens to one file.

    Attributes:
        file: The file.
        action: Read, counted and skipped, or batch metadata.
        entity: The raw table it loads (read), the source's own name of what it
            holds (skipped), or `batch_metadata`.
        read: For a read file, the reader to call with the batch's context.
        expected_records: The record count a FHIR manifest gives for the file.
    """

    file: LandedFile
    action: Action
    entity: str
    read: Reader | None = None
    expected_records: int | None = None


Planner = Callable[[LandedFile, dict[str, str]], list[FilePlan] | None]


def plan_batch(batch: Batch) -> list[FilePlan]:
    """Plan every file of a batch.

    Raises:
        IngestError: A file is unknown, a FHIR JSON file is not FHIR, or the
            manifest disagrees with the files.
    """
    planners: dict[str, Planner] = {
        "ehr": _plan_ehr,
        "crm": _plan_crm,
        "engagement": _plan_engagement,
    }
    listed = _manifest_outputs(batch) if batch.source == "ehr" else {}
    types = {name: kind for name, (kind, _) in listed.items()}
    plans = []
    for landed in batch.files:
        try:
            planned = planners[batch.source](landed, types)
        except IngestError as err:
            raise err.in_batch(batch.batch_id) from None
        if planned is None:
            msg = f"unexpected file; expected {_EXPECTED[batch.source]}"
            raise IngestError(msg, batch_id=batch.batch_id, file=landed.rel)
        count = listed.get(landed.rel, (None, None))[1]
        if count is not None and len(planned) == 1:
            planned = [replace(planned[0], expected_records=count)]
        plans += planned
    return plans


def count_records(plan: FilePlan) -> int:
    """Count a plan's records: lines, CSV data rows, or FHIR JSON resources of its type.

    Raises:
        IngestError: The file does not parse as the format its name says.
    """
    path, rel = plan.file.path, plan.file.rel
    if rel.endswith(".csv"):
        return count_csv_rows(path, rel)
    if rel.endswith(".json"):
        return fhir.count_json_resources(path, rel, plan.entity)
    return sum(lines.num_rows for lines in iter_lines(path, rel))


def _plan_ehr(
    landed: LandedFile, manifest_types: dict[str, str]
) -> list[FilePlan] | None:
    rel = landed.rel
    if rel in (MANIFEST, EXPORT, SYNTHEA_RUN_METADATA):
        return [FilePlan(landed, Action.METADATA, BATCH_METADATA)]
    if rel.endswith(".json"):
        return _plan_fhir_json(landed)
    if "/" in rel:
        return None
    if rel.endswith(".ndjson"):
        resource_type = manifest_types.get(rel) or fhir.resource_type_of(rel)
        if resource_type in fhir.RESOURCES:
            reader = partial(fhir.read_resources, landed.path, rel, resource_type)
            table = fhir.RESOURCES[resource_type].table
            return [FilePlan(landed, Action.READ, table, reader)]
        return [FilePlan(landed, Action.SKIP, resource_type)]
    if rel.endswith(".csv"):
        stem = rel.removesuffix(".csv").lower()
        if stem in synthea.TABLES:
            reader = partial(synthea.read_table, landed.path, rel, stem)
            table = synthea.TABLES[stem].table
            return [FilePlan(landed, Action.READ, table, reader)]
        if stem in synthea.SKIPPED_TABLES:
            return [FilePlan(landed, Action.SKIP, stem)]
    return None


def _plan_fhir_json(landed: LandedFile) -> list[FilePlan]:
    """One plan per resource type a FHIR JSON file holds (its content decides).

    Raises:
        IngestError: The file is not one FHIR resource or a Bundle of them.
    """
    rel = landed.rel
    counts = fhir.json_resource_counts(landed.path, rel)
    plans = []
    for resource_type in counts or [fhir.BUNDLE]:
        if resource_type in fhir.RESOURCES:
            reader = partial(fhir.read_json_resources, landed.path, rel, resource_type)
            table = fhir.RESOURCES[resource_type].table
            plans.append(FilePlan(landed, Action.READ, table, reader))
        else:
            plans.append(FilePlan(landed, Action.SKIP, resource_type))
    return plans


def _plan_crm(landed: LandedFile, _: dict[str, str]) -> list[FilePlan] | None:
    rel = landed.rel
    if rel == EXPORT:
        return [FilePlan(landed, Action.METADATA, BATCH_METADATA)]
    stem = rel.removesuffix(".csv")
    if "/" in rel or stem == rel or not _OBJECT_NAME.match(stem):
        return None
    by_lower = {name.lower(): name for name in salesforce.OBJECTS}
    object_name = by_lower.get(stem.lower())
    if object_name is None:
        return [FilePlan(landed, Action.SKIP, stem)]
    reader = partial(salesforce.read_object, landed.path, rel, object_name)
    table = salesforce.OBJECTS[object_name].table
    return [FilePlan(landed, Action.READ, table, reader)]


def _plan_engagement(landed: LandedFile, _: dict[str, str]) -> list[FilePlan] | None:
    rel = landed.rel
    if rel == EXPORT:
        return [FilePlan(landed, Action.METADATA, BATCH_METADATA)]
    parts = PurePosixPath(rel)
    if len(parts.parts) != 2 or parts.parts[0] not in engagement.CHANNELS:
        return None
    channel = parts.parts[0]
    spec, suffixes = engagement.CHANNELS[channel]
    if parts.suffix not in suffixes:
        return None
    reader = partial(engagement.read_events, landed.path, rel, channel)
    return [FilePlan(landed, Action.READ, spec.table, reader)]


def _manifest_outputs(batch: Batch) -> dict[str, tuple[str, int | None]]:
    """Map each file a FHIR manifest lists to its resource type and count.

    Raises:
        IngestError: An entry lacks its url or type, or names a file the batch lacks.
    """
    entries = [
        entry
        for key in ("output", "error")
        for entry in _as_list(batch.manifest.get(key))
    ]
    names = {f.rel for f in batch.files}
    listed: dict[str, tuple[str, int | None]] = {}
    for entry in entries:
        url = entry.get("url") if isinstance(entry, dict) else None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not isinstance(kind, str):
            msg = "an output entry lacks url or type; expected a Bulk Data manifest"
            raise IngestError(msg, batch_id=batch.batch_id, file=MANIFEST)
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name not in names:
            msg = f"lists {name}, which the batch lacks; expected every listed file"
            raise IngestError(msg, batch_id=batch.batch_id, file=MANIFEST)
        count = entry.get("count")
        listed[name] = (kind, count if isinstance(count, int) else None)
    return listed


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
