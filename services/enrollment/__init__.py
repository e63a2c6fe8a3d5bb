"""Enrollment service: creates TOTP secrets and the QR payloads that carry them."""
