"""Reader for the stream family (DESIGN.md §6). Not written yet: this module registers nothing."""
