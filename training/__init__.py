"""Training: LightGBM fitting, evaluation, MLflow tracking, the champion/challenger gate and the serving form.

Modules (one concept each): ``specs`` (the models), ``params`` (versioned YAML), ``split`` (time-ordered
splits), ``encoder`` (categorical codes), ``fit`` (LightGBM), ``calibration``, ``metrics``, ``plots``,
``evaluate`` (metric set + plots per model), ``pipeline`` (pure fit of one model), ``serving_form`` (what
serving loads), ``tracking`` (MLflow runs), ``registry`` (aliases), ``train`` (fit + track + register),
``gate`` (promotion and rollback), ``tune`` (Optuna), ``frames`` (Feast frames in), ``oracle`` (the
twin's truth, evaluation only). See ``training/README.md``.
Nothing is imported here: importing ``training`` does no work.
"""
