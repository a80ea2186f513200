"""Redaction of injected secret values (secrets.md §6): one Redactor serves the job process and the parent."""

from ade_engine.runtime.redact import Redactor

SECRET = "pb_live/Ab+Cd&Ef gh=="
OTHER = "otherval-12345678"


def _redactor() -> Redactor:
    return Redactor({"PRICEBOOK_TOKEN": SECRET, "OTHER": OTHER})


def test_exact_and_url_encoded_forms_are_replaced():
    r = _redactor()
    text = (
        f"plain {SECRET} | query token=pb_live%2FAb%2BCd%26Ef%20gh%3D%3D"
        f" | plus pb_live%2FAb%2BCd%26Ef+gh%3D%3D | path pb_live/Ab%2BCd%26Ef%20gh%3D%3D | {OTHER}"
    )
    out = r.text(text)
    assert "pb_live" not in out and "Ab" not in out
    assert out.count("[redacted:PRICEBOOK_TOKEN]") == 4
    assert "[redacted:OTHER]" in out
    assert r.contains(text) == ["OTHER", "PRICEBOOK_TOKEN"]


def test_lowercase_hex_is_covered():
    assert _redactor().text("pb_live%2fAb%2bCd%26Ef%20gh%3d%3d") == "[redacted:PRICEBOOK_TOKEN]"


def test_longer_value_containing_a_shorter_one_is_redacted_whole():
    r = Redactor({"SHORT": "abcdefgh", "LONG": "xx-abcdefgh-yy"})
    assert r.text("A xx-abcdefgh-yy B abcdefgh") == "A [redacted:LONG] B [redacted:SHORT]"


def test_nested_objects_are_redacted_including_keys():
    out = _redactor().deep({"msg": f"failed with {SECRET}", SECRET: [1, OTHER, {"x": (SECRET,)}], "n": 3})
    assert out == {
        "msg": "failed with [redacted:PRICEBOOK_TOKEN]",
        "[redacted:PRICEBOOK_TOKEN]": [1, "[redacted:OTHER]", {"x": ["[redacted:PRICEBOOK_TOKEN]"]}],
        "n": 3,
    }


def test_empty_redactor_passes_through():
    r = Redactor({})
    assert not r and r.text("anything") == "anything" and r.longest_form == 1


def test_longest_form_covers_the_encoded_spellings():
    # What the parent's log filter carries between windows of an over-long line.
    # The hex spelling is the longest: twice the value's bytes, longer than its percent-encoding.
    value = "pb_live/Ab+Cd&Ef gh=="
    assert _redactor().longest_form == len(value.encode().hex()) > len("pb_live%2FAb%2BCd%26Ef%20gh%3D%3D")


def test_base64_and_hex_spellings_are_redacted_wherever_they_sit():
    import base64

    value = "pb_live/Ab+Cd&Ef gh=="
    r = _redactor()
    for lead in (b"", b"x", b"xy", b"xyz"):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(lead + value.encode() + b" and more").decode()
            assert "[redacted:" in r(text) and r.contains(text), (lead, enc)
    assert r(value.encode().hex().upper()).startswith("[redacted:")
    # A short value is looked for only as itself: its base64 would match unrelated text.
    short = Redactor({"PIN": "1234"})
    assert short(base64.b64encode(b"1234").decode()) == base64.b64encode(b"1234").decode()
