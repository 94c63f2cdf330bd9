"""Who may call what: the route table, keys, authentication, rate limits."""
