"""The gateway on the streams: the handlers of what it consumes, the outbox and the
resend loop for what it awaits, the change feed that wakes waiting requests, and the
notices it publishes."""
