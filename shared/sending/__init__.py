"""Send-time enforcement: the records of a send, and the gateway that never forwards a message
to a recipient who opted out (or is not valid E.164). The ACS client that delivers what is
allowed is `shared.api.acs_upstream` (it speaks ACS's wire format).
"""
