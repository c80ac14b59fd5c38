"""The matching team's code location: the cross-join of candidates and jobs."""
