"""The task lifecycle: the state machine, the task book, intake, dispatch, the monitor."""
