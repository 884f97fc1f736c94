"""The building gateway: ingest, store, occupancy, alerts, device health, sync and the local API."""
