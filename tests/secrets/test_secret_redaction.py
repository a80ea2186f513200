import random

import pytest

from ade_engine.secrets.redaction import Redactor

SECRET = "pb_live/Ab+Cd&Ef gh=="
OTHER = "otherval-12345678"


@pytest.fixture
def redactor():
    return Redactor({"PRICEBOOK_TOKEN": SECRET, "OTHER": OTHER})


def test_exact_and_url_encoded_forms_are_replaced(redactor):
    text = (
        f"plain {SECRET} | query token=pb_live%2FAb%2BCd%26Ef%20gh%3D%3D"
        f" | plus pb_live%2FAb%2BCd%26Ef+gh%3D%3D | path pb_live/Ab%2BCd%26Ef%20gh%3D%3D | {OTHER}"
    )
    out = redactor.redact(text)
    assert "pb_live" not in out and "Ab" not in out
    assert out.count("[redacted:PRICEBOOK_TOKEN]") == 4
    assert "[redacted:OTHER]" in out
    assert redactor.names_in(text) == {"PRICEBOOK_TOKEN", "OTHER"}


def test_lowercase_hex_is_covered(redactor):
    encoded = "pb_live%2fAb%2bCd%26Ef%20gh%3d%3d"
    assert redactor.redact(encoded) == "[redacted:PRICEBOOK_TOKEN]"


def test_longer_value_containing_a_shorter_one_is_redacted_whole():
    r = Redactor({"SHORT": "abcdefgh", "LONG": "xx-abcdefgh-yy"})
    assert r.redact("A xx-abcdefgh-yy B abcdefgh") == "A [redacted:LONG] B [redacted:SHORT]"


def test_nested_objects_are_redacted_including_keys(redactor):
    obj = {"msg": f"failed with {SECRET}", SECRET: [1, OTHER, {"x": (SECRET,)}], "n": 3}
    out = redactor.redact_obj(obj)
    assert out == {
        "msg": "failed with [redacted:PRICEBOOK_TOKEN]",
        "[redacted:PRICEBOOK_TOKEN]": [1, "[redacted:OTHER]", {"x": ("[redacted:PRICEBOOK_TOKEN]",)}],
        "n": 3,
    }


def test_empty_redactor_passes_through():
    r = Redactor({})
    assert not r and r.redact("anything") == "anything"
    assert r.stream().feed(b"abc") == b"abc"


def test_repr_shows_names_only(redactor):
    assert SECRET not in repr(redactor) and "PRICEBOOK_TOKEN" in repr(redactor)


def run_stream(redactor, data: bytes, sizes, window=64 * 1024) -> bytes:
    stream = redactor.stream(window=window)
    out = bytearray()
    pos = 0
    for size in sizes:
        out += stream.feed(data[pos : pos + size])
        pos += size
        if pos >= len(data):
            break
    out += stream.feed(data[pos:])
    out += stream.close()
    return bytes(out)


def test_value_split_across_writes_on_a_short_line(redactor):
    data = f"connecting with {SECRET} now\nnext line\n".encode()
    out = run_stream(redactor, data, [1] * len(data))
    assert out == b"connecting with [redacted:PRICEBOOK_TOKEN] now\nnext line\n"


@pytest.mark.parametrize("seed", range(5))
def test_long_lines_are_filtered_in_overlapping_windows(redactor, seed):
    rng = random.Random(seed)
    filler = lambda n: bytes(rng.choice(b"abcdefghij ") for _ in range(n))  # noqa: E731
    window = 64 * 1024
    # Values sit right across window edges and chunk edges, in a line of ~3 windows with no newline.
    parts = [filler(window - 7), SECRET.encode(), filler(window - 3), b"pb_live%2FAb%2BCd%26Ef%20gh%3D%3D", filler(window + 11),
             OTHER.encode(), b"\n", filler(100), SECRET.encode()]
    data = b"".join(parts)
    sizes = [rng.choice([1, 7, 4096, 65535, 65536, 70000]) for _ in range(400)]
    out = run_stream(redactor, data, sizes, window=window)
    assert out == redactor.redact_bytes(data)
    assert SECRET.encode() not in out and OTHER.encode() not in out
    assert out.count(b"[redacted:PRICEBOOK_TOKEN]") == 3 and out.count(b"[redacted:OTHER]") == 1


def test_long_line_output_is_released_before_the_line_ends(redactor):
    stream = redactor.stream(window=64 * 1024)
    released = stream.feed(b"x" * (200 * 1024))
    assert len(released) > 100 * 1024  # memory stays bounded: a line without newline is not held whole
    rest = stream.feed(SECRET.encode()[:5]) + stream.feed(SECRET.encode()[5:] + b"\n") + stream.close()
    assert (released + rest).endswith(b"[redacted:PRICEBOOK_TOKEN]\n")
    assert len(released + rest) == 200 * 1024 + len(b"[redacted:PRICEBOOK_TOKEN]\n")


def test_multibyte_values_are_found_across_byte_splits():
    r = Redactor({"UNI": "clé-secrète-日本"})
    data = "a clé-secrète-日本 b\n".encode()
    out = run_stream(r, data, [1] * len(data))
    assert out == "a [redacted:UNI] b\n".encode()


@pytest.mark.parametrize("split", [1, 6, len(SECRET) - 1])
def test_value_straddling_a_window_cut_is_caught(redactor, split):
    window = 64 * 1024
    head = b"y" * (window + 1 - split)
    data = head + SECRET.encode() + b" tail"
    # The first write pushes the line past the window with only `split` bytes of the value in it.
    out = run_stream(redactor, data, [len(head) + split], window=window)
    assert out == head + b"[redacted:PRICEBOOK_TOKEN] tail"
