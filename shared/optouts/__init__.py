"""The opt-out list as the API serves it: add / remove / check, membership (a sender's own
entries or its revoke-all group's), bulk import and import files, page tokens, and the rules of
a sender's program (reply texts, languages, group).
"""
