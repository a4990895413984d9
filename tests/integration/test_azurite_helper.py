"""The Azurite helper: free ports, a working connection string, and no process left behind."""

from __future__ import annotations

import socket

import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from localdev.azurite import running_azurite

pytestmark = pytest.mark.integration


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_two_azurites_run_side_by_side_and_both_stop() -> None:
    # GIVEN two helpers started at once (as parallel test workers do)
    with running_azurite() as a, running_azurite() as b:
        ports_a = {a.blob_port, a.queue_port, a.table_port}
        ports_b = {b.blob_port, b.queue_port, b.table_port}
        # THEN they never share a port, and both answer a real SDK round trip
        assert not ports_a & ports_b
        for endpoints in (a, b):
            q = QueueClient.from_connection_string(
                endpoints.connection_string,
                "roundtrip",
                message_encode_policy=TextBase64EncodePolicy(),
                message_decode_policy=TextBase64DecodePolicy(),
            )
            q.create_queue()
            q.send_message('{"hello": "world"}')
            [msg] = list(q.receive_messages())
            assert msg.content == '{"hello": "world"}'
    # AND once the blocks end nothing listens on their ports any more
    assert not any(_port_open(p) for p in ports_a | ports_b)
