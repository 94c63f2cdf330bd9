"""Early warning: the rules, incidents and silences, indicators, the alert endpoints."""
