"""events: BlobCreated payloads and blob-trigger input become Drops; everything else is skipped."""

from datetime import UTC, datetime

import pytest

from ingest_core.errors import InvalidDrop
from ingest_core.events import (
    MAX_BLOB_NAME_CHARS,
    MAX_URL_CHARS,
    NEW_UPLOAD_APIS,
    Drop,
    blob_created_event,
    canonical_blob_url,
    container_url_of,
    drop_from_blob_trigger,
    drops_from_event,
    parse_blob_url,
)
from ingest_core.trust import TOPIC_RE

DOC_SAMPLE = {
    "topic": "/subscriptions/s/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
    "subject": "/blobServices/default/containers/testcontainer/blobs/a/catalog.json",
    "eventType": "Microsoft.Storage.BlobCreated",
    "eventTime": "2017-06-26T18:41:00.9584103Z",
    "id": "831e1650-001e-001b-66ab-eeb76e069631",
    "data": {
        "api": "PutBlockList",
        "eTag": '"0x8D4BCC2E4835CD0"',
        "contentLength": 524288,
        "blobType": "BlockBlob",
        "url": "https://my-storage-account.blob.core.windows.net/testcontainer/a/catalog.json",
        "sequencer": "00000000000004420000000000028963",
        "storageDiagnostics": {"batchId": "b68529f3"},
    },
    "dataVersion": "",
    "metadataVersion": "1",
}


def test_event_grid_schema_array_gives_one_drop_with_unquoted_etag():
    (drop,) = drops_from_event([DOC_SAMPLE])
    assert (drop.account, drop.container, drop.path) == ("my-storage-account", "testcontainer", "a/catalog.json")
    assert drop.etag == "0x8D4BCC2E4835CD0"
    assert drop.sequencer == "00000000000004420000000000028963"
    assert container_url_of(drop.url) == "https://my-storage-account.blob.core.windows.net/testcontainer"


def test_cloudevents_schema_is_accepted():
    ce = {"specversion": "1.0", "type": DOC_SAMPLE["eventType"], "source": "/x", "id": "1",
          "subject": DOC_SAMPLE["subject"], "data": DOC_SAMPLE["data"]}  # fmt: skip
    assert drops_from_event(ce)[0].path == "a/catalog.json"


@pytest.mark.parametrize("api", ["PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"])
def test_each_completed_upload_api_counts(api):
    ev = {**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "api": api}}
    assert len(drops_from_event(ev)) == 1


@pytest.mark.parametrize("api", ["PutBlock", "CreateFile", "SetBlobMetadata", ""])
def test_other_apis_are_not_uploads(api):
    ev = {**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "api": api}}
    assert drops_from_event(ev) == []


def test_other_event_types_are_ignored():
    assert drops_from_event({**DOC_SAMPLE, "eventType": "Microsoft.Storage.BlobDeleted"}) == []


def test_skipped_events_do_not_hide_the_uploads_after_them():
    deleted = {**DOC_SAMPLE, "eventType": "Microsoft.Storage.BlobDeleted"}
    partial = {**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "api": "PutBlock"}}
    assert [d.path for d in drops_from_event([deleted, partial, DOC_SAMPLE])] == ["a/catalog.json"]


def test_event_keeps_subject_and_topic_for_the_trust_check():
    (drop,) = drops_from_event(DOC_SAMPLE)
    assert drop.subject == DOC_SAMPLE["subject"] and drop.topic == DOC_SAMPLE["topic"]
    ce = {"specversion": "1.0", "type": DOC_SAMPLE["eventType"], "source": DOC_SAMPLE["topic"], "id": "1",
          "subject": DOC_SAMPLE["subject"], "data": DOC_SAMPLE["data"]}  # fmt: skip
    assert drops_from_event(ce)[0].topic == DOC_SAMPLE["topic"]  # CloudEvents: `source` is the topic


def test_an_event_without_a_topic_gives_a_drop_without_one():
    """Only a CloudEvent's `source` stands in for the topic; otherwise there is no topic (and nothing to check)."""
    no_topic = {k: v for k, v in DOC_SAMPLE.items() if k != "topic"}
    assert drops_from_event(no_topic)[0].topic == ""
    assert drops_from_event({**no_topic, "source": "/subscriptions/s/elsewhere"})[0].topic == ""
    assert drops_from_event({**DOC_SAMPLE, "topic": ""})[0].topic == ""


@pytest.mark.parametrize(
    ("event", "logged"),
    [
        (5, "not a JSON object"),
        ({**DOC_SAMPLE, "data": "x"}, "bad data"),
        ({**DOC_SAMPLE, "data": [1]}, "bad data"),
        ({k: v for k, v in DOC_SAMPLE.items() if k != "subject"}, "bad subject"),
        ({**DOC_SAMPLE, "subject": 7}, "bad subject"),
        ({**DOC_SAMPLE, "topic": ["x"]}, "bad topic"),
        ({**DOC_SAMPLE, "data": {"api": "PutBlob"}}, "bad data.url"),
        ({**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "url": 5}}, "bad data.url"),
        (
            {**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "url": "https://a.blob.core.windows.net/" + "x" * 5000}},
            "bad data.url",
        ),
        ({**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "url": "https://[::1/c/a"}}, "not a blob URL"),
        ({**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "url": "https://a.blob.core.windows.net/c"}}, "not a blob URL"),
        ({**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "contentLength": "12"}}, "bad data.contentLength"),
        ({**DOC_SAMPLE, "data": {**DOC_SAMPLE["data"], "eTag": 1}}, "bad data.eTag"),
    ],
)
def test_a_malformed_event_is_logged_and_dropped_without_hiding_the_others(event, logged, caplog):
    (drop,) = drops_from_event([event, DOC_SAMPLE])
    assert drop.path == "a/catalog.json"
    (record,) = [r for r in caplog.records if r.name == "ingest_core.events"]
    assert record.levelname == "WARNING" and logged in record.getMessage()


@pytest.mark.parametrize("payload", [None, "text", 3, {"no": "type"}, [None, []]])
def test_payloads_that_hold_no_event_give_no_drops(payload):
    assert drops_from_event(payload) == []


@pytest.mark.parametrize(
    ("uri", "etag", "length"),
    [
        (None, "e", 1),
        (5, "e", 1),
        ("", "e", 1),
        ("https://a.blob.core.windows.net/c", "e", 1),
        ("https://[x/c/b", "e", 1),
    ],
)
def test_unusable_blob_trigger_input_is_invalid(uri, etag, length):
    with pytest.raises(InvalidDrop):
        drop_from_blob_trigger(uri, etag, length)


def test_odd_blob_trigger_properties_are_ignored_not_fatal():
    drop = drop_from_blob_trigger("https://a.blob.core.windows.net/c/catalog.json", 5, "big")  # type: ignore[arg-type]
    assert (drop.etag, drop.size) == ("", None)


def test_sas_query_is_stripped_from_the_drop_url():
    data = {**DOC_SAMPLE["data"], "url": DOC_SAMPLE["data"]["url"] + "?sv=1&sig=SECRET"}
    (drop,) = drops_from_event({**DOC_SAMPLE, "data": data})
    assert "sig=" not in drop.url and "SECRET" not in drop.model_dump_json()


def test_azurite_path_style_url():
    assert parse_blob_url("https://127.0.0.1:10000/devstoreaccount1/catalogs/t/x/catalog.json") == (
        "devstoreaccount1", "catalogs", "t/x/catalog.json")  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net/container",
        "https://acct.blob.core.windows.net//catalog.json",  # no container
        "https://127.0.0.1:10000/devstoreaccount1//catalog.json",
        "https://acct.blob.core.windows.net/container/",  # a folder, not a blob
        "https://acct.blob.core.windows.net/container/a/",
        "https://127.0.0.1:10000/devstoreaccount1/container",
    ],
)
def test_url_without_container_or_blob_name_is_invalid(url):
    with pytest.raises(InvalidDrop, match="not a blob URL"):
        parse_blob_url(url)


@pytest.mark.parametrize(
    ("url", "parsed", "container_url"),
    [
        ("https://1data.blob.core.windows.net/cats/a/catalog.json", ("1data", "cats", "a/catalog.json"),
         "https://1data.blob.core.windows.net/cats"),  # account names may start with a digit
        ("https://1data.blob.core.usgovcloudapi.net/cats/a/catalog.json", ("1data", "cats", "a/catalog.json"),
         "https://1data.blob.core.usgovcloudapi.net/cats"),  # another cloud's suffix
        ("http://devstoreaccount1.blob.localhost:10000/cats/catalog.json", ("devstoreaccount1", "cats", "catalog.json"),
         "http://devstoreaccount1.blob.localhost:10000/cats"),  # Azurite's production-style URL
        ("http://localhost:10000/devstoreaccount1/cats/catalog.json", ("devstoreaccount1", "cats", "catalog.json"),
         "http://localhost:10000/devstoreaccount1/cats"),
        ("http://azurite:10000/devstoreaccount1/cats/catalog.json", ("devstoreaccount1", "cats", "catalog.json"),
         "http://azurite:10000/devstoreaccount1/cats"),  # a compose service name
        ("http://172.17.0.2:10000/devstoreaccount1/cats/catalog.json", ("devstoreaccount1", "cats", "catalog.json"),
         "http://172.17.0.2:10000/devstoreaccount1/cats"),
        ("http://1.2.3.4:10000/devstoreaccount1/cats/catalog.json", ("devstoreaccount1", "cats", "catalog.json"),
         "http://1.2.3.4:10000/devstoreaccount1/cats"),
    ],
)  # fmt: skip
def test_account_is_in_the_host_name_unless_the_host_is_an_ip_address_or_a_single_label(url, parsed, container_url):
    assert parse_blob_url(url) == parsed
    assert container_url_of(url) == container_url


def test_blob_names_up_to_the_storage_limit_are_accepted():
    base = "https://acct.blob.core.windows.net/c/"
    assert parse_blob_url(base + "n" * MAX_BLOB_NAME_CHARS)[2] == "n" * MAX_BLOB_NAME_CHARS
    with pytest.raises(InvalidDrop, match=f"blob name longer than {MAX_BLOB_NAME_CHARS} characters"):
        parse_blob_url(base + "n" * (MAX_BLOB_NAME_CHARS + 1))


LONG = "x" * 5000


@pytest.mark.parametrize(
    ("bad", "start"),
    [
        (lambda: parse_blob_url("https://[::1/" + LONG), "not a blob URL: https://[::1/xxx"),
        (lambda: canonical_blob_url("https://[::1/" + LONG), "not a blob URL: https://[::1/xxx"),
        (lambda: parse_blob_url("https://a.blob.core.windows.net/" + LONG), "not a blob URL (need account, container"
         " and blob name): https://a.blob.core.windows.net/xxx"),
        (lambda: parse_blob_url("https://a.blob.core.windows.net/c/" + LONG), "blob name longer than 1024 characters: xxx"),
        (lambda: drop_from_blob_trigger("https://a.blob.core.windows.net/c/" + LONG, "e"),
         "blob trigger URI is not a usable URL: 'https://a.blob.core.windows.net/c/xxx"),
    ],
)  # fmt: skip
def test_errors_quote_the_bad_input_cut_to_300_characters(bad, start):
    with pytest.raises(InvalidDrop) as exc:
        bad()
    message = str(exc.value)
    assert message.startswith(start)
    assert len(message.split(": ", 1)[1]) <= 300


@pytest.mark.parametrize(
    ("bad", "url"),
    [
        (parse_blob_url, "https://a.blob.core.windows.net/c?sig=SECRET&next=?"),  # the query starts at the first `?`
        (parse_blob_url, "https://[::1/c/a?sig=SECRET"),
        (canonical_blob_url, "https://[::1/c/a?sig=SECRET"),
    ],
)
def test_a_sas_never_reaches_the_error_text(bad, url):
    with pytest.raises(InvalidDrop, match="not a blob URL") as exc:
        bad(url)
    assert "SECRET" not in str(exc.value)


def test_blob_trigger_input_and_synthesised_event_round_trip():
    drop = drop_from_blob_trigger("https://acct.blob.core.windows.net/catalogs/a/catalog.json", '"0x1"', 10)
    assert drop.etag == "0x1"
    event = blob_created_event(drop)
    assert event["data"]["api"] in NEW_UPLOAD_APIS
    expected = {"api": event["data"]["api"], "size": 10, "subject": event["subject"], "topic": event["topic"]}
    assert drops_from_event([event])[0] == drop.model_copy(update=expected)


def test_both_triggers_spell_a_blob_url_the_same_way():
    encoded = "https://acct.blob.core.windows.net/catalogs/my%20set/catalog.json"
    plain = "https://acct.blob.core.windows.net/catalogs/my set/catalog.json"
    ev = {**DOC_SAMPLE, "subject": "/blobServices/default/containers/catalogs/blobs/my set/catalog.json",
          "data": {**DOC_SAMPLE["data"], "url": encoded}}  # fmt: skip
    (from_event,) = drops_from_event(ev)
    from_trigger = drop_from_blob_trigger(plain, "0x8D4BCC2E4835CD0")
    assert from_event.url == from_trigger.url == encoded
    assert from_event.path == from_trigger.path == "my set/catalog.json"


def test_container_url_when_account_and_container_share_a_name():
    assert container_url_of(drop_from_blob_trigger("https://127.0.0.1:1/cats/cats/cats/catalog.json", "e").url) == (
        "https://127.0.0.1:1/cats/cats"
    )
    assert container_url_of(
        drop_from_blob_trigger("https://cats.blob.core.windows.net/cats/catalog.json", "e").url
    ) == ("https://cats.blob.core.windows.net/cats")


def test_data_lake_uploads_are_read_on_the_blob_endpoint():
    data = {**DOC_SAMPLE["data"], "api": "FlushWithClose",
            "url": "https://mystorageaccount.dfs.core.windows.net/testcontainer/a/catalog.json"}  # fmt: skip
    (drop,) = drops_from_event({**DOC_SAMPLE, "data": data})
    assert drop.url == "https://mystorageaccount.blob.core.windows.net/testcontainer/a/catalog.json"
    assert drop.account == "mystorageaccount"


def test_blob_trigger_uri_may_be_as_long_as_an_event_url():
    base = "https://acct.blob.core.windows.net/c/"
    fill = MAX_URL_CHARS - len(base)
    at_limit = base + "%C3%A9" * (fill // 6) + "a" * (fill % 6)  # a long name percent-encoded
    assert len(at_limit) == MAX_URL_CHARS
    assert drop_from_blob_trigger(at_limit, "e").url == at_limit
    with pytest.raises(InvalidDrop, match="blob trigger URI is not a usable URL"):
        drop_from_blob_trigger(at_limit + "a", "e")


@pytest.mark.parametrize("uri", [None, 5, ""])
def test_a_blob_trigger_uri_that_is_not_a_url_is_named_as_such(uri):
    with pytest.raises(InvalidDrop, match=f"blob trigger URI is not a usable URL: {uri!r}"):
        drop_from_blob_trigger(uri, "e")


def test_blob_trigger_drop_is_a_completed_upload_and_an_empty_blob_has_size_zero():
    drop = drop_from_blob_trigger("https://acct.blob.core.windows.net/catalogs/empty.json", "0x1", 0)
    assert drop.api in NEW_UPLOAD_APIS
    assert drop.size == 0  # known to be empty, not of unknown size


def test_synthesised_event_has_the_event_grid_schema_and_round_trips():
    drop = Drop(account="acct", container="catalogs", path="a/catalog.json", etag="0x1", size=0,
                url="https://acct.blob.core.windows.net/catalogs/a/catalog.json",
                sequencer="0000000000000000000000000000000a")  # fmt: skip
    event = blob_created_event(drop)
    assert set(event) == set(DOC_SAMPLE)
    assert set(event["data"]) == {"api", "eTag", "contentType", "contentLength", "blobType", "url", "sequencer"}
    for key in ("dataVersion", "metadataVersion"):
        assert event[key] == DOC_SAMPLE[key]
    assert event["data"]["blobType"] == DOC_SAMPLE["data"]["blobType"]
    assert TOPIC_RE.search(event["topic"])["account"] == "acct"  # the account's system topic, as trust checks
    (back,) = drops_from_event(event)
    assert back == drop.model_copy(update={"api": "PutBlockList", "subject": event["subject"], "topic": event["topic"]})
    published = datetime.fromisoformat(event["eventTime"])  # Event Grid always stamps its events, with a zone
    assert published.tzinfo is not None and abs((datetime.now(UTC) - published).total_seconds()) < 60


def test_synthesised_events_have_distinct_ids_unless_given_one():
    url = "https://acct.blob.core.windows.net/catalogs/"
    drops = [drop_from_blob_trigger(url + "a/catalog.json", "0x1"), drop_from_blob_trigger(url + "a/catalog.json", "0x2"),
             drop_from_blob_trigger(url + "b/catalog.json", "0x1")]  # fmt: skip
    ids = {blob_created_event(d)["id"] for d in drops}
    assert len(ids) == 3 and "" not in ids
    assert blob_created_event(drops[0], event_id="ev-1")["id"] == "ev-1"
