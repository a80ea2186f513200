"""after_mapping: one line per table saying which source columns were left out and why."""

REASONS = {
    "unmapped_no_signal": "no signal",
    "unmapped_low_confidence": "low confidence",
    "unmapped_field_taken": "field taken",
    "unmapped_displaced_by_hook": "displaced",
}


def run(*, artifact, manifest, **_):
    wanted = len(manifest["columns"]["order"])
    lines = []
    for sheet in artifact["sheets"]:
        for table in sheet["tables"]:
            mapped = len(table["target_fields"])
            left = [f"{m['raw']['header'] or m['raw']['column']} ({REASONS[m['decision']]})"
                    for m in table["mapping"] if m["decision"] in REASONS]
            line = f"{table['id']}: {mapped}/{wanted} fields mapped"
            lines.append(line + (f"; unmapped: {', '.join(left)}" if left else ""))
    return {"notes": ("\n".join(lines) or "no tables found")[:2000]}
