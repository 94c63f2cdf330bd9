"""``POST /contacts``: what customers said to the contact centre (calls, chats, branch, the 12378 hotline).

The rows are the contract's ``contacts`` table (``opsmatch.contract``): validated (UTF-8, at most
``CONTACT_TEXT_MAX_CHARS`` characters, known customer and task), appended once each (idempotent by
``contact_id``; the event store's write decides what is new), audited under the caller's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from serving.api.contract_models import row_model
from serving.api.schemas import HARD_MAX_BATCH
from serving.config import Strict
from serving.errors import rules_beyond_schema
from serving.state.ingestion import ingest_rows

if TYPE_CHECKING:  # built at import time (see serving.api.schemas): fields from the contract
    from serving.runtime.context import Context

    class ContactIn(Strict):
        def __init__(self, **data: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    ContactIn = row_model("ContactIn", "contacts", Strict)


class ContactsRequest(Strict):
    """Calls and chats with their summaries, in Chinese as said; idempotent by ``contact_id``."""

    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class ContactsResponse(BaseModel):
    received: int
    new: int = Field(description="rows the event store wrote now")
    duplicates: int = Field(description="rows already stored with the same content (ignored)")


def record_contacts(engine: Context, req: ContactsRequest, *, actor: str) -> ContactsResponse:
    """Validate and store the contacts once each; the event store's write transaction counts new ones."""
    engine.limit(len(req.contacts), engine.config.max_outcome_rows, "contacts", "contacts")
    now = engine.clock()
    with rules_beyond_schema():
        got = ingest_rows(
            "contacts", [r.model_dump() for r in req.contacts], field="contacts", events=engine.settings,
            now=now, validate=engine.validate_rows,
        )  # fmt: skip
    engine.store.audit("contacts", actor, None, {"received": got.received, "new": got.new}, now)
    return ContactsResponse(received=got.received, new=got.new, duplicates=got.duplicates)
