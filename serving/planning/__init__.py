"""Forecast and staffing reads, staffing gaps, sharing recommendations."""
