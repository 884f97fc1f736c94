"""Provisioning: device registry, credentials, Mosquitto password and ACL files, certificates, bundles."""
