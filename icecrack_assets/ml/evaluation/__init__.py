"""Research evaluations of the model: suites, the Lai fracture masks, the ridge baseline."""
