"""Machine actions: the status a client polls for over emulated time, and the bodies it may send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.defender.jsonfmt import ApiError
from emulator.defender.machine_actions import ACTIONS, ActionTiming, MachineAction, parse_action_body

T0 = datetime(2024, 10, 21, 11, 25, 48, 330818, tzinfo=UTC)
# The key set of the real 201 body (docs/microsoft-apis.md §MachineAction and its states), without @odata.context.
REAL_KEYS = {
    "id", "type", "title", "requestor", "requestorComment", "status", "machineId", "computerDnsName",
    "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
    "cancellationDateTimeUtc", "errorHResult", "scope", "externalId", "requestSource", "relatedFileInfo",
    "commands", "troubleshootInfo",
}  # fmt: skip


def action(outcome: str = "Succeeded", **fields: object) -> MachineAction:
    return MachineAction(
        id="6b001073-5500-4205-8287-6f1184936f67",
        type="Isolate",
        requestor="Partner App",
        comment="isolate due to alert 1234",
        machine_id="1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
        computer_dns_name="web01.contoso.local",
        created=T0,
        timing=ActionTiming(pending_seconds=2, in_progress_seconds=3, outcome=outcome),
        **fields,  # type: ignore[arg-type]
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_status_walks_pending_in_progress_succeeded_with_emulated_time() -> None:
    subject = action()
    assert subject.status_at(at(0)) == ("Pending", T0)
    assert subject.status_at(at(1.9)) == ("Pending", T0)
    assert subject.status_at(at(2)) == ("InProgress", at(2))
    assert subject.status_at(at(4.9)) == ("InProgress", at(2))
    assert subject.status_at(at(5)) == ("Succeeded", at(5))
    assert subject.is_active(at(4.9))
    assert not subject.is_active(at(5))


@pytest.mark.parametrize(("outcome", "hresult"), [("Failed", -2147467259), ("TimeOut", 0), ("Succeeded", 0)])
def test_configured_outcome_is_the_final_status(outcome: str, hresult: int) -> None:
    body = action(outcome).to_json(at(60))
    assert body["status"] == outcome
    assert body["errorHResult"] == hresult


def test_cancel_before_the_end_freezes_the_action_as_cancelled() -> None:
    subject = action()
    subject.cancel(at(3), "Partner App", "wrong machine")
    body = subject.to_json(at(60))
    assert body["status"] == "Cancelled"
    assert body["cancellationRequestor"] == "Partner App"
    assert body["cancellationComment"] == "wrong machine"
    assert body["cancellationDateTimeUtc"] == at(3)
    assert body["lastUpdateDateTimeUtc"] == at(3)


def test_cancel_after_the_final_state_is_a_400() -> None:
    subject = action()
    with pytest.raises(ApiError) as caught:
        subject.cancel(at(5), "Partner App", "too late")
    assert caught.value.status == 400
    assert "final state Succeeded" in caught.value.message


def test_json_has_the_real_machine_action_shape() -> None:
    body = action().to_json(at(0))
    assert set(body) == REAL_KEYS
    assert body["requestSource"] == "PublicApi"
    assert body["commands"] == []
    quarantine = action(sha1="87662bc3d60e4200ceaf7aae249d1c343f4b83c9").to_json(at(0))
    assert quarantine["relatedFileInfo"] == {
        "fileIdentifier": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9",
        "fileIdentifierType": "Sha1",
    }


def test_valid_bodies_give_comment_scope_and_hash() -> None:
    isolate = parse_action_body(ACTIONS["isolate"], {"Comment": "c", "IsolationType": "Selective"})
    assert (isolate.comment, isolate.scope) == ("c", "Selective")
    assert parse_action_body(ACTIONS["isolate"], {"Comment": "c"}).scope == "Full"
    assert parse_action_body(ACTIONS["unisolate"], {"Comment": "c"}).scope is None
    sha1 = "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"
    assert parse_action_body(ACTIONS["stopandquarantinefile"], {"Comment": "c", "Sha1": sha1}).sha1 == sha1


@pytest.mark.parametrize(
    ("path", "body", "code", "text"),
    [
        ("isolate", {"comment": "lower case"}, "InvalidRequestBody", "unknown parameter 'comment'"),
        ("isolate", {"IsolationType": "Full"}, "MissingRequiredParameter", "Parameter Comment is missing."),
        ("isolate", {"Comment": "c", "IsolationType": "full"}, "InvalidRequestBody", "Full, Selective"),
        ("runantivirusscan", {"Comment": "c"}, "MissingRequiredParameter", "Parameter ScanType is missing."),
        ("stopandquarantinefile", {"Comment": "c", "Sha1": "abc"}, "InvalidHashValue", "Hash value abc is invalid."),
        ("offboard", {"Comment": ""}, "InvalidRequestBody", "Comment must be a non-empty string"),
        ("offboard", ["Comment"], "InvalidRequestBody", "expected a JSON object"),
    ],
)
def test_bad_bodies_are_400_with_the_documented_codes(path: str, body: object, code: str, text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_action_body(ACTIONS[path], body)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert text in caught.value.message


def test_timing_config_is_validated_by_field() -> None:
    assert ActionTiming.from_json({"pending_seconds": 0, "outcome": "TimeOut"}).outcome == "TimeOut"
    with pytest.raises(ValueError, match="outcome must be one of"):
        ActionTiming.from_json({"outcome": "Done"})
    with pytest.raises(ValueError, match="pending_seconds"):
        ActionTiming.from_json({"pending_seconds": -1})
