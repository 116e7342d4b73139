"""Peak events: the calendar (occurrences, CSV, public holidays) and each event's uplift, learned from its past
occurrences in a series and applied to its upcoming one. Pure: no I/O."""
