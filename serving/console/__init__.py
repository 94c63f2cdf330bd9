"""The operations console served at ``/console``: sign-in sessions, the board's server-side aggregate,
models and proof, and the page's own HTML, CSS and JS (``static/``, no CDN). See ``router.py``."""
