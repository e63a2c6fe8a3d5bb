"""Verification service: checks TOTP codes, refuses replays, locks out guessers."""
