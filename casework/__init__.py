"""casework: the domain core (records, register, services, letters, CLI) of the attendance case system."""
