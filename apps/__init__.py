"""The roof: the `opsmatch` CLI, bootstrap, retrain orchestration and the live twin driver."""
