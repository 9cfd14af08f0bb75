"""ML core: samples, U-Net, training, inference, metrics and vectors. Knows nothing of Dagster."""
