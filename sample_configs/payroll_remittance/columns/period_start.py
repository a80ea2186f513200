"""First day of the pay period; shared date logic lives in columns/_period.py."""

from columns._common import detect_standard
from columns._period import date_shape, transform_dates, validate_dates


def detect_header(*, header, column_index, field_name, field_meta, env, **_):
    return detect_standard(header, column_index, field_name, field_meta, env)


def detect_date_share(*, values_sample, field_name, env, **_):
    return date_shape(values_sample, field_name, env)


def transform(*, values, env, **_):
    return transform_dates(values, env)


def validate(*, values, field_meta, **_):
    return validate_dates(values, field_meta["label"])
