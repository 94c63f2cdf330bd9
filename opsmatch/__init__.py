"""opsmatch: ML matching and complaint-risk service for a national insurance operations centre."""

__version__ = "0.1.0"
