"""Sans-I/O parsers, one module per device family.

Every parser has ``feed(data: bytes) -> list[Event]``, ``finish() -> list[Event]`` (end of stream),
``buffered`` and ``max_buffer``; conversational devices (PN532, Contec v4.6) also have a session with
``start(now)``, ``feed(data, now)`` and ``poll(now)`` that says what to write to the device.
"""
