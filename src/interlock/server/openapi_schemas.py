"""The JSON shapes of server/views.py as OpenAPI 3.0 schemas (``components``)."""

from __future__ import annotations

from typing import Any

from interlock.auth.principal import SCOPES

ANY: dict[str, Any] = {}  # any JSON value
TEXT = {"type": "string"}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
TEXTS = {"type": "array", "items": TEXT}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": [k for k in properties if k not in optional]}


def page(item: str) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": ref(item)}, "next": nullable(TEXT)})


INSTANCE = obj({
    "machine": TEXT, "id": TEXT, "version": TEXT,
    "status": {"type": "string", "enum": ["active", "done", "cancelled"]},
    "paused": {"type": "boolean"}, "done": {"type": "boolean"}, "output": ANY, "step": INTEGER,
    "queued": INTEGER, "state": TEXTS, "configuration": TEXTS, "tags": TEXTS,
    "context": {"type": "object", "description": "The public part (keys not starting with _) unless the "
                "caller is admin."},
    "parent": nullable(TEXT), "created_at": NUMBER, "updated_at": NUMBER})

HISTORY_ENTRY = obj({
    "step": INTEGER, "at": NUMBER,
    "outcome": {"type": "string", "enum": ["started", "applied", "ignored", "failed", "refused", "cancelled"]},
    "event": nullable({"type": "object"}), "idempotency_key": nullable(TEXT), "cause": nullable(TEXT),
    "source": TEXTS, "target": TEXTS, "context_change": {"type": "object"},
    "effects": {"type": "array", "items": {"type": "object"}}, "error": nullable(TEXT)})

DETAIL = obj({"path": TEXT, "message": TEXT, "hint": TEXT})
ERROR = obj({"error": obj({"status": INTEGER, "code": TEXT, "message": TEXT,
                           "details": {"type": "array", "items": DETAIL}})})

KEY_FIELDS = {"id": TEXT, "label": TEXT, "scopes": TEXTS, "created_at": NUMBER, "last_used_at": nullable(NUMBER),
              "revoked": {"type": "boolean"}, "revoked_at": nullable(NUMBER)}

# the live routes (server/live.py): what a WebSocket or an event stream carries
LIVE: dict[str, Any] = {
    "Subscribe": {**obj({
        "subscribe": {**obj({"machine": {"type": "string", "minLength": 1},
                             "instances": {**TEXTS, "maxItems": 1000,
                                           "description": "Only these instances; left out, all of them."}},
                            optional=("instances",)), "additionalProperties": False},
        "after": {"type": "integer", "minimum": 0,
                  "description": "Resume after this position (0: the start of the feed); left out: from now."},
        "authorization": {"type": "string", "minLength": 1, "maxLength": 8192,
                          "description": "What the Authorization header would hold (`Bearer KEY`), for "
                                         "clients that cannot set it (browsers); not with the header."}},
        optional=("after", "authorization")), "additionalProperties": False,
        "description": "The client's first (and only) WebSocket message."},
    "Subscribed": obj({"subscribed": obj({"machine": TEXT, "instances": nullable(TEXTS), "after": INTEGER})}),
    "LiveChange": obj({
        "position": INTEGER, "machine": TEXT, "id": TEXT, "step": INTEGER,
        "outcome": {"type": "string", "enum": ["started", "applied", "ignored", "failed", "cancelled"]},
        "at": NUMBER,
        "instance": {"allOf": [ref("Instance")], "nullable": True,
                     "description": "The instance after the change; null when this process cannot read "
                                    "its version."}}),
    "LiveDropped": obj({"reason": TEXT, "after": {**INTEGER, "description": "The position to resume after."}}),
}

SCHEMAS: dict[str, Any] = {
    "Error": ERROR,
    "Health": obj({"status": TEXT, "version": TEXT, "schema": INTEGER, "live_subscribers": INTEGER}),
    "Instance": INSTANCE,
    "InstancePage": page("Instance"),
    "SendResult": obj({"outcome": {"type": "string", "enum": ["applied", "ignored", "queued", "failed"]},
                       "step": nullable(INTEGER), "duplicate": {"type": "boolean"},
                       "instance": {"allOf": [ref("Instance")], "nullable": True,
                                    "description": "The instance after the event; null when the machine's "
                                                   "read rule does not let the caller read it."}}),
    "Written": {"anyOf": [ref("Instance"), ref("InstanceRef")],
                "description": "The instance after a create, pause, resume or cancel; only its InstanceRef "
                               "when the machine's read rule does not let the caller read it."},
    "InstanceRef": obj({"machine": TEXT, "id": TEXT, "version": TEXT,
                        "status": {"type": "string", "enum": ["active", "done", "cancelled"]},
                        "paused": {"type": "boolean"}}),
    "Accepted": obj({"accepted": {"type": "boolean"}}),
    "HistoryEntry": HISTORY_ENTRY,
    "HistoryPage": page("HistoryEntry"),
    "Machine": obj({"name": TEXT, "versions": TEXTS, "latest": TEXT}),
    "MachinePage": page("Machine"),
    "Version": obj({"name": TEXT, "version": TEXT,
                    "format": {"type": "string", "enum": ["yaml", "json", "scxml", "python"]},
                    "definition": TEXT, "diagram": obj({"mermaid": TEXT}), "registered_at": NUMBER,
                    "source": {"type": "string", "enum": ["upload", "app"]}}),
    "NewInstance": {**obj({"name": {"type": "string", "minLength": 1},
                           "input": nullable({"type": "object"}), "version": nullable(TEXT)},
                          optional=("input", "version")), "additionalProperties": False},
    "Event": {"type": "object", "required": ["type"],
              "properties": {"type": {"type": "string", "minLength": 1}},
              "description": "The event's name in `type`; every other key is its data."},
    "Context": obj({"context": {"type": "object"}}),
    "Timers": obj({"items": {"type": "array", "items": obj({
        "sendid": TEXT, "event": {"type": "object"}, "target": nullable(TEXT), "due_at": NUMBER})},
        "next": nullable(TEXT)}),
    "Tasks": obj({"items": {"type": "array", "items": obj({
        "key": TEXT, "invokeid": TEXT, "service": TEXT, "input": ANY, "status": TEXT, "attempt": INTEGER,
        "available_at": NUMBER, "lease_until": nullable(NUMBER), "last_error": nullable(TEXT)})},
        "next": nullable(TEXT)}),
    "ApiKey": obj(KEY_FIELDS),
    "ApiKeyPage": page("ApiKey"),
    "NewApiKey": obj({**KEY_FIELDS, "key": {"type": "string", "description": "ilk_<id>_<secret>: in the "
                                                                              "answer to its creation only"}}),
    "KeyRequest": {**obj({"scopes": {"type": "array", "minItems": 1,
                                     "items": {"type": "string", "enum": list(SCOPES)}},
                          "label": {"type": "string", "maxLength": 200,
                                    "description": "Printable text: what the key is for."}},
                         optional=("label",)), "additionalProperties": False},
    **LIVE,
    "Children": obj({"items": {"type": "array", "items": obj({
        "machine": TEXT, "id": TEXT, "version": TEXT, "status": TEXT, "invokeid": nullable(TEXT)})},
        "next": nullable(TEXT)}),
}

COMPONENTS: dict[str, Any] = {
    "schemas": SCHEMAS,
    "responses": {"Error": {"description": "The request failed; `error.code` says why (docs/server.md).",
                            "content": {"application/json": {"schema": ref("Error")}}}},
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "An API key or a token; none in development mode."}},
}
