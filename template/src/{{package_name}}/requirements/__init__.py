"""The model requirements (configs/requirements.yaml) and the acceptance test that measures them."""
