"""EFI structures found in a dump: system table, configuration tables, memory map.

* :mod:`efitables.efi.systab` - ``parse_system_table`` -> :class:`SystemTable` (and its runtime services)
* :mod:`efitables.efi.pointers` - the system table's pointers resolved after SetVirtualAddressMap
* :mod:`efitables.efi.config_tables` - the ``EFI_CONFIGURATION_TABLE`` array
* :mod:`efitables.efi.memmap` - the EFI memory map (``boot_params.efi_info``)
* :mod:`efitables.efi.discovery`, :mod:`efitables.efi.scan` - finding the system table
"""
