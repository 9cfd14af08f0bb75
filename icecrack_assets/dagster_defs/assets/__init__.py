"""One module per stage of the chain: scenes, despeckling, samples, model, maps, statistics."""
