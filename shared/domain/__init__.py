"""The domain: the vocabulary, the records and the rules that every other package speaks.

Owns the model (StrEnums for every vocabulary, the records, the exceptions), phone numbers and
sender identifiers, revoke-all groups, the change feed's domain (`changes`: an applied change, the
event it becomes, what a pair owes) and the storage protocols (`repositories`) that `tables`
implements. Knows no Azure, no HTTP, no Table entities, and imports nothing else of `shared`.
"""
