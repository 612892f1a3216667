"""A Synthea CSV export into the same `ehr_*` tables as FHIR.

Mapping decisions (INPUTS.md: "A Synthea CSV export ... is read as the same
entities; Synthea carries no sensitivity labels, consents or emails"):

- Headers of several Synthea generations are read: `Id` or `ID`; `START` or, in
  older exports, `DATE`; `MIDDLE`, `CITY`, `STATE`, `ZIP`, `TYPE`, `SYSTEM` may be
  absent. The 2017 layout's one-string `ADDRESS` (`<street> <city> <ST> <zip> US`)
  gives the state and the ZIP; the rest stays in `address_line`, city null.
- Patients: `mrn` = `Id`, as Synthea's own FHIR exporter writes the patient id as
  the `MR` identifier, so the same run links the same way in either format;
  `given_name` = `FIRST` and `MIDDLE`; `gender` `M`/`F` reads as `male`/`female`;
  `is_deceased` = a `DEATHDATE` is present; `deceased_at` = `DEATHDATE` at 00:00
  UTC; no email, phones or language (Synthea's CSV has none); the `STATE` is kept
  as written (a full name such as `Massachusetts`).
- Conditions, medications, immunizations, procedures and observations have no ids
  in Synthea's CSV: the id is the MD5 of the natural key (`PATIENT`, `ENCOUNTER`,
  `CODE`, `START`/`DATE`), the same in every export, so a row whose `STOP` fills in
  later is a newer version of the same record. Two rows with the same natural key
  (the same drug started twice in one encounter at one instant) share an id.
- Code systems as Synthea writes them: conditions and procedures SNOMED CT,
  medications RxNorm, immunizations CVX, observations LOINC (a `SYSTEM` column,
  when present, wins). Statuses as Synthea's FHIR exporter writes them: encounter
  `finished`; condition `active` or, with a `STOP`, `resolved`; medication `active`
  or, with a `STOP`, `stopped` (validity period `START`..`STOP`); immunization and
  procedure `completed`; observation `final`. Encounter classes map to v3-ActCode
  (`ambulatory`, `outpatient`, `wellness`, `urgentcare` to `AMB`; `emergency` to
  `EMER`; `inpatient` to `IMP`; `virtual` to `VR`; `home` to `HH`); the encounter's
  `PROVIDER` is the practitioner. An observation `VALUE` is a number when `TYPE`
  is `numeric` (or, without `TYPE`, when it reads as one), else text.
- No `version_id`, `last_updated_at` or `_record_at`: Synthea has no record times.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from pipelines.lib.ingest.conform import Check, Chunk, Field, Kind, ReadContext
from pipelines.lib.ingest.fhir import GENDERS
from pipelines.lib.ingest.specs import CsvSpec, natural_id, read_csv_spec

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
LOINC = "http://loinc.org"
_SYSTEMS = {
    "snomed-ct": SNOMED,
    "snomed": SNOMED,
    "rxnorm": RXNORM,
    "cvx": CVX,
    "loinc": LOINC,
    "icd-10-cm": "http://hl7.org/fhir/sid/icd-10-cm",
}
_ENCOUNTER_CLASSES = {
    "ambulatory": "AMB",
    "outpatient": "AMB",
    "wellness": "AMB",
    "urgentcare": "AMB",
    "emergency": "EMER",
    "inpatient": "IMP",
    "virtual": "VR",
    "home": "HH",
}
_OLD_ADDRESS = r"^(.*?)\s+([A-Z]{2})\s+(\d{5}(?:-\d{4})?)\s+US$"

SKIPPED_TABLES = frozenset(
    {
        "allergies",
        "careplans",
        "claims",
        "claims_transactions",
        "devices",
        "imaging_studies",
        "organizations",
        "patient_expenses",
        "payer_transitions",
        "payers",
        "providers",
        "supplies",
    }
)
"""Synthea tables counted and skipped: nothing in the contract reads them."""


def _blank(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars().replace("", None)


def _code_system(default: str) -> pl.Expr:
    mapped = (
        _blank("system")
        .str.to_lowercase()
        .replace_strict(_SYSTEMS, default=_blank("system"))
    )
    return pl.coalesce(mapped, pl.lit(default)).alias("code_system")


def _patients(flat: pl.DataFrame) -> pl.DataFrame:
    old = _blank("address").str.extract_groups(_OLD_ADDRESS)
    one_string = _blank("address_city").is_null() & _blank("address_state").is_null()
    parsed = one_string & old.struct.field("3").is_not_null()
    return flat.with_columns(
        mrn=pl.col("patient_id"),
        given_name=pl.concat_str(
            [_blank("first"), _blank("middle")], separator=" ", ignore_nulls=True
        ),
        gender=_blank("gender").replace({"M": "male", "F": "female"}),
        address_line=pl.when(parsed)
        .then(old.struct.field("1"))
        .otherwise(pl.col("address")),
        address_state=pl.when(parsed)
        .then(old.struct.field("2"))
        .otherwise(pl.col("address_state")),
        address_postal_code=pl.when(parsed)
        .then(old.struct.field("3"))
        .otherwise(pl.col("address_postal_code")),
        is_deceased=pl.when(_blank("deceased_at").is_null())
        .then(pl.lit("false"))
        .otherwise(pl.lit("true")),
    )


PATIENTS = CsvSpec(
    table="ehr_patients",
    key="patient_id",
    columns={
        "patient_id": ("Id", "ID"),
        "birth_date": ("BIRTHDATE",),
        "deceased_at": ("DEATHDATE",),
        "first": ("FIRST",),
        "middle": ("MIDDLE",),
        "family_name": ("LAST",),
        "gender": ("GENDER",),
        "address": ("ADDRESS",),
        "address_city": ("CITY",),
        "address_state": ("STATE",),
        "address_postal_code": ("ZIP",),
    },
    required=frozenset(
        {"patient_id", "birth_date", "deceased_at", "gender", "address"}
    ),
    fields=(
        Field("patient_id", "Id", required=True),
        Field("mrn", "Id"),
        Field("family_name", "LAST"),
        Field("given_name", "FIRST"),
        Field("gender", "GENDER", codes=GENDERS),
        Field("birth_date", "BIRTHDATE", Kind.DATE, required=True),
        Field("address_line", "ADDRESS"),
        Field("address_city", "CITY"),
        Field("address_state", "STATE"),
        Field("address_postal_code", "ZIP"),
        Field("is_deceased", "DEATHDATE", Kind.BOOL),
        Field("deceased_at", "DEATHDATE", Kind.TIMESTAMP),
    ),
    checks=(
        Check(
            pl.col("birth_date") > pl.col("_received_at").dt.date(),
            "BIRTHDATE is after the batch's received_at",
        ),
        Check(
            pl.col("deceased_at").dt.date() < pl.col("birth_date"),
            "DEATHDATE is before BIRTHDATE",
        ),
    ),
    derive=_patients,
)


def _encounters(flat: pl.DataFrame) -> pl.DataFrame:
    return flat.with_columns(
        status=pl.lit("finished"),
        class_code=_blank("class_code")
        .str.to_lowercase()
        .replace_strict(_ENCOUNTER_CLASSES, default=_blank("class_code")),
    )


ENCOUNTERS = CsvSpec(
    table="ehr_encounters",
    key="encounter_id",
    columns={
        "encounter_id": ("Id", "ID"),
        "patient_id": ("PATIENT",),
        "period_start_at": ("START", "DATE"),
        "period_end_at": ("STOP",),
        "class_code": ("ENCOUNTERCLASS",),
        "type_code": ("CODE",),
        "type_display": ("DESCRIPTION",),
        "practitioner_id": ("PROVIDER",),
    },
    required=frozenset(
        {"encounter_id", "patient_id", "period_start_at", "type_code", "type_display"}
    ),
    fields=(
        Field("encounter_id", "Id", required=True),
        Field("patient_id", "PATIENT", required=True),
        Field("status", "status"),
        Field("class_code", "ENCOUNTERCLASS"),
        Field("type_code", "CODE"),
        Field("type_display", "DESCRIPTION"),
        Field("practitioner_id", "PROVIDER"),
        Field("period_start_at", "START", Kind.TIMESTAMP),
        Field("period_end_at", "STOP", Kind.TIMESTAMP),
    ),
    derive=_encounters,
)

_CODED = {
    "patient_id": ("PATIENT",),
    "encounter_id": ("ENCOUNTER",),
    "code": ("CODE",),
    "display": ("DESCRIPTION",),
    "system": ("SYSTEM",),
}
_CODED_REQUIRED = frozenset({"patient_id", "encounter_id", "code", "display"})


def _coded_fields(key: str) -> tuple[Field, ...]:
    return (
        Field(key, "Id", required=True),
        Field("patient_id", "PATIENT", required=True),
        Field("encounter_id", "ENCOUNTER"),
        Field("code_system", "SYSTEM"),
        Field("code", "CODE"),
        Field("display", "DESCRIPTION"),
    )


def _clinical(
    key: str, start: str, default_system: str, extra: dict[str, pl.Expr]
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Derive the natural id, the code system and the fixed or computed columns."""
    natural = ["patient_id", "encounter_id", "code", start]

    def derive(flat: pl.DataFrame) -> pl.DataFrame:
        return flat.with_columns(
            natural_id(flat, natural).alias(key),
            _code_system(default_system),
            **extra,
        )

    return derive


CONDITIONS = CsvSpec(
    table="ehr_conditions",
    key="condition_id",
    columns={**_CODED, "onset_at": ("START",), "abatement_at": ("STOP",)},
    required=_CODED_REQUIRED | {"onset_at", "abatement_at"},
    fields=(
        *_coded_fields("condition_id"),
        Field("clinical_status", "STOP"),
        Field("onset_at", "START", Kind.TIMESTAMP),
        Field("abatement_at", "STOP", Kind.TIMESTAMP),
    ),
    derive=_clinical(
        "condition_id",
        "onset_at",
        SNOMED,
        {
            "clinical_status": pl.when(_blank("abatement_at").is_null())
            .then(pl.lit("active"))
            .otherwise(pl.lit("resolved"))
        },
    ),
)

MEDICATIONS = CsvSpec(
    table="ehr_medication_requests",
    key="medication_request_id",
    columns={**_CODED, "authored_at": ("START",), "validity_end_at": ("STOP",)},
    required=_CODED_REQUIRED | {"authored_at", "validity_end_at"},
    fields=(
        *_coded_fields("medication_request_id"),
        Field("status", "STOP"),
        Field("authored_at", "START", Kind.TIMESTAMP),
        Field("validity_start_at", "START", Kind.TIMESTAMP),
        Field("validity_end_at", "STOP", Kind.TIMESTAMP),
    ),
    derive=_clinical(
        "medication_request_id",
        "authored_at",
        RXNORM,
        {
            "status": pl.when(_blank("validity_end_at").is_null())
            .then(pl.lit("active"))
            .otherwise(pl.lit("stopped")),
            "validity_start_at": pl.col("authored_at"),
        },
    ),
)

IMMUNIZATIONS = CsvSpec(
    table="ehr_immunizations",
    key="immunization_id",
    columns={**_CODED, "occurred_at": ("DATE",)},
    required=_CODED_REQUIRED | {"occurred_at"},
    fields=(
        *_coded_fields("immunization_id"),
        Field("status", "status"),
        Field("occurred_at", "DATE", Kind.TIMESTAMP),
    ),
    derive=_clinical(
        "immunization_id",
        "occurred_at",
        CVX,
        {"status": pl.lit("completed")},
    ),
)

PROCEDURES = CsvSpec(
    table="ehr_procedures",
    key="procedure_id",
    columns={**_CODED, "performed_at": ("START", "DATE")},
    required=_CODED_REQUIRED | {"performed_at"},
    fields=(
        *_coded_fields("procedure_id"),
        Field("status", "status"),
        Field("performed_at", "START", Kind.TIMESTAMP),
    ),
    derive=_clinical(
        "procedure_id",
        "performed_at",
        SNOMED,
        {"status": pl.lit("completed")},
    ),
)


def _observation_values() -> dict[str, pl.Expr]:
    """A `VALUE` is a number when `TYPE` says so, or, without `TYPE`, looks one."""
    kind = _blank("value_type").str.to_lowercase()
    looks_numeric = _blank("value").str.contains(r"^[+-]?(\d+\.?\d*|\.\d+)$")
    numeric = pl.when(kind.is_null()).then(looks_numeric).otherwise(kind == "numeric")
    return {
        "status": pl.lit("final"),
        "value_number": pl.when(numeric).then(pl.col("value")),
        "value_text": pl.when(numeric).then(None).otherwise(pl.col("value")),
    }


OBSERVATIONS = CsvSpec(
    table="ehr_observations",
    key="observation_id",
    columns={
        **_CODED,
        "effective_at": ("DATE",),
        "value": ("VALUE",),
        "value_unit": ("UNITS",),
        "value_type": ("TYPE",),
    },
    required=_CODED_REQUIRED | {"effective_at", "value", "value_unit"},
    fields=(
        *_coded_fields("observation_id"),
        Field("status", "status"),
        Field("value_number", "VALUE", Kind.NUMBER),
        Field("value_unit", "UNITS"),
        Field("value_text", "VALUE"),
        Field("effective_at", "DATE", Kind.TIMESTAMP),
    ),
    derive=_clinical("observation_id", "effective_at", LOINC, _observation_values()),
)

TABLES: dict[str, CsvSpec] = {
    "patients": PATIENTS,
    "encounters": ENCOUNTERS,
    "conditions": CONDITIONS,
    "medications": MEDICATIONS,
    "immunizations": IMMUNIZATIONS,
    "procedures": PROCEDURES,
    "observations": OBSERVATIONS,
}
"""The Synthea tables read, by file stem (`<table>.csv`)."""


def read_table(path: Path, rel: str, table: str, ctx: ReadContext) -> Iterator[Chunk]:
    """Read one Synthea CSV table into its raw table, in chunks.

    Raises:
        IngestError: The header lacks a required column, or a row does not parse.
    """
    return read_csv_spec(path, rel, TABLES[table], ctx)
