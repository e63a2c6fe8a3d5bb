"""Pure rules and values: what a login looks like to a client, who counts as covered.
No I/O; time is an argument."""
