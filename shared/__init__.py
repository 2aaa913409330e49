"""The SMS opt-out service: everything except the Azure Functions bindings.

One package per capability (docs/architecture.md has the map); the dependency direction is a
contract that import-linter checks (`pyproject.toml`, run by `make test`):

    runtime                      the composition root: builds what each function needs
    api | tables                 the HTTP surface (ACS wire format) | the Table Storage adapters
    inbound                      SMSReceived events -> opt-outs, opt-ins, replies
    optouts | evidence | sending the services behind the endpoints
    feed                         the change feed (events out)
    keywords                     keyword words, classification, reply templates
    domain | platform            the model and protocols | settings, connections, HMAC
"""
