"""The HTTP edge: the BentoML service, the ASGI middleware, the OpenAPI document."""
