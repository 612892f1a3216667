"""Deterministic demo and test data: a landing tree with planted consent situations.

`generate` writes what the source systems of a small health system would drop into
`landing/` (INPUTS.md): one FHIR R4 Bulk Data export from the EHR, two Salesforce
exports from the CRM (a full one, then a later one with changes only) and one
engagement export (SendGrid Event Webhook posts, Twilio callbacks, app events). All
people, names, addresses, phone numbers and e-mail addresses are synthetic; e-mail
domains are the reserved `example.*` ones.

Every person gets exactly one scenario from `SCENARIOS`, with exact counts, so that a
test can predict who the demo segment (`DEMO_SEGMENT`) may reach and which rule of
RULES.md is expected to exclude everyone else. The answer key is a `GenerationPlan`,
also written as JSON to `<landing>/../generated/plan.json` (outside `landing/`, which
holds only what source systems drop).

The output is a pure function of `(contacts, seed, anchor)`: one
`numpy.random.default_rng(seed)` stream drives every draw (with a child stream spawned
from it for the recent-care detail the sample segments need), every date is relative to
`anchor`, and rows are rendered to text with polars string expressions, so two runs
are byte-identical and a million people take minutes, not hours.

Note:
    To keep the expected counts exact, nothing in the background data can exclude a
    person on its own: only minors are under 25, only the `deceased` scenario has a
    date of death, e-mail opt-outs, spam reports and SMS STOPs appear only where a
    scenario plants them, and bounces and drops are given only to people whose
    scenario is excluded anyway. Authorizations narrowed to a topic
    (`MARKETING:wellness-program`) are given only to people expected eligible: a
    planted defect sits on a bare `MARKETING` purpose, so its rule fires whatever
    topic a verdict asks about. The plan lists, per scenario, how many people got
    each variant of the planted situation.
"""

import itertools
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- constants

DAY = 86_400
HOUR = 3_600

EHR_BATCH = "ehr/ehr-001"
CRM_BATCH = "crm/crm-001"
CRM_CHANGES_BATCH = "crm/crm-002"
ENGAGEMENT_BATCH = "engagement/eng-001"

FHIR_FILE_ROWS = 200_000
SENDGRID_POST_EVENTS = 50_000
PLAN_ID_LIMIT = 20_000
PLAN_ID_SAMPLE = 100

#: The segment the tests evaluate: the covered entity e-mails its wellness program.
DEMO_SEGMENT: dict[str, Any] = {
    "purpose": "MARKETING",
    "topic": "wellness-program",
    "channel": "email",
    "sender": "CoveredEntity",
    "recipient": "CoveredEntity",
    "list_id": "4101",
    "asm_group_id": 4101,
    "campaign_id": "cmp-wellness-2026",
    "criteria_categories": ["demographics", "contact"],
}

MR_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "https://ehr.clearlist.example/fhir/sid/mrn"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_KIND = "https://clearlist.dev/fhir/CodeSystem/consent-kind"
PURPOSE = "https://clearlist.dev/fhir/CodeSystem/purpose"
CHANNEL = "https://clearlist.dev/fhir/CodeSystem/channel"
ALT_CONTACT = "https://clearlist.dev/fhir/StructureDefinition/alternative-contact"

#: Salesforce key prefixes (the first three characters of a record Id).
SF_PREFIX = {
    "Contact": "003",
    "ContactPointTypeConsent": "0ZY",
    "AuthorizationFormText": "0cN",
    "AuthorizationFormConsent": "0cM",
}

CONTACT_FIELDS = [
    "Id",
    "IsDeleted",
    "FirstName",
    "LastName",
    "Email",
    "MobilePhone",
    "HomePhone",
    "MailingStreet",
    "MailingCity",
    "MailingState",
    "MailingPostalCode",
    "Birthdate",
    "HasOptedOutOfEmail",
    "DoNotCall",
    "MRN__c",
    "EmailVerified__c",
    "CreatedDate",
    "LastModifiedDate",
]
CPTC_FIELDS = [
    "Id",
    "IsDeleted",
    "PartyId",
    "ContactPointType",
    "DataUsePurpose",
    "PrivacyConsentStatus",
    "EffectiveFrom",
    "EffectiveTo",
    "CaptureDate",
    "CaptureSource",
    "ContactPointValue__c",
    "ListId__c",
    "LastModifiedDate",
]
AFT_FIELDS = [
    "Id",
    "IsDeleted",
    "Name",
    "RevisionNumber",
    "AssociatedRegulation__c",
    "HasRevocationStatement__c",
    "HasConditioningStatement__c",
    "HasRedisclosureStatement__c",
    "HasNotConditionOfPurchase__c",
    "IsCompound__c",
    "ConditionedOnTreatment__c",
    "LastModifiedDate",
]
AFC_FIELDS = [
    "Id",
    "IsDeleted",
    "ConsentGiverId",
    "AuthorizationFormTextId",
    "Status",
    "ConsentCapturedDateTime",
    "ConsentCapturedSource",
    "Purposes__c",
    "InfoScope__c",
    "Disclosers__c",
    "Recipients__c",
    "EmployerRecipients__c",
    "Channels__c",
    "ExpirationDateTime__c",
    "ExpirationEvent__c",
    "ExpirationEventOccurredAt__c",
    "SignerRole__c",
    "SignerName__c",
    "SignerRelatedPersonId__c",
    "SignerAuthority__c",
    "SignatureMethod__c",
    "ESignEvidenceId__c",
    "RemunerationDisclosed__c",
    "BoundEmail__c",
    "BoundPhone__c",
    "RevokedDateTime__c",
    "RevocationChannel__c",
    "RevocationWritten__c",
    "DocumentSha256__c",
    "LastModifiedDate",
]

# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class ScenarioSpec:
    """One planted situation and what the demo segment should decide for it."""

    name: str
    share: float
    expected_eligible: bool
    expected_rule: str | None
    description: str


_SCENARIO_ROWS: list[tuple[str, float, bool, str | None, str]] = [
    ("clean", 0.0, True, None, "signed, unexpired HIPAA marketing authorization"),
    ("expired", 0.02, False, "R-AUTH-EXP", "authorization expired before anchor"),
    ("revoked", 0.02, False, "R-AUTH-REV", "clean in crm-001, revoked in crm-002"),
    ("declined", 0.015, False, "R-MKT-AUTH", "authorization Status Declined"),
    ("unsigned", 0.015, False, "R-AUTH-CORE", "Status Signed, no signature date"),
    (
        "wrong_purpose",
        0.015,
        False,
        "R-MKT-AUTH",
        "purposes only MARKETING:weight-management or FUNDRAISING",
    ),
    ("wrong_recipient", 0.015, False, "R-RECIP", "recipients only a partner"),
    ("wrong_channel", 0.015, False, "R-MKT-AUTH", "channels only sms"),
    (
        "missing_statement",
        0.015,
        False,
        "R-AUTH-STMT",
        "template lacks the revocation statement",
    ),
    ("no_authorization", 0.06, False, "R-MKT-AUTH", "no authorization at all"),
    (
        "email_unsub_this_list",
        0.02,
        False,
        "R-EMAIL-OPTOUT",
        "e-mail opt-out of list 4101 (CRM ListId__c or SendGrid group 4101)",
    ),
    (
        "email_unsub_other_list",
        0.02,
        True,
        None,
        "e-mail opt-out scoped to list 4102 only",
    ),
    (
        "email_spamreport",
        0.015,
        False,
        "R-EMAIL-OPTOUT",
        "SendGrid spam report: blocks all commercial e-mail",
    ),
    (
        "email_contact_optout",
        0.02,
        False,
        "R-EMAIL-OPTOUT",
        "Contact.HasOptedOutOfEmail TRUE",
    ),
    ("deceased", 0.015, False, "R-DECEASED", "Patient.deceasedDateTime before anchor"),
    ("minor", 0.04, False, "R-MINOR", "under 18 on anchor, signed by a parent"),
    (
        "fundraising_optout",
        0.02,
        True,
        None,
        "FUNDRAISING opt-out only: marketing e-mail still allowed",
    ),
    ("sms_stop", 0.02, True, None, "Twilio inbound STOP: e-mail still allowed"),
    (
        "confidential_comm",
        0.015,
        False,
        "R-CONFCOMM",
        "confidential-communication Consent allowing only mail",
    ),
    (
        "restriction",
        0.015,
        False,
        "R-RESTRICT",
        "restriction Consent denying MARKETING",
    ),
    (
        "sensitive",
        0.03,
        True,
        None,
        "DS4P-labelled Condition; the segment uses no sensitive data",
    ),
    (
        "linked_by_verified_email",
        0.02,
        True,
        None,
        "CRM Contact without MRN, verified e-mail equal to the Patient's",
    ),
    (
        "unverified_duplicate",
        0.015,
        False,
        "R-MKT-AUTH",
        "authorization on an unlinked CRM Contact whose unverified e-mail matches "
        "a Patient",
    ),
]

#: Every scenario, `clean` first; `clean` takes the share the others leave.
SCENARIOS: tuple[ScenarioSpec, ...] = tuple(
    ScenarioSpec(
        name,
        share if name != "clean" else 1.0 - sum(r[1] for r in _SCENARIO_ROWS),
        eligible,
        rule,
        text,
    )
    for name, share, eligible, rule, text in _SCENARIO_ROWS
)
SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)
_SC = {name: i for i, name in enumerate(SCENARIO_NAMES)}


def scenario_counts(contacts: int) -> dict[str, int]:
    """Split `contacts` people over the scenarios exactly (largest remainder).

    Args:
        contacts: number of people.

    Returns:
        Scenario name to count, in `SCENARIOS` order; the counts add up to
        `contacts`.

    Example:
        >>> scenario_counts(1000)["minor"]
        40
    """
    raw = [s.share * contacts for s in SCENARIOS]
    counts = [math.floor(r) for r in raw]
    left = contacts - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return {s.name: c for s, c in zip(SCENARIOS, counts, strict=True)}


# ---------------------------------------------------------------- plan


@dataclass
class ScenarioPlan:
    """The answer key for one scenario."""

    name: str
    share: float
    count: int
    expected_eligible: bool
    expected_rule: str | None
    description: str
    contact_ids: list[str]
    mrns: list[str]
    ids_truncated: bool
    variants: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchPlan:
    """One landing batch folder and when the organization had it."""

    source: str
    batch: str
    path: str
    received_at: datetime
    files: list[str]


@dataclass
class MalformedRow:
    """A row planted to break the contract; it belongs to no scenario.

    `line` follows the raw layer's `_source_line`: the 1-based line of an NDJSON or
    JSONL file, the 1-based data row of a CSV (the header is row 0), the 1-based
    element of a JSON array.
    """

    file: str
    line: int
    entity: str
    reason: str
    record_id: str | None = None


@dataclass
class GenerationPlan:
    """What `generate` wrote and what the demo segment should decide."""

    seed: int
    contacts: int
    anchor: datetime
    segment: dict[str, Any]
    batches: list[BatchPlan]
    files: dict[str, int]
    scenarios: dict[str, ScenarioPlan]
    malformed: list[MalformedRow]

    @property
    def expected_eligible_count(self) -> int:
        """People the demo segment should include at `anchor`."""
        return sum(s.count for s in self.scenarios.values() if s.expected_eligible)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data (instants as ISO 8601 UTC text)."""
        data = asdict(self)
        data["anchor"] = _iso(self.anchor)
        for batch in data["batches"]:
            batch["received_at"] = _iso(batch["received_at"])
        data["expected_eligible_count"] = self.expected_eligible_count
        return data

    def to_json(self) -> str:
        """Return the plan as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationPlan":
        """Rebuild a plan from `to_dict` output (e.g. a loaded plan.json)."""
        return cls(
            seed=data["seed"],
            contacts=data["contacts"],
            anchor=datetime.fromisoformat(data["anchor"]),
            segment=data["segment"],
            batches=[
                BatchPlan(
                    **{**b, "received_at": datetime.fromisoformat(b["received_at"])}
                )
                for b in data["batches"]
            ],
            files=data["files"],
            scenarios={k: ScenarioPlan(**v) for k, v in data["scenarios"].items()},
            malformed=[MalformedRow(**m) for m in data["malformed"]],
        )


def default_anchor() -> datetime:
    """Return today at 00:00 UTC, the default "today" of a generated world."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- reference data

# state | city | ZIP3 | area code | UTC offset (minutes, standard time) | people (M)
_PLACES = """
AL|Birmingham|352|205|-360|1.6
AL|Montgomery|361|334|-360|1.0
AL|Mobile|366|251|-360|1.0
AL|Huntsville|358|256|-360|1.5
AK|Anchorage|995|907|-540|0.73
AZ|Phoenix|850|602|-420|4.0
AZ|Tucson|857|520|-420|1.6
AZ|Mesa|852|480|-420|1.8
AR|Little Rock|722|501|-360|1.9
AR|Fayetteville|727|479|-360|1.2
CA|Los Angeles|900|213|-480|10.0
CA|San Diego|921|619|-480|5.5
CA|San Jose|951|408|-480|4.5
CA|San Francisco|941|415|-480|4.0
CA|Fresno|937|559|-480|3.5
CA|Sacramento|958|916|-480|5.0
CA|Oakland|946|510|-480|6.5
CO|Denver|802|303|-420|4.0
CO|Colorado Springs|809|719|-420|1.9
CT|Hartford|061|860|-300|1.8
CT|New Haven|065|203|-300|1.8
DE|Wilmington|198|302|-300|1.03
DC|Washington|200|202|-300|0.68
FL|Miami|331|305|-300|6.6
FL|Orlando|328|407|-300|5.4
FL|Tampa|336|813|-300|5.6
FL|Jacksonville|322|904|-300|5.0
GA|Atlanta|303|404|-300|8.0
GA|Savannah|314|912|-300|3.0
HI|Honolulu|968|808|-600|1.43
ID|Boise|837|208|-420|1.96
IL|Chicago|606|312|-360|8.5
IL|Springfield|627|217|-360|2.0
IL|Naperville|605|630|-360|2.0
IN|Indianapolis|462|317|-300|4.6
IN|Fort Wayne|468|260|-300|2.3
IA|Des Moines|503|515|-360|3.2
KS|Wichita|672|316|-360|1.7
KS|Topeka|666|785|-360|1.2
KY|Louisville|402|502|-300|2.5
KY|Lexington|405|859|-300|2.0
LA|New Orleans|701|504|-360|2.4
LA|Baton Rouge|708|225|-360|2.2
ME|Portland|041|207|-300|1.4
MD|Baltimore|212|410|-300|6.2
MA|Boston|021|617|-300|4.7
MA|Worcester|016|508|-300|2.3
MI|Detroit|482|313|-300|6.0
MI|Grand Rapids|495|616|-300|4.0
MN|Minneapolis|554|612|-360|3.5
MN|Saint Paul|551|651|-360|2.2
MS|Jackson|392|601|-360|1.9
MS|Gulfport|395|228|-360|1.0
MO|Kansas City|641|816|-360|3.1
MO|Saint Louis|631|314|-360|3.1
MT|Billings|591|406|-420|1.13
NE|Omaha|681|402|-360|1.2
NE|Lincoln|685|402|-360|0.8
NV|Las Vegas|891|702|-480|2.4
NV|Reno|895|775|-480|0.8
NH|Manchester|031|603|-300|1.4
NJ|Newark|071|973|-300|5.0
NJ|Jersey City|073|201|-300|4.3
NM|Albuquerque|871|505|-420|2.1
NY|New York|100|212|-300|8.0
NY|Brooklyn|112|718|-300|5.0
NY|Buffalo|142|716|-300|2.2
NY|Rochester|146|585|-300|2.2
NY|Albany|122|518|-300|2.2
NC|Charlotte|282|704|-300|5.4
NC|Raleigh|276|919|-300|5.4
ND|Fargo|581|701|-360|0.78
OH|Columbus|432|614|-300|4.0
OH|Cleveland|441|216|-300|4.0
OH|Cincinnati|452|513|-300|3.8
OK|Oklahoma City|731|405|-360|2.2
OK|Tulsa|741|918|-360|1.9
OR|Portland|972|503|-480|2.8
OR|Eugene|974|541|-480|1.4
PA|Philadelphia|191|215|-300|7.5
PA|Pittsburgh|152|412|-300|5.5
RI|Providence|029|401|-300|1.09
SC|Columbia|292|803|-300|2.8
SC|Charleston|294|843|-300|2.6
SD|Sioux Falls|571|605|-360|0.92
TN|Nashville|372|615|-360|4.0
TN|Memphis|381|901|-360|3.1
TX|Houston|770|713|-360|8.0
TX|Dallas|752|214|-360|8.0
TX|San Antonio|782|210|-360|5.5
TX|Austin|787|512|-360|5.0
TX|El Paso|799|915|-420|4.0
UT|Salt Lake City|841|801|-420|3.4
VT|Burlington|054|802|-300|0.65
VA|Richmond|232|804|-300|4.5
VA|Virginia Beach|234|757|-300|4.2
WA|Seattle|981|206|-480|4.0
WA|Spokane|992|509|-480|1.8
WA|Tacoma|984|253|-480|2.0
WV|Charleston|253|304|-300|1.77
WI|Milwaukee|532|414|-360|3.5
WI|Madison|537|608|-360|2.4
WY|Cheyenne|820|307|-420|0.58
"""

_FEMALE_NAMES = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa "
    "Nancy Betty Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda "
    "Melissa Deborah Stephanie Maria Rosa Guadalupe Ana Sofia Mei Linh Priya Aisha "
    "Fatima Grace Chloe Olivia Emma Ava Isabella Mia Harper Evelyn Abigail Camila"
).split()
_MALE_NAMES = (
    "James Robert John Michael David William Richard Joseph Thomas Christopher "
    "Charles Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth "
    "Kevin Brian George Timothy Jose Luis Carlos Juan Miguel Wei Minh Raj Omar "
    "Ahmed Liam Noah Oliver Elijah Lucas Mason Ethan Logan Jacob Jackson Samuel"
).split()
_LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez "
    "Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee "
    "Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young "
    "Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Chen Patel Kim Tran Shah Cohen Murphy "
    "Cooper Reed Bailey Bell Gomez Kelly Howard Ward Cox Diaz Richardson Wood Watson "
    "Brooks Bennett Gray James Reyes Cruz Hughes Price Myers Long Foster Sanders Ross"
).split()
_STREETS = (
    "Oak Maple Cedar Pine Elm Washington Lake Hill Park Main Sunset Highland River "
    "Church Spring Walnut Chestnut Jefferson Lincoln Madison Willow Meadow Forest "
    "Ridge Valley Franklin Adams Jackson Magnolia Dogwood"
).split()
_STREET_SUFFIX = "St Ave Rd Dr Ln Blvd Ct Way Pl Ter".split()
_EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com"]
_LANGUAGES = [
    # code, display, text, weight
    ("en-US", "English (United States)", "English", 0.835),
    ("es", "Spanish", "Spanish", 0.125),
    ("zh", "Chinese", "Chinese", 0.012),
    ("vi", "Vietnamese", "Vietnamese", 0.01),
    ("ko", "Korean", "Korean", 0.006),
    ("fr", "French", "French", 0.006),
    ("ar", "Arabic", "Arabic", 0.006),
]
# adult age bands on anchor (years, inclusive-exclusive) and their weights
_AGE_BANDS = [(25, 35, 17), (35, 45, 16), (45, 55, 15), (55, 65, 16), (65, 75, 13)]
_AGE_BANDS += [(75, 85, 7), (85, 93, 2)]

# condition key: SNOMED, SNOMED display, ICD-10-CM, ICD display
_CONDITIONS = {
    "diabetes": (
        "44054006",
        "Diabetes mellitus type 2 (disorder)",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
    ),
    "hypertension": (
        "38341003",
        "Hypertensive disorder, systemic arterial (disorder)",
        "I10",
        "Essential (primary) hypertension",
    ),
    "hyperlipidemia": (
        "55822004",
        "Hyperlipidemia (disorder)",
        "E78.5",
        "Hyperlipidemia, unspecified",
    ),
    "obesity": ("414916001", "Obesity (disorder)", "E66.9", "Obesity, unspecified"),
    "asthma": (
        "195967001",
        "Asthma (disorder)",
        "J45.909",
        "Unspecified asthma, uncomplicated",
    ),
    "pregnancy": ("77386006", "Pregnancy (finding)", "Z33.1", "Pregnant state"),
}
# sensitive conditions of the `sensitive` scenario: DS4P label and the privacy-law
# label put on the encounter where it was diagnosed (None: no encounter label)
_SENSITIVE = [
    (
        "ETH",
        "substance abuse information sensitivity",
        "66590003",
        "Alcohol dependence (disorder)",
        "F10.20",
        "Alcohol dependence, uncomplicated",
        "42CFRPart2",
    ),
    (
        "HIV",
        "HIV/AIDS information sensitivity",
        "86406008",
        "Human immunodeficiency virus infection (disorder)",
        "B20",
        "Human immunodeficiency virus [HIV] disease",
        None,
    ),
    (
        "PSY",
        "psychiatry information sensitivity",
        "35489007",
        "Depressive disorder (disorder)",
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
        "HIPAAPsyNotes",
    ),
    (
        "SEX",
        "sexuality and reproductive health information sensitivity",
        "6738008",
        "Infertility of the female (disorder)",
        "N97.9",
        "Female infertility, unspecified",
        "HIPAASelfPay",
    ),
]
_LAW_DISPLAY = {
    "42CFRPart2": "42 CFR Part2",
    "HIPAAPsyNotes": "HIPAA psychotherapy notes",
    "HIPAASelfPay": "HIPAA self-pay",
}
# condition -> (RxNorm, display)
_MEDICATIONS = {
    "diabetes": (
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    ),
    "hypertension": ("314076", "lisinopril 10 MG Oral Tablet"),
    "asthma": (
        "745679",
        "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
    ),
    "hyperlipidemia": ("617312", "atorvastatin 40 MG Oral Tablet"),
}
_VACCINES = {
    "flu": [
        ("140", "Influenza, seasonal, injectable, preservative free"),
        ("141", "Influenza, seasonal, injectable"),
        ("150", "Influenza, injectable, quadrivalent, preservative free"),
        ("158", "influenza, injectable, quadrivalent, contains preservative"),
    ],
    "covid": [
        ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
        ("207", "COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5 mL dose"),
        ("300", "COVID-19, mRNA, LNP-S, bivalent, PF, 50 mcg/0.5 mL dose"),
    ],
    "tdap": [("115", "Tdap")],
    "pneumo": [("33", "pneumococcal polysaccharide vaccine, 23 valent")],
}
_PROCEDURES = {
    "mammography": ("24623002", "Screening mammography (procedure)"),
    "colonoscopy": ("73761001", "Colonoscopy (procedure)"),
    "appendectomy": ("80146002", "Excision of appendix (procedure)"),
}
# departments (Encounter.serviceType) and the encounter type/class used with them
_DEPARTMENTS = [
    # SNOMED, display, weight, encounter type SNOMED, type display, class
    (
        "394814009",
        "General practice",
        0.55,
        "185349003",
        "Encounter for check up (procedure)",
        "AMB",
    ),
    (
        "394579002",
        "Cardiology",
        0.1,
        "185347001",
        "Encounter for problem (procedure)",
        "AMB",
    ),
    (
        "394583002",
        "Endocrinology",
        0.08,
        "390906007",
        "Follow-up encounter (procedure)",
        "AMB",
    ),
    (
        "394585009",
        "Obstetrics and gynecology",
        0.1,
        "185347001",
        "Encounter for problem (procedure)",
        "AMB",
    ),
    (
        "773568002",
        "Emergency medicine",
        0.07,
        "50849002",
        "Emergency room admission (procedure)",
        "EMER",
    ),
    (
        "418112009",
        "Pulmonary medicine",
        0.05,
        "185347001",
        "Encounter for problem (procedure)",
        "AMB",
    ),
    (
        "394587001",
        "Psychiatry",
        0.05,
        "390906007",
        "Follow-up encounter (procedure)",
        "VR",
    ),
]
_CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "VR": "virtual"}
# LOINC, display, unit, category, mean, sd, low, high
_OBSERVATIONS = {
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"),
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]", "vital-signs"),
    "a1c": (
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        "laboratory",
    ),
    "chol": (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        "laboratory",
    ),
}

# authorization form templates: key, name, revision, regulation, revocation,
# conditioning, redisclosure, not-condition-of-purchase
_TEMPLATES = [
    (
        "hipaa_v3",
        "HIPAA Marketing Authorization",
        "3",
        "HIPAA-164.508",
        True,
        True,
        True,
        False,
    ),
    (
        "hipaa_v2",
        "HIPAA Marketing Authorization",
        "2",
        "HIPAA-164.508",
        False,
        True,
        True,
        False,
    ),
    (
        "hipaa_es_v3",
        "Autorizacion HIPAA para Mercadeo",
        "3",
        "HIPAA-164.508",
        True,
        True,
        True,
        False,
    ),
    (
        "sms_v1",
        "Wellness Text Message Program Consent",
        "1",
        "TCPA;HIPAA-164.508",
        True,
        True,
        True,
        True,
    ),
    (
        "part2_v1",
        "42 CFR Part 2 Consent to Disclose",
        "1",
        "42CFR2",
        True,
        True,
        True,
        False,
    ),
]

# e-mail campaigns: workflows of three steps
_CAMPAIGNS = [
    # campaign id, workflow id, asm group, first step (days before anchor), gap days
    ("cmp-wellness-2026", "wf-wellness-onboarding", 4101, 70, 10),
    ("cmp-weight-spring", "wf-weight-management", 4102, 120, 12),
    ("cmp-flu-season", "wf-flu-reminders", 4103, 200, 14),
]
_STEPS = 3
_SMS_CAMPAIGN = ("cmp-sms-wellness", "wf-sms-wellness", "wf-sms-wellness:s1", 20)
_SMS_FROM = "+18445550142"
_TWILIO_ACCOUNT = "AC" + "3f1c0e6a9b2d4c8e" * 2
_TWILIO_SERVICE = "MG" + "a07d5e2c91b84f36" * 2
_USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
]
_MACHINE_AGENT = "Mozilla/5.0"
_CLICK_URLS = [
    "https://www.clearlist-health.example/wellness",
    "https://www.clearlist-health.example/wellness/enroll",
    "https://www.clearlist-health.example/appointments",
    "https://www.clearlist-health.example/classes",
]


def _places() -> pl.DataFrame:
    rows = [line.split("|") for line in _PLACES.strip().splitlines()]
    return pl.DataFrame(
        {
            "state": [r[0] for r in rows],
            "city": [r[1] for r in rows],
            "zip3": [r[2] for r in rows],
            "area": [r[3] for r in rows],
            "offset_min": [int(r[4]) for r in rows],
            "weight": [float(r[5]) for r in rows],
        }
    )


# ---------------------------------------------------------------- text helpers

_B62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
_SF_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)


def _sf_ids(obj: str, n: int, start: int = 0) -> pl.Series:
    """Return `n` distinct 18-character Salesforce Ids of one object.

    The 15-character Id is the key prefix, a pod code and a record number; the last
    three characters are Salesforce's case-safety checksum of the first fifteen.
    """
    k = (np.arange(start, start + n, dtype=np.int64) * 48_271 + 1_234_567) % 62**5
    out = np.empty((n, 18), dtype=np.uint8)
    out[:, :10] = np.frombuffer((SF_PREFIX[obj] + "Hs00000").encode(), np.uint8)
    for j in range(5):
        out[:, 14 - j] = _B62[k % 62]
        k //= 62
    upper = (out[:, :15] >= ord("A")) & (out[:, :15] <= ord("Z"))
    weights = 1 << np.arange(5)
    for c in range(3):
        out[:, 15 + c] = _SF_SUFFIX[(upper[:, c * 5 : c * 5 + 5] * weights).sum(1)]
    return _text(out)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_B64 = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8
)


def _text(codes: np.ndarray) -> pl.Series:
    """Turn an (n, width) matrix of ASCII codes into n strings of that width."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, width = codes.shape
    if n == 0:
        return pl.Series([], dtype=pl.String)
    return pl.Series(codes.reshape(-1).view(f"S{width}")).cast(pl.String)


def _chars(
    rng: np.random.Generator, n: int, alphabet: np.ndarray, length: int
) -> pl.Series:
    """`n` random strings of `length` characters drawn from `alphabet`."""
    return _text(alphabet[rng.integers(0, alphabet.size, size=(n, length))])


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> pl.Series:
    return _chars(rng, n, _HEX, 2 * nbytes)


def _encode(values: np.ndarray, alphabet: np.ndarray, width: int) -> pl.Series:
    """Fixed-width positional encoding of non-negative integers."""
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((v.size, width), dtype=np.uint8)
    for j in range(width - 1, -1, -1):
        out[:, j] = alphabet[v % alphabet.size]
        v //= alphabet.size
    return _text(out)


def _uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """Return `n` random version-4-shaped UUIDs as text."""
    h = pl.DataFrame({"h": _hex(rng, n, 16)})
    return h.select(
        pl.concat_str(
            [
                pl.col("h").str.slice(0, 8),
                pl.col("h").str.slice(8, 4),
                pl.lit("4") + pl.col("h").str.slice(13, 3),
                pl.lit("8") + pl.col("h").str.slice(17, 3),
                pl.col("h").str.slice(20, 12),
            ],
            separator="-",
        )
    ).to_series()


def _pick(
    rng: np.random.Generator, values: list[str], n: int, p: Any = None
) -> np.ndarray:
    """`n` values drawn from `values`, uniformly or with weights `p`."""
    arr = np.array(values, dtype=str)
    if p is None:
        return arr[rng.integers(0, len(values), n)]
    weights = np.asarray(p, dtype=float)
    return arr[rng.choice(len(values), size=n, p=weights / weights.sum())]


def _lit(part: str | pl.Expr) -> pl.Expr:
    return pl.lit(part) if isinstance(part, str) else part


def _cat(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate text; a null part (an `_opt` left out) is skipped."""
    return pl.concat_str([_lit(p) for p in parts], ignore_nulls=True)


def _opt(*parts: str | pl.Expr) -> pl.Expr:
    """Concatenate text; null as soon as one part is null (an omitted JSON member)."""
    return pl.concat_str([_lit(p) for p in parts], ignore_nulls=False)


def _esc(col: str) -> pl.Expr:
    """Escape free text for a JSON string."""
    return (
        pl.col(col)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all('"', '\\"', literal=True)
    )


def _ts_z(col: str | pl.Expr) -> pl.Expr:
    return pl.from_epoch(col, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts_ms_z(col: str | pl.Expr) -> pl.Expr:
    return pl.from_epoch(col, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


def _ts_sf(col: str | pl.Expr) -> pl.Expr:
    return pl.from_epoch(col, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _date(col: str | pl.Expr) -> pl.Expr:
    """Format epoch seconds as the UTC calendar date."""
    e = pl.col(col) if isinstance(col, str) else col
    return pl.from_epoch(e, time_unit="s").dt.strftime("%Y-%m-%d")


def _ts_local(col: str, tz: str = "tz", off: str = "off") -> pl.Expr:
    """Format epoch seconds in the person's local standard time with its offset."""
    local = pl.col(col) + pl.col(off) * 60
    return pl.concat_str(
        [
            pl.from_epoch(local, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S"),
            pl.col(tz),
        ]
    )


def _sf_time_or_date(col: str, date_only: str) -> pl.Expr:
    """Salesforce timestamp, or a bare date where `date_only` is true."""
    return pl.when(pl.col(date_only)).then(_date(col)).otherwise(_ts_sf(col))


def _coding(system: str, code: str, display: str) -> str:
    return json.dumps(
        {"system": system, "code": code, "display": display}, separators=(",", ":")
    )


def _u(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Uniform integers (seconds) in [lo, hi)."""
    return (lo + rng.random(n) * (hi - lo)).astype(np.int64)


# ---------------------------------------------------------------- writer


class _Writer:
    """Write files under the landing folder and count their rows."""

    def __init__(self, landing: Path) -> None:
        self.landing = landing
        self.files: dict[str, int] = {}
        self.batch_files: dict[str, list[str]] = {}

    def _path(self, rel: str) -> Path:
        path = self.landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        batch = "/".join(rel.split("/")[:2])
        self.batch_files.setdefault(batch, []).append(rel.split("/", 2)[2])
        return path

    def lines(self, rel: str, lines: pl.Series) -> None:
        """One text line per element (NDJSON / JSONL)."""
        path = self._path(rel)
        pl.DataFrame({"l": lines}).write_csv(
            path, include_header=False, quote_style="never"
        )
        self.files[rel] = lines.len()

    def json_array(self, rel: str, lines: pl.Series) -> None:
        """A JSON array, one element per line, as a webhook POST body."""
        path = self._path(rel)
        body = pl.DataFrame({"l": lines}).select(pl.col("l").str.join(",\n")).item()
        path.write_text("[\n" + body + "\n]\n", encoding="utf-8")
        self.files[rel] = lines.len()

    def lines_parts(
        self, rel: str, parts: Iterable[pl.Series], extra: list[pl.Series]
    ) -> None:
        """Like `lines`, written part by part so that no part stays in memory."""
        path = self._path(rel)
        count = 0
        with path.open("wb") as handle:
            for part in itertools.chain(parts, extra):
                pl.DataFrame({"l": part}).write_csv(
                    handle, include_header=False, quote_style="never"
                )
                count += part.len()
        self.files[rel] = count

    def csv(self, rel: str, frame: pl.DataFrame) -> None:
        """A Salesforce export: UTF-8 with a byte-order mark, API names as header."""
        path = self._path(rel)
        frame.write_csv(path, include_bom=True, null_value="")
        self.files[rel] = frame.height

    def json(self, rel: str, data: dict[str, Any]) -> None:
        """A small metadata document (manifest, export.json); not counted as rows."""
        path = self._path(rel)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- the world


@dataclass
class _Clock:
    """The instants of the generated world, as epoch seconds."""

    anchor: int
    ehr: int
    crm: int
    crm_changes: int
    engagement: int


def _people(rng: np.random.Generator, n: int, clock: _Clock) -> pl.DataFrame:
    """One row per person: scenario, identity, demographics and contact points."""
    counts = scenario_counts(n)
    codes = np.repeat(np.arange(len(SCENARIOS)), [counts[s] for s in SCENARIO_NAMES])
    scen = codes[rng.permutation(n)]
    idx = np.arange(n, dtype=np.int64)
    minor = scen == _SC["minor"]

    female = rng.random(n) < 0.51
    band = rng.choice(len(_AGE_BANDS), size=n, p=_band_weights())
    lo = np.array([b[0] for b in _AGE_BANDS])[band] * 365.25 + 1
    hi = np.array([b[1] for b in _AGE_BANDS])[band] * 365.25 - 1
    age_days = lo + rng.random(n) * (hi - lo)
    age_days = np.where(minor, 12 * 365 + 3 + rng.random(n) * (5 * 365 + 290), age_days)
    anchor_day = clock.anchor // DAY
    birth_day = (anchor_day - age_days.astype(np.int64)).astype(np.int64)

    first = np.where(
        female,
        _pick(rng, _FEMALE_NAMES, n),
        _pick(rng, _MALE_NAMES, n),
    )
    last = _pick(rng, _LAST_NAMES, n)

    places = _places()
    place = rng.choice(
        places.height, size=n, p=(w := places["weight"].to_numpy()) / w.sum()
    )
    zip_tail = rng.integers(0, 100, n)
    house = rng.integers(10, 9900, n)
    street = _pick(rng, _STREETS, n)
    suffix = _pick(rng, _STREET_SUFFIX, n)
    apt = np.where(rng.random(n) < 0.18, rng.integers(1, 40, n), -1)

    # unique numbers: affine permutations of the person index
    email_mod = 10 ** max(3, len(str(n * 10)) - 1)
    email_num = (idx * 7_919 + 37) % email_mod
    mobile = 2_000_000 + (idx * 1_299_709 + 1_234_567) % 4_000_000
    home = 6_000_000 + (idx * 15_485_863 + 2_345_678) % 4_000_000
    mrn = _mrn_numbers(idx)
    has_home = rng.random(n) < 0.4
    mobile_system = np.where(rng.random(n) < 0.5, "sms", "phone")
    email_style = rng.integers(0, 4, n)
    domain = _pick(rng, _EMAIL_DOMAINS, n, [0.4, 0.25, 0.2, 0.15])
    lang = rng.choice(len(_LANGUAGES), size=n, p=_lang_weights())
    old_address = (rng.random(n) < 0.08) & ~minor
    old_place = rng.choice(places.height, size=n)

    deceased = scen == _SC["deceased"]
    death = np.where(
        deceased, clock.ehr - _u(rng, n, 1 * DAY, 22 * DAY), np.iinfo(np.int64).min
    )
    updated = clock.ehr - _u(rng, n, HOUR, 700 * DAY)
    updated = np.where(deceased, np.maximum(updated, death + HOUR), updated)

    verified = _pick(rng, ["TRUE", "FALSE", ""], n, [0.55, 0.25, 0.2])
    verified = np.where(scen == _SC["linked_by_verified_email"], "TRUE", verified)
    verified = np.where(
        scen == _SC["unverified_duplicate"],
        np.where(idx % 2 == 0, "FALSE", ""),
        verified,
    )
    crm_has_mrn = (scen != _SC["linked_by_verified_email"]) & (
        scen != _SC["unverified_duplicate"]
    )
    crm_birthdate = (rng.random(n) < 0.85) | minor
    contact_modified = clock.crm - _u(rng, n, HOUR, 900 * DAY)
    contact_created = contact_modified - _u(rng, n, 0, 1500 * DAY)

    p = pl.DataFrame(
        {
            "p": idx,
            "scenario": np.array(SCENARIO_NAMES)[scen],
            "sc": scen.astype(np.int16),
            "female": female,
            "birth_day": birth_day,
            "first": first,
            "last": last,
            "place": place,
            "old_place": old_place,
            "zip_tail": zip_tail,
            "house": house,
            "street_name": street,
            "suffix": suffix,
            "apt": apt,
            "email_num": email_num,
            "email_style": email_style,
            "domain": domain,
            "mobile7": mobile,
            "home7": home,
            "has_home": has_home,
            "mobile_system": mobile_system,
            "mrn_num": mrn,
            "lang": lang,
            "old_address": old_address,
            "deceased": deceased,
            "death": np.where(deceased, death, 0),
            "updated": updated,
            "verified": verified,
            "crm_has_mrn": crm_has_mrn,
            "crm_birthdate": crm_birthdate,
            "contact_modified": contact_modified,
            "contact_created": contact_created,
            "minor": minor,
        },
        strict=False,
    )
    langs = pl.DataFrame(
        {
            "lang_code": [x[0] for x in _LANGUAGES],
            "lang_display": [x[1] for x in _LANGUAGES],
            "lang_text": [x[2] for x in _LANGUAGES],
        }
    )
    pl_place = places.select(pl.all().gather(pl.Series(place)))
    pl_old = places.select(
        [
            pl.col(c).gather(pl.Series(old_place)).alias(f"old_{c}")
            for c in places.columns
        ]
    )
    p = pl.concat(
        [p, pl_place, pl_old, langs.select(pl.all().gather(pl.Series(lang)))],
        how="horizontal",
    )
    first_lc = pl.col("first").str.to_lowercase()
    last_lc = pl.col("last").str.to_lowercase()
    num = pl.col("email_num").cast(pl.String)
    local = (
        pl.when(pl.col("email_style") == 0)
        .then(pl.concat_str([first_lc, pl.lit("."), last_lc, num]))
        .when(pl.col("email_style") == 1)
        .then(pl.concat_str([first_lc.str.slice(0, 1), last_lc, num]))
        .when(pl.col("email_style") == 2)
        .then(pl.concat_str([first_lc, pl.lit("_"), last_lc, num]))
        .otherwise(pl.concat_str([last_lc, pl.lit("."), first_lc, num]))
    )
    mob = pl.col("mobile7").cast(pl.String)
    hom = pl.col("home7").cast(pl.String)
    return p.with_columns(
        gender=pl.when(pl.col("female"))
        .then(pl.lit("female"))
        .otherwise(pl.lit("male")),
        birth_date=pl.from_epoch(pl.col("birth_day"), time_unit="d").dt.strftime(
            "%Y-%m-%d"
        ),
        mrn=pl.lit("MRN") + pl.col("mrn_num").cast(pl.String).str.zfill(7),
        email=pl.concat_str([local, pl.lit("@"), pl.col("domain")]),
        street=pl.concat_str(
            [
                pl.col("house").cast(pl.String),
                pl.lit(" "),
                pl.col("street_name"),
                pl.lit(" "),
                pl.col("suffix"),
                pl.when(pl.col("apt") > 0).then(
                    pl.lit(" Apt ") + pl.col("apt").cast(pl.String)
                ),
            ],
            ignore_nulls=True,
        ),
        zip=pl.col("zip3") + pl.col("zip_tail").cast(pl.String).str.zfill(2),
        old_zip=pl.col("old_zip3") + pl.col("zip_tail").cast(pl.String).str.zfill(2),
        old_street=pl.concat_str(
            [
                ((pl.col("house") * 7) % 9000 + 100).cast(pl.String),
                pl.lit(" "),
                pl.col("street_name"),
                pl.lit(" Ave"),
            ]
        ),
        mobile_fhir=pl.concat_str(
            [pl.col("area"), mob.str.slice(0, 3), mob.str.slice(3, 4)], separator="-"
        ),
        mobile_sf=pl.concat_str(
            [
                pl.lit("("),
                pl.col("area"),
                pl.lit(") "),
                mob.str.slice(0, 3),
                pl.lit("-"),
                mob.str.slice(3, 4),
            ]
        ),
        mobile_e164=pl.concat_str([pl.lit("+1"), pl.col("area"), mob]),
        home_fhir=pl.when(pl.col("has_home")).then(
            pl.concat_str(
                [pl.col("area"), hom.str.slice(0, 3), hom.str.slice(3, 4)],
                separator="-",
            )
        ),
        home_sf=pl.when(pl.col("has_home")).then(
            pl.concat_str(
                [
                    pl.lit("("),
                    pl.col("area"),
                    pl.lit(") "),
                    hom.str.slice(0, 3),
                    pl.lit("-"),
                    hom.str.slice(3, 4),
                ]
            )
        ),
        tz=_offset_text(pl.col("offset_min")),
        off=pl.col("offset_min"),
        full_name=pl.concat_str([pl.col("first"), pl.col("last")], separator=" "),
        age_days=pl.lit(anchor_day) - pl.col("birth_day"),
        k=pl.int_range(pl.len()).over("sc"),
    ).drop(
        "place",
        "old_place",
        "street_name",
        "suffix",
        "apt",
        "email_num",
        "email_style",
        "domain",
        "mobile7",
        "home7",
        "has_home",
        "mrn_num",
        "lang",
        "weight",
        "area",
        "offset_min",
        "old_area",
        "old_offset_min",
        "old_weight",
        "old_zip3",
        "old_house",
        strict=False,
    )


def _mrn_numbers(idx: np.ndarray) -> np.ndarray:
    """Distinct 7-digit medical record numbers (an affine permutation of the index)."""
    return (idx.astype(np.int64) * 1_000_003 + 1_234_567) % 10_000_000


def _band_weights() -> np.ndarray:
    w = np.array([b[2] for b in _AGE_BANDS], dtype=float)
    return w / w.sum()


def _lang_weights() -> np.ndarray:
    w = np.array([x[3] for x in _LANGUAGES], dtype=float)
    return w / w.sum()


def _offset_text(minutes: pl.Expr) -> pl.Expr:
    hours = (minutes.abs() // 60).cast(pl.String).str.zfill(2)
    mins = (minutes.abs() % 60).cast(pl.String).str.zfill(2)
    sign = pl.when(minutes < 0).then(pl.lit("-")).otherwise(pl.lit("+"))
    return pl.concat_str([sign, hours, pl.lit(":"), mins])


def _gather(people: pl.DataFrame, p: np.ndarray, cols: list[str]) -> pl.DataFrame:
    return people.select(pl.col(cols).gather(pl.Series(p, dtype=pl.Int64)))


def _scenario_mask(people: pl.DataFrame, *names: str) -> np.ndarray:
    sc = people["sc"].to_numpy()
    return np.isin(sc, [_SC[x] for x in names])


# ---------------------------------------------------------------- EHR


#: Rows to render and the expression that renders one line of text per row.
_Rendered = tuple[pl.DataFrame, pl.Expr]


@dataclass
class _Encounters:
    """Encounter facts that other clinical resources refer to."""

    ids: np.ndarray
    person: np.ndarray
    start: np.ndarray
    first: np.ndarray  # per person: index of its first encounter
    base: np.ndarray  # per person: encounters that are not the sensitive one
    sensitive: np.ndarray  # per person: index of the sensitive encounter, or -1

    def pick(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        """A random ordinary encounter of each given person."""
        off = (rng.random(person.size) * self.base[person]).astype(np.int64)
        return self.first[person] + off


def _write_ehr(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    out: _Writer,
    malformed: list[MalformedRow],
) -> tuple[pl.Series, pl.DataFrame]:
    """Write the FHIR Bulk Data export.

    Returns:
        The Patient id of each person, and the minors' representatives.
    """
    n = people.height
    people = people.with_columns(pid=_uuids(rng, n))
    hi = np.where(
        people["deceased"].to_numpy(),
        people["death"].to_numpy() - DAY,
        clock.ehr - HOUR,
    )
    people = people.with_columns(hi=hi)
    output: list[dict[str, Any]] = []

    def emit(rtype: str, rendered: _Rendered, extra: str | None = None) -> None:
        frame, render = rendered
        total = frame.height + (extra is not None)
        chunks = max(1, math.ceil(total / FHIR_FILE_ROWS))
        for c in range(chunks):
            part = frame.slice(c * FHIR_FILE_ROWS, FHIR_FILE_ROWS)
            lines = part.select(render.alias("l")).to_series()
            if extra is not None and c == chunks - 1:
                lines = pl.concat([lines, pl.Series("l", [extra])])
            name = f"{rtype}.{c:03d}.ndjson"
            out.lines(f"{EHR_BATCH}/{name}", lines)
            output.append({"type": rtype, "url": name, "count": lines.len()})

    emit("Patient", _patients(people), extra=_bad_patient(rng, n, clock))
    malformed.append(
        MalformedRow(
            file=f"{EHR_BATCH}/{output[-1]['url']}",
            line=output[-1]["count"],
            entity="Patient",
            reason="Patient resource without id",
        )
    )
    related_lines, related = _related_persons(rng, people, clock)
    emit("RelatedPerson", _as_rendered(related_lines))
    encounters, enc = _encounters(rng, people, clock)
    # Recent care for the sample segments (current pregnancies, surgeries that need a
    # follow-up) draws from a stream of its own, so that the main stream, and with it
    # every planted situation, is the same as without it.
    recent = rng.spawn(1)[0]
    conditions, cond = _conditions(rng, people, enc, clock)
    conditions = _with_recent_pregnancies(recent, people, enc, clock, conditions)
    emit("Condition", conditions)
    emit("Encounter", encounters)
    del encounters, conditions
    procedures = _procedures(rng, people, enc, clock)
    emit("Procedure", _with_recent_surgeries(recent, people, enc, clock, procedures))
    emit("MedicationRequest", _medication_requests(rng, people, enc, cond, clock))
    emit("Immunization", _immunizations(rng, people, clock))
    emit("Observation", _observations(rng, people, enc, cond, clock))
    emit("Consent", _as_rendered(_consents(rng, people, clock)))
    order = list(dict.fromkeys(o["type"] for o in output))
    out.json(
        f"{EHR_BATCH}/manifest.json",
        {
            "transactionTime": _iso(datetime.fromtimestamp(clock.ehr, UTC)),
            "request": "https://ehr.clearlist-health.example/fhir/$export?_type="
            + ",".join(order),
            "requiresAccessToken": True,
            "output": output,
            "error": [],
        },
    )
    return people["pid"], related


def _as_rendered(lines: pl.Series) -> _Rendered:
    return pl.DataFrame({"l": lines}), pl.col("l")


def _security(labels: pl.Expr) -> pl.Expr:
    """The `"security":[...]` member for a column of rendered codings, else null."""
    return _opt(',"security":[', labels, "]")


def _label(code: pl.Expr | str, display: pl.Expr | str) -> pl.Expr:
    return _cat(
        '{"system":"',
        CONFIDENTIALITY,
        '","code":"R","display":"restricted"},{"system":"',
        ACT_CODE,
        '","code":"',
        code,
        '","display":"',
        display,
        '"}',
    )


def _patients(p: pl.DataFrame) -> _Rendered:
    identifier = (
        '{"type":{"coding":[{"system":"'
        + MR_SYSTEM
        + '","code":"MR","display":"Medical Record Number"}],'
        '"text":"Medical Record Number"},"system":"' + MRN_SYSTEM + '","value":"'
    )
    old = pl.when(pl.col("old_address")).then(
        _cat(
            ',{"use":"old","type":"physical","line":["',
            _esc("old_street"),
            '"],"city":"',
            pl.col("old_city"),
            '","state":"',
            pl.col("old_state"),
            '","postalCode":"',
            pl.col("old_zip"),
            '","country":"US","period":{"end":"',
            _date(pl.col("updated") - 400 * DAY),
            '"}}',
        )
    )
    deceased = pl.when(pl.col("deceased")).then(_ts_local("death"))
    return p, (
        _cat(
            '{"resourceType":"Patient","id":"',
            pl.col("pid"),
            '","meta":{"lastUpdated":"',
            _ts_z("updated"),
            '","profile":["http://hl7.org/fhir/us/core/StructureDefinition/'
            'us-core-patient"]},"identifier":[',
            identifier,
            pl.col("mrn"),
            '"}],"active":true,"name":[{"use":"official","family":"',
            _esc("last"),
            '","given":["',
            _esc("first"),
            '"]}],"telecom":[{"system":"email","value":"',
            pl.col("email"),
            '","use":"home"},{"system":"',
            pl.col("mobile_system"),
            '","value":"',
            pl.col("mobile_fhir"),
            '","use":"mobile"}',
            _opt(
                ',{"system":"phone","value":"', pl.col("home_fhir"), '","use":"home"}'
            ),
            '],"gender":"',
            pl.col("gender"),
            '","birthDate":"',
            pl.col("birth_date"),
            '"',
            _opt(',"deceasedDateTime":"', deceased, '"'),
            ',"address":[{"use":"home","type":"both","line":["',
            _esc("street"),
            '"],"city":"',
            pl.col("city"),
            '","state":"',
            pl.col("state"),
            '","postalCode":"',
            pl.col("zip"),
            '","country":"US"}',
            old,
            '],"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47",'
            '"code":"',
            pl.col("lang_code"),
            '","display":"',
            pl.col("lang_display"),
            '"}],"text":"',
            pl.col("lang_text"),
            '"},"preferred":true}]}',
        )
    )


def _bad_patient(rng: np.random.Generator, n: int, clock: _Clock) -> str:
    mrn = f"MRN{_mrn_numbers(np.array([n]))[0]:07d}"
    updated = datetime.fromtimestamp(clock.ehr - int(rng.integers(HOUR, 30 * DAY)), UTC)
    return json.dumps(
        {
            "resourceType": "Patient",
            "meta": {"lastUpdated": _iso(updated)},
            "identifier": [
                {
                    "type": {"coding": [{"system": MR_SYSTEM, "code": "MR"}]},
                    "system": MRN_SYSTEM,
                    "value": mrn,
                }
            ],
            "name": [{"use": "official", "family": "Doe", "given": ["Jordan"]}],
            "gender": "unknown",
        },
        separators=(",", ":"),
    )


def _practitioners(rng: np.random.Generator, count: int) -> pl.DataFrame:
    first = pl.Series(_pick(rng, _FEMALE_NAMES + _MALE_NAMES, count), dtype=pl.String)
    last = pl.Series(_pick(rng, _LAST_NAMES, count), dtype=pl.String)
    return pl.DataFrame(
        {"prac_id": _uuids(rng, count), "prac_name": first + " " + last}
    )


def _dept_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "dept_code": [d[0] for d in _DEPARTMENTS],
            "dept_display": [d[1] for d in _DEPARTMENTS],
            "type_code": [d[3] for d in _DEPARTMENTS],
            "type_display": [d[4] for d in _DEPARTMENTS],
            "class": [d[5] for d in _DEPARTMENTS],
            "class_display": [_CLASS_DISPLAY[d[5]] for d in _DEPARTMENTS],
        }
    )


def _encounters(
    rng: np.random.Generator, people: pl.DataFrame, clock: _Clock
) -> tuple[_Rendered, _Encounters]:
    n = people.height
    base = 1 + np.minimum(rng.poisson(1.2, n), 5)
    sensitive = _scenario_mask(people, "sensitive")
    count = base + sensitive.astype(np.int64)
    person = np.repeat(np.arange(n), count)
    m = person.size
    first = np.cumsum(count) - count
    sens_index = np.where(sensitive, first + count - 1, -1)
    is_sens = np.zeros(m, dtype=bool)
    is_sens[sens_index[sensitive]] = True

    hi = people["hi"].to_numpy()[person]
    lo = clock.ehr - 3 * 365 * DAY
    start = (lo + rng.random(m) * (hi - lo)).astype(np.int64)
    dur = _u(rng, m, 15 * 60, 2 * HOUR)

    dept_w = np.array([d[2] for d in _DEPARTMENTS])
    dept = rng.choice(len(_DEPARTMENTS), size=m, p=dept_w / dept_w.sum())
    female = people["female"].to_numpy()[person]
    minor = people["minor"].to_numpy()[person]
    dept = np.where((dept == 3) & ~female, 0, dept)
    dept = np.where(minor & np.isin(dept, [1, 2, 3, 6]), 0, dept)
    kind = people["p"].to_numpy()[person] % len(_SENSITIVE)
    dept = np.where(is_sens, np.where(kind == 3, 3, 6), dept)
    law = np.array([s[6] for s in _SENSITIVE], dtype=object)[kind]
    law = np.where(is_sens, law, None)

    practitioners = _practitioners(rng, 60)
    prac = rng.integers(0, practitioners.height, m)
    ids = _uuids(rng, m)
    updated = np.minimum(start + dur + _u(rng, m, HOUR, 30 * DAY), clock.ehr - 60)
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            _dept_frame().select(pl.all().gather(pl.Series(dept))),
            practitioners.select(pl.all().gather(pl.Series(prac))),
            pl.DataFrame(
                {
                    "id": ids,
                    "start": start,
                    "end": start + dur,
                    "law": pl.Series(law.tolist(), dtype=pl.String),
                    "updated": updated,
                }
            ),
        ],
        how="horizontal",
    )
    labels = pl.when(pl.col("law").is_not_null()).then(
        _label(
            pl.col("law"),
            pl.col("law").replace_strict(_LAW_DISPLAY, default=pl.col("law")),
        )
    )
    render = _cat(
        '{"resourceType":"Encounter","id":"',
        pl.col("id"),
        '","meta":{"lastUpdated":"',
        _ts_z("updated"),
        '"',
        _security(labels),
        '},"status":"finished","class":{"system":"',
        ACT_CODE,
        '","code":"',
        pl.col("class"),
        '","display":"',
        pl.col("class_display"),
        '"},"type":[{"coding":[{"system":"',
        SNOMED,
        '","code":"',
        pl.col("type_code"),
        '","display":"',
        pl.col("type_display"),
        '"}],"text":"',
        pl.col("type_display"),
        '"}],"serviceType":{"coding":[{"system":"',
        SNOMED,
        '","code":"',
        pl.col("dept_code"),
        '","display":"',
        pl.col("dept_display"),
        '"}],"text":"',
        pl.col("dept_display"),
        '"},"subject":{"reference":"Patient/',
        pl.col("pid"),
        '"},"participant":[{"type":[{"coding":[{"system":"http://terminology.hl7.'
        'org/CodeSystem/v3-ParticipationType","code":"PPRF","display":"primary '
        'performer"}]}],"individual":{"reference":"Practitioner/',
        pl.col("prac_id"),
        '","display":"Dr. ',
        pl.col("prac_name"),
        '"}}],"period":{"start":"',
        _ts_local("start"),
        '","end":"',
        _ts_local("end"),
        '"}}',
    )
    enc = _Encounters(
        ids=ids.to_numpy(),
        person=person,
        start=start,
        first=first,
        base=base,
        sensitive=sens_index,
    )
    return (frame, render), enc


def _condition_probabilities(people: pl.DataFrame) -> dict[str, np.ndarray]:
    years = people["age_days"].to_numpy() / 365.25
    female = people["female"].to_numpy()
    minor = people["minor"].to_numpy()

    def by_age(young: float, middle: float, old: float) -> np.ndarray:
        p = np.where(years < 40, young, np.where(years < 60, middle, old))
        return np.where(minor, 0.01, p)

    return {
        "diabetes": by_age(0.03, 0.1, 0.2),
        "hypertension": by_age(0.08, 0.25, 0.5),
        "hyperlipidemia": by_age(0.05, 0.2, 0.35),
        "obesity": np.where(minor, 0.15, 0.3),
        "asthma": np.full(years.size, 0.08),
        "pregnancy": np.where(female & (years < 45) & ~minor, 0.05, 0.0),
    }


def _conditions(
    rng: np.random.Generator, people: pl.DataFrame, enc: _Encounters, clock: _Clock
) -> tuple[_Rendered, pl.DataFrame]:
    n = people.height
    keys = list(_CONDITIONS)
    person_parts, key_parts = [], []
    for k, prob in _condition_probabilities(people).items():
        hit = np.flatnonzero(rng.random(n) < prob)
        person_parts.append(hit)
        key_parts.append(np.full(hit.size, keys.index(k)))
    sens = np.flatnonzero(enc.sensitive >= 0)
    person_parts.append(sens)
    key_parts.append(len(keys) + sens % len(_SENSITIVE))
    person = np.concatenate(person_parts).astype(np.int64)
    key = np.concatenate(key_parts).astype(np.int64)
    m = person.size

    e = enc.pick(rng, person)
    is_sens = key >= len(keys)
    e = np.where(is_sens, enc.sensitive[person], e)
    recorded = enc.start[e]
    birth = people["birth_day"].to_numpy()[person] * DAY
    onset = np.maximum(recorded - _u(rng, m, 0, 3 * 365 * DAY), birth + 365 * DAY)
    preg = key == keys.index("pregnancy")
    onset = np.where(preg, recorded - _u(rng, m, 0, 60 * DAY), onset)
    resolved = preg & (clock.anchor - onset > 280 * DAY)
    abatement = np.where(resolved, onset + 270 * DAY, 0)
    variant = rng.integers(0, 20, m)
    variant = np.where(is_sens, 0, variant)

    table = [(*_CONDITIONS[k], None, None) for k in keys]
    table += [(s[2], s[3], s[4], s[5], s[0], s[1]) for s in _SENSITIVE]
    codes = pl.DataFrame(
        {
            "sct": [_coding(SNOMED, t[0], t[1]) for t in table],
            "icd": [_coding(ICD10CM, t[2], t[3]) for t in table],
            "text": [t[1] for t in table],
            "label": [t[4] for t in table],
            "label_display": [t[5] for t in table],
        }
    )
    ids = _uuids(rng, m)
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            codes.select(pl.all().gather(pl.Series(key))),
            pl.DataFrame(
                {
                    "id": ids,
                    "eid": enc.ids[e],
                    "recorded": recorded,
                    "onset": onset,
                    "abatement": pl.Series(abatement).replace(0, None),
                    "variant": variant,
                    "updated": np.minimum(
                        recorded + _u(rng, m, 60, 20 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    coding = (
        pl.when(pl.col("variant") < 12)
        .then(pl.concat_str([pl.col("sct"), pl.col("icd")], separator=","))
        .when(pl.col("variant") < 17)
        .then(pl.col("sct"))
        .otherwise(pl.col("icd"))
    )
    labels = pl.when(pl.col("label").is_not_null()).then(
        _label(pl.col("label"), pl.col("label_display"))
    )
    status = pl.when(pl.col("abatement").is_null()).then(pl.lit("active"))
    render = _cat(
        '{"resourceType":"Condition","id":"',
        pl.col("id"),
        '","meta":{"lastUpdated":"',
        _ts_z("updated"),
        '"',
        _security(labels),
        '},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/'
        'CodeSystem/condition-clinical","code":"',
        status.otherwise(pl.lit("resolved")),
        '"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.'
        'org/CodeSystem/condition-ver-status","code":"confirmed"}]},"category":'
        '[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-'
        'category","code":"encounter-diagnosis","display":"Encounter Diagnosis"}]}]'
        ',"code":{"coding":[',
        coding,
        '],"text":"',
        pl.col("text"),
        '"},"subject":{"reference":"Patient/',
        pl.col("pid"),
        '"},"encounter":{"reference":"Encounter/',
        pl.col("eid"),
        '"},"onsetDateTime":"',
        _ts_local("onset"),
        '"',
        _opt(',"abatementDateTime":"', _ts_local("abatement"), '"'),
        ',"recordedDate":"',
        _ts_local("recorded"),
        '"}',
    )
    facts = pl.DataFrame(
        {
            "person": person,
            "key": np.array([*keys, "sensitive"])[np.minimum(key, len(keys))],
            "id": ids,
            "eid": enc.ids[e],
            "recorded": recorded,
        }
    )
    return (frame, render), facts


def _recent_ordinary_encounters(
    enc: _Encounters, clock: _Clock, days: int
) -> np.ndarray:
    """Indexes of the encounters of the last `days` that carry no sensitive label."""
    ordinary = np.ones(enc.ids.size, dtype=bool)
    ordinary[enc.sensitive[enc.sensitive >= 0]] = False
    return np.flatnonzero(ordinary & (enc.start > clock.ehr - days * DAY))


def _with_recent_pregnancies(
    rng: np.random.Generator,
    people: pl.DataFrame,
    enc: _Encounters,
    clock: _Clock,
    conditions: _Rendered,
) -> _Rendered:
    """Add a current pregnancy to some adult women seen in the last 200 days."""
    frame, render = conditions
    years = people["age_days"].to_numpy() / 365.25
    can = people["female"].to_numpy() & ~people["minor"].to_numpy() & (years < 45)
    e = _recent_ordinary_encounters(enc, clock, 200)
    e = e[can[enc.person[e]]]
    e = e[rng.random(e.size) < 0.15]
    # one pregnancy per woman: her first chosen encounter
    _, first = np.unique(enc.person[e], return_index=True)
    e = e[np.sort(first)]
    m = e.size
    person = enc.person[e]
    recorded = enc.start[e]
    sct, sct_display, icd, icd_display = _CONDITIONS["pregnancy"]
    extra = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            pl.DataFrame(
                {
                    "sct": [_coding(SNOMED, sct, sct_display)] * m,
                    "icd": [_coding(ICD10CM, icd, icd_display)] * m,
                    "text": [sct_display] * m,
                    "label": pl.Series([None] * m, dtype=pl.String),
                    "label_display": pl.Series([None] * m, dtype=pl.String),
                    "id": _uuids(rng, m),
                    "eid": enc.ids[e],
                    "recorded": recorded,
                    "onset": recorded - _u(rng, m, 0, 60 * DAY),
                    "abatement": pl.Series([None] * m, dtype=pl.Int64),
                    "variant": rng.integers(0, 20, m),
                    "updated": np.minimum(
                        recorded + _u(rng, m, 60, 20 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    return pl.concat([frame, extra.cast(frame.schema)]), render


def _with_recent_surgeries(
    rng: np.random.Generator,
    people: pl.DataFrame,
    enc: _Encounters,
    clock: _Clock,
    procedures: _Rendered,
) -> _Rendered:
    """Add an appendectomy to some encounters of the last 45 days."""
    frame, render = procedures
    e = _recent_ordinary_encounters(enc, clock, 45)
    e = e[rng.random(e.size) < 0.25]
    m = e.size
    performed = enc.start[e] + _u(rng, m, 600, HOUR)
    code, display = _PROCEDURES["appendectomy"]
    extra = pl.concat(
        [
            _gather(people, enc.person[e], ["pid", "tz", "off"]),
            pl.DataFrame(
                {
                    "code": [code] * m,
                    "display": [display] * m,
                    "id": _uuids(rng, m),
                    "eid": enc.ids[e],
                    "performed": performed,
                    "updated": np.minimum(
                        performed + _u(rng, m, HOUR, 9 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    return pl.concat([frame, extra.cast(frame.schema)]), render


def _medication_requests(
    rng: np.random.Generator,
    people: pl.DataFrame,
    enc: _Encounters,
    cond: pl.DataFrame,
    clock: _Clock,
) -> _Rendered:
    rx = cond.filter(pl.col("key").is_in(list(_MEDICATIONS)))
    rx = rx.filter(pl.Series(rng.random(rx.height) < 0.85))
    m = rx.height
    person = rx["person"].to_numpy()
    hi = people["hi"].to_numpy()[person]
    authored = np.minimum(rx["recorded"].to_numpy() + _u(rng, m, 0, 20 * DAY), hi)
    status = _pick(rng, ["active", "completed", "stopped"], m, [0.6, 0.25, 0.15])
    days = _pick(rng, ["90", "180", "365"], m).astype(np.int64)
    meds = pl.DataFrame(
        {
            "key": list(_MEDICATIONS),
            "rx": [v[0] for v in _MEDICATIONS.values()],
            "rx_display": [v[1] for v in _MEDICATIONS.values()],
        }
    )
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            rx.select(pl.col("id").alias("cid"), "eid", "key"),
            pl.DataFrame(
                {
                    "id": _uuids(rng, m),
                    "status": status,
                    "authored": authored,
                    "valid_end": authored + days * DAY,
                    "updated": np.minimum(
                        authored + _u(rng, m, 60, 200 * DAY), clock.ehr - 60
                    ),
                },
                schema_overrides={"status": pl.String},
            ),
        ],
        how="horizontal",
    ).join(meds, on="key", how="left", maintain_order="left")
    return frame, (
        _cat(
            '{"resourceType":"MedicationRequest","id":"',
            pl.col("id"),
            '","meta":{"lastUpdated":"',
            _ts_z("updated"),
            '"},"status":"',
            pl.col("status"),
            '","intent":"order","medicationCodeableConcept":{"coding":[{"system":"',
            RXNORM,
            '","code":"',
            pl.col("rx"),
            '","display":"',
            pl.col("rx_display"),
            '"}],"text":"',
            pl.col("rx_display"),
            '"},"subject":{"reference":"Patient/',
            pl.col("pid"),
            '"},"encounter":{"reference":"Encounter/',
            pl.col("eid"),
            '"},"authoredOn":"',
            _ts_local("authored"),
            '","reasonReference":[{"reference":"Condition/',
            pl.col("cid"),
            '"}],"dispenseRequest":{"validityPeriod":{"start":"',
            _ts_local("authored"),
            '","end":"',
            _ts_local("valid_end"),
            '"},"numberOfRepeatsAllowed":3}}',
        )
    )


def _immunizations(
    rng: np.random.Generator, people: pl.DataFrame, clock: _Clock
) -> _Rendered:
    n = people.height
    years = people["age_days"].to_numpy() / 365.25
    birth = people["birth_day"].to_numpy() * DAY
    hi = people["hi"].to_numpy()
    plan = [
        ("flu", np.full(n, 0.55), 30, 400),
        ("covid", np.full(n, 0.35), 60, 700),
        ("tdap", np.full(n, 0.1), 100, 3000),
        ("pneumo", np.where(years >= 65, 0.4, 0.0), 100, 1500),
    ]
    parts = []
    for key, prob, lo, hi_days in plan:
        person = np.flatnonzero(rng.random(n) < prob)
        when = clock.anchor - _u(rng, person.size, lo * DAY, hi_days * DAY)
        when = np.clip(when, birth[person] + 11 * 365 * DAY, hi[person])
        vaccines = _VACCINES[key]
        pick = rng.integers(0, len(vaccines), person.size)
        parts.append(
            pl.DataFrame(
                {
                    "person": person,
                    "when": when,
                    "cvx": pl.Series([v[0] for v in vaccines]).gather(pl.Series(pick)),
                    "cvx_display": pl.Series([v[1] for v in vaccines]).gather(
                        pl.Series(pick)
                    ),
                },
                schema_overrides={"person": pl.Int64, "when": pl.Int64},
            )
        )
    imm = pl.concat(parts)
    m = imm.height
    person = imm["person"].to_numpy()
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            imm,
            pl.DataFrame(
                {
                    "id": _uuids(rng, m),
                    "updated": np.minimum(
                        imm["when"].to_numpy() + _u(rng, m, 60, 5 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    return frame, (
        _cat(
            '{"resourceType":"Immunization","id":"',
            pl.col("id"),
            '","meta":{"lastUpdated":"',
            _ts_z("updated"),
            '"},"status":"completed","vaccineCode":{"coding":[{"system":"',
            CVX,
            '","code":"',
            pl.col("cvx"),
            '","display":"',
            pl.col("cvx_display"),
            '"}],"text":"',
            pl.col("cvx_display"),
            '"},"patient":{"reference":"Patient/',
            pl.col("pid"),
            '"},"occurrenceDateTime":"',
            _ts_local("when"),
            '","primarySource":true}',
        )
    )


def _procedures(
    rng: np.random.Generator, people: pl.DataFrame, enc: _Encounters, clock: _Clock
) -> _Rendered:
    n = people.height
    years = people["age_days"].to_numpy() / 365.25
    female = people["female"].to_numpy()
    probs = {
        "mammography": np.where(female & (years >= 40), 0.35, 0.0),
        "colonoscopy": np.where(years >= 45, 0.15, 0.0),
        "appendectomy": np.full(n, 0.007),
    }
    keys = list(_PROCEDURES)
    person_parts, key_parts = [], []
    for k, prob in probs.items():
        hit = np.flatnonzero(rng.random(n) < prob)
        person_parts.append(hit)
        key_parts.append(np.full(hit.size, keys.index(k)))
    person = np.concatenate(person_parts).astype(np.int64)
    key = np.concatenate(key_parts).astype(np.int64)
    m = person.size
    e = enc.pick(rng, person)
    performed = enc.start[e] + _u(rng, m, 600, HOUR)
    codes = pl.DataFrame(
        {
            "code": [v[0] for v in _PROCEDURES.values()],
            "display": [v[1] for v in _PROCEDURES.values()],
        }
    )
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            codes.select(pl.all().gather(pl.Series(key))),
            pl.DataFrame(
                {
                    "id": _uuids(rng, m),
                    "eid": enc.ids[e],
                    "performed": performed,
                    "updated": np.minimum(
                        performed + _u(rng, m, HOUR, 9 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    return frame, (
        _cat(
            '{"resourceType":"Procedure","id":"',
            pl.col("id"),
            '","meta":{"lastUpdated":"',
            _ts_z("updated"),
            '"},"status":"completed","code":{"coding":[{"system":"',
            SNOMED,
            '","code":"',
            pl.col("code"),
            '","display":"',
            pl.col("display"),
            '"}],"text":"',
            pl.col("display"),
            '"},"subject":{"reference":"Patient/',
            pl.col("pid"),
            '"},"encounter":{"reference":"Encounter/',
            pl.col("eid"),
            '"},"performedDateTime":"',
            _ts_local("performed"),
            '"}',
        )
    )


def _observations(
    rng: np.random.Generator,
    people: pl.DataFrame,
    enc: _Encounters,
    cond: pl.DataFrame,
    clock: _Clock,
) -> _Rendered:
    n = people.height
    has = {
        k: np.isin(np.arange(n), cond.filter(pl.col("key") == k)["person"].to_numpy())
        for k in ("diabetes", "hyperlipidemia", "obesity")
    }
    probs = {
        "bmi": np.full(n, 0.9),
        "sbp": np.full(n, 0.9),
        "a1c": np.where(has["diabetes"], 1.0, 0.1),
        "chol": np.where(has["hyperlipidemia"], 1.0, 0.35),
    }
    keys = list(_OBSERVATIONS)
    parts = []
    for k, prob in probs.items():
        person = np.flatnonzero(rng.random(n) < prob)
        size = person.size
        if k == "bmi":
            mean = np.where(has["obesity"][person], 34.0, 26.0)
            value = np.clip(rng.normal(mean, 4.0), 15.5, 55.0).round(1)
        elif k == "sbp":
            value = np.clip(rng.normal(126, 16, size), 85, 210).round(0)
        elif k == "a1c":
            diabetic = has["diabetes"][person]
            value = np.where(
                diabetic,
                np.clip(rng.normal(7.6, 1.2, size), 5.7, 13.0),
                np.clip(rng.normal(5.4, 0.35, size), 4.2, 6.4),
            ).round(1)
        else:
            high = has["hyperlipidemia"][person]
            value = np.clip(rng.normal(np.where(high, 228, 186), 32), 100, 350)
            value = value.round(0)
        parts.append(
            pl.DataFrame(
                {"person": person, "key": np.full(size, keys.index(k)), "value": value},
                schema_overrides={
                    "person": pl.Int64,
                    "key": pl.Int64,
                    "value": pl.Float64,
                },
            )
        )
    obs = pl.concat(parts)
    m = obs.height
    person = obs["person"].to_numpy()
    e = enc.pick(rng, person)
    effective = enc.start[e] + _u(rng, m, 300, 1800)
    codes = pl.DataFrame(
        {
            "loinc": [v[0] for v in _OBSERVATIONS.values()],
            "loinc_display": [v[1] for v in _OBSERVATIONS.values()],
            "unit": [v[2] for v in _OBSERVATIONS.values()],
            "category": [v[3] for v in _OBSERVATIONS.values()],
        }
    )
    integer = obs["key"].is_in([keys.index("sbp"), keys.index("chol")])
    value_text = (
        pl.when(integer)
        .then(obs["value"].cast(pl.Int64).cast(pl.String))
        .otherwise(obs["value"].cast(pl.String))
    )
    frame = pl.concat(
        [
            _gather(people, person, ["pid", "tz", "off"]),
            codes.select(pl.all().gather(obs["key"])),
            pl.DataFrame(
                {
                    "id": _uuids(rng, m),
                    "eid": enc.ids[e],
                    "effective": effective,
                    "value_text": pl.select(value_text).to_series(),
                    "updated": np.minimum(
                        effective + _u(rng, m, 600, 3 * DAY), clock.ehr - 60
                    ),
                }
            ),
        ],
        how="horizontal",
    )
    category_display = (
        pl.when(pl.col("category") == "vital-signs")
        .then(pl.lit("Vital Signs"))
        .otherwise(pl.lit("Laboratory"))
    )
    return frame, (
        _cat(
            '{"resourceType":"Observation","id":"',
            pl.col("id"),
            '","meta":{"lastUpdated":"',
            _ts_z("updated"),
            '"},"status":"final","category":[{"coding":[{"system":"http://terminology.'
            'hl7.org/CodeSystem/observation-category","code":"',
            pl.col("category"),
            '","display":"',
            category_display,
            '"}]}],"code":{"coding":[{"system":"',
            LOINC,
            '","code":"',
            pl.col("loinc"),
            '","display":"',
            pl.col("loinc_display"),
            '"}],"text":"',
            pl.col("loinc_display"),
            '"},"subject":{"reference":"Patient/',
            pl.col("pid"),
            '"},"encounter":{"reference":"Encounter/',
            pl.col("eid"),
            '"},"effectiveDateTime":"',
            _ts_local("effective"),
            '","valueQuantity":{"value":',
            pl.col("value_text"),
            ',"unit":"',
            pl.col("unit"),
            '","system":"',
            UCUM,
            '","code":"',
            pl.col("unit"),
            '"}}',
        )
    )


_RELATIONSHIPS = [
    ("MTH", "mother", 0.55),
    ("FTH", "father", 0.35),
    ("GUARD", "guardian", 0.1),
]


def _related_persons(
    rng: np.random.Generator, people: pl.DataFrame, clock: _Clock
) -> tuple[pl.Series, pl.DataFrame]:
    """Parents and guardians of the minors.

    Returns:
        The RelatedPerson lines, and one row per minor: person index, RelatedPerson
        id, the representative's name and relationship code.
    """
    minors = np.flatnonzero(people["minor"].to_numpy())
    m = minors.size
    ids = _uuids(rng, m).to_list()
    weights = np.array([r[2] for r in _RELATIONSHIPS])
    rel = rng.choice(len(_RELATIONSHIPS), size=m, p=weights / weights.sum()).tolist()
    mother = _pick(rng, _FEMALE_NAMES, m).tolist()
    father = _pick(rng, _MALE_NAMES, m).tolist()
    other_last = _pick(rng, _LAST_NAMES, m).tolist()
    since = rng.integers(30, 2000, m).tolist()
    updated = (clock.ehr - _u(rng, m, HOUR, 300 * DAY)).tolist()
    rows = people.select("pid", "last", "birth_day", "home_fhir")[minors]
    lines, names, roles = [], [], []
    for i, row in enumerate(rows.iter_rows(named=True)):
        code, display, _ = _RELATIONSHIPS[rel[i]]
        guardian = code == "GUARD"
        given = mother[i] if code == "MTH" or (guardian and since[i] % 2) else father[i]
        family = other_last[i] if guardian else row["last"]
        start_day = row["birth_day"] + (since[i] if guardian else 0)
        resource: dict[str, Any] = {
            "resourceType": "RelatedPerson",
            "id": ids[i],
            "meta": {"lastUpdated": _iso_epoch(updated[i])},
            "active": True,
            "patient": {"reference": f"Patient/{row['pid']}"},
            "relationship": [
                {"coding": [{"system": ROLE_CODE, "code": code, "display": display}]}
            ],
            "name": [{"family": family, "given": [given]}],
        }
        if row["home_fhir"]:
            resource["telecom"] = [
                {"system": "phone", "value": row["home_fhir"], "use": "home"}
            ]
        resource["period"] = {"start": _date_epoch(start_day * DAY)}
        lines.append(json.dumps(resource, separators=(",", ":")))
        names.append(f"{given} {family}")
        roles.append(code)
    related = pl.DataFrame(
        {"person": minors, "rp_id": ids, "rp_name": names, "rp_role": roles},
        schema={
            "person": pl.Int64,
            "rp_id": pl.String,
            "rp_name": pl.String,
            "rp_role": pl.String,
        },
    )
    return pl.Series("l", lines, dtype=pl.String), related


def _iso_epoch(seconds: int) -> str:
    return _iso(datetime.fromtimestamp(seconds, UTC))


def _date_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def _consent(
    cid: str,
    pid: str,
    kind: str,
    agreed: int,
    provision: dict[str, Any],
    clock: _Clock,
    extension: list[dict[str, Any]] | None = None,
) -> str:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": cid,
        "meta": {"lastUpdated": _iso_epoch(min(agreed + 2 * HOUR, clock.ehr - 60))},
    }
    if extension:
        resource["extension"] = extension
    resource |= {
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": CONSENT_SCOPE,
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [{"coding": [{"system": CONSENT_KIND, "code": kind}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "dateTime": _iso_epoch(agreed),
        "provision": provision,
    }
    return json.dumps(resource, separators=(",", ":"))


def _consents(
    rng: np.random.Generator, people: pl.DataFrame, clock: _Clock
) -> pl.Series:
    """Privacy-office requests: restrictions, confidential communications, Part 2."""
    cols = ["p", "pid", "k", "city", "state", "zip3", "zip_tail", "house"]
    restriction = people.filter(pl.col("scenario") == "restriction").select(cols)
    confidential = people.filter(pl.col("scenario") == "confidential_comm").select(cols)
    part2 = people.filter(
        (pl.col("scenario") == "sensitive") & (pl.col("p") % len(_SENSITIVE) == 0)
    ).select(cols)
    total = restriction.height + confidential.height + part2.height
    ids = _uuids(rng, total).to_list()
    agreed = (clock.ehr - _u(rng, total, HOUR, 500 * DAY)).tolist()
    lines: list[str] = []
    for row in restriction.iter_rows(named=True):
        i = len(lines)
        if row["k"] % 3 == 2:
            purpose = {"system": ACT_REASON, "code": "HMARKT", "display": "marketing"}
        else:
            purpose = {"system": PURPOSE, "code": "MARKETING"}
        provision = {"type": "deny", "purpose": [purpose]}
        lines.append(
            _consent(ids[i], row["pid"], "restriction", agreed[i], provision, clock)
        )
    for row in confidential.iter_rows(named=True):
        i = len(lines)
        address = {
            "use": "home",
            "type": "postal",
            "line": [f"PO Box {(row['house'] * 13) % 9000 + 100}"],
            "city": row["city"],
            "state": row["state"],
            "postalCode": f"{row['zip3']}{(row['zip_tail'] + 7) % 100:02d}",
            "country": "US",
        }
        extension = [{"url": ALT_CONTACT, "valueAddress": address}]
        provision = {
            "type": "permit",
            "action": [{"coding": [{"system": CHANNEL, "code": "mail"}]}],
        }
        lines.append(
            _consent(
                ids[i],
                row["pid"],
                "confidential-communication",
                agreed[i],
                provision,
                clock,
                extension,
            )
        )
    for row in part2.iter_rows(named=True):
        i = len(lines)
        provision = {
            "type": "permit",
            "period": {
                "start": _date_epoch(agreed[i]),
                "end": _date_epoch(agreed[i] + 365 * DAY),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "v3-ParticipationType",
                                "code": "IRCP",
                                "display": "information recipient",
                            }
                        ]
                    },
                    "reference": {"display": "CoveredEntity"},
                }
            ],
            "purpose": [
                {"system": PURPOSE, "code": "TREATMENT"},
                {"system": PURPOSE, "code": "CARE_COORD"},
            ],
        }
        lines.append(
            _consent(ids[i], row["pid"], "part2-consent", agreed[i], provision, clock)
        )
    return pl.Series("l", lines, dtype=pl.String)


# ---------------------------------------------------------------- CRM


def _write_crm(
    rng: np.random.Generator,
    people: pl.DataFrame,
    related: pl.DataFrame,
    clock: _Clock,
    out: _Writer,
    malformed: list[MalformedRow],
    variants: dict[str, dict[str, int]],
) -> None:
    """Write the Salesforce export (crm-001) and the later changes (crm-002)."""
    n = people.height
    crm_from, crm_to = clock.crm + HOUR, clock.crm_changes - HOUR

    # Contact ---------------------------------------------------------------
    optout_first = (pl.col("scenario") == "email_contact_optout") & (
        pl.col("k") % 2 == 0
    )
    optout_later = (pl.col("scenario") == "email_contact_optout") & (
        pl.col("k") % 2 == 1
    )
    blank_optout = pl.Series(rng.random(n) < 0.3)
    dnc = pl.Series(_pick(rng, ["TRUE", "FALSE", ""], n, [0.03, 0.67, 0.3]))
    contacts = people.with_columns(
        opted_out=pl.when(optout_first)
        .then(pl.lit("TRUE"))
        .when(blank_optout)
        .then(pl.lit(""))
        .otherwise(pl.lit("FALSE")),
        dnc=dnc,
    )

    def contact_rows(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(
            Id=pl.col("contact_id"),
            IsDeleted=pl.lit("FALSE"),
            FirstName=pl.col("first"),
            LastName=pl.col("last"),
            Email=pl.col("email"),
            MobilePhone=pl.col("mobile_sf"),
            HomePhone=pl.col("home_sf"),
            MailingStreet=pl.col("street"),
            MailingCity=pl.col("city"),
            MailingState=pl.col("state"),
            MailingPostalCode=pl.col("zip"),
            Birthdate=pl.when(pl.col("crm_birthdate")).then(pl.col("birth_date")),
            HasOptedOutOfEmail=pl.col("opted_out"),
            DoNotCall=pl.col("dnc"),
            MRN__c=pl.when(pl.col("crm_has_mrn")).then(pl.col("mrn")),
            EmailVerified__c=pl.col("verified"),
            CreatedDate=_ts_sf("contact_created"),
            LastModifiedDate=_ts_sf("contact_modified"),
        )

    bad_contact_id = _sf_ids("Contact", 1, start=n)[0]
    bad = pl.DataFrame(
        {
            "Id": [bad_contact_id],
            "IsDeleted": ["FALSE"],
            "FirstName": ["Jordan"],
            "LastName": ["Doe"],
            "Email": ["jordan.doe.unmatched@example.net"],
            "MobilePhone": [None],
            "HomePhone": [None],
            "MailingStreet": ["1 Unknown Rd"],
            "MailingCity": ["Omaha"],
            "MailingState": ["NE"],
            "MailingPostalCode": ["68102"],
            "Birthdate": ["1984-02-30"],
            "HasOptedOutOfEmail": ["FALSE"],
            "DoNotCall": ["FALSE"],
            "MRN__c": [None],
            "EmailVerified__c": ["FALSE"],
            "CreatedDate": [_sf_epoch(clock.crm - 40 * DAY)],
            "LastModifiedDate": [_sf_epoch(clock.crm - 40 * DAY)],
        },
        schema={c: pl.String for c in CONTACT_FIELDS},
    )
    contact_1 = pl.concat([contact_rows(contacts), bad])
    out.csv(f"{CRM_BATCH}/Contact.csv", contact_1)
    malformed.append(
        MalformedRow(
            file=f"{CRM_BATCH}/Contact.csv",
            line=contact_1.height,
            entity="Contact",
            reason="unparseable Birthdate 1984-02-30",
            record_id=bad_contact_id,
        )
    )
    later = contacts.filter(optout_later)
    contact_2 = contact_rows(
        later.with_columns(
            opted_out=pl.lit("TRUE"),
            contact_modified=pl.Series(_u(rng, later.height, crm_from, crm_to)),
        )
    )
    variants["email_contact_optout"] = {
        "contact_flag_in_crm_001": contacts.filter(optout_first).height,
        "contact_flag_in_crm_002": later.height,
    }

    # AuthorizationFormText -------------------------------------------------
    template_ids = _sf_ids("AuthorizationFormText", len(_TEMPLATES)).to_list()
    tid = {t[0]: template_ids[i] for i, t in enumerate(_TEMPLATES)}
    templates = pl.DataFrame(
        {
            "Id": template_ids,
            "IsDeleted": ["FALSE"] * len(_TEMPLATES),
            "Name": [t[1] for t in _TEMPLATES],
            "RevisionNumber": [t[2] for t in _TEMPLATES],
            "AssociatedRegulation__c": [t[3] for t in _TEMPLATES],
            "HasRevocationStatement__c": [_tf(t[4]) for t in _TEMPLATES],
            "HasConditioningStatement__c": [_tf(t[5]) for t in _TEMPLATES],
            "HasRedisclosureStatement__c": [_tf(t[6]) for t in _TEMPLATES],
            "HasNotConditionOfPurchase__c": [_tf(t[7]) for t in _TEMPLATES],
            "IsCompound__c": ["FALSE"] * len(_TEMPLATES),
            "ConditionedOnTreatment__c": ["FALSE"] * len(_TEMPLATES),
            "LastModifiedDate": [
                _sf_epoch(clock.crm - (900 + 45 * i) * DAY)
                for i in range(len(_TEMPLATES))
            ],
        }
    )
    out.csv(f"{CRM_BATCH}/AuthorizationFormText.csv", templates)

    # AuthorizationFormConsent ----------------------------------------------
    auth, auth_2 = _authorizations(rng, people, related, tid, clock)
    no_auth = people.filter(pl.col("scenario") == "no_authorization")
    giver = no_auth["contact_id"][0] if no_auth.height else bad_contact_id
    bad_auth_id = _sf_ids("AuthorizationFormConsent", 1, start=n)[0]
    signed = clock.anchor - 200 * DAY
    bad_auth = auth.head(0).vstack(
        pl.DataFrame(
            {
                "Id": [bad_auth_id],
                "IsDeleted": ["FALSE"],
                "ConsentGiverId": [giver],
                "AuthorizationFormTextId": [tid["hipaa_v3"]],
                "Status": ["Signed"],
                "ConsentCapturedDateTime": [_sf_epoch(signed)],
                "ConsentCapturedSource": ["Patient Portal"],
                "Purposes__c": ["PROMOTIONS"],
                "InfoScope__c": ["demographics;contact"],
                "Disclosers__c": ["CoveredEntity"],
                "Recipients__c": ["CoveredEntity"],
                "EmployerRecipients__c": [None],
                "Channels__c": ["email"],
                "ExpirationDateTime__c": [_sf_epoch(clock.anchor + 500 * DAY)],
                "ExpirationEvent__c": [None],
                "ExpirationEventOccurredAt__c": [None],
                "SignerRole__c": ["Self"],
                "SignerName__c": [None],
                "SignerRelatedPersonId__c": [None],
                "SignerAuthority__c": [None],
                "SignatureMethod__c": ["ESign"],
                "ESignEvidenceId__c": ["env-" + _uuids(rng, 1)[0]],
                "RemunerationDisclosed__c": ["FALSE"],
                "BoundEmail__c": [None],
                "BoundPhone__c": [None],
                "RevokedDateTime__c": [None],
                "RevocationChannel__c": [None],
                "RevocationWritten__c": [None],
                "DocumentSha256__c": [_hex(rng, 1, 32)[0]],
                "LastModifiedDate": [_sf_epoch(signed + HOUR)],
            },
            schema={c: pl.String for c in AFC_FIELDS},
        )
    )
    auth_1 = pl.concat([auth, bad_auth])
    out.csv(f"{CRM_BATCH}/AuthorizationFormConsent.csv", auth_1)
    malformed.append(
        MalformedRow(
            file=f"{CRM_BATCH}/AuthorizationFormConsent.csv",
            line=auth_1.height,
            entity="AuthorizationFormConsent",
            reason="unknown purpose code PROMOTIONS (grants nothing)",
            record_id=bad_auth_id,
        )
    )
    revoked = people.filter(pl.col("scenario") == "revoked")["k"].to_numpy()
    variants["revoked"] = {
        "revocation_timestamp": int(np.sum(revoked % 4 != 3)),
        "revocation_date_only": int(np.sum(revoked % 4 == 3)),
        "revocation_not_written": int(np.sum(revoked % 5 == 3)),
    }

    # ContactPointTypeConsent -----------------------------------------------
    cptc_1, cptc_2 = _channel_consents(rng, people, clock, variants)
    out.csv(f"{CRM_BATCH}/ContactPointTypeConsent.csv", cptc_1)
    out.json(f"{CRM_BATCH}/export.json", {"exported_at": _iso_epoch(clock.crm)})

    out.csv(f"{CRM_CHANGES_BATCH}/Contact.csv", contact_2)
    out.csv(f"{CRM_CHANGES_BATCH}/ContactPointTypeConsent.csv", cptc_2)
    out.csv(f"{CRM_CHANGES_BATCH}/AuthorizationFormConsent.csv", auth_2)
    out.json(
        f"{CRM_CHANGES_BATCH}/export.json",
        {"exported_at": _iso_epoch(clock.crm_changes)},
    )


def _tf(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _sf_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _authorizations(
    rng: np.random.Generator,
    people: pl.DataFrame,
    related: pl.DataFrame,
    tid: dict[str, str],
    clock: _Clock,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One AuthorizationFormConsent per person who has one; and the revocations."""
    a = people.filter(pl.col("scenario") != "no_authorization")
    m = a.height
    sc = a["scenario"].to_numpy()
    k = a["k"].to_numpy()
    anchor = clock.anchor

    signed = anchor - _u(rng, m, 30 * DAY, 700 * DAY)
    expires = anchor + _u(rng, m, 365 * DAY, 1095 * DAY)
    expired = sc == "expired"
    signed = np.where(expired, anchor - _u(rng, m, 500 * DAY, 1500 * DAY), signed)
    expires = np.where(expired, anchor - _u(rng, m, 2 * DAY, 400 * DAY), expires)
    esign = rng.random(m) < 0.6
    signed_date_only = ~esign & (rng.random(m) < 0.25)
    expiry_date_only = rng.random(m) < 0.3
    no_signature = np.isin(sc, ["declined", "unsigned"])
    modified = np.minimum(signed + _u(rng, m, 60, 3 * DAY), clock.crm - 60)

    purposes = _pick(
        rng,
        [
            "MARKETING",
            "MARKETING:wellness-program",
            "MARKETING:wellness-program;HEALTH_ED",
        ],
        m,
        [0.5, 0.35, 0.15],
    )
    # a planted defect sits on a bare MARKETING purpose, so that its rule is the one
    # that fires whatever topic a verdict asks about
    excluded = np.isin(sc, [s.name for s in SCENARIOS if not s.expected_eligible])
    purposes = np.where(excluded, "MARKETING", purposes)
    purposes = np.where(
        sc == "wrong_purpose",
        np.where(k % 2 == 0, "MARKETING:weight-management", "FUNDRAISING"),
        purposes,
    )
    channels = _pick(
        rng,
        ["email", "email;sms", "email;mail", "email;sms;mail;phone"],
        m,
        [4, 3, 2, 1],
    )
    channels = np.where(sc == "wrong_channel", "sms", channels)
    recipients = _pick(rng, ["CoveredEntity", "CoveredEntity;Acme Pharma"], m, [8, 2])
    recipients = np.where(
        sc == "wrong_recipient",
        np.where(k % 2 == 0, "Acme Pharma", "Northwind Wellness Partners"),
        recipients,
    )
    scope = _pick(
        rng, ["demographics;contact", "demographics;contact;appointments"], m, [7, 3]
    )
    template = np.where(
        a["lang_code"].to_numpy() == "es", tid["hipaa_es_v3"], tid["hipaa_v3"]
    )
    template = np.where(sc == "missing_statement", tid["hipaa_v2"], template)
    template = np.where(sc == "wrong_channel", tid["sms_v1"], template)
    event = np.where(rng.random(m) < 0.1, "End of wellness program enrollment", "")
    bound_email = rng.random(m) < 0.3
    has_sms = np.char.find(channels.astype(str), "sms") >= 0
    bound_phone = (rng.random(m) < 0.5) & has_sms
    source = np.where(
        esign,
        "Patient Portal",
        _pick(rng, ["Front Desk", "Mail-in form"], m),
    )

    reps = related.with_columns(
        person=pl.col("person"),
        rp_authority=pl.when(pl.col("rp_role") == "GUARD")
        .then(pl.lit("Court-appointed legal guardian of the minor"))
        .otherwise(pl.lit("Parent of the minor patient")),
        rp_signer=pl.when(pl.col("rp_role") == "GUARD")
        .then(pl.lit("Guardian"))
        .otherwise(pl.lit("Parent")),
    )
    a = a.join(reps, left_on="p", right_on="person", how="left", maintain_order="left")
    frame = a.with_columns(
        auth_id=_sf_ids("AuthorizationFormConsent", m),
        template=pl.Series(template),
        signed=pl.Series(signed),
        expires=pl.Series(expires),
        esign=pl.Series(esign),
        signed_date_only=pl.Series(signed_date_only),
        expiry_date_only=pl.Series(expiry_date_only),
        no_signature=pl.Series(no_signature),
        modified=pl.Series(
            np.where(no_signature & (sc == "unsigned"), signed, modified)
        ),
        purposes=pl.Series(purposes),
        channels=pl.Series(channels),
        recipients=pl.Series(recipients),
        scope=pl.Series(scope),
        event=pl.Series(event),
        bound_email=pl.Series(bound_email),
        bound_phone=pl.Series(bound_phone),
        source=pl.Series(source),
        evidence=pl.lit("env-") + _uuids(rng, m),
        sha=_hex(rng, m, 32),
    )
    signature = pl.col("esign") & ~pl.col("no_signature")
    captured = (
        pl.when(pl.col("scenario") == "unsigned")
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(_sf_time_or_date("signed", "signed_date_only"))
    )
    method = (
        pl.when(pl.col("no_signature"))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("esign"))
        .then(pl.lit("ESign"))
        .otherwise(pl.lit("Wet"))
    )

    def rows(f: pl.DataFrame, revoked: bool) -> pl.DataFrame:
        status = (
            pl.lit("Revoked")
            if revoked
            else (
                pl.when(pl.col("scenario") == "declined")
                .then(pl.lit("Declined"))
                .otherwise(pl.lit("Signed"))
            )
        )
        return f.select(
            Id=pl.col("auth_id"),
            IsDeleted=pl.lit("FALSE"),
            ConsentGiverId=pl.col("contact_id"),
            AuthorizationFormTextId=pl.col("template"),
            Status=status,
            ConsentCapturedDateTime=captured,
            ConsentCapturedSource=pl.col("source"),
            Purposes__c=pl.col("purposes"),
            InfoScope__c=pl.col("scope"),
            Disclosers__c=pl.lit("CoveredEntity"),
            Recipients__c=pl.col("recipients"),
            EmployerRecipients__c=pl.lit(None, dtype=pl.String),
            Channels__c=pl.col("channels"),
            ExpirationDateTime__c=_sf_time_or_date("expires", "expiry_date_only"),
            ExpirationEvent__c=pl.when(pl.col("event") != "").then(pl.col("event")),
            ExpirationEventOccurredAt__c=pl.lit(None, dtype=pl.String),
            SignerRole__c=pl.col("rp_signer").fill_null(pl.lit("Self")),
            SignerName__c=pl.col("rp_name").fill_null(pl.col("full_name")),
            SignerRelatedPersonId__c=pl.col("rp_id"),
            SignerAuthority__c=pl.when(pl.col("rp_id").is_not_null()).then(
                pl.col("rp_authority")
            ),
            SignatureMethod__c=method,
            ESignEvidenceId__c=pl.when(signature).then(pl.col("evidence")),
            RemunerationDisclosed__c=pl.lit("FALSE"),
            BoundEmail__c=pl.when(pl.col("bound_email")).then(pl.col("email")),
            BoundPhone__c=pl.when(pl.col("bound_phone")).then(pl.col("mobile_e164")),
            RevokedDateTime__c=(
                _sf_time_or_date("revoked_at", "revoked_date_only")
                if revoked
                else pl.lit(None, dtype=pl.String)
            ),
            RevocationChannel__c=pl.col("rev_channel") if revoked else pl.lit(None),
            RevocationWritten__c=pl.col("rev_written") if revoked else pl.lit(None),
            DocumentSha256__c=pl.when(pl.col("scenario") != "unsigned").then(
                pl.col("sha")
            ),
            LastModifiedDate=_ts_sf("modified"),
        ).cast(pl.String)

    first = rows(frame, revoked=False)
    rev = frame.filter(pl.col("scenario") == "revoked")
    r = rev.height
    rk = rev["k"].to_numpy()
    received = _u(rng, r, clock.crm + HOUR, clock.crm_changes - 4 * HOUR)
    date_only = rk % 4 == 3
    received = np.where(
        date_only, clock.anchor - _u(rng, r, 4 * DAY, 20 * DAY), received
    )
    changed = np.where(
        date_only,
        _u(rng, r, clock.crm + HOUR, clock.crm_changes - HOUR),
        received + _u(rng, r, 60, 3 * HOUR),
    )
    channels_rev = np.array(["letter", "portal", "email", "phone", "in_person"])[rk % 5]
    rev = rev.with_columns(
        revoked_at=pl.Series(received),
        revoked_date_only=pl.Series(date_only),
        modified=pl.Series(changed),
        rev_channel=pl.Series(channels_rev, dtype=pl.String),
        rev_written=pl.Series(np.where(channels_rev == "phone", "FALSE", "TRUE")),
    )
    return first, rows(rev, revoked=True)


def _channel_consents(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    variants: dict[str, dict[str, int]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Channel consents per purpose: background opt-ins and the planted opt-outs."""
    n = people.height
    sc = people["scenario"].to_numpy()
    k = people["k"].to_numpy()
    anchor = clock.anchor
    p_all = np.arange(n)

    email_optin = rng.random(n) < 0.3
    crm_unsub = (sc == "email_unsub_this_list") & (k % 2 == 0)
    other_unsub = (sc == "email_unsub_other_list") & (k % 2 == 0)
    fundraising = sc == "fundraising_optout"
    phone_optin = rng.random(n) < 0.15
    seen = rng.random(n) < 0.03
    groups = [
        # persons, type, purpose, status, list
        (p_all[email_optin], "Email", "MARKETING", "OptIn", "bg"),
        (p_all[crm_unsub], "Email", "MARKETING", "OptIn", "4101"),
        (p_all[other_unsub], "Email", "MARKETING", "OptOut", "4102"),
        (p_all[fundraising], "fund", "FUNDRAISING", "OptOut", ""),
        (p_all[phone_optin], "Phone", "CARE_COORD", "OptIn", ""),
        (p_all[seen], "Email", "HEALTH_ED", "Seen", "4103"),
    ]
    person = np.concatenate([g[0] for g in groups]).astype(np.int64)
    size = person.size
    gid = np.concatenate([np.full(g[0].size, i) for i, g in enumerate(groups)])
    ctype = np.concatenate([np.full(g[0].size, g[1]) for g in groups]).astype(object)
    purpose = np.concatenate([np.full(g[0].size, g[2]) for g in groups])
    status = np.concatenate([np.full(g[0].size, g[3]) for g in groups])
    lists = np.concatenate([np.full(g[0].size, g[4]) for g in groups]).astype(object)
    lists = np.where(lists == "bg", np.where(rng.random(size) < 0.6, "4101", ""), lists)
    ctype = np.where(
        ctype == "fund", np.where(k[person] % 3 == 2, "MailingAddress", "Email"), ctype
    )
    capture = anchor - _u(rng, size, 10 * DAY, 900 * DAY)
    capture = np.minimum(capture, clock.crm - 2 * HOUR)
    date_only = rng.random(size) < 0.1
    effective_to = np.where(
        (status == "OptIn") & (rng.random(size) < 0.05),
        anchor + _u(rng, size, 100 * DAY, 700 * DAY),
        0,
    )
    frame = pl.concat(
        [
            _gather(people, person, ["contact_id", "email", "mobile_e164", "street"]),
            _gather(people, person, ["city", "state", "zip"]),
            pl.DataFrame(
                {
                    "cid": _sf_ids("ContactPointTypeConsent", size),
                    "ctype": ctype.astype(str),
                    "purpose": purpose.astype(str),
                    "status": status.astype(str),
                    "list": lists.astype(str),
                    "capture": capture,
                    "date_only": date_only,
                    "effective_to": pl.Series(effective_to).replace(0, None),
                    "modified": capture + _u(rng, size, 60, HOUR),
                    "source": _pick(
                        rng, ["Web Form", "Patient Portal", "Front Desk"], size
                    ),
                    "person": person,
                    "gid": gid,
                }
            ),
        ],
        how="horizontal",
    )
    value = (
        pl.when(pl.col("ctype") == "Email")
        .then(pl.col("email"))
        .when(pl.col("ctype") == "Phone")
        .then(pl.col("mobile_e164"))
        .otherwise(
            pl.concat_str(
                [
                    pl.col("street"),
                    pl.col("city"),
                    pl.col("state") + " " + pl.col("zip"),
                ],
                separator=", ",
            )
        )
    )

    def rows(f: pl.DataFrame) -> pl.DataFrame:
        return f.select(
            Id=pl.col("cid"),
            IsDeleted=pl.lit("FALSE"),
            PartyId=pl.col("contact_id"),
            ContactPointType=pl.col("ctype"),
            DataUsePurpose=pl.col("purpose"),
            PrivacyConsentStatus=pl.col("status"),
            EffectiveFrom=_sf_time_or_date("capture", "date_only"),
            EffectiveTo=_date(pl.col("effective_to")),
            CaptureDate=_sf_time_or_date("capture", "date_only"),
            CaptureSource=pl.col("source"),
            ContactPointValue__c=value,
            ListId__c=pl.when(pl.col("list") != "").then(pl.col("list")),
            LastModifiedDate=_ts_sf("modified"),
        )

    first = rows(frame)
    # the list-4101 opt-outs arrive in crm-002 as new versions of the opt-ins
    unsub = frame.filter(pl.col("gid") == 1)
    u = unsub.height
    when = _u(rng, u, clock.crm + HOUR, clock.crm_changes - 2 * HOUR)
    unsub = unsub.with_columns(
        status=pl.lit("OptOut"),
        capture=pl.Series(when),
        date_only=pl.lit(False),
        modified=pl.Series(when + _u(rng, u, 60, HOUR)),
        source=pl.lit("Preference Center"),
    )
    second = rows(unsub)
    variants["email_unsub_this_list"] = {"crm_list_4101_optout": u}
    variants["email_unsub_other_list"] = {
        "crm_list_4102_optout": int(other_unsub.sum())
    }
    variants["fundraising_optout"] = {
        "email": int(np.sum(fundraising & (k % 3 != 2))),
        "mailing_address": int(np.sum(fundraising & (k % 3 == 2))),
    }
    return first, second


# ---------------------------------------------------------------- engagement

_EVENT_NAMES = [
    "processed",
    "deferred",
    "delivered",
    "open",
    "click",
    "bounce",
    "dropped",
    "unsubscribe",
    "group_unsubscribe",
    "spamreport",
]
(
    _PROCESSED,
    _DEFERRED,
    _DELIVERED,
    _OPEN,
    _CLICK,
    _BOUNCE,
    _DROPPED,
    _UNSUB,
    _GROUP_UNSUB,
    _SPAM,
) = range(len(_EVENT_NAMES))


@dataclass
class _Events:
    """Rows of one kind of event before rendering."""

    send: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    ts: list[np.ndarray] = field(default_factory=list)
    extra: list[np.ndarray] = field(default_factory=list)

    def add(self, send: np.ndarray, kind: int | np.ndarray, ts: np.ndarray, extra=0):
        size = send.size
        self.send.append(send.astype(np.int64))
        self.kind.append(np.broadcast_to(np.asarray(kind, np.int64), size).copy())
        self.ts.append(ts.astype(np.int64))
        self.extra.append(np.broadcast_to(np.asarray(extra, np.int64), size).copy())

    def frame(self, cap: int) -> pl.DataFrame:
        ts = np.minimum(np.concatenate(self.ts), cap)
        return pl.DataFrame(
            {
                "send": np.concatenate(self.send),
                "kind": np.concatenate(self.kind),
                "ts": ts,
                "extra": np.concatenate(self.extra),
            }
        ).with_row_index("uid")


def _write_engagement(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    out: _Writer,
    malformed: list[MalformedRow],
    variants: dict[str, dict[str, int]],
) -> None:
    """Write SendGrid posts, Twilio callbacks and app events of one export."""
    conversions = _sendgrid(rng, people, clock, out, malformed, variants)
    twilio, sms_sent = _twilio(rng, people, clock, variants)
    out.lines(f"{ENGAGEMENT_BATCH}/twilio/messages.jsonl", twilio)
    app = _app_events(rng, people, clock, conversions, sms_sent)
    out.lines(f"{ENGAGEMENT_BATCH}/app/events.jsonl", app)
    out.json(
        f"{ENGAGEMENT_BATCH}/export.json",
        {"exported_at": _iso_epoch(clock.engagement)},
    )


def _sendgrid(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    out: _Writer,
    malformed: list[MalformedRow],
    variants: dict[str, dict[str, int]],
) -> pl.DataFrame:
    """E-mail workflows: write every send's webhook events, in time order.

    Returns:
        The conversions the clicks led to (person, campaign, step, time), for the
        app events.
    """
    n = people.height
    sc = people["scenario"].to_numpy()
    k = people["k"].to_numpy()
    excluded = ~np.isin(sc, [s.name for s in SCENARIOS if s.expected_eligible])
    planted = [
        ((sc == "email_unsub_this_list") & (k % 2 == 1), 0, _GROUP_UNSUB),
        ((sc == "email_unsub_other_list") & (k % 2 == 1), 1, _GROUP_UNSUB),
        ((sc == "email_spamreport") & (k % 2 == 0), 0, _SPAM),
        ((sc == "email_spamreport") & (k % 2 == 1), 2, _SPAM),
        ((sc == "email_contact_optout") & (k % 3 == 0), 2, _UNSUB),
    ]
    variants["email_unsub_this_list"]["sendgrid_group_unsubscribe_4101"] = int(
        planted[0][0].sum()
    )
    variants["email_unsub_other_list"]["sendgrid_group_unsubscribe_4102"] = int(
        planted[1][0].sum()
    )
    variants["email_spamreport"] = {
        "spamreport_on_list_4101": int(planted[2][0].sum()),
        "spamreport_on_list_4103": int(planted[3][0].sum()),
    }
    variants["email_contact_optout"]["sendgrid_unsubscribe"] = int(planted[4][0].sum())

    persons, camps, plants = [], [], []
    for c in range(len(_CAMPAIGNS)):
        forced = np.full(n, -1)
        for mask, campaign, kind in planted:
            if campaign == c:
                forced[mask] = kind
        idx = np.flatnonzero((rng.random(n) < 0.85) | (forced >= 0))
        persons.append(idx)
        camps.append(np.full(idx.size, c))
        plants.append(forced[idx])
    e_person = np.concatenate(persons)
    e_camp = np.concatenate(camps)
    e_plant = np.concatenate(plants)
    enrolments = e_person.size
    # bounces only where the person is excluded anyway; a bounce ends the workflow
    fail = rng.random((enrolments, _STEPS)) < 0.09
    fail &= (excluded[e_person] & (e_plant < 0))[:, None]
    last = np.where(fail.any(axis=1), fail.argmax(axis=1), _STEPS - 1)
    last = np.where(e_plant >= 0, 0, last)
    steps = last + 1
    enrol = np.repeat(np.arange(enrolments), steps)
    step = np.arange(enrol.size) - np.repeat(np.cumsum(steps) - steps, steps)
    sends = enrol.size
    s_person = e_person[enrol]
    s_camp = e_camp[enrol]
    s_plant = e_plant[enrol]
    s_failed = fail[enrol, step]
    step_at = np.array(
        [
            [clock.anchor - (c[3] - s * c[4]) * DAY + 15 * HOUR for s in range(_STEPS)]
            for c in _CAMPAIGNS
        ]
    )
    s_time = step_at[s_camp, step] + _u(rng, sends, 0, 6 * HOUR)

    ev = _Events()
    ev.add(np.arange(sends), _PROCESSED, s_time)
    failed = np.flatnonzero(s_failed)
    dropped = rng.random(failed.size) < 0.25
    ev.add(
        failed[~dropped],
        _BOUNCE,
        s_time[failed[~dropped]] + _u(rng, int((~dropped).sum()), 5, 120),
        rng.integers(0, 2, int((~dropped).sum())),
    )
    ev.add(failed[dropped], _DROPPED, s_time[failed[dropped]] + 3)

    ok = np.flatnonzero(~s_failed)
    deferred = rng.random(ok.size) < 0.02
    delivered_at = s_time[ok] + np.where(
        deferred, _u(rng, ok.size, 600, 5400), _u(rng, ok.size, 2, 60)
    )
    ev.add(ok[deferred], _DEFERRED, s_time[ok[deferred]] + 45)
    ev.add(ok, _DELIVERED, delivered_at)

    plant_ok = s_plant[ok]
    must_open = np.isin(plant_ok, [_UNSUB, _GROUP_UNSUB])
    opener = (rng.random(ok.size) < 0.3) | must_open
    machine = opener & (rng.random(ok.size) < 0.3) & ~must_open
    ev.add(
        ok[machine],
        _OPEN,
        delivered_at[machine] + _u(rng, int(machine.sum()), 60, 1800),
        1,
    )
    human = np.flatnonzero(opener & ~machine)
    opens = 1 + rng.poisson(0.6, human.size)
    rep = np.repeat(human, opens)
    delay = (rng.exponential(8 * HOUR, rep.size) + 30).astype(np.int64)
    delay = np.where(must_open[rep], _u(rng, rep.size, 60, HOUR), delay)
    open_at = delivered_at[rep] + delay
    ev.add(ok[rep], _OPEN, open_at, 2 + rng.integers(0, 2, rep.size))
    starts = np.cumsum(opens) - opens
    first_open = np.minimum.reduceat(open_at, starts) if human.size else open_at

    clicker = np.flatnonzero((rng.random(human.size) < 0.15) & (plant_ok[human] < 0))
    clicks = 1 + rng.poisson(0.3, clicker.size)
    crep = np.repeat(clicker, clicks)
    click_at = first_open[crep] + _u(rng, crep.size, 10, 900)
    ev.add(
        ok[human[crep]], _CLICK, click_at, rng.integers(0, len(_CLICK_URLS), crep.size)
    )
    converted = clicker[rng.random(clicker.size) < 0.1]
    conv_send = ok[human[converted]]
    conv_at = first_open[converted] + _u(rng, converted.size, 15 * 60, 72 * HOUR)

    plant_send = np.flatnonzero(s_plant >= 0)
    deliver_of = np.zeros(sends, dtype=np.int64)
    deliver_of[ok] = delivered_at
    ev.add(
        plant_send,
        s_plant[plant_send],
        deliver_of[plant_send] + _u(rng, plant_send.size, 2 * HOUR, 48 * HOUR),
    )
    events = ev.frame(cap=clock.engagement - 60).sort(["ts", "uid"])
    send_frame = pl.DataFrame(
        {
            "person": s_person,
            "camp": s_camp,
            "step": step + 1,
            "h": _hex(rng, sends, 10),
            "digits": rng.integers(0, 10**9, sends),
        }
    )
    _write_sendgrid(rng, events, send_frame, people, out, malformed)
    return pl.DataFrame(
        {
            "person": s_person[conv_send],
            "camp": s_camp[conv_send],
            "step": step[conv_send] + 1,
            "ts": np.minimum(conv_at, clock.engagement - 120),
        }
    )


def _quirks(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Mark a few events the way real webhook posts show them.

    1: timestamp as a string, 2: timestamp in milliseconds, 3: capitalised event
    name; only on processed, delivered and open events.
    """
    m = kind.size
    candidates = np.flatnonzero(np.isin(kind, [_PROCESSED, _DELIVERED, _OPEN]))
    q = min(max(2, m // 4000), candidates.size // 3)
    chosen = rng.choice(candidates, size=3 * q, replace=False)
    quirk = np.zeros(m, dtype=np.int64)
    quirk[chosen[:q]] = 1
    quirk[chosen[q : 2 * q]] = 2
    quirk[chosen[2 * q :]] = 3
    return quirk


def _write_sendgrid(
    rng: np.random.Generator,
    events: pl.DataFrame,
    sends: pl.DataFrame,
    people: pl.DataFrame,
    out: _Writer,
    malformed: list[MalformedRow],
) -> None:
    """Write events as webhook posts (JSON arrays), the last tenth as JSONL.

    The first post also carries an event without its key; the JSONL file ends with
    a replay of the second event of the first post.
    """
    m = events.height
    events = events.with_columns(
        quirk=pl.Series(_quirks(rng, events["kind"].to_numpy())),
        row=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    in_posts = m - max(1, m // 10) if m > 1 else m
    posts = max(1, math.ceil(in_posts / SENDGRID_POST_EVENTS))
    base = f"{ENGAGEMENT_BATCH}/sendgrid"
    per_block = 4
    replay: str | None = None
    for first in range(0, posts, per_block):
        start = first * SENDGRID_POST_EVENTS
        stop = min(in_posts, (first + per_block) * SENDGRID_POST_EVENTS)
        lines = _render_sendgrid(rng, events.slice(start, stop - start), sends, people)
        for i in range(first, min(posts, first + per_block)):
            offset = (i - first) * SENDGRID_POST_EVENTS
            part = lines.slice(offset, SENDGRID_POST_EVENTS)
            name = f"{base}/events-{i:03d}.json"
            if i == 0 and part.len():
                replay = part[min(2, part.len()) - 1]
                part = pl.concat([part, pl.Series("l", [_keyless_event(part)])])
                malformed.append(
                    MalformedRow(
                        file=name,
                        line=part.len(),
                        entity="sendgrid_event",
                        reason="event without sg_event_id",
                    )
                )
            out.json_array(name, part)
    late_name = f"{base}/events-{posts:03d}.jsonl"
    block = per_block * SENDGRID_POST_EVENTS
    late = (
        _render_sendgrid(rng, events.slice(start, block), sends, people)
        for start in range(in_posts, m, block)
    )
    extra = [pl.Series("l", [replay])] if replay is not None else []
    out.lines_parts(late_name, late, extra)
    if replay is not None:
        malformed.append(
            MalformedRow(
                file=late_name,
                line=out.files[late_name],
                entity="sendgrid_event",
                reason="exact duplicate (replay) of the second event of "
                "events-000.json",
                record_id=json.loads(replay).get("sg_event_id"),
            )
        )


def _render_sendgrid(
    rng: np.random.Generator,
    events: pl.DataFrame,
    sends: pl.DataFrame,
    people: pl.DataFrame,
) -> pl.Series:
    """Render a slice of the time-ordered events as SendGrid event objects."""
    m = events.height
    per_send = sends.select(pl.all().gather(events["send"]))
    campaigns = pl.DataFrame(
        {
            "campaign_id": [c[0] for c in _CAMPAIGNS],
            "workflow_id": [c[1] for c in _CAMPAIGNS],
            "asm": [str(c[2]) for c in _CAMPAIGNS],
            "category": [
                json.dumps(_CAMPAIGNS[0][0]),
                json.dumps([_CAMPAIGNS[1][0], "marketing"], separators=(",", ":")),
                json.dumps(
                    [_CAMPAIGNS[2][0], "health-education"], separators=(",", ":")
                ),
            ],
        }
    )
    # unique ids: a random head, then an affine permutation of the row number
    row = events["row"].to_numpy()
    tail = _encode((row * 387_420_489 + 4_099) % 64**5, _B64, 5)
    last = _chars(rng, m, np.frombuffer(b"AQgw", dtype=np.uint8), 1)
    person = per_send["person"].to_numpy()
    frame = pl.concat(
        [
            events,
            per_send.select("step", "h", "digits"),
            _gather(people, person, ["email", "contact_id", "p"]),
            campaigns.select(pl.all().gather(per_send["camp"])),
            pl.DataFrame(
                {
                    "sg_event_id": _chars(rng, m, _B64, 16) + tail + last + "==",
                    "ms": rng.integers(0, 1000, m),
                }
            ),
        ],
        how="horizontal",
    )
    h = pl.col("h")
    digits = pl.col("digits")
    msg = pl.concat_str(
        [
            h.str.slice(0, 11),
            pl.lit("."),
            h.str.slice(11, 3),
            pl.lit("."),
            h.str.slice(14, 6),
            pl.lit(".filter"),
            (digits % 10_000).cast(pl.String).str.zfill(4),
            pl.lit("."),
            (digits // 10_000 % 100_000).cast(pl.String).str.zfill(5),
            pl.lit("."),
            h.str.to_uppercase().str.slice(0, 9),
            pl.lit(".0"),
        ]
    )
    smtp = pl.concat_str(
        [
            pl.lit("<"),
            h.str.slice(0, 11),
            pl.lit("."),
            h.str.slice(11, 3),
            pl.lit("."),
            h.str.slice(14, 6),
            pl.lit("@ismtpd-"),
            (digits % 1000).cast(pl.String).str.zfill(3),
            pl.lit(">"),
        ]
    )
    step_id = pl.col("workflow_id") + ":s" + pl.col("step").cast(pl.String)
    name = pl.col("kind").replace_strict(
        dict(enumerate(_EVENT_NAMES)), return_dtype=pl.String
    )
    ts = pl.col("ts").cast(pl.String)
    ts_json = (
        pl.when(pl.col("quirk") == 1)
        .then(pl.concat_str([pl.lit('"'), ts, pl.lit('"')]))
        .when(pl.col("quirk") == 2)
        .then((pl.col("ts") * 1000 + pl.col("ms")).cast(pl.String))
        .otherwise(ts)
    )
    event_name = (
        pl.when(pl.col("quirk") == 3).then(name.str.to_titlecase()).otherwise(name)
    )
    ua = (
        pl.col("p")
        .mod(len(_USER_AGENTS))
        .replace_strict(dict(enumerate(_USER_AGENTS)), return_dtype=pl.String)
    )
    ip = pl.concat_str([pl.lit("203.0.113."), (pl.col("p") % 254 + 1).cast(pl.String)])
    machine_ip = pl.concat_str(
        [pl.lit("198.51.100."), (pl.col("uid") % 254 + 1).cast(pl.String)]
    )
    url = pl.col("extra").replace_strict(
        dict(enumerate(_CLICK_URLS)), default=_CLICK_URLS[0], return_dtype=pl.String
    )
    k = pl.col("kind")
    extra = (
        pl.when(k == _DEFERRED)
        .then(
            pl.lit(
                ',"response":"451 4.7.650 The mail server has been temporarily rate '
                'limited.","attempt":"1"'
            )
        )
        .when(k == _DELIVERED)
        .then(pl.lit(',"response":"250 2.0.0 OK"'))
        .when((k == _OPEN) & (pl.col("extra") == 1))
        .then(
            _cat(
                ',"useragent":"',
                _MACHINE_AGENT,
                '","ip":"',
                machine_ip,
                '","sg_machine_open":true',
            )
        )
        .when(k == _OPEN)
        .then(
            _cat(
                ',"useragent":"',
                ua,
                '","ip":"',
                ip,
                '"',
                pl.when(pl.col("extra") == 3).then(pl.lit(',"sg_machine_open":false')),
            )
        )
        .when(k == _CLICK)
        .then(
            _cat(
                ',"useragent":"',
                ua,
                '","ip":"',
                ip,
                '","url":"',
                url,
                '","url_offset":{"index":',
                pl.col("extra").cast(pl.String),
                ',"type":"html"}',
            )
        )
        .when((k == _BOUNCE) & (pl.col("extra") == 0))
        .then(
            pl.lit(
                ',"reason":"550 5.1.1 The email account that you tried to reach does '
                'not exist.","status":"5.1.1","type":"bounce",'
                '"bounce_classification":"Invalid Address"'
            )
        )
        .when(k == _BOUNCE)
        .then(
            pl.lit(
                ',"reason":"554 5.7.1 Service unavailable; client host blocked",'
                '"status":"5.7.1","type":"blocked","bounce_classification":"Reputation"'
            )
        )
        .when(k == _DROPPED)
        .then(pl.lit(',"reason":"Bounced Address","status":"5.0.0"'))
        .when(k.is_in([_UNSUB, _GROUP_UNSUB]))
        .then(_cat(',"useragent":"', ua, '","ip":"', ip, '"'))
        .otherwise(pl.lit(""))
    )
    return frame.select(
        _cat(
            '{"email":"',
            pl.col("email"),
            '","timestamp":',
            ts_json,
            ',"smtp-id":"',
            smtp,
            '","event":"',
            event_name,
            '","category":',
            pl.col("category"),
            ',"sg_event_id":"',
            pl.col("sg_event_id"),
            '","sg_message_id":"',
            msg,
            '"',
            extra,
            ',"asm_group_id":',
            pl.col("asm"),
            ',"contact_id":"',
            pl.col("contact_id"),
            '","campaign_id":"',
            pl.col("campaign_id"),
            '","workflow_id":"',
            pl.col("workflow_id"),
            '","step_id":"',
            step_id,
            '"}',
        ).alias("l")
    ).to_series()


def _keyless_event(post: pl.Series) -> str:
    """A copy of the first delivered or open event, an hour later, without a key."""
    source = next(
        (
            line
            for line in post.head(200).to_list()
            if '"event":"delivered"' in line or '"event":"open"' in line
        ),
        post[0],
    )
    event = json.loads(source)
    event.pop("sg_event_id", None)
    event["event"] = "open"
    event["timestamp"] = int(str(event["timestamp"]).strip('"')[:10]) + HOUR
    return json.dumps(event, separators=(",", ":"))


def _twilio(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    variants: dict[str, dict[str, int]],
) -> tuple[pl.Series, pl.DataFrame]:
    """SMS workflow: status callbacks, replies and the STOPs of `sms_stop`.

    Returns:
        The message lines in time order, and the sends (person, MessageSid, time)
        for the app's `sms_sent` events.
    """
    n = people.height
    sc = people["scenario"].to_numpy()
    stop = sc == "sms_stop"
    alive = ~people["deceased"].to_numpy()
    person = np.flatnonzero(((rng.random(n) < 0.12) & alive) | stop)
    m = person.size
    sent_at = (
        clock.anchor - _SMS_CAMPAIGN[3] * DAY + 16 * HOUR + _u(rng, m, 0, 4 * HOUR)
    )
    sid = "SM" + _hex(rng, m, 16)
    outcome = rng.choice(3, size=m, p=[0.94, 0.04, 0.02])
    outcome = np.where(stop[person], 0, outcome)
    error = _pick(rng, ["30003", "30005", "30006"], m)
    base = pl.concat(
        [
            _gather(people, person, ["mobile_e164"]),
            pl.DataFrame(
                {
                    "sid": sid,
                    "sent": sent_at,
                    "outcome": outcome,
                    "error": error,
                    "person": person,
                }
            ),
        ],
        how="horizontal",
    )
    sent = base.select(
        "sid",
        "mobile_e164",
        status=pl.lit("sent"),
        error=pl.lit(None, dtype=pl.String),
        ts=pl.col("sent") + 2,
    )
    final = base.select(
        "sid",
        "mobile_e164",
        status=pl.col("outcome").replace_strict(
            {0: "delivered", 1: "undelivered", 2: "failed"}, return_dtype=pl.String
        ),
        error=pl.when(pl.col("outcome") > 0).then(pl.col("error")),
        ts=pl.col("sent") + 9,
    )
    callbacks = pl.concat([sent, final]).with_columns(kind=pl.lit(0))

    replies_to = np.flatnonzero(
        stop[person] | ((rng.random(m) < 0.03) & (outcome == 0))
    )
    r = replies_to.size
    is_stop = stop[person[replies_to]]
    stop_words = ["STOP", "Stop", "stop", "UNSUBSCRIBE", "QUIT", "CANCEL", "END"]
    body = np.where(
        is_stop,
        _pick(rng, stop_words, r),
        _pick(rng, ["Thanks!", "See you then", "HELP", "Ok"], r),
    )
    opt_out = np.where(is_stop, "STOP", np.where(body == "HELP", "HELP", ""))
    replies = pl.concat(
        [
            _gather(people, person[replies_to], ["mobile_e164"]),
            pl.DataFrame(
                {
                    "sid": "SM" + _hex(rng, r, 16),
                    "body": body,
                    "opt_out": opt_out,
                    "ts": sent_at[replies_to] + _u(rng, r, 5 * 60, 30 * HOUR),
                }
            ),
        ],
        how="horizontal",
    ).with_columns(kind=pl.lit(1))
    variants["sms_stop"] = {"twilio_inbound_stop": int(is_stop.sum())}

    frame = pl.concat([callbacks, replies], how="diagonal_relaxed")
    frame = frame.with_row_index("uid").sort(["ts", "uid"])
    status_line = _cat(
        '{"SmsSid":"',
        pl.col("sid"),
        '","SmsStatus":"',
        pl.col("status"),
        '","MessageStatus":"',
        pl.col("status"),
        '","To":"',
        pl.col("mobile_e164"),
        '","MessagingServiceSid":"',
        _TWILIO_SERVICE,
        '","MessageSid":"',
        pl.col("sid"),
        '","AccountSid":"',
        _TWILIO_ACCOUNT,
        '","From":"',
        _SMS_FROM,
        '","ApiVersion":"2010-04-01"',
        _opt(',"ErrorCode":"', pl.col("error"), '"'),
        ',"received_at":"',
        _ts_z("ts"),
        '"}',
    )
    inbound_line = _cat(
        '{"ToCountry":"US","SmsMessageSid":"',
        pl.col("sid"),
        '","NumMedia":"0","SmsSid":"',
        pl.col("sid"),
        '","SmsStatus":"received","Body":"',
        pl.col("body"),
        '","FromCountry":"US","To":"',
        _SMS_FROM,
        '","MessagingServiceSid":"',
        _TWILIO_SERVICE,
        '","NumSegments":"1","MessageSid":"',
        pl.col("sid"),
        '","AccountSid":"',
        _TWILIO_ACCOUNT,
        '","From":"',
        pl.col("mobile_e164"),
        '","ApiVersion":"2010-04-01"',
        pl.when(pl.col("opt_out") != "").then(
            _cat(',"OptOutType":"', pl.col("opt_out"), '"')
        ),
        ',"received_at":"',
        _ts_z("ts"),
        '"}',
    )
    lines = frame.select(
        pl.when(pl.col("kind") == 0)
        .then(status_line)
        .otherwise(inbound_line)
        .alias("l")
    ).to_series()
    return lines, base.select("person", "sid", "sent")


def _app_events(
    rng: np.random.Generator,
    people: pl.DataFrame,
    clock: _Clock,
    conversions: pl.DataFrame,
    sms_sent: pl.DataFrame,
) -> pl.Series:
    """Portal, appointment, form, conversion, purchase and sms_sent events."""
    n = people.height
    alive = ~people["deceased"].to_numpy()
    end = clock.engagement - 60
    parts: list[pl.DataFrame] = []

    def part(person, kind, ts, props, key="contact", camp=None, step=None, sid=None):
        size = np.asarray(person).size
        parts.append(
            pl.DataFrame(
                {
                    "person": np.asarray(person, dtype=np.int64),
                    "type": np.full(size, kind),
                    "ts_ms": np.minimum(np.asarray(ts, dtype=np.int64), end) * 1000
                    + rng.integers(0, 1000, size),
                    "props": props,
                    "by_mrn": np.full(size, key == "mrn"),
                    "camp": camp if camp is not None else np.full(size, -1),
                    "step": step if step is not None else np.full(size, 0),
                    "sid": sid
                    if sid is not None
                    else pl.Series([None] * size, dtype=pl.String),
                },
                schema_overrides={
                    "type": pl.String,
                    "props": pl.String,
                    "camp": pl.Int64,
                    "step": pl.Int64,
                    "sid": pl.String,
                },
            )
        )

    logins = rng.poisson(0.6, n) * alive
    who = np.repeat(np.arange(n), logins)
    device = _pick(rng, ["ios", "android", "web"], who.size)
    part(
        who,
        "portal_login",
        end - _u(rng, who.size, HOUR, 365 * DAY),
        pl.Series(['{"device":"' + d + '"}' for d in device.tolist()], dtype=pl.String),
        key="mrn",
    )
    booked = np.flatnonzero((rng.random(n) < 0.25) & alive)
    b = booked.size
    booked_at = end - _u(rng, b, 10 * DAY, 300 * DAY)
    appt = ("apt-" + _hex(rng, b, 4)).to_list()
    dept = _pick(rng, ["General practice", "Cardiology", "Endocrinology"], b).tolist()
    props = [
        f'{{"appointment_id":"{a}","department":"{d}"}}'
        for a, d in zip(appt, dept, strict=True)
    ]
    part(booked, "appointment_booked", booked_at, pl.Series(props), key="mrn")
    attended = rng.random(b) < 0.85
    visit_at = booked_at + _u(rng, b, 3 * DAY, 20 * DAY)
    visit_props = pl.Series([f'{{"appointment_id":"{a}"}}' for a in appt])
    part(
        booked[attended],
        "appointment_attended",
        visit_at[attended],
        visit_props.filter(pl.Series(attended)),
        key="mrn",
    )
    part(
        booked[~attended],
        "appointment_no_show",
        visit_at[~attended],
        visit_props.filter(pl.Series(~attended)),
        key="mrn",
    )
    forms = np.flatnonzero((rng.random(n) < 0.08) & alive)
    form = _pick(
        rng, ["wellness-interest", "newsletter-signup", "contact-us"], forms.size
    )
    part(
        forms,
        "form_submitted",
        end - _u(rng, forms.size, HOUR, 200 * DAY),
        pl.Series(['{"form":"' + f + '"}' for f in form.tolist()], dtype=pl.String),
    )
    programs = ["wellness-program", "weight-management", "flu-shot"]
    camp = conversions["camp"].to_numpy()
    conv_props = pl.Series(
        [
            f'{{"program":"{programs[c]}","value_cents":{4900 if c < 2 else 0}}}'
            for c in camp.tolist()
        ],
        dtype=pl.String,
    )
    part(
        conversions["person"].to_numpy(),
        "conversion",
        conversions["ts"].to_numpy(),
        conv_props,
        camp=camp,
        step=conversions["step"].to_numpy(),
    )
    bought = np.flatnonzero((rng.random(camp.size) < 0.5) & (camp < 2))
    part(
        conversions["person"].to_numpy()[bought],
        "purchase",
        conversions["ts"].to_numpy()[bought] + 30,
        pl.Series(
            ['{"sku":"WELL-12M","amount_cents":4900,"currency":"USD"}'] * bought.size,
            dtype=pl.String,
        ),
        camp=camp[bought],
        step=conversions["step"].to_numpy()[bought],
    )
    s = sms_sent.height
    part(
        sms_sent["person"].to_numpy(),
        "sms_sent",
        sms_sent["sent"].to_numpy(),
        pl.Series(['{"segments":1}'] * s, dtype=pl.String),
        camp=np.full(s, len(_CAMPAIGNS)),
        step=np.ones(s, dtype=np.int64),
        sid=sms_sent["sid"],
    )

    events = pl.concat(parts).with_row_index("uid").sort(["ts_ms", "uid"])
    m = events.height
    campaign_ids = [c[0] for c in _CAMPAIGNS] + [_SMS_CAMPAIGN[0]]
    workflow_ids = [c[1] for c in _CAMPAIGNS] + [_SMS_CAMPAIGN[1]]
    frame = pl.concat(
        [
            events,
            _gather(people, events["person"].to_numpy(), ["contact_id", "mrn"]),
            pl.DataFrame({"event_id": _uuids(rng, m)}),
        ],
        how="horizontal",
    )
    has_camp = pl.col("camp") >= 0
    campaign = pl.when(has_camp).then(
        _cat(
            ',"campaign_id":"',
            pl.col("camp").replace_strict(dict(enumerate(campaign_ids)), default=""),
            '","workflow_id":"',
            pl.col("camp").replace_strict(dict(enumerate(workflow_ids)), default=""),
            '","step_id":"',
            pl.col("camp").replace_strict(dict(enumerate(workflow_ids)), default=""),
            ":s",
            pl.col("step").cast(pl.String),
            '"',
        )
    )
    key = (
        pl.when(pl.col("by_mrn"))
        .then(_cat(',"mrn":"', pl.col("mrn"), '"'))
        .otherwise(_cat(',"contact_id":"', pl.col("contact_id"), '"'))
    )
    return frame.select(
        _cat(
            '{"event_id":"',
            pl.col("event_id"),
            '","occurred_at":"',
            _ts_ms_z("ts_ms"),
            '"',
            key,
            ',"type":"',
            pl.col("type"),
            '"',
            campaign,
            _opt(',"message_sid":"', pl.col("sid"), '"'),
            ',"properties":',
            pl.col("props"),
            "}",
        ).alias("l")
    ).to_series()


# ---------------------------------------------------------------- entry point


def generate(
    landing: Path, *, contacts: int, seed: int, anchor: datetime
) -> GenerationPlan:
    """Write a synthetic landing tree with planted consent situations.

    Args:
        landing: the landing folder; batches go to `ehr/`, `crm/` and `engagement/`
            under it, and the plan to `<landing>/../generated/plan.json`.
        contacts: number of people (each has one Patient and one CRM Contact).
        seed: seed of the single random stream; same inputs, same bytes.
        anchor: the "today" of the generated world, timezone-aware. Batches are
            received 3 (EHR), 2 and 1 (CRM) and 1 (engagement) days before it.

    Returns:
        The plan: scenarios with their expected decisions for `DEMO_SEGMENT`,
        batches, per-file row counts and the malformed rows.

    Raises:
        ValueError: `anchor` is naive or `contacts` is not positive.
        FileExistsError: a batch folder this would write already has files.
    """
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        msg = f"anchor must be timezone-aware (UTC), got naive {anchor.isoformat()}"
        raise ValueError(msg)
    if contacts < 1:
        msg = f"contacts must be at least 1, got {contacts}"
        raise ValueError(msg)
    anchor = anchor.astimezone(UTC)
    landing = Path(landing)
    for batch in (EHR_BATCH, CRM_BATCH, CRM_CHANGES_BATCH, ENGAGEMENT_BATCH):
        folder = landing / batch
        if folder.exists() and any(folder.iterdir()):
            msg = (
                f"batch folder {folder} already has files; generate into an empty "
                "landing folder or remove that batch first"
            )
            raise FileExistsError(msg)

    a = int(anchor.timestamp())
    clock = _Clock(
        anchor=a,
        ehr=a - 3 * DAY,
        crm=a - 2 * DAY,
        crm_changes=a - DAY,
        engagement=a - DAY,
    )
    rng = np.random.default_rng(seed)
    out = _Writer(landing)
    malformed: list[MalformedRow] = []
    variants: dict[str, dict[str, int]] = {}

    people = _people(rng, contacts, clock)
    people = people.with_columns(contact_id=_sf_ids("Contact", contacts))
    patient_ids, related = _write_ehr(rng, people, clock, out, malformed)
    people = people.with_columns(pid=patient_ids)
    _write_crm(rng, people, related, clock, out, malformed, variants)
    _write_engagement(rng, people, clock, out, malformed, variants)
    variants["minor"] = {
        code: int((related["rp_role"] == code).sum()) for code, _, _ in _RELATIONSHIPS
    }

    plan = GenerationPlan(
        seed=seed,
        contacts=contacts,
        anchor=anchor,
        segment={**DEMO_SEGMENT, "export_at": _iso(anchor)},
        batches=_batches(out, clock),
        files=dict(out.files),
        scenarios=_scenario_plans(people, variants),
        malformed=malformed,
    )
    plan_path = landing.parent / "generated" / "plan.json"
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(plan.to_json(), encoding="utf-8")
    logger.info(
        "Generated %d people (%d expected eligible) in %d files, %d rows, seed %d",
        contacts,
        plan.expected_eligible_count,
        len(out.files),
        sum(out.files.values()),
        seed,
    )
    return plan


def _batches(out: _Writer, clock: _Clock) -> list[BatchPlan]:
    received = {
        EHR_BATCH: clock.ehr,
        CRM_BATCH: clock.crm,
        CRM_CHANGES_BATCH: clock.crm_changes,
        ENGAGEMENT_BATCH: clock.engagement,
    }
    return [
        BatchPlan(
            source=batch.split("/")[0],
            batch=batch.split("/")[1],
            path=batch,
            received_at=datetime.fromtimestamp(at, UTC),
            files=sorted(out.batch_files.get(batch, [])),
        )
        for batch, at in received.items()
    ]


def _scenario_plans(
    people: pl.DataFrame, variants: dict[str, dict[str, int]]
) -> dict[str, ScenarioPlan]:
    truncated = people.height > PLAN_ID_LIMIT
    plans = {}
    for spec in SCENARIOS:
        rows = people.filter(pl.col("scenario") == spec.name).select(
            "contact_id", "mrn"
        )
        if truncated:
            rows = rows.head(PLAN_ID_SAMPLE)
        plans[spec.name] = ScenarioPlan(
            name=spec.name,
            share=round(spec.share, 6),
            count=int((people["scenario"] == spec.name).sum()),
            expected_eligible=spec.expected_eligible,
            expected_rule=spec.expected_rule,
            description=spec.description,
            contact_ids=rows["contact_id"].to_list(),
            mrns=rows["mrn"].to_list(),
            ids_truncated=truncated,
            variants=variants.get(spec.name, {}),
        )
    return plans
