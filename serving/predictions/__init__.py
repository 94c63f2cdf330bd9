"""The prediction log, the decisions it records, the model monitor's figures."""
