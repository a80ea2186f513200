"""Name shape and case repair shared by first_name and last_name."""

from functools import lru_cache

from columns._common import NAME_RX, clean_text, present, MIN_PRESENT


def looks_like_name(value):
    if not isinstance(value, str):
        return False
    text = " ".join(value.split())
    return 1 <= len(text) <= 40 and len(text.split()) <= 3 and bool(NAME_RX.match(text)) and text[0].isupper()


def name_shape(values, field_name):
    """Mostly short alphabetic words AND varied: a department column repeats a few values, names do not."""
    cells = [" ".join(str(v).split()) for v in present(values)]
    if len(cells) < MIN_PRESENT:
        return {"scores": {}}
    share = sum(1 for v in cells if looks_like_name(v)) / len(cells)
    distinct = len(set(c.lower() for c in cells)) / len(cells)
    if share < 0.8 or distinct < 0.6:
        return {"scores": {}}
    return {"scores": {field_name: round(0.3 * share, 3)}}


def _cap(word):
    # "o'brien" -> "O'Brien", "jean-luc" -> "Jean-Luc"
    out, upper_next = [], True
    for ch in word:
        out.append(ch.upper() if upper_next else ch.lower())
        upper_next = ch in "-'"
    return "".join(out)


# First and last names repeat (a few thousand distinct values in a large roster): the answer per raw value is
# remembered. `typed=True` keeps 1, 1.0 and True apart.
@lru_cache(maxsize=8192, typed=True)
def fix_case(value):
    """Trim; title-case names typed in all capitals or all lower case; leave mixed case (McDonald) alone."""
    text = clean_text(value)
    if text is None:
        return None
    if text.isupper() or text.islower():
        return " ".join(_cap(part) for part in text.split(" "))
    return text


def transform_names(values):
    out = [fix_case(v) for v in values]
    return {"values": out, "warnings": []}


def validate_names(values, label, required):
    found = []
    for pos, name in enumerate(values, 1):
        if name is None:
            if required:
                found.append({"row_index": pos, "code": "required_missing", "severity": "error",
                              "message": f"{label} is empty"})
        elif any(ch.isdigit() for ch in str(name)):
            found.append({"row_index": pos, "code": "invalid_format", "severity": "warning",
                          "message": f"{label} contains digits"})
    return {"issues": found}
