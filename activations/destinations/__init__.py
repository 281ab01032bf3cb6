"""Destinations: thin modules that speak one API each, on top of activations.runner."""
