"""The central service: ingest from many gateways, the campus store, APIs, analytics, FHIR export."""
