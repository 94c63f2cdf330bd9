"""The digital twin: a seeded discrete-event simulation of the national operations centre.

Public entry points (imported lazily by callers; nothing runs at import time):

- ``simulator.scenario.load_scenario(name_or_path) -> ScenarioConfig``
- ``simulator.arrivals.generate_arrivals(config, days, seed) -> Arrivals``
- ``simulator.engine.simulate(config, arrivals, policy, seed, ...) -> SimResult``
- ``simulator.policies``: the ``Policy`` interface and the built-in policies
- ``simulator.truth.expected_outcomes(truth, pairs)``: true expected minutes / P(pass) / P(complaint)
- ``simulator.run.generate_history(settings, scenario, days, seed, progress) -> HistorySummary``
"""
