"""Reader for the everest family (DESIGN.md §6). Not written yet: this module registers nothing."""
