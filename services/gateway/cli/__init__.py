"""Command-line programs: the platform operator's (``python -m
services.gateway.cli.operator``) and the demo directory's users
(``python -m services.gateway.cli.users``)."""
