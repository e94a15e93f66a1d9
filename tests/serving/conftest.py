"""A tiny served world for the service tests, its fixtures split by concern under fixtures/.

world: the CRM export (`territory sample`), its tables, the data dir. champion: one small model
trained and registered as account-potential@champion per test run, and `territory score` output.
plans: a plan directory in the documented shape and one from `territory plan`. clients: API keys,
the service environment, in-process ASGI clients. stores: decisions-store checks. servers: real
`territory serve` processes and chromium (integration and browser tiers only).
"""

from tests.serving.fixtures.champion import *  # noqa: F403
from tests.serving.fixtures.clients import *  # noqa: F403
from tests.serving.fixtures.plans import *  # noqa: F403
from tests.serving.fixtures.servers import *  # noqa: F403
from tests.serving.fixtures.stores import *  # noqa: F403
from tests.serving.fixtures.world import *  # noqa: F403
