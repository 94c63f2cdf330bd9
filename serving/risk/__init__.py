"""Complaint risk: tiers and reasons, the score at arrival, the watchlist, customer contacts."""
