"""The platform under everything: application settings, storage connections, the HTTP
transport for the Azure SDK clients, request ids, ACS HMAC authentication and a
per-process TTL memo. Knows nothing of
opt-outs; imports nothing else of `shared`.
"""
