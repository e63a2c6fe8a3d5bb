"""What clients and people ask the gateway for, shared by the JSON API and the pages:
logins and their codes, administration, and a user's self-service."""
