"""The platform under everything: application settings, storage connections, the HTTP
transport for the Azure SDK clients, request ids and ACS HMAC authentication. Knows nothing of
opt-outs; imports nothing else of `shared`.
"""
