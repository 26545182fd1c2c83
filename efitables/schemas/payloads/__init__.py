"""construct declarations of configuration-table payloads; each module names the headers it follows."""
