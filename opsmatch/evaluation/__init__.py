"""Policy evaluation on the digital twin and in the field.

Modules (one concept each): ``prepare`` (history -> features -> champions, for the twin studies),
``replay`` (the evaluation period after the history: same workforce, truth and experience),
``kpis`` (per-policy KPIs and the true cost), ``stats`` (paired intervals over seeds),
``ml_policies`` (ML ranking and batch policies through the serving code), ``baselines`` (the named
policy set), ``ab`` (the twin A/B), ``snowstorm`` (the emergency scenario), ``report`` (Markdown, charts,
MLflow), ``alternating`` (switching policies by time slice), ``field`` (uplift from an alternating
event log). Nothing is imported here: importing ``opsmatch.evaluation`` does no work.
"""
