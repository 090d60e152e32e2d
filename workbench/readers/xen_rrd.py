"""Reader for the xen_rrd family (DESIGN.md §6). Not written yet: this module registers nothing."""
