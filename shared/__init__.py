"""The SMS opt-out service: everything except the Azure Functions bindings."""
