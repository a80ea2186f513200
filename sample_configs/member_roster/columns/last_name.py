"""Last name (surname): header words plus a varied-short-words shape; trimmed and title-cased."""

from columns._common import header_score
from columns._names import name_shape, transform_names, validate_names


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_name_shape(*, values_sample, field_name, **_):
    return name_shape(values_sample, field_name)


def transform(*, values, **_):
    return transform_names(values)


def validate(*, values, field_meta, **_):
    return validate_names(values, field_meta["label"], field_meta.get("required", False))
