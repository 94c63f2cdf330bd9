"""Policy evaluation on the digital twin and in the field (see ``README.md`` here).

Public entry points (plain functions, ``progress(done, total)`` callbacks, no printing):
``ab.evaluate_policies`` -> ``report.write_report`` / ``report.log_report_to_mlflow`` (twin A/B, also the
snowstorm), ``field.estimate_uplift`` (alternating time slices in a real event log),
``alternating.alternating_log`` and ``validate.validate_uplift`` (the same design on the twin),
``prepare.prepare_models`` (history -> features -> champions for a twin study).
Nothing is imported here: importing ``evaluation`` does no work.
"""
