"""The topic stand-in refuses what Event Grid refuses, and writes each accepted event as one line."""

from __future__ import annotations

import json

import pytest
import requests
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient

from local_twin.topic import TopicStandIn

BATCH = "application/cloudevents-batch+json; charset=utf-8"
EVENT = {"id": "1", "source": "s", "type": "t", "specversion": "1.0"}


@pytest.fixture
def topic(tmp_path):
    stand_in = TopicStandIn(tmp_path / "events.jsonl", "the-key").start()
    yield stand_in
    stand_in.stop()


def test_the_official_client_publishes_a_batch_as_lines(topic):
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential("the-key"))
    client.send([CloudEvent(source="s", type="t", data={"n": 1}, id="a"), CloudEvent(source="s", type="t", id="b")])
    assert [e["id"] for e in topic.events()] == ["a", "b"] and topic.events()[0]["data"] == {"n": 1}


def test_a_wrong_key_is_401_and_writes_nothing(topic):
    client = EventGridPublisherClient(topic.endpoint, AzureKeyCredential("wrong"), retry_total=0)
    with pytest.raises(HttpResponseError) as err:
        client.send([CloudEvent(source="s", type="t")])
    assert err.value.status_code == 401 and topic.events() == []


@pytest.mark.parametrize(
    "content_type,body,status",
    [("application/json", [EVENT], 400), (BATCH, [{**EVENT, "id": ""}], 400), (BATCH, "{", 400)],
)
def test_malformed_publishes_are_400(topic, content_type, body, status):
    data = body if isinstance(body, str) else json.dumps(body)
    resp = requests.post(topic.endpoint, data=data, headers={"aeg-sas-key": "the-key", "Content-Type": content_type})
    assert resp.status_code == status and topic.events() == []


def test_injected_outage_fails_exactly_n_publishes(topic):
    topic.fail_next(2)
    send = lambda: requests.post(topic.endpoint, json=[EVENT],  # noqa: E731
                                 headers={"aeg-sas-key": "the-key", "Content-Type": BATCH}).status_code  # fmt: skip
    assert [send(), send(), send()] == [503, 503, 200]
    assert len(topic.events()) == 1
