"""The change feed: every applied change owes exactly one CloudEvent, published to a storage
queue and, when configured, Event Grid; what could not be published is swept later.

Owns the feed service, the publishers (their SDKs imported on first use) and the feed's settings.
"""
