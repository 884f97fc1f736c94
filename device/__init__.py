"""What every device shares: the durable outbox and the MQTT link (birth, Will, heartbeat, PUBACK-gated delete);
used by the kiosk and the sensor node."""
