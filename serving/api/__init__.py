"""The request and response models of the endpoints (pydantic), derived from the data contract."""
