"""Settlement between provinces: standards, rates, statement lines, closed months."""
