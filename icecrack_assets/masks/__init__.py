"""Ice masks: where on each region's grid cracks are mapped and densities are computed."""
