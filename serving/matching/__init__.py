"""Pure matching: eligibility, availability, cost, ranking, the assignment solver, baselines."""
