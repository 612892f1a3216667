"""Engagement events: SendGrid Event Webhook posts, Twilio callbacks, app events.

Mapping decisions (INPUTS.md, "Engagement"):

- SendGrid (`sendgrid/*.json`: one POST body, an array of events or one event
  object; `sendgrid/*.jsonl`: one event a line). `event` is stored lowercased;
  `timestamp` may be seconds or milliseconds since 1970, as a number or numeric
  text (a value of 1e11 or more is milliseconds), or ISO 8601; `category` as text
  or an array (joined by `;`, an empty array is null); `type` (bounce or blocked)
  is `bounce_type`; `sg_machine_open` is `is_machine_open`; Clearlist's custom
  arguments (`contact_id`, `campaign_id`, `workflow_id`, `step_id`) are read at the
  top level, else from a `unique_args` or `custom_args` object. `_record_at` is
  the event time. The key is `sg_event_id`.
- Twilio (`twilio/*.jsonl`): a line with a `MessageStatus` (else `SmsStatus`) other
  than `received`/`receiving` is a status callback (`message_kind` = `status`); any
  other is an inbound message (`inbound`). `MessageSid` (else `SmsSid`) is the
  message; `received_at` (ISO 8601 or seconds since 1970) is `occurred_at` and
  `_record_at`. The key is `MessageSid` with kind and status.
- App events (`app/*.jsonl`): `type` is `event_type`; `properties` is kept as
  compact JSON text; `occurred_at` (ISO 8601 or seconds since 1970) is
  `_record_at`. The key is `event_id`.

Quarantined: a missing key, event name, time or (SendGrid) email; an unreadable
time; a SendGrid event, Twilio status or opt-out type, or app event type outside
the documented set; an inbound message without `From`; an app event with neither
`contact_id` nor `mrn`.
"""

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipelines.lib.ingest.conform import Check, Chunk, Field, Kind, ReadContext
from pipelines.lib.ingest.formats import iter_json_document, iter_lines
from pipelines.lib.ingest.specs import JsonSpec, read_json_spec

SENDGRID_EVENTS = frozenset(
    {
        "processed",
        "dropped",
        "delivered",
        "deferred",
        "bounce",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    }
)
TWILIO_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "read",
        "partially_delivered",
    }
)
TWILIO_OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})
APP_EVENT_TYPES = frozenset(
    {
        "sms_sent",
        "portal_login",
        "form_submitted",
        "appointment_booked",
        "appointment_attended",
        "appointment_no_show",
        "purchase",
        "conversion",
    }
)

V = "VARCHAR"
_CUSTOM_ARGS = ("contact_id", "campaign_id", "workflow_id", "step_id")


def _custom_arg(name: str) -> str:
    return f"coalesce(r.{name}, r.unique_args.{name}, r.custom_args.{name})"


SENDGRID = JsonSpec(
    table="esp_sendgrid_events",
    key="sg_event_id",
    structure={
        "sg_event_id": V,
        "event": V,
        "email": V,
        "timestamp": V,
        "sg_message_id": V,
        "category": "JSON",
        "asm_group_id": V,
        "url": V,
        "reason": V,
        "type": V,
        "sg_machine_open": V,
        **dict.fromkeys(_CUSTOM_ARGS, V),
        "unique_args": dict.fromkeys(_CUSTOM_ARGS, V),
        "custom_args": dict.fromkeys(_CUSTOM_ARGS, V),
    },
    columns={
        "sg_event_id": "r.sg_event_id",
        "event": "lower(r.event)",
        "email": "r.email",
        "occurred_at": "r.timestamp",
        "sg_message_id": "r.sg_message_id",
        "category": "case json_type(r.category)"
        " when 'ARRAY' then"
        " array_to_string(from_json(r.category, '[\"VARCHAR\"]'), ';')"
        " when 'NULL' then null"
        " else from_json(r.category, '\"VARCHAR\"') end",
        "asm_group_id": "r.asm_group_id",
        "url": "r.url",
        "reason": "r.reason",
        "bounce_type": "r.type",
        "is_machine_open": "r.sg_machine_open",
        **{name: _custom_arg(name) for name in _CUSTOM_ARGS},
    },
    fields=(
        Field("sg_event_id", "sg_event_id", required=True),
        Field("event", "event", required=True, codes=SENDGRID_EVENTS),
        Field("email", "email", required=True),
        Field("occurred_at", "timestamp", Kind.EPOCH, required=True),
        Field("sg_message_id", "sg_message_id"),
        Field("category", "category", Kind.LIST),
        Field("asm_group_id", "asm_group_id"),
        Field("url", "url"),
        Field("reason", "reason"),
        Field("bounce_type", "type"),
        Field("is_machine_open", "sg_machine_open", Kind.BOOL),
        *(Field(name, name) for name in _CUSTOM_ARGS),
    ),
    record_at=pl.col("occurred_at"),
)

TWILIO = JsonSpec(
    table="sms_twilio_messages",
    key="message_sid",
    structure={
        "MessageSid": V,
        "SmsSid": V,
        "MessageStatus": V,
        "SmsStatus": V,
        "To": V,
        "From": V,
        "ErrorCode": V,
        "Body": V,
        "OptOutType": V,
        "received_at": V,
    },
    lets={"status": "nullif(trim(coalesce(r.MessageStatus, r.SmsStatus)), '')"},
    columns={
        "message_sid": "coalesce(r.MessageSid, r.SmsSid)",
        "message_kind": "case when status is null"
        " or lower(status) in ('received', 'receiving')"
        " then 'inbound' else 'status' end",
        "message_status": "lower(status)",
        "to_number": "r.To",
        "from_number": "r.From",
        "error_code": "r.ErrorCode",
        "body": "r.Body",
        "opt_out_type": "upper(r.OptOutType)",
        "occurred_at": "r.received_at",
    },
    fields=(
        Field("message_sid", "MessageSid", required=True),
        Field("message_kind", "MessageStatus"),
        Field("message_status", "MessageStatus", codes=TWILIO_STATUSES),
        Field("to_number", "To"),
        Field("from_number", "From"),
        Field("error_code", "ErrorCode"),
        Field("body", "Body"),
        Field("opt_out_type", "OptOutType", codes=TWILIO_OPT_OUT_TYPES),
        Field("occurred_at", "received_at", Kind.EPOCH, required=True),
    ),
    checks=(
        Check(
            (pl.col("message_kind") == "inbound") & pl.col("from_number").is_null(),
            "From is missing on an inbound message",
        ),
    ),
    record_at=pl.col("occurred_at"),
)

APP = JsonSpec(
    table="app_events",
    key="event_id",
    structure={
        "event_id": V,
        "occurred_at": V,
        "contact_id": V,
        "mrn": V,
        "type": V,
        "campaign_id": V,
        "workflow_id": V,
        "step_id": V,
        "message_sid": V,
        "properties": "JSON",
    },
    columns={
        "event_id": "r.event_id",
        "event_type": "r.type",
        "occurred_at": "r.occurred_at",
        "contact_id": "r.contact_id",
        "mrn": "r.mrn",
        "campaign_id": "r.campaign_id",
        "workflow_id": "r.workflow_id",
        "step_id": "r.step_id",
        "message_sid": "r.message_sid",
        "properties": "case when json_type(r.properties) = 'NULL' then null"
        " else json(r.properties) end",
    },
    fields=(
        Field("event_id", "event_id", required=True),
        Field("event_type", "type", required=True, codes=APP_EVENT_TYPES),
        Field("occurred_at", "occurred_at", Kind.EPOCH, required=True),
        Field("contact_id", "contact_id"),
        Field("mrn", "mrn"),
        Field("campaign_id", "campaign_id"),
        Field("workflow_id", "workflow_id"),
        Field("step_id", "step_id"),
        Field("message_sid", "message_sid"),
        Field("properties", "properties"),
    ),
    checks=(
        Check(
            pl.col("contact_id").is_null() & pl.col("mrn").is_null(),
            "contact_id and mrn are both missing",
        ),
    ),
    record_at=pl.col("occurred_at"),
)

CHANNELS: dict[str, tuple[JsonSpec, tuple[str, ...]]] = {
    "sendgrid": (SENDGRID, (".json", ".jsonl")),
    "twilio": (TWILIO, (".jsonl",)),
    "app": (APP, (".jsonl",)),
}
"""Each engagement folder, the spec of its records and the file suffixes it takes."""


def read_events(
    path: Path, rel: str, channel: str, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read one engagement file of `channel` into its raw table, in chunks.

    Raises:
        IngestError: The file or a line is not JSON of the expected shape.
    """
    spec, _ = CHANNELS[channel]
    if path.suffix == ".json":
        chunks = iter_json_document(path, rel)
    else:
        chunks = iter_lines(path, rel)
    return read_json_spec(chunks, rel, spec, ctx)
