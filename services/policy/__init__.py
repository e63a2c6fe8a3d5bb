"""Policy service: decides whether a login needs MFA."""
