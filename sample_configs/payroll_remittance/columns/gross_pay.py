"""Gross pay for the period; must be present and not negative."""

from columns._common import detect_standard
from columns._money import money_shape, transform_money, validate_money


def detect_header(*, header, column_index, field_name, field_meta, env, **_):
    return detect_standard(header, column_index, field_name, field_meta, env)


def detect_amount_share(*, values_sample, field_name, **_):
    return money_shape(values_sample, field_name)


def transform(*, values, **_):
    return transform_money(values)


def validate(*, values, field_meta, **_):
    return validate_money(values, field_meta["label"], required=True, negative_severity="error")
