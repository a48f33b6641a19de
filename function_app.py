"""Azure Functions triggers (Python v2 model). Each one only unwraps its input and calls ingest_core."""

import azure.functions as func

from ingest_core import entry
from ingest_core.settings import BLOB_TRIGGER_CONNECTION, POISON_QUEUE

app = func.FunctionApp()


# Flex Consumption supports only the Event Grid source; the path and connection are
# resolved by the host from app settings (%CATALOG_CONTAINER%, CatalogStorage__*).
@app.function_name(name="on_catalog_blob")
@app.blob_trigger(
    arg_name="blob",
    path="%CATALOG_CONTAINER%/{name}",
    connection=BLOB_TRIGGER_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def on_catalog_blob(blob: func.InputStream) -> None:
    """A blob landed in the watched container."""
    props = blob.blob_properties or {}
    entry.on_blob(blob.uri, props.get("ETag") or props.get("Etag"), blob.length, blob.read())


@app.function_name(name="on_blob_event")
@app.event_grid_trigger(arg_name="event")
def on_blob_event(event: func.EventGridEvent) -> None:
    """A BlobCreated event from another account or topic."""
    entry.on_event(
        {"eventType": event.event_type, "subject": event.subject, "topic": event.topic, "id": event.id,
         "data": event.get_json()}
    )  # fmt: skip


# The blob extension's poison queue (on the app's own storage: CatalogStorage__queueServiceUri).
@app.function_name(name="on_poison_blob")
@app.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection=BLOB_TRIGGER_CONNECTION)
def on_poison_blob(msg: func.QueueMessage) -> None:
    """The host gave up delivering an upload: its job says so."""
    entry.on_poison(msg.get_body().decode("utf-8", "replace"), getattr(msg, "dequeue_count", None))


@app.function_name(name="reconcile")
@app.timer_trigger(arg_name="timer", schedule="%RECONCILE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    """Follow runs to their end and resume stalled jobs."""
    entry.on_reconcile()


@app.function_name(name="sweep")
@app.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    """Delete stale ingestion sources this app owns."""
    entry.on_sweep()
