"""The package version (a leaf: persistence writes it without importing the package)."""

__version__ = "0.1.0"
