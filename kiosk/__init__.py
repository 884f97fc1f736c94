"""The kiosk and health-station app: pure controller, durable outbox link, Kivy screens."""
