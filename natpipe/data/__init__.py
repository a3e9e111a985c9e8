"""Datasets shared by every natpipe system."""
