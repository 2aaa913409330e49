"""Evidence for a regulator: was a recipient opted out at a given moment (as-of), the
compliance report (delays in business days, flags, totals) and its stateless page token.
Pure logic over history records, whoever fetched them.
"""
