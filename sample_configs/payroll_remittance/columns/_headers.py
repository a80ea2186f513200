"""Header text → matching key, shared by the column detectors and the row detectors' "known label" test.

Exports from databases and HR systems spell the same header many ways: `hire_date`, `HireDate`,
`Hire-Date`, `Employment Start Dt`, `Emp #`, `EMP_NO`. The key makes those one spelling so a manifest
lists a synonym once: punctuation and camelCase are word breaks, case is ignored, and a few common
abbreviations are written out. This file is identical in every sample package (a package ships alone)."""

import re
from functools import lru_cache

# Word breaks. "#" is kept as a word of its own ("Emp#" → "emp #") because it means "number".
_BREAKS = str.maketrans({c: " " for c in "_.-:*/\\()[],;|"} | {"#": " # "})
_EMAIL = re.compile(r"\be mail\b")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # hireDate, EmployeeID, HRISCode
ABBREVIATIONS = {
    "#": "number", "no": "number", "num": "number", "nbr": "number",
    "dt": "date", "emp": "employee", "ee": "employee", "identifier": "id",
    "tel": "telephone", "addr": "address", "dept": "department",
}


@lru_cache(maxsize=4096)
def header_key(text):
    """Lower-case words of `text` with punctuation and camelCase split and abbreviations written out."""
    text = str(text)
    if not (text.islower() or text.isupper()):
        text = _CAMEL.sub(" ", text)
    words = [ABBREVIATIONS.get(w, w) for w in text.lower().translate(_BREAKS).split()]
    # "e-mail" and "e mail" split into two words; every other spelling of the word is "email"
    return _EMAIL.sub("email", " ".join(words))
