"""Secrets store core: envelopes (AES-256-GCM), master-key sources and rotation (redaction: runtime/redact.py).

No database code lives here; the service layer passes rows and settings values in.
"""
