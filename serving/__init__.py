"""The opsmatch BentoML service: ranking, assignment, risk, alerts, outcomes and policy."""
