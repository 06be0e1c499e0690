"""`tlsrpt lint` through `tlsrpt.cli.main` and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tlsrpt.cli import main
from tlsrpt.records import CODES

README = Path(__file__).resolve().parents[2] / "README.md"
GOOD_POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"


def lint_json(capsys, *args):
    status = main(["lint", *args, "--json"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    return status, json.loads(lines[0])


def test_valid_record_human_output(capsys):
    status = main(["lint", "tlsrpt-record", "v=TLSRPTv1;rua=mailto:tls@example.com"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("valid tlsrpt-record")
    assert "rua: mailto:tls@example.com" in out


def test_invalid_record_human_output_lists_codes_and_columns(capsys):
    status = main(["lint", "tlsrpt-record", "v=TLSRPTv1;rua=mailto:a,b@x.test"])
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("invalid tlsrpt-record — 2 error(s), 0 warning(s)")
    assert "tlsrpt-rua-mailto-invalid (col 16)" in out
    assert "tlsrpt-rua-uri-invalid (col 25)" in out


def test_json_shape(capsys):
    status, doc = lint_json(capsys, "tlsrpt-record", "v=TLSRPTv1;rua=http://x.test/r")
    assert status == 1
    assert set(doc) == {"kind", "senders", "valid", "problems", "parsed", "text"}
    assert doc["kind"] == "tlsrpt-record"
    assert doc["valid"] is False
    assert doc["parsed"] is None
    assert doc["problems"] == [
        {
            "code": "tlsrpt-rua-http",
            "severity": "warning",
            "message": doc["problems"][0]["message"],
            "position": 15,
        },
        {
            "code": "tlsrpt-rua-no-usable-uri",
            "severity": "error",
            "message": doc["problems"][1]["message"],
            "position": 15,
        },
    ]


def test_json_parsed_record(capsys):
    status, doc = lint_json(
        capsys, "tlsrpt-record", "v=TLSRPTv1; rua=mailto:a@x.test,https://r.x.test/; x=1"
    )
    assert status == 0
    assert doc["valid"] is True
    assert doc["parsed"] == {
        "rua": ["mailto:a@x.test", "https://r.x.test/"],
        "extensions": {"x": "1"},
        "ignored_rua": [],
    }


def test_quoted_character_strings_are_concatenated(capsys):
    status, doc = lint_json(capsys, "tlsrpt-record", '"v=TLSRPTv1;rua=mailto:tls@exa" "mple.com"')
    assert status == 0
    assert doc["text"] == "v=TLSRPTv1;rua=mailto:tls@example.com"


def test_domain_option_enables_the_external_warning(capsys):
    status, doc = lint_json(
        capsys, "tlsrpt-record", "v=TLSRPTv1;rua=mailto:tls@example.net", "--domain", "example.com"
    )
    assert status == 0
    assert [p["code"] for p in doc["problems"]] == ["tlsrpt-rua-external"]


def test_file_with_several_rrs_applies_the_selection_rule(capsys, tmp_path):
    dig = tmp_path / "dig.txt"
    dig.write_text(
        "; <<>> DiG 9.18 <<>> TXT _smtp._tls.example.com\n"
        '_smtp._tls.example.com.\t300\tIN\tTXT\t"v=spf1 -all"\n'
        '_smtp._tls.example.com. 300 IN TXT "v=TLSRPTv1;rua=mailto:tls@exa" "mple.net"\n'
        "\n"
    )
    status, doc = lint_json(capsys, "tlsrpt-record", f"@{dig}")
    assert status == 0
    assert doc["text"] == "v=TLSRPTv1;rua=mailto:tls@example.net"
    # the owner name supplied the policy domain
    assert [p["code"] for p in doc["problems"]] == ["tlsrpt-rua-external"]


def test_file_with_two_candidates_is_invalid(capsys, tmp_path):
    rrs = tmp_path / "rrs.txt"
    rrs.write_bytes(b"v=TLSRPTv1;rua=mailto:a@x.test\r\nv=TLSRPTv1;rua=mailto:b@x.test\r\n")
    status, doc = lint_json(capsys, "tlsrpt-record", f"@{rrs}")
    assert status == 1
    assert doc["text"] is None
    assert [p["code"] for p in doc["problems"]] == ["tlsrpt-record-multiple"]


def test_single_dig_line_at_the_legacy_name(capsys, tmp_path):
    rrs = tmp_path / "legacy.txt"
    rrs.write_text('_smtp-tlsrpt.example.com. IN TXT "v=TLSRPTv1;rua=mailto:t@example.com"\n')
    status, doc = lint_json(capsys, "tlsrpt-record", f"@{rrs}")
    assert status == 0
    assert [p["code"] for p in doc["problems"]] == ["tlsrpt-legacy-label"]


def test_lenient_option(capsys):
    text = "v=TLSRPTv1;rua=reports@x.test,mailto:ok@x.test"
    assert main(["lint", "tlsrpt-record", text]) == 1
    assert main(["lint", "tlsrpt-record", text, "--lenient"]) == 0
    capsys.readouterr()


def test_sts_record(capsys):
    status, doc = lint_json(capsys, "sts-record", "v=STSv1; id=20160831085700Z;")
    assert status == 0
    assert doc["parsed"] == {"id": "20160831085700Z", "extensions": {}}
    status, doc = lint_json(capsys, "sts-record", "v=STSv1; id=2016-08-31")
    assert status == 1
    assert doc["problems"][0]["code"] == "sts-record-id-invalid"


def test_sts_policy_blank_line_is_an_error_by_default_a_warning_when_lenient(capsys, tmp_path):
    """mox and maddy reject a policy with a blank line, so by default it is
    an error naming them; --lenient reads it as postfix-mta-sts-resolver does."""
    path = tmp_path / "mta-sts.txt"
    path.write_bytes(GOOD_POLICY + b"\r\n")
    read = {
        "mode": "enforce",
        "max_age": 604800,
        "mx": ["mail.example.com"],
        "extensions": {},
        "version": "STSv1",
    }
    status, doc = lint_json(capsys, "sts-policy", f"@{path}")
    assert status == 1
    assert doc["valid"] is False
    assert [(p["code"], p["severity"]) for p in doc["problems"]] == [
        ("sts-policy-blank-line", "error"),
        ("sts-policy-rejected-by-senders", "error"),
    ]
    assert "mox, maddy" in doc["problems"][1]["message"]
    assert doc["parsed"] == read  # what the senders that apply it read
    status, doc = lint_json(capsys, "sts-policy", f"@{path}", "--lenient")
    assert status == 0
    assert {p["severity"] for p in doc["problems"]} == {"warning"}
    assert doc["parsed"] == read
    status, doc = lint_json(capsys, "sts-policy", f"@{path}", "--strict")
    assert status == 1
    assert doc["problems"][0]["severity"] == "error"


def test_sts_policy_human_output_gives_line_and_column(capsys):
    status = main(["lint", "sts-policy", "version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "sts-policy-mx-invalid (line 3 col 5)" in out
    assert "sts-policy-max-age-short (line 4 col 10)" in out


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "sts-policy", "@/nonexistent/policy.txt"],
        ["lint", "tlsrpt-record", '"unterminated'],
        ["lint", "tlsrpt-record", '"' + "a" * 300 + '"'],
        ["lint", "sts-record", "v=STSv1; id=a", "--domain", "example.com"],
    ],
)
def test_usage_errors_exit_2(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")


def test_empty_file_is_a_usage_error(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n; only a comment\n")
    assert main(["lint", "sts-record", f"@{empty}"]) == 2
    assert "no TXT record" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys):
    for args in (
        ["lint", "bogus", "x"],
        ["lint", "sts-policy"],
        ["lint", "sts-policy", "x", "--strict", "--lenient"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
    capsys.readouterr()


def run_cli(*args, stdin=b""):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "tlsrpt", "lint", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_process_exit_codes_and_stdin():
    ok = run_cli("sts-policy", "@-", "--json", stdin=GOOD_POLICY)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    bad = run_cli("tlsrpt-record", "@-", stdin=b"v=TLSRPTv1;rua=\xff\n")
    assert bad.returncode == 1
    assert b"tlsrpt-character-invalid" in bad.stdout
    usage = run_cli("tlsrpt-record")
    assert usage.returncode == 2
    missing = run_cli("tlsrpt-record", "@/nonexistent")
    assert missing.returncode == 2
    for result in (ok, bad, usage, missing):
        assert b"Traceback" not in result.stderr


def test_readme_lists_every_problem_code():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Records and `tlsrpt lint`", 1)[1].split("\n## ", 1)[0]
    missing = [code for code in CODES if f"`{code}`" not in section]
    assert missing == []


def test_senders_member_lists_every_implementation(capsys):
    status, doc = lint_json(capsys, "sts-policy", GOOD_POLICY.decode())
    assert status == 0
    assert [(s["implementation"], s["verdict"]) for s in doc["senders"]] == [
        ("RFC grammar", "accept"),
        ("postfix-mta-sts-resolver", "accept"),
        ("mox", "accept"),
        ("maddy", "accept"),
        ("checkdmarc", "accept"),
        ("mimecast/mta-sts", "accept"),
    ]
    assert all(set(s) == {"implementation", "verdict", "reason"} for s in doc["senders"])
    status, doc = lint_json(capsys, "tlsrpt-record", "v=TLSRPTv1;rua=mailto:tls@example.com")
    assert [s["implementation"] for s in doc["senders"]] == [
        "RFC grammar",
        "mox",
        "checkdmarc",
        "mimecast/mta-sts",
    ]


def test_max_age_over_a_year_is_an_error_naming_postfix(capsys):
    text = GOOD_POLICY.decode().replace("604800", "40000000")
    status, doc = lint_json(capsys, "sts-policy", text)
    assert status == 1
    assert doc["valid"] is False
    codes = [(p["code"], p["severity"]) for p in doc["problems"]]
    assert codes == [
        ("sts-policy-max-age-too-large", "error"),
        ("sts-policy-rejected-by-senders", "error"),
        ("record-read-differently", "warning"),
    ]
    verdicts = {s["implementation"]: s["verdict"] for s in doc["senders"]}
    assert verdicts["postfix-mta-sts-resolver"] == "reject"
    assert verdicts["checkdmarc"] == "reject"
    assert verdicts["mox"] == "reads-differently"
    assert verdicts["mimecast/mta-sts"] == "accept"
    assert doc["parsed"]["max_age"] == 31557600  # what the tolerant senders read
    status, doc = lint_json(capsys, "sts-policy", text, "--lenient")
    assert status == 0
    assert {p["severity"] for p in doc["problems"]} == {"warning"}


def test_two_rua_fields_warn_in_human_output(capsys):
    status = main(["lint", "tlsrpt-record", "v=TLSRPTv1; rua=mailto:a@x.test; rua=mailto:b@x.test"])
    out = capsys.readouterr().out
    assert status == 0
    assert "record-read-differently (col 34)" in out
    assert "tlsrpt-field-duplicate" not in out  # restated by the compatibility warning
    assert "  senders:" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ")}
    assert "reads-differently" in lines["mox"] and "uses both" in lines["mox"]
    assert "uses the last" in lines["mimecast/mta-sts"]


def test_human_output_shows_what_the_tolerant_senders_read(capsys):
    status = main(["lint", "sts-policy", GOOD_POLICY.decode() + "ext:\n"])
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("invalid sts-policy — 2 error(s)")
    assert "rejected by mox" in out
    assert "read by the senders that apply it as:" in out
    assert "    mode: enforce" in out


def test_sts_record_with_another_txt_record_is_rejected_by_maddy(capsys, tmp_path):
    rrs = tmp_path / "rrs.txt"
    rrs.write_text('"google-site-verification=abc"\n"v=STSv1; id=20240101"\n')
    status, doc = lint_json(capsys, "sts-record", f"@{rrs}")
    assert status == 1
    assert [p["code"] for p in doc["problems"]] == ["sts-policy-rejected-by-senders"]
    assert "rejected by maddy" in doc["problems"][0]["message"]
    assert doc["parsed"] == {"id": "20240101", "extensions": {}}


def test_senders_output_escapes_invisible_characters(capsys):
    """An extension value may hold any UTF-8 (RFC 8461 §3.2); a bidi override
    in it is shown escaped in the tolerant reading, never raw."""
    status = main(["lint", "sts-policy", GOOD_POLICY.decode() + "\nnote: a\u202eb\n"])
    out = capsys.readouterr().out
    assert status == 1
    assert "\u202e" not in out
    assert "note=a\\u202eb" in out
