from columns._common import header_score, present


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_wordy_values(*, values_sample, field_name, **_):
    values = present(values_sample)
    if not values:
        return {"scores": {}}
    wordy = sum(1 for v in values if isinstance(v, str) and any(c.isalpha() for c in v) and "@" not in v)
    return {"scores": {field_name: round(0.4 * wordy / len(values) - 0.1, 3)}}


def transform(*, values, **_):
    cleaned = [None if v is None else (" ".join(str(v).split()) or None) for v in values]
    return {"values": cleaned, "warnings": []}


def validate(*, values, field_meta, **_):
    issues = []
    if field_meta.get("required"):
        for pos, value in enumerate(values, 1):
            if value is None:
                issues.append({"row_index": pos, "code": "required_missing", "severity": "error",
                               "message": "Name is empty"})
    return {"issues": issues}
