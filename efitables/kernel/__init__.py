"""What the running kernel itself recorded: symbols (kallsyms via VMCOREINFO) and its globals."""
