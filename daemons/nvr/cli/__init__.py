"""nvrctl: the field technician's command-line tool."""
