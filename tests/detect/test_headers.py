"""Header-text normalization and fuzzy matching: footnote marks, units, case and typos forgiven; unrelated
words never matched."""

from ade_engine.detect.headers import header_key, match_header, similarity


def test_normalization_drops_marks_units_case_and_punctuation():
    assert header_key("Hire Date (1)") == "hire date"
    assert header_key("HIRE_DATE*") == "hire date"
    assert header_key("hireDate [yyyy-mm-dd]") == "hire date"
    assert header_key("Uncontested2") == "uncontested"
    assert header_key("Amount ($)") == "amount"
    assert header_key("Percent distribution\\1") == "percent distribution"
    assert header_key("Emp #") == "employee number"
    assert header_key("  Total   pay  ") == "total pay"


def test_one_letter_typo_matches_but_unrelated_words_do_not():
    typos = [("Adress", "Address"), ("Recieved", "Received"), ("Emial Address", "Email Address"),
             ("Departmnet", "Department"), ("Quantityy", "Quantity")]
    for seen, wanted in typos:
        assert match_header(seen, [wanted]) >= 0.9, (seen, wanted)
    unrelated = [("Date", "Rate"), ("Name", "Game"), ("Status", "State"), ("Gross", "Cross pay"),
                 ("Region", "Religion"), ("Phone", "Phase"), ("Total", "Tonal"), ("Start Date", "State Date")]
    for seen, wanted in unrelated:
        assert match_header(seen, [wanted]) == 0.0, (seen, wanted)


def test_fuzzy_matching_is_measured_on_pairs():
    """Measured: every one-letter typo of a 5+ letter header is found; no pair of distinct real headers is."""
    headers = ["Address", "Department", "Employee", "Quantity", "Amount", "Received", "Country", "Province",
               "Category", "Description", "Reference", "Balance", "Payment", "Invoice", "Supplier"]
    found = total = 0
    for h in headers:
        for i in range(len(h)):
            for typo in (h[:i] + h[i + 1:], h[:i] + "x" + h[i + 1:]):  # a letter dropped, a letter changed
                if typo.lower() == h.lower():
                    continue
                total += 1
                found += match_header(typo, [h]) >= 0.9
    assert found == total
    false = sum(1 for a in headers for b in headers if a != b and similarity(header_key(a), header_key(b)) > 0)
    assert false == 0


def test_contained_name_scores_lower_than_an_equal_one():
    assert match_header("Employee Email Address", ["email"]) == 0.6
    assert match_header("E-mail", ["email"]) == 1.0
    assert match_header(None, ["email"]) == 0.0
