"""Inbound SMS: an ACS `SMSReceived` event from the queue turned into an opt-out, an opt-in or
a HELP reply, exactly once.

Owns the event parsing (Event Grid or CloudEvents, base64 or plain), the processor (claims,
ordering by send time, group-wide revoke-all), bursts, the program cache, the reply senders
(grouped ACS requests) and the operators' replays (poison queue, Event Grid dead-letters).
"""
