"""Experiment protocols: the layer that talks to models and data and calls the samplers."""
