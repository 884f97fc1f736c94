"""firmware_bridge: card readers and health devices on serial lines, turned into readings.

- ``protocols/``: one sans-I/O parser per device family (bytes in, events out; no port, no clock).
- ``readings.py``: the events every parser and runtime produces.
- ``drivers.py``: the registry of drivers by name, with their serial settings.
- ``serial_port.py`` / ``evdev_reader.py``: the thin I/O shells (reconnect on unplug).
- ``simulators.py``: every device emulated on a pseudo-terminal.
- ``cli.py``: ``onestop bridge drivers`` and ``onestop bridge decode``.
"""
