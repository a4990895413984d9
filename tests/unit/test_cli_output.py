"""The CLI's output rules: data on stdout, colour and progress only on a terminal, --json is one document."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest

from shared.cli import main
from shared.cli.output import Column, Output
from shared.cli.tenant_file import element_lines


class FakeTerminal(StringIO):
    def isatty(self) -> bool:
        return True


ROWS = [{"tenant": "a", "status": "ok", "n": 5}, {"tenant": "bbbb", "status": "not-consented", "n": 120}]
COLUMNS = (Column("tenant", "TENANT"), Column("status", "STATUS"), Column("n", "N", align_right=True))


def test_a_pipe_gets_aligned_plain_text_and_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = StringIO(), StringIO()
    output = Output(stdout=out, stderr=err)
    output.table(ROWS, COLUMNS)
    with output.progress("working", 2) as bar:
        bar.advance()
        bar.advance()
    assert out.getvalue().splitlines() == [
        "TENANT  STATUS           N",
        "a       ok               5",
        "bbbb    not-consented  120",
    ]
    assert err.getvalue() == ""


def test_a_terminal_gets_colour_and_a_progress_bar_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = FakeTerminal(), FakeTerminal()
    output = Output(stdout=out, stderr=err)
    output.table(ROWS, COLUMNS)
    with output.progress("working", 1) as bar:
        bar.advance(note="tenant a")
    assert "\x1b[31mnot-consented" in out.getvalue()
    assert "working [##############################] 1/1 tenant a" in err.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTerminal()
    Output(stdout=plain, stderr=StringIO()).table(ROWS, COLUMNS)
    assert "\x1b[" not in plain.getvalue()


def test_json_mode_prints_one_document_and_keeps_messages_on_stderr() -> None:
    out, err = StringIO(), StringIO()
    output = Output(stdout=out, stderr=err, json_mode=True)
    output.line("not data")
    output.table(ROWS, COLUMNS)
    output.info("working ...")
    output.json({"tenants": ROWS})
    output.error("something failed")
    assert json.loads(out.getvalue()) == {"tenants": ROWS}
    assert err.getvalue() == "error: something failed\n"


def test_consent_link_needs_no_storage_and_bad_settings_are_named() -> None:
    out, err = StringIO(), StringIO()
    code = main(
        ["consent-link", "--json"], environ={"RELAY_COMMERCIAL_CLIENT_ID": "not-a-guid"}, stdout=out, stderr=err
    )
    assert code == 3
    assert "RELAY_COMMERCIAL_CLIENT_ID: 'not-a-guid' is not a GUID" in err.getvalue()
    assert out.getvalue() == ""


def test_settings_file_problems_are_configuration_errors() -> None:
    err = StringIO()
    code = main(["--settings", "/nonexistent/local.settings.json", "tenants", "list"], environ={}, stderr=err)
    assert code == 3
    assert "--settings: /nonexistent/local.settings.json does not exist" in err.getvalue()


def test_element_lines_finds_where_each_tenant_starts() -> None:
    text = '{"tenants": [\n  {"a": 1},\n\n  {"b": "]"}, {"c": [1, 2]}\n]}'
    assert element_lines(text, wrapped=True) == [2, 4, 4]
    assert element_lines("[1,\n 2]", wrapped=False) == [1, 2]


def test_the_settings_file_is_applied_to_the_process_while_the_command_runs(tmp_path: Path) -> None:
    # GIVEN a process environment with a CA bundle of its own, and a settings file with another one
    from shared.cli.context import CliContext

    file = tmp_path / "local.settings.json"
    values = {"REQUESTS_CA_BUNDLE": "/state/ca-bundle.pem", "IDENTITY_ENDPOINT": "https://127.0.0.1:1/msi/token"}
    file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    process = {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "HOME": "/home/op"}
    err = StringIO()
    ctx = CliContext(out=Output(stderr=err), environ=dict(process), settings_file=str(file), process_environ=process)
    # WHEN a command reads its environment THEN the process has the file's values (what libraries read)
    assert ctx.environ["IDENTITY_ENDPOINT"] == values["IDENTITY_ENDPOINT"]
    assert process == {**values, "HOME": "/home/op"}
    assert "REQUESTS_CA_BUNDLE" in err.getvalue()  # the variable the file replaced is named
    # AND when the command ends the process environment is what it was
    ctx.close()
    assert process == {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "HOME": "/home/op"}
