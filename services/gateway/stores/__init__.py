"""What the gateway keeps: one module per collection of its own database (logins,
operations, organizations, API keys, devices, audit, read models), the rate-limit
counters in Redis, and the Protocols (ports) the event handlers see them through."""
