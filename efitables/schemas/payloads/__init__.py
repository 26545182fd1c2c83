"""construct declarations of configuration-table payloads (shared/spec/config-tables.md)."""
