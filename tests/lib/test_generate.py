"""The demo data generator: determinism, formats, and the planted situations."""

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest

from pipelines.lib import generate as gen
from pipelines.lib.generate import (
    SCENARIOS,
    GenerationPlan,
    default_anchor,
    generate,
    scenario_counts,
)

ANCHOR = datetime(2026, 6, 5, tzinfo=UTC)
CONTACTS = 300
SEED = 7

ELIGIBLE = {
    "clean",
    "email_unsub_other_list",
    "fundraising_optout",
    "sms_stop",
    "sensitive",
    "linked_by_verified_email",
}
SF_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
SF_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SF_ID = re.compile(r"^[0-9A-Za-z]{18}$")

# INPUTS.md field lists
CONTACT_FIELDS = {
    "Id",
    "IsDeleted",
    "LastModifiedDate",
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
}
CPTC_FIELDS = {
    "Id",
    "IsDeleted",
    "LastModifiedDate",
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
}
AFT_FIELDS = {
    "Id",
    "IsDeleted",
    "LastModifiedDate",
    "Name",
    "RevisionNumber",
    "AssociatedRegulation__c",
    "HasRevocationStatement__c",
    "HasConditioningStatement__c",
    "HasRedisclosureStatement__c",
    "HasNotConditionOfPurchase__c",
    "IsCompound__c",
    "ConditionedOnTreatment__c",
}
AFC_FIELDS = {
    "Id",
    "IsDeleted",
    "LastModifiedDate",
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
}


def _instant(text: str) -> datetime:
    """Read a Salesforce timestamp, a bare date (00:00 UTC) or ISO 8601 text."""
    if SF_DATE.match(text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return datetime.fromisoformat(
        text.replace("Z", "+00:00").replace("+0000", "+00:00")
    )


@dataclass
class World:
    """One generated landing tree and its plan."""

    root: Path
    plan: GenerationPlan

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def ndjson(self, pattern: str) -> list[dict]:
        rows = []
        for path in sorted(self.landing.glob(pattern)):
            rows += [json.loads(line) for line in path.read_text().splitlines()]
        return rows

    def csv(self, rel: str) -> list[dict]:
        with (self.landing / rel).open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))

    @cached_property
    def patients(self) -> list[dict]:
        return self.ndjson("ehr/ehr-001/Patient.*.ndjson")

    @cached_property
    def patient_by_mrn(self) -> dict[str, dict]:
        return {_mrn(p): p for p in self.patients if "id" in p}

    @cached_property
    def contacts(self) -> dict[str, dict]:
        return {row["Id"]: row for row in self.csv("crm/crm-001/Contact.csv")}

    @cached_property
    def sendgrid(self) -> list[dict]:
        events = []
        for path in sorted((self.landing / "engagement/eng-001/sendgrid").iterdir()):
            if path.suffix == ".json":
                events += json.loads(path.read_text())
            else:
                events += [json.loads(line) for line in path.read_text().splitlines()]
        return events

    def ids(self, scenario: str) -> list[str]:
        return self.plan.scenarios[scenario].contact_ids

    def mrns(self, scenario: str) -> list[str]:
        return self.plan.scenarios[scenario].mrns


def _mrn(patient: dict) -> str:
    for identifier in patient.get("identifier", []):
        codes = [c["code"] for c in identifier.get("type", {}).get("coding", [])]
        if "MR" in codes:
            return identifier["value"]
    return ""


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("generated")
    plan = generate(root / "landing", contacts=CONTACTS, seed=SEED, anchor=ANCHOR)
    return World(root=root, plan=plan)


# ---------------------------------------------------------------- determinism


def test_same_inputs_write_the_same_bytes_and_another_seed_does_not(
    world: World, tmp_path: Path
):
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate(again / "landing", contacts=CONTACTS, seed=SEED, anchor=ANCHOR)
    generate(other / "landing", contacts=CONTACTS, seed=SEED + 1, anchor=ANCHOR)

    first, second, third = _files(world.root), _files(again), _files(other)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    contact_csv = "landing/crm/crm-001/Contact.csv"
    assert third[contact_csv] != first[contact_csv]
    assert third["generated/plan.json"] != first["generated/plan.json"]


def test_anchor_moves_every_date(world: World, tmp_path: Path):
    later = generate(
        tmp_path / "landing",
        contacts=CONTACTS,
        seed=SEED,
        anchor=ANCHOR + timedelta(days=10),
    )
    manifest = json.loads((tmp_path / "landing/ehr/ehr-001/manifest.json").read_text())
    assert manifest["transactionTime"] == "2026-06-12T00:00:00Z"
    assert [b.received_at - timedelta(days=10) for b in later.batches] == [
        b.received_at for b in world.plan.batches
    ]


# ---------------------------------------------------------------- the plan


def test_every_scenario_is_planted_and_counts_add_up(world: World):
    plan = world.plan
    assert list(plan.scenarios) == [s.name for s in SCENARIOS]
    assert sum(s.count for s in plan.scenarios.values()) == CONTACTS
    assert {k: s.count for k, s in plan.scenarios.items()} == scenario_counts(CONTACTS)
    for name, scenario in plan.scenarios.items():
        assert scenario.count >= 3, name
        assert len(scenario.contact_ids) == len(scenario.mrns) == scenario.count
        assert not scenario.ids_truncated
    counts = {k: s.count for k, s in plan.scenarios.items()}
    assert max(counts, key=counts.get) == "clean"
    all_ids = [i for s in plan.scenarios.values() for i in s.contact_ids]
    assert len(set(all_ids)) == CONTACTS


def test_shares_are_known_and_clean_is_the_largest():
    shares = {s.name: s.share for s in SCENARIOS}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert min(v for k, v in shares.items() if k != "clean") >= 0.01
    assert shares["clean"] > 0.5
    assert scenario_counts(1000)["minor"] == 40
    assert sum(scenario_counts(17).values()) == 17


def test_expected_outcomes_follow_the_rules(world: World):
    scenarios = world.plan.scenarios
    assert {k for k, s in scenarios.items() if s.expected_eligible} == ELIGIBLE
    for name, scenario in scenarios.items():
        assert (scenario.expected_rule is None) == scenario.expected_eligible, name
    assert scenarios["expired"].expected_rule == "R-AUTH-EXP"
    assert scenarios["revoked"].expected_rule == "R-AUTH-REV"
    assert scenarios["unsigned"].expected_rule == "R-AUTH-CORE"
    assert scenarios["wrong_recipient"].expected_rule == "R-RECIP"
    assert scenarios["missing_statement"].expected_rule == "R-AUTH-STMT"
    assert scenarios["deceased"].expected_rule == "R-DECEASED"
    assert scenarios["minor"].expected_rule == "R-MINOR"
    assert scenarios["confidential_comm"].expected_rule == "R-CONFCOMM"
    assert scenarios["restriction"].expected_rule == "R-RESTRICT"
    assert scenarios["email_spamreport"].expected_rule == "R-EMAIL-OPTOUT"
    eligible = sum(scenarios[name].count for name in ELIGIBLE)
    assert world.plan.expected_eligible_count == eligible


def test_plan_is_written_beside_landing_and_reads_back(world: World):
    path = world.root / "generated" / "plan.json"
    assert not list(world.landing.rglob("plan.json"))
    data = json.loads(path.read_text())
    assert data == world.plan.to_dict()
    assert GenerationPlan.from_dict(data).to_dict() == data
    assert data["seed"] == SEED and data["contacts"] == CONTACTS
    assert data["anchor"] == "2026-06-05T00:00:00Z"
    assert data["segment"]["list_id"] == "4101"
    assert data["segment"]["topic"] == "wellness-program"


def test_plan_keeps_only_a_sample_of_ids_for_large_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(gen, "PLAN_ID_LIMIT", 100)
    monkeypatch.setattr(gen, "PLAN_ID_SAMPLE", 2)
    plan = generate(tmp_path / "landing", contacts=150, seed=1, anchor=ANCHOR)
    clean = plan.scenarios["clean"]
    assert clean.ids_truncated
    assert len(clean.contact_ids) == len(clean.mrns) == 2 < clean.count


def test_batches_and_their_received_at(world: World):
    batches = {b.path: b for b in world.plan.batches}
    assert {p: b.received_at for p, b in batches.items()} == {
        "ehr/ehr-001": ANCHOR - timedelta(days=3),
        "crm/crm-001": ANCHOR - timedelta(days=2),
        "crm/crm-002": ANCHOR - timedelta(days=1),
        "engagement/eng-001": ANCHOR - timedelta(days=1),
    }
    manifest = json.loads((world.landing / "ehr/ehr-001/manifest.json").read_text())
    assert manifest["transactionTime"] == "2026-06-02T00:00:00Z"
    assert {o["url"] for o in manifest["output"]} == {
        f for f in batches["ehr/ehr-001"].files if f.endswith(".ndjson")
    }
    for path in ("crm/crm-001", "crm/crm-002", "engagement/eng-001"):
        exported = json.loads((world.landing / path / "export.json").read_text())
        assert _instant(exported["exported_at"]) == batches[path].received_at
    assert not (world.landing / "generated").exists()


def test_file_row_counts_match_the_plan(world: World):
    assert world.plan.files
    for rel, expected in world.plan.files.items():
        path = world.landing / rel
        if path.suffix == ".csv":
            rows = len(world.csv(rel))
        elif path.suffix == ".json":
            rows = len(json.loads(path.read_text()))
        else:
            rows = len(path.read_text().splitlines())
        assert rows == expected, rel
    manifest = json.loads((world.landing / "ehr/ehr-001/manifest.json").read_text())
    for output in manifest["output"]:
        assert world.plan.files[f"ehr/ehr-001/{output['url']}"] == output["count"]


def test_records_are_not_newer_than_their_batch(world: World):
    received = {b.path: b.received_at for b in world.plan.batches}
    for resource in world.ndjson("ehr/ehr-001/*.ndjson"):
        assert _instant(resource["meta"]["lastUpdated"]) <= received["ehr/ehr-001"]
    for batch in ("crm/crm-001", "crm/crm-002"):
        for path in (world.landing / batch).glob("*.csv"):
            for row in world.csv(f"{batch}/{path.name}"):
                for field in ("LastModifiedDate", "ConsentCapturedDateTime"):
                    if row.get(field):
                        assert _instant(row[field]) <= received[batch], path.name
    latest = max(int(str(e["timestamp"]).strip('"')[:10]) for e in world.sendgrid)
    assert datetime.fromtimestamp(latest, UTC) <= received["engagement/eng-001"]


# ---------------------------------------------------------------- EHR


def test_patient_files_hold_one_object_per_line_with_an_mrn(world: World):
    path = world.landing / "ehr/ehr-001/Patient.000.ndjson"
    lines = path.read_text().splitlines()
    assert len(lines) == CONTACTS + 1
    patients = [json.loads(line) for line in lines]
    assert all(p["resourceType"] == "Patient" for p in patients)
    with_id = [p for p in patients if "id" in p]
    assert len(with_id) == CONTACTS
    assert len({p["id"] for p in with_id}) == CONTACTS
    mrns = [_mrn(p) for p in with_id]
    assert all(re.fullmatch(r"MRN\d{7}", m) for m in mrns)
    assert len(set(mrns)) == CONTACTS
    planned = {m for s in world.plan.scenarios.values() for m in s.mrns}
    assert planned == set(mrns)
    sample = with_id[0]
    assert sample["name"][0]["family"] and sample["name"][0]["given"]
    assert sample["gender"] in {"male", "female"}
    assert {t["system"] for t in sample["telecom"]} >= {"email"}
    home = sample["address"][0]
    assert home["use"] == "home" and re.fullmatch(r"[A-Z]{2}", home["state"])
    assert re.fullmatch(r"\d{5}", home["postalCode"])
    assert sample["communication"][0]["language"]["coding"][0]["code"]


def test_population_looks_like_a_population(world: World):
    patients = [p for p in world.patients if "id" in p]
    genders = Counter(p["gender"] for p in patients)
    assert 0.4 < genders["female"] / len(patients) < 0.62
    states = Counter(p["address"][0]["state"] for p in patients)
    assert len(states) >= 20
    assert states.most_common(1)[0][0] in {"CA", "TX", "FL", "NY"}
    by_state = {
        p["address"][0]["state"]: p["address"][0]["postalCode"] for p in patients
    }
    zip_prefixes = {"CA": "9", "TX": "7", "NY": "1", "FL": "3", "WA": "9"}
    for state, prefix in zip_prefixes.items():
        if state in by_state:
            assert by_state[state].startswith(prefix), state


def test_clinical_resources_carry_real_codes(world: World):
    def codes(resources: list[dict], key: str) -> set[tuple[str, str]]:
        return {(c["system"], c["code"]) for r in resources for c in r[key]["coding"]}

    conditions = codes(world.ndjson("ehr/ehr-001/Condition.*.ndjson"), "code")
    assert ("http://snomed.info/sct", "38341003") in conditions
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "I10") in conditions
    assert {c for _, c in conditions} & {"44054006", "E11.9"}
    meds = world.ndjson("ehr/ehr-001/MedicationRequest.*.ndjson")
    rxnorm = codes(meds, "medicationCodeableConcept")
    assert ("http://www.nlm.nih.gov/research/umls/rxnorm", "314076") in rxnorm
    assert {m["status"] for m in meds} <= {"active", "completed", "stopped"}
    assert all(m["dispenseRequest"]["validityPeriod"]["end"] for m in meds)
    vaccines = {
        c for _, c in codes(world.ndjson("ehr/ehr-001/Imm*.ndjson"), "vaccineCode")
    }
    assert vaccines & {"140", "141", "150", "158"}
    assert vaccines & {"208", "207", "300"}
    observations = world.ndjson("ehr/ehr-001/Observation.*.ndjson")
    loinc = {c for _, c in codes(observations, "code")}
    assert {"39156-5", "8480-6", "4548-4", "2093-3"} <= loinc
    assert all(
        isinstance(o["valueQuantity"]["value"], int | float) for o in observations
    )
    procedures = {c for _, c in codes(world.ndjson("ehr/ehr-001/Proc*.ndjson"), "code")}
    assert procedures <= {"24623002", "73761001", "80146002"} and procedures
    encounters = world.ndjson("ehr/ehr-001/Encounter.*.ndjson")
    departments = {e["serviceType"]["coding"][0]["code"] for e in encounters}
    assert {"394814009", "394579002"} <= departments
    first = encounters[0]
    assert first["class"]["code"] in {"AMB", "EMER", "VR"}
    assert first["participant"][0]["individual"]["reference"].startswith(
        "Practitioner/"
    )
    assert first["period"]["start"] < first["period"]["end"]


def test_clinical_references_point_at_written_resources(world: World):
    patients = {p["id"] for p in world.patients if "id" in p}
    encounters = {e["id"] for e in world.ndjson("ehr/ehr-001/Encounter.*.ndjson")}
    for rtype in ("Condition", "Procedure", "MedicationRequest", "Observation"):
        for resource in world.ndjson(f"ehr/ehr-001/{rtype}.*.ndjson"):
            assert resource["subject"]["reference"][8:] in patients, rtype
            assert resource["encounter"]["reference"][10:] in encounters, rtype


def test_only_sensitive_people_carry_ds4p_labels(world: World):
    sensitive = {world.patient_by_mrn[m]["id"] for m in world.mrns("sensitive")}
    labelled = {}
    for condition in world.ndjson("ehr/ehr-001/Condition.*.ndjson"):
        codes = {
            s["code"]
            for s in condition["meta"].get("security", [])
            if s["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        }
        if codes:
            labelled[condition["subject"]["reference"][8:]] = codes
    assert set(labelled) == sensitive
    assert set().union(*labelled.values()) <= {"ETH", "HIV", "PSY", "SEX"}
    encounter_labels = {
        s["code"]
        for e in world.ndjson("ehr/ehr-001/Encounter.*.ndjson")
        for s in e["meta"].get("security", [])
    }
    assert {"42CFRPart2", "HIPAAPsyNotes"} & encounter_labels


def test_deceased_and_minors(world: World):
    deceased = {m for m in world.mrns("deceased")}
    with_death = {_mrn(p) for p in world.patients if "deceasedDateTime" in p}
    assert with_death == deceased
    for mrn in world.mrns("minor"):
        born = datetime.fromisoformat(world.patient_by_mrn[mrn]["birthDate"])
        assert born.replace(tzinfo=UTC) > ANCHOR - timedelta(days=18 * 365)
    for mrn, patient in world.patient_by_mrn.items():
        if mrn and mrn not in world.mrns("minor"):
            born = datetime.fromisoformat(patient["birthDate"]).replace(tzinfo=UTC)
            assert born < ANCHOR - timedelta(days=25 * 365), mrn
    related = world.ndjson("ehr/ehr-001/RelatedPerson.*.ndjson")
    minors = {world.patient_by_mrn[m]["id"] for m in world.mrns("minor")}
    assert {r["patient"]["reference"][8:] for r in related} == minors
    for person in related:
        code = person["relationship"][0]["coding"][0]["code"]
        assert code in {"MTH", "FTH", "GUARD"}
        assert person["period"]["start"]


def test_privacy_office_consents(world: World):
    consents = world.ndjson("ehr/ehr-001/Consent.*.ndjson")
    by_kind: dict[str, set[str]] = {}
    for consent in consents:
        assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
        kind = consent["category"][0]["coding"][0]["code"]
        by_kind.setdefault(kind, set()).add(consent["patient"]["reference"][8:])
        if kind == "restriction":
            assert consent["provision"]["type"] == "deny"
            purposes = {p["code"] for p in consent["provision"]["purpose"]}
            assert purposes & {"MARKETING", "HMARKT"}
        if kind == "confidential-communication":
            assert consent["provision"]["type"] == "permit"
            actions = consent["provision"]["action"]
            assert [a["coding"][0]["code"] for a in actions] == ["mail"]
            (extension,) = consent["extension"]
            assert extension["url"].endswith("/alternative-contact")
            assert extension["valueAddress"]["postalCode"]

    def pids(scenario: str) -> set[str]:
        return {world.patient_by_mrn[m]["id"] for m in world.mrns(scenario)}

    assert by_kind["restriction"] == pids("restriction")
    assert by_kind["confidential-communication"] == pids("confidential_comm")
    assert by_kind.get("part2-consent", set()) <= pids("sensitive")


# ---------------------------------------------------------------- CRM


@pytest.mark.parametrize(
    ("rel", "fields"),
    [
        ("crm/crm-001/Contact.csv", CONTACT_FIELDS),
        ("crm/crm-001/ContactPointTypeConsent.csv", CPTC_FIELDS),
        ("crm/crm-001/AuthorizationFormText.csv", AFT_FIELDS),
        ("crm/crm-001/AuthorizationFormConsent.csv", AFC_FIELDS),
        ("crm/crm-002/Contact.csv", CONTACT_FIELDS),
        ("crm/crm-002/ContactPointTypeConsent.csv", CPTC_FIELDS),
        ("crm/crm-002/AuthorizationFormConsent.csv", AFC_FIELDS),
    ],
)
def test_salesforce_csv_has_a_bom_and_the_contract_header(
    world: World, rel: str, fields: set[str]
):
    raw = (world.landing / rel).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].split(b"\n", 1)[0].decode().split(",")
    assert fields <= set(header)
    rows = world.csv(rel)
    assert rows
    for row in rows:
        assert SF_ID.match(row["Id"])
        assert row["IsDeleted"] in {"TRUE", "FALSE", ""}
        assert SF_TIMESTAMP.match(row["LastModifiedDate"])


def test_salesforce_ids_use_stable_key_prefixes(world: World):
    prefixes = {
        "Contact.csv": "003",
        "ContactPointTypeConsent.csv": "0ZY",
        "AuthorizationFormText.csv": "0cN",
        "AuthorizationFormConsent.csv": "0cM",
    }
    for name, prefix in prefixes.items():
        assert {r["Id"][:3] for r in world.csv(f"crm/crm-001/{name}")} == {prefix}
    # the last three characters are Salesforce's checksum of the first fifteen
    for contact_id in list(world.contacts)[:50]:
        suffix = ""
        for chunk in range(3):
            bits = sum(
                1 << i
                for i, ch in enumerate(contact_id[chunk * 5 : chunk * 5 + 5])
                if ch.isupper()
            )
            suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
        assert contact_id[15:] == suffix


def test_contacts_link_to_patients_as_each_scenario_says(world: World):
    emails = {
        next(t["value"] for t in p["telecom"] if t["system"] == "email"): _mrn(p)
        for p in world.patients
        if "id" in p
    }
    for name, scenario in world.plan.scenarios.items():
        for contact_id, mrn in zip(scenario.contact_ids, scenario.mrns, strict=True):
            contact = world.contacts[contact_id]
            assert emails[contact["Email"]] == mrn, name
            if name == "linked_by_verified_email":
                assert contact["MRN__c"] == "" and contact["EmailVerified__c"] == "TRUE"
            elif name == "unverified_duplicate":
                assert contact["MRN__c"] == ""
                assert contact["EmailVerified__c"] != "TRUE"
            else:
                assert contact["MRN__c"] == mrn, name


def _authorizations(world: World, batch: str = "crm/crm-001") -> dict[str, dict]:
    return {
        row["ConsentGiverId"]: row
        for row in world.csv(f"{batch}/AuthorizationFormConsent.csv")
    }


def test_authorizations_per_scenario(world: World):
    auths = _authorizations(world)
    templates = {r["Id"]: r for r in world.csv("crm/crm-001/AuthorizationFormText.csv")}
    for contact_id in world.ids("no_authorization")[1:]:
        assert contact_id not in auths
    for contact_id in world.ids("clean"):
        auth = auths[contact_id]
        signed = _instant(auth["ConsentCapturedDateTime"])
        assert timedelta(days=29) < ANCHOR - signed < timedelta(days=701)
        assert _instant(auth["ExpirationDateTime__c"]) > ANCHOR + timedelta(days=364)
        assert auth["Status"] == "Signed" and auth["SignerRole__c"] == "Self"
        assert any(
            p in {"MARKETING", "MARKETING:wellness-program"}
            for p in auth["Purposes__c"].split(";")
        )
        assert "email" in auth["Channels__c"].split(";")
        assert "CoveredEntity" in auth["Recipients__c"].split(";")
        assert {"demographics", "contact"} <= set(auth["InfoScope__c"].split(";"))
        assert auth["SignatureMethod__c"] in {"Wet", "ESign"}
        if auth["SignatureMethod__c"] == "ESign":
            assert auth["ESignEvidenceId__c"]
        template = templates[auth["AuthorizationFormTextId"]]
        assert template["AssociatedRegulation__c"] == "HIPAA-164.508"
        assert template["HasRevocationStatement__c"] == "TRUE"
        assert template["HasConditioningStatement__c"] == "TRUE"
        assert template["HasRedisclosureStatement__c"] == "TRUE"
    clean_expiries = [auths[c]["ExpirationDateTime__c"] for c in world.ids("clean")]
    assert any(SF_DATE.match(e) for e in clean_expiries)
    assert any(SF_TIMESTAMP.match(e) for e in clean_expiries)
    for contact_id in world.ids("expired"):
        assert _instant(auths[contact_id]["ExpirationDateTime__c"]) < ANCHOR
    # a planted defect sits on a bare MARKETING purpose, whatever the topic asked
    for name, scenario in world.plan.scenarios.items():
        if not scenario.expected_eligible and name not in {
            "wrong_purpose",
            "no_authorization",  # only the malformed PROMOTIONS row
        }:
            for contact_id in scenario.contact_ids:
                if contact_id in auths:
                    assert auths[contact_id]["Purposes__c"] == "MARKETING", name
    for contact_id in world.ids("declined"):
        assert auths[contact_id]["Status"] == "Declined"
    for contact_id in world.ids("unsigned"):
        assert auths[contact_id]["Status"] == "Signed"
        assert auths[contact_id]["ConsentCapturedDateTime"] == ""
    for contact_id in world.ids("wrong_purpose"):
        assert auths[contact_id]["Purposes__c"] in {
            "MARKETING:weight-management",
            "FUNDRAISING",
        }
    for contact_id in world.ids("wrong_recipient"):
        assert "CoveredEntity" not in auths[contact_id]["Recipients__c"]
    for contact_id in world.ids("wrong_channel"):
        assert auths[contact_id]["Channels__c"] == "sms"
    for contact_id in world.ids("missing_statement"):
        template = templates[auths[contact_id]["AuthorizationFormTextId"]]
        assert template["HasRevocationStatement__c"] == "FALSE"
    related = {r["id"] for r in world.ndjson("ehr/ehr-001/RelatedPerson.*.ndjson")}
    for contact_id in world.ids("minor"):
        auth = auths[contact_id]
        assert auth["SignerRole__c"] in {"Parent", "Guardian"}
        assert auth["SignerRelatedPersonId__c"] in related
        assert auth["SignerAuthority__c"]


def test_revocations_arrive_in_the_later_batch(world: World):
    first = _authorizations(world)
    later = _authorizations(world, "crm/crm-002")
    revoked = world.ids("revoked")
    assert set(later) == set(revoked)
    for contact_id in revoked:
        before, after = first[contact_id], later[contact_id]
        assert before["Status"] == "Signed" and after["Status"] == "Revoked"
        assert after["Id"] == before["Id"]
        assert _instant(after["LastModifiedDate"]) > _instant(
            before["LastModifiedDate"]
        )
        assert _instant(after["RevokedDateTime__c"]) < ANCHOR
        assert after["RevocationChannel__c"]
        assert after["RevocationWritten__c"] in {"TRUE", "FALSE"}


def test_email_opt_outs_are_planted_where_the_plan_says(world: World):
    crm_optouts = [
        r
        for batch in ("crm/crm-001", "crm/crm-002")
        for r in world.csv(f"{batch}/ContactPointTypeConsent.csv")
        if r["PrivacyConsentStatus"] == "OptOut"
    ]
    later = world.csv("crm/crm-002/ContactPointTypeConsent.csv")
    unsubscribed = {
        (e["contact_id"], e["event"], e.get("asm_group_id")) for e in world.sendgrid
    }

    def crm_list(contact_id: str, list_id: str) -> bool:
        return any(
            r["PartyId"] == contact_id
            and r["ListId__c"] == list_id
            and r["DataUsePurpose"] == "MARKETING"
            for r in crm_optouts
        )

    for contact_id in world.ids("email_unsub_this_list"):
        assert crm_list(contact_id, "4101") or (
            (contact_id, "group_unsubscribe", 4101) in unsubscribed
        )
    assert {r["PartyId"] for r in later} <= set(world.ids("email_unsub_this_list"))
    for contact_id in world.ids("email_unsub_other_list"):
        assert crm_list(contact_id, "4102") or (
            (contact_id, "group_unsubscribe", 4102) in unsubscribed
        )
    spam = {e["contact_id"] for e in world.sendgrid if e["event"] == "spamreport"}
    assert spam == set(world.ids("email_spamreport"))
    flagged = {
        r["Id"]
        for batch in ("crm/crm-001", "crm/crm-002")
        for r in world.csv(f"{batch}/Contact.csv")
        if r["HasOptedOutOfEmail"] == "TRUE"
    }
    assert flagged == set(world.ids("email_contact_optout"))
    fundraising = {
        r["PartyId"] for r in crm_optouts if r["DataUsePurpose"] == "FUNDRAISING"
    }
    assert fundraising == set(world.ids("fundraising_optout"))
    # nobody else opted out of anything
    opted_out = (
        {r["PartyId"] for r in crm_optouts}
        | flagged
        | {
            e["contact_id"]
            for e in world.sendgrid
            if e["event"] in {"unsubscribe", "group_unsubscribe", "spamreport"}
        }
    )
    planted = {
        i
        for name in (
            "email_unsub_this_list",
            "email_unsub_other_list",
            "email_spamreport",
            "email_contact_optout",
            "fundraising_optout",
        )
        for i in world.ids(name)
    }
    assert opted_out == planted


# ---------------------------------------------------------------- engagement


def test_sendgrid_posts_carry_every_event_and_the_real_quirks(world: World):
    sendgrid = world.landing / "engagement/eng-001/sendgrid"
    posts = sorted(sendgrid.glob("*.json"))
    assert posts and all(isinstance(json.loads(p.read_text()), list) for p in posts)
    assert list(sendgrid.glob("*.jsonl"))
    events = world.sendgrid
    names = Counter(e["event"] for e in events)
    assert set(names) >= {
        "processed",
        "delivered",
        "open",
        "click",
        "bounce",
        "dropped",
        "deferred",
        "unsubscribe",
        "group_unsubscribe",
        "spamreport",
    }
    assert any(name[0].isupper() for name in names)
    assert any(isinstance(e["timestamp"], str) for e in events)
    assert any(
        isinstance(e["timestamp"], int) and e["timestamp"] > 10**12 for e in events
    )
    assert any(e.get("sg_machine_open") is True for e in events)
    for event in events[:200]:
        assert {"contact_id", "campaign_id", "workflow_id", "step_id"} <= set(event)
        assert event["email"] and event["sg_message_id"]
    ids = [e.get("sg_event_id") for e in events]
    assert ids.count(None) == 1
    assert len(ids) - len(set(ids)) == 1


def test_email_workflow_rates_are_realistic(world: World):
    events = world.sendgrid
    processed = {e["sg_message_id"] for e in events if e["event"] == "processed"}
    delivered = {
        e["sg_message_id"] for e in events if e["event"].lower() == "delivered"
    }
    opens: dict[str, list] = {}
    for event in events:
        if event["event"].lower() == "open":
            opens.setdefault(event["sg_message_id"], []).append(event)
    machine = {m for m, o in opens.items() if any(e.get("sg_machine_open") for e in o)}
    human = set(opens) - machine
    clicked = {e["sg_message_id"] for e in events if e["event"] == "click"}
    assert 0.95 < len(delivered) / len(processed) < 0.99
    assert 0.22 < len(opens) / len(delivered) < 0.38
    assert 0.18 < len(machine) / len(opens) < 0.42
    assert 0.06 < len(clicked) / len(human) < 0.22
    steps = {e["step_id"] for e in events}
    assert len(steps) == 9
    per_contact = (
        len(events) + world.plan.files["engagement/eng-001/app/events.jsonl"]
    ) / CONTACTS
    assert 15 < per_contact < 25


def test_twilio_stop_and_app_events(world: World):
    base = world.landing / "engagement/eng-001"
    messages = [
        json.loads(x) for x in (base / "twilio/messages.jsonl").read_text().splitlines()
    ]
    assert all(
        "received_at" in m and m["MessageSid"].startswith("SM") for m in messages
    )
    stops = {m["From"] for m in messages if m.get("OptOutType") == "STOP"}
    mobiles = {}
    for contact_id in world.ids("sms_stop"):
        digits = re.sub(r"\D", "", world.contacts[contact_id]["MobilePhone"])
        mobiles[contact_id] = "+1" + digits
    assert stops == set(mobiles.values())
    assert {m["MessageStatus"] for m in messages if "MessageStatus" in m} >= {
        "sent",
        "delivered",
    }
    events = [
        json.loads(x) for x in (base / "app/events.jsonl").read_text().splitlines()
    ]
    types = Counter(e["type"] for e in events)
    assert set(types) >= {
        "sms_sent",
        "portal_login",
        "appointment_booked",
        "appointment_attended",
        "conversion",
    }
    assert all(("contact_id" in e) != ("mrn" in e) for e in events)
    sids = {m["MessageSid"] for m in messages}
    assert all(e["message_sid"] in sids for e in events if e["type"] == "sms_sent")
    assert all(isinstance(e["properties"], dict) for e in events)


# ---------------------------------------------------------------- malformed rows


def test_malformed_rows_are_where_the_plan_says(world: World):
    by_entity = {m.entity: m for m in world.plan.malformed}
    assert len(world.plan.malformed) == 5

    patient = by_entity["Patient"]
    line = (world.landing / patient.file).read_text().splitlines()[patient.line - 1]
    assert "id" not in json.loads(line)

    contact = by_entity["Contact"]
    row = world.csv(contact.file)[contact.line - 1]
    assert row["Id"] == contact.record_id
    with pytest.raises(ValueError):
        datetime.strptime(row["Birthdate"], "%Y-%m-%d")

    auth = by_entity["AuthorizationFormConsent"]
    row = world.csv(auth.file)[auth.line - 1]
    assert row["Id"] == auth.record_id and row["Purposes__c"] == "PROMOTIONS"
    assert row["ConsentGiverId"] in world.ids("no_authorization")

    keyless, replay = [m for m in world.plan.malformed if m.entity == "sendgrid_event"]
    post = json.loads((world.landing / keyless.file).read_text())
    assert "sg_event_id" not in post[keyless.line - 1]
    replayed = (world.landing / replay.file).read_text().splitlines()[replay.line - 1]
    original = json.loads((world.landing / keyless.file).read_text())[1]
    assert json.loads(replayed) == original
    assert original["sg_event_id"] == replay.record_id


# ---------------------------------------------------------------- arguments


def test_rejects_a_naive_anchor_and_a_used_batch_folder(world: World, tmp_path: Path):
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(tmp_path, contacts=10, seed=1, anchor=datetime(2026, 6, 5))
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path, contacts=0, seed=1, anchor=ANCHOR)
    with pytest.raises(FileExistsError, match="ehr-001"):
        generate(world.landing, contacts=10, seed=1, anchor=ANCHOR)


def test_small_runs_still_work(tmp_path: Path):
    plan = generate(tmp_path / "landing", contacts=5, seed=3, anchor=ANCHOR)
    assert sum(s.count for s in plan.scenarios.values()) == 5
    assert plan.files["ehr/ehr-001/Patient.000.ndjson"] == 6


def test_default_anchor_is_today_at_midnight_utc():
    anchor = default_anchor()
    assert anchor.tzinfo is not None and anchor.utcoffset() == timedelta(0)
    assert (anchor.hour, anchor.minute, anchor.second, anchor.microsecond) == (0,) * 4
    assert datetime.now(UTC) - anchor < timedelta(days=1)
