"""after_validate: totals of validation issues for the whole job, worst fields first."""


def run(*, artifact, **_):
    rows, tables = 0, 0
    per_field = {}
    for sheet in artifact["sheets"]:
        for table in sheet["tables"]:
            tables += 1
            rows += table["data_row_count"]
            for field, counts in table["validation"]["summary_by_field"].items():
                seen = per_field.setdefault(field, {"errors": 0, "warnings": 0})
                seen["errors"] += counts["errors"]
                seen["warnings"] += counts["warnings"]
    errors = sum(c["errors"] for c in per_field.values())
    warnings = sum(c["warnings"] for c in per_field.values())
    worst = sorted((f for f in per_field if per_field[f]["errors"] + per_field[f]["warnings"]),
                   key=lambda f: (-per_field[f]["errors"], -per_field[f]["warnings"], f))
    text = f"{rows} member row(s) in {tables} table(s): {errors} error(s), {warnings} warning(s)"
    if worst:
        text += "; check " + ", ".join(
            f"{f} ({per_field[f]['errors']}e/{per_field[f]['warnings']}w)" for f in worst)
    return {"notes": text}
