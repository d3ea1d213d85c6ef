"""Production monitoring: reference profile, drift, service levels and the prediction log."""
