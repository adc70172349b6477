import os

from hypothesis import HealthCheck, settings

# CI gets more examples; local runs stay quick. No deadline: these machines
# are shared and timing is not what the properties check.
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
