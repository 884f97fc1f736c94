"""Kivy screens of the kiosk and health station (imported only when a window is wanted)."""
