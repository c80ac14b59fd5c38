"""Getting records in: landing zones, the inbox table, validation, rejects and the sensors."""
