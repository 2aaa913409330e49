"""`optouts`: the command-line tool for a sender's opt-out list (import, export, check, add,
remove), calling the service's HTTP API with ACS HMAC signatures. Not deployed."""
