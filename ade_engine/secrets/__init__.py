"""Secrets store core: envelopes (AES-256-GCM), master-key sources, rotation and redaction.

No database code lives here; the service layer passes rows and settings values in.
"""
