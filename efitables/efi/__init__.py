"""EFI structures found in a dump: system table, configuration tables, memory map."""
